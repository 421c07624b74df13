//! How much memory and CPU an agent uses, all its processes together.
//!
//! An agent is rarely one process: a coding agent runs shells, compilers, test
//! runners, language servers. Limits (max RSS, max CPU time) and `baton ps`
//! are about the agent as a whole, so usage adds up every live process of its
//! session, found by the session id in `/proc/<pid>/stat`, and, for an
//! [`AgentTree`], those of its cgroup or with its id in their environment.

use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::time::Duration;

use procfs::process::Stat;

use super::proc_table::{
    Scan, all_stats, all_stats_async, blocking_scan, is_running, pid_of, sid_members, ticks_to_duration,
};
use super::tree::{AgentTree, scan_for_trees};

/// The resources used by every live process of one agent's session, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeUsage {
    /// Resident memory, in bytes, summed over the processes (memory they share,
    /// such as libraries, is counted once per process, as `ps` does): what a
    /// max-RSS limit is checked against.
    pub rss_bytes: u64,
    /// CPU time (user and system) used by the live processes, plus that of the
    /// children they already waited for: what a max-CPU limit is checked
    /// against. It does not drop when a short-lived child exits and is reaped
    /// by its parent in the session (it may when an orphan is reaped by the
    /// daemon instead).
    pub cpu_time: Duration,
    /// The pids of the live processes, in ascending order.
    pub pids: Vec<u32>,
}

impl TreeUsage {
    /// Measures session `sid` (an agent's pid, since it leads its own
    /// session). Processes that exit during the scan are left out; a session
    /// with no live process has zero usage. Fails only when `/proc` cannot be
    /// listed. Blocks while `/proc` is scanned.
    pub fn measure(sid: u32) -> io::Result<Self> {
        Ok(Self::of(sid_members(sid)?))
    }

    /// [`measure`](Self::measure) without blocking: the scan runs on the
    /// scanner thread, shared with whoever asks at the same time.
    pub async fn measure_async(sid: u32) -> io::Result<Self> {
        Ok(Self::all_in(&all_stats_async().await?, &[sid]).remove(&sid).unwrap_or_default())
    }

    /// Measures every session in `sids` with one scan of `/proc` (what
    /// [`measure`](Self::measure) does for one, once per session); a session
    /// with no live process is absent. Blocks while `/proc` is scanned.
    pub fn measure_all(sids: &[u32]) -> io::Result<HashMap<u32, Self>> {
        Ok(Self::all_in(&all_stats()?, sids))
    }

    /// [`measure_all`](Self::measure_all) without blocking, as
    /// [`measure_async`](Self::measure_async).
    pub async fn measure_all_async(sids: &[u32]) -> io::Result<HashMap<u32, Self>> {
        Ok(Self::all_in(&all_stats_async().await?, sids))
    }

    /// Measures every process of `tree`, without blocking. The CPU time of a
    /// tree with a cgroup is its cgroup's, which counts the processes that
    /// already exited too.
    pub async fn measure_tree_async(tree: &AgentTree) -> io::Result<Self> {
        let scan = scan_for_trees([tree]).await?;
        Ok(Self::of_tree(&scan, tree))
    }

    /// Measures every tree of `trees` with one scan of `/proc`, by the key
    /// given with each; a tree with no live process has zero usage.
    pub async fn measure_trees_async<K: Hash + Eq + Clone>(trees: &[(K, AgentTree)]) -> io::Result<HashMap<K, Self>> {
        let scan = scan_for_trees(trees.iter().map(|(_, tree)| tree)).await?;
        Ok(trees.iter().map(|(key, tree)| (key.clone(), Self::of_tree(&scan, tree))).collect())
    }

    /// [`measure_trees_async`](Self::measure_trees_async), blocking while
    /// `/proc` is scanned.
    pub fn measure_trees<K: Hash + Eq + Clone>(trees: &[(K, AgentTree)]) -> io::Result<HashMap<K, Self>> {
        let scan = blocking_scan(trees.iter().any(|(_, tree)| tree.needs_environment()))?;
        Ok(trees.iter().map(|(key, tree)| (key.clone(), Self::of_tree(&scan, tree))).collect())
    }

    fn of_tree(scan: &Scan, tree: &AgentTree) -> Self {
        let members = tree.members(scan);
        let stats =
            scan.stats.iter().filter(|stat| pid_of(stat.pid).is_some_and(|pid| members.binary_search(&pid).is_ok()));
        let mut usage = Self::of(stats.cloned().collect());
        if let Some(cpu_time) = tree.cgroup.as_ref().and_then(super::AgentCgroup::cpu_time) {
            usage.cpu_time = cpu_time;
        }
        usage
    }

    /// The usage of every session of `sids` that has a live process in `stats`.
    fn all_in(stats: &[Stat], sids: &[u32]) -> HashMap<u32, Self> {
        let mut members: HashMap<u32, Vec<Stat>> = HashMap::new();
        for stat in stats.iter().filter(|stat| is_running(stat)) {
            if let Some(sid) = pid_of(stat.session).filter(|sid| sids.contains(sid)) {
                members.entry(sid).or_default().push(stat.clone());
            }
        }
        members.into_iter().map(|(sid, stats)| (sid, Self::of(stats))).collect()
    }

    fn of(stats: Vec<Stat>) -> Self {
        let page_size = procfs::page_size();
        let mut usage = TreeUsage::default();
        let mut ticks: u64 = 0;
        for stat in stats {
            let Some(pid) = pid_of(stat.pid) else { continue };
            usage.pids.push(pid);
            usage.rss_bytes = usage.rss_bytes.saturating_add(stat.rss.saturating_mul(page_size));
            let reaped_children = u64::try_from(stat.cutime).unwrap_or(0) + u64::try_from(stat.cstime).unwrap_or(0);
            ticks = ticks.saturating_add(stat.utime + stat.stime + reaped_children);
        }
        usage.cpu_time = ticks_to_duration(ticks);
        usage.pids.sort_unstable();
        usage
    }

    /// How many live processes the session has.
    pub fn processes(&self) -> usize {
        self.pids.len()
    }

    /// Whether the session has no live process.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
