//! Orphans: grandchildren whose parent died before them.
//!
//! An orphan is normally handed to init, and the daemon loses sight of it. A
//! process that declares itself a *child subreaper* (`PR_SET_CHILD_SUBREAPER`)
//! gets its descendants' orphans instead, so the daemon sees them exit, and
//! must reap them, or they stay zombies.
//!
//! The daemon's own agents are reaped through their pidfds, each when its
//! [`Child`](super::Child) is waited for (or in the background after it is
//! dropped). A `waitpid(-1)` here would steal their exit statuses, and their
//! waiters would see `ECHILD`. So orphans are reaped by pid only: zombie children of this process
//! (found in `/proc`) that the caller says it did not spawn.

use std::io;

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use procfs::process::Stat;

use super::proc_table::{all_stats, all_stats_async, pid_of};
use crate::model::ExitStatus;

/// An orphan that was reaped, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReapedOrphan {
    /// Its pid, now free for reuse.
    pub pid: u32,
    /// How it exited.
    pub exit: ExitStatus,
}

/// Makes this process a child subreaper: orphaned descendants become its
/// children rather than init's. It lasts for the life of the process (and is
/// not inherited by children), so call it once at daemon start.
pub fn become_subreaper() -> io::Result<()> {
    prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// Whether this process is a child subreaper.
pub fn is_subreaper() -> io::Result<bool> {
    prctl::get_child_subreaper().map_err(io::Error::from)
}

/// Reaps every zombie child of this process for which `spawned_here` is false,
/// and says how each ended.
///
/// `spawned_here` must be true for every child this process spawned itself
/// and will wait for: those are left alone. Ask
/// it about a pid only once that pid is registered, or a child that exits at
/// once could be taken for an orphan.
pub fn reap_orphans(spawned_here: impl Fn(u32) -> bool) -> io::Result<Vec<ReapedOrphan>> {
    let candidates = match own_children() {
        Ok(children) => children,
        Err(_) => zombies_of(&all_stats()?, std::process::id()).collect(),
    };
    Ok(reap_zombies(candidates.into_iter().filter(|&pid| !spawned_here(pid))))
}

/// The children of this process that may be orphans to reap, for
/// [`reap_zombies`] once the caller has left out its own: every child as the
/// kernel lists them (a few small files, so an idle daemon does not scan
/// `/proc`), or, where it does not, the zombie children a scan on the scanner
/// thread finds.
pub async fn orphan_candidates() -> io::Result<Vec<u32>> {
    match own_children() {
        Ok(children) => Ok(children),
        Err(_) => Ok(zombies_of(&all_stats_async().await?, std::process::id()).collect()),
    }
}

/// The children of this process, from the kernel's list of each thread's
/// children (`/proc/self/task/<tid>/children`): a small file per thread,
/// where a scan reads every process on the machine. The list can miss a
/// child that moves at that very moment (the next look finds it). Fails
/// where the kernel does not keep the lists (`CONFIG_PROC_CHILDREN`).
fn own_children() -> io::Result<Vec<u32>> {
    let mut children = Vec::new();
    let mut listed_any = false;
    for task in std::fs::read_dir("/proc/self/task")? {
        let listed = match std::fs::read_to_string(task?.path().join("children")) {
            Ok(listed) => listed,
            // A thread that ended since the listing.
            Err(err) if err.kind() == io::ErrorKind::NotFound && listed_any => continue,
            Err(err) => return Err(err),
        };
        listed_any = true;
        children.extend(listed.split_ascii_whitespace().filter_map(|pid| pid.parse::<u32>().ok()));
    }
    Ok(children)
}

/// The zombie children of process `parent` in `stats`.
fn zombies_of(stats: &[Stat], parent: u32) -> impl Iterator<Item = u32> + '_ {
    stats
        .iter()
        .filter(move |stat| stat.state == 'Z' && pid_of(stat.ppid) == Some(parent))
        .filter_map(|stat| pid_of(stat.pid))
}

/// Reaps each of `pids` that is a zombie child of this process, and says how
/// each ended; one that is not (any more) is left alone.
///
/// The caller must leave out the children it waits for itself.
pub fn reap_zombies(pids: impl IntoIterator<Item = u32>) -> Vec<ReapedOrphan> {
    let mut reaped = Vec::new();
    for pid in pids {
        let Ok(raw) = i32::try_from(pid) else { continue };
        match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => reaped.push(ReapedOrphan { pid, exit: ExitStatus::exited(code) }),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                reaped.push(ReapedOrphan { pid, exit: ExitStatus::killed(signal as i32) })
            }
            // Not a zombie after all (only stopped or continued), or reaped by
            // someone else in the meantime.
            Ok(_) | Err(Errno::ECHILD) => {}
            // Nothing else can happen with WNOHANG on a child of ours; if it
            // does, the other orphans are still worth reaping.
            Err(errno) => tracing::warn!(pid, %errno, "cannot reap an orphan"),
        }
    }
    reaped
}

#[cfg(test)]
#[path = "reaper_tests.rs"]
mod tests;
