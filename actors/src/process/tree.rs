//! Every process an agent started, whatever those processes call.
//!
//! An agent's session (see the module's docs) finds the processes that kept
//! its session id, but not one that called `setsid`: a daemonizing tool, or
//! `setsid sleep 300 &` in a script. So each agent is also tracked one of two
//! ways, chosen per engine ([`Tracking`]):
//!
//! - **cgroup v2**: where the daemon may write to a cgroup v2 hierarchy,
//!   each agent runs in a cgroup of its own ([`AgentCgroup`]), which no
//!   process leaves by itself; it is listed through `cgroup.procs` and killed
//!   through `cgroup.kill`.
//! - **environment**: elsewhere, every process whose environment holds the
//!   agent's `BATON_AGENT_ID` belongs to it (every descendant inherits it,
//!   `setsid` or not), found by a scan of `/proc/<pid>/environ`. The daemon is
//!   a subreaper too, so descendants whose parents die stay its own children
//!   rather than init's while it runs. A process that replaces its whole
//!   environment (`env -i`) escapes this way, not the cgroup.
//!
//! Neither way is fooled by pid reuse: a pid is taken as the agent's only
//! while its cgroup lists it or its environment names the agent's id, which
//! is unique for good, or while its session id is the agent's and the
//! agent's leader is known to be that same process ([`ProcessIdentity`]).
//!
//! [`ProcessIdentity`]: super::ProcessIdentity

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cgroup::{AgentCgroup, CgroupRoot};
use super::proc_table::{Scan, async_scan, is_running, pid_of};

/// Which way an engine tracks its agents' processes (`[engine.agents]
/// tracking`, or `BATON_AGENT_TRACKING`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingMode {
    /// A cgroup of its own per agent where a writable cgroup v2 hierarchy
    /// exists, else the environment.
    #[default]
    Auto,
    /// A cgroup of its own per agent; the engine does not start without one.
    Cgroup,
    /// The agent's id in every descendant's environment, even where cgroups
    /// could be used.
    Environ,
}

impl TrackingMode {
    /// The name used in the config file and the environment variable.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingMode::Auto => "auto",
            TrackingMode::Cgroup => "cgroup",
            TrackingMode::Environ => "environ",
        }
    }
}

impl std::str::FromStr for TrackingMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [TrackingMode::Auto, TrackingMode::Cgroup, TrackingMode::Environ]
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a way to track agents (expected auto, cgroup or environ)"))
    }
}

/// The way in force for an engine's agents, decided once at its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracking {
    /// Each agent in a cgroup under this directory.
    Cgroup(CgroupRoot),
    /// Each agent by its id in its processes' environments.
    Environ,
}

impl Tracking {
    /// Decides the way for `mode`: `key` names the engine's directory of
    /// cgroups (`baton-<key>`), so that the next engine on the same data
    /// finds it again. [`TrackingMode::Cgroup`] fails where no cgroup v2
    /// hierarchy can be written to; [`TrackingMode::Auto`] then falls back
    /// to the environment.
    pub fn resolve(mode: TrackingMode, key: &str) -> io::Result<Self> {
        match mode {
            TrackingMode::Environ => Ok(Tracking::Environ),
            TrackingMode::Cgroup => CgroupRoot::discover(key).map(Tracking::Cgroup),
            TrackingMode::Auto => Ok(CgroupRoot::discover(key).map_or_else(
                |err| {
                    tracing::info!(cause = %err, "no cgroup v2 hierarchy to put agents in; tracking them by environment");
                    Tracking::Environ
                },
                Tracking::Cgroup,
            )),
        }
    }

    /// A key for `dir` (the engine's logs directory): a hash of its path.
    pub fn key_for(dir: &Path) -> String {
        use std::hash::{DefaultHasher, Hash as _, Hasher as _};
        let mut hasher = DefaultHasher::new();
        dir.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Removes the engine's empty agent cgroups, and its directory of them
    /// once empty (an engine that stops leaves only those that still hold a
    /// process).
    pub fn remove_empty(&self) {
        if let Tracking::Cgroup(root) = self {
            root.remove_empty();
        }
    }
}

impl fmt::Display for Tracking {
    /// What `baton doctor` and `baton status` say of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tracking::Cgroup(root) => {
                write!(f, "cgroup v2 at {}", root.dir().display())?;
                if root.has_memory_controller() { f.write_str(" (memory.max)") } else { Ok(()) }
            }
            Tracking::Environ => f.write_str("subreaper + BATON_AGENT_ID"),
        }
    }
}

/// Every process of one agent's run: the members of its process session, and
/// those its cgroup lists or, without one, whose environment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTree {
    /// The session its leader started (the leader's pid), if it is still the
    /// agent's: None once the leader is gone and its pid went to a stranger.
    pub sid: Option<u32>,
    /// The agent's id, as its processes' `BATON_AGENT_ID` holds it.
    pub agent: String,
    /// Its cgroup, when it runs in one.
    pub cgroup: Option<AgentCgroup>,
}

impl AgentTree {
    /// Only the process session `sid`: what a process spawned without an
    /// agent id has.
    pub fn of_sid(sid: u32) -> Self {
        Self { sid: Some(sid), agent: String::new(), cgroup: None }
    }

    /// The live members in `scan`, and every pid its cgroup lists now.
    pub(super) fn members(&self, scan: &Scan) -> Vec<u32> {
        let own = std::process::id();
        let mut members: HashSet<u32> = self.cgroup.as_ref().map(AgentCgroup::pids).unwrap_or_default();
        let by_environment = self.cgroup.is_none() && !self.agent.is_empty();
        for stat in scan.stats.iter().filter(|stat| is_running(stat)) {
            let Some(pid) = pid_of(stat.pid) else { continue };
            let in_session = self.sid.is_some() && pid_of(stat.session) == self.sid;
            if in_session || (by_environment && scan.agent_of(stat.pid) == Some(self.agent.as_str())) {
                members.insert(pid);
            }
        }
        members.remove(&own);
        let mut members: Vec<u32> = members.into_iter().collect();
        members.sort_unstable();
        members
    }

    /// Whether a scan must read environments to find the members.
    pub(super) fn needs_environment(&self) -> bool {
        self.cgroup.is_none() && !self.agent.is_empty()
    }

    /// The live members, by a scan on the scanner thread.
    pub async fn pids(&self) -> io::Result<Vec<u32>> {
        Ok(self.members(&scan_for_trees([self]).await?))
    }

    /// Removes its cgroup if it is empty (a run that ended leaves nothing).
    pub fn remove_cgroup_if_empty(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.remove_if_empty();
        }
    }
}

/// A scan for trees, with the environments read if any of `trees` needs them.
pub(super) async fn scan_for_trees<'a>(trees: impl IntoIterator<Item = &'a AgentTree>) -> io::Result<Scan> {
    let tagged = trees.into_iter().any(AgentTree::needs_environment);
    async_scan(tagged).await
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
