//! Stopping an agent and everything it started.
//!
//! `kill(-pgid)` reaches the agent's process group, but not a grandchild that
//! moved to a group of its own (a shell with job control puts each job in its
//! own group; a daemonizing tool calls `setpgid`), and not one whose parent
//! died. Both keep the agent's session id, so a session is signalled twice
//! over: its process group at once, then every process `/proc` lists with that
//! session id. Only a process that starts a session of its own (`setsid`)
//! escapes, as it escapes any terminal's hangup.
//!
//! A process that exits between being listed and being signalled is not an
//! error (`ESRCH`). (Its pid could in theory be reused by a stranger within
//! those microseconds; pidfd-based signalling would close that window.)

use std::io;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpgrp, getsid};
use procfs::process::Stat;
use tokio::time::{Instant, sleep, timeout_at};

use super::child::ExitWatch;
use super::proc_table::{all_stats, blocking_scan, is_member};
use super::tree::{AgentTree, scan_for_trees};

/// How long [`stop_sid`] waits for processes to vanish after SIGKILL
/// before it gives up on them (a process stuck in the kernel, such as on a
/// dead network mount, cannot die until the kernel lets go of it).
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// The shortest pause between two looks at `/proc`, so a zero `poll` does
/// not spin.
const MIN_POLL: Duration = Duration::from_millis(1);

/// How a stopped session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopOutcome {
    /// Every process exited within the grace period after the first signal.
    Exited,
    /// Some outlived the grace period and were killed with SIGKILL.
    Killed,
}

/// Why a session could not be signalled or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The session id cannot be an agent's: 0 and 1 would signal every process
    /// or init, and the daemon's own session or group would kill the daemon.
    #[error("refusing to signal POSIX session {sid}: {why}")]
    NotAnAgentSid {
        /// The session id given.
        sid: u32,
        /// Why it was refused.
        why: &'static str,
    },
    /// A process could not be signalled (not ours to signal, such as one that
    /// became another user through a setuid program).
    #[error("cannot send {signal} to process {pid} of POSIX session {sid}: {errno}")]
    Signal {
        /// The POSIX session id.
        sid: u32,
        /// The process, or the negated process group.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// What `kill` said.
        errno: Errno,
    },
    /// `/proc` could not be listed.
    #[error("cannot list the processes of POSIX session {sid}: {err}")]
    Scan {
        /// The POSIX session id.
        sid: u32,
        /// What the system said.
        err: io::Error,
    },
    /// Processes outlived SIGKILL for [`KILL_WAIT`].
    #[error("POSIX session {sid} still has processes {pids:?} after SIGKILL")]
    Unkillable {
        /// The POSIX session id.
        sid: u32,
        /// The processes still there.
        pids: Vec<u32>,
    },
}

/// Sends `signal` to every process of session `sid`: to its process group,
/// and to every live process whose session id is `sid`, wherever its group.
///
/// Processes already gone are skipped. When some cannot be signalled, the rest
/// still are, and the first failure is returned. Blocks while `/proc` is
/// scanned; [`stop_sid`] does not.
pub fn signal_sid(sid: u32, signal: Signal) -> Result<(), StopError> {
    let group = agent_sid(sid)?;
    let to_group = send(sid, -group, signal);
    let stats = all_stats().map_err(|err| StopError::Scan { sid, err })?;
    to_group.and(signal_members(sid, signal, &stats))
}

/// Sends `signal` to every process of `tree`: its process group at once,
/// then every member a scan finds. SIGKILL to a tree with a cgroup goes
/// through `cgroup.kill`, which also reaches a process forked meanwhile.
pub fn signal_tree(tree: &AgentTree, signal: Signal) -> Result<(), StopError> {
    let sid = tree.sid.unwrap_or_default();
    let to_group = signal_group(tree, signal)?;
    let scan = blocking_scan(tree.needs_environment()).map_err(|err| StopError::Scan { sid, err })?;
    to_group.and(send_all(sid, signal, &tree.members(&scan)))
}

/// [`signal_tree`], scanning on the scanner thread.
async fn signal_tree_async(tree: &AgentTree, signal: Signal) -> Result<(), StopError> {
    let sid = tree.sid.unwrap_or_default();
    let to_group = signal_group(tree, signal)?;
    let scan = scan_for_trees([tree]).await.map_err(|err| StopError::Scan { sid, err })?;
    to_group.and(send_all(sid, signal, &tree.members(&scan)))
}

/// Signals the tree's process group (when its session is still its own),
/// and kills its cgroup at once for SIGKILL; the outer error refuses a
/// session that cannot be an agent's.
fn signal_group(tree: &AgentTree, signal: Signal) -> Result<Result<(), StopError>, StopError> {
    if signal == Signal::SIGKILL {
        if let Some(cgroup) = &tree.cgroup {
            // Where there is no cgroup.kill, the members get SIGKILL one by one.
            cgroup.kill();
        }
    }
    match tree.sid {
        Some(sid) => Ok(send(sid, -agent_sid(sid)?, signal)),
        None => Ok(Ok(())),
    }
}

/// Sends `signal` to every pid of `pids`; the first failure is returned once
/// all were tried.
fn send_all(sid: u32, signal: Signal, pids: &[u32]) -> Result<(), StopError> {
    let sent = pids.iter().filter_map(|&pid| i32::try_from(pid).ok()).map(|pid| send(sid, pid, signal));
    sent.fold(Ok(()), Result::and)
}

/// Signals every live member of session `sid` in `stats`; the first failure
/// is returned once all were tried.
fn signal_members(sid: u32, signal: Signal, stats: &[Stat]) -> Result<(), StopError> {
    let sent = stats.iter().filter(|stat| is_member(stat, sid)).map(|member| send(sid, member.pid, signal));
    sent.fold(Ok(()), Result::and)
}

/// Sends `signal` to `pid` (a process group when negative), a member of
/// session `sid`; one already gone is no error.
fn send(sid: u32, pid: i32, signal: Signal) -> Result<(), StopError> {
    match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(StopError::Signal { sid, pid, signal, errno }),
    }
}

/// Whether session `sid` has a live process (zombies, which have exited and
/// wait to be reaped, do not count). False when `/proc` cannot be read.
pub fn sid_alive(sid: u32) -> bool {
    all_stats().is_ok_and(|stats| stats.iter().any(|stat| is_member(stat, sid)))
}

/// [`stop_tree`] for the process session `sid` alone.
pub async fn stop_sid(sid: u32, signal: Signal, grace: Duration, poll: Duration) -> Result<StopOutcome, StopError> {
    stop_tree(&AgentTree::of_sid(sid), signal, grace, poll).await
}

/// Stops every process of `tree`: sends `signal` (normally SIGTERM), waits
/// up to `grace` for every process to exit, then SIGKILLs whatever is left
/// and waits (up to [`KILL_WAIT`]) until nothing is.
///
/// It waits for the session's leader (process `sid`) to exit without looking
/// at `/proc`, then looks every `poll` until no other member is left. The
/// scans run on the scanner thread, shared with other callers, so the
/// caller's thread is never blocked.
///
/// The agent's own process, a child of the caller, stays a zombie until its
/// [`Child`](super::Child) is waited for; zombies do not count as left.
pub async fn stop_tree(
    tree: &AgentTree,
    signal: Signal,
    grace: Duration,
    poll: Duration,
) -> Result<StopOutcome, StopError> {
    // Watched before the signal, so that its exit cannot come first. None
    // when the leader is already gone.
    let leader = tree.sid.and_then(|sid| ExitWatch::open(sid).ok());
    signal_tree_async(tree, signal).await?;
    if wait_until_empty(tree, leader.as_ref(), grace, poll).await?.is_empty() {
        return Ok(StopOutcome::Exited);
    }
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        // Sent again each round: a process that was forking when the last one
        // went out can leave a child the scan had not seen.
        signal_tree_async(tree, Signal::SIGKILL).await?;
        let left = wait_until_empty(tree, leader.as_ref(), poll, poll).await?;
        if left.is_empty() {
            return Ok(StopOutcome::Killed);
        }
        if Instant::now() >= deadline {
            return Err(StopError::Unkillable { sid: tree.sid.unwrap_or_default(), pids: left });
        }
    }
}

/// Waits up to `limit` for `tree` to have no live process: first for its
/// `leader` to exit, then looking at `/proc` every `poll`; returns those
/// still there (none when it emptied).
async fn wait_until_empty(
    tree: &AgentTree,
    leader: Option<&ExitWatch>,
    limit: Duration,
    poll: Duration,
) -> Result<Vec<u32>, StopError> {
    let deadline = Instant::now() + limit;
    if let Some(leader) = leader {
        // An error watching it only means looking at /proc sooner.
        let _ = timeout_at(deadline, leader.exited()).await;
    }
    loop {
        let sid = tree.sid.unwrap_or_default();
        let scan = scan_for_trees([tree]).await.map_err(|err| StopError::Scan { sid, err })?;
        let left = tree.members(&scan);
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        sleep(poll.max(MIN_POLL).min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// `sid` as a process group id to signal, if it can be an agent's session.
fn agent_sid(sid: u32) -> Result<i32, StopError> {
    let refuse = |why| Err(StopError::NotAnAgentSid { sid, why });
    let Ok(group) = i32::try_from(sid) else { return refuse("not a process id") };
    if group <= 1 {
        return refuse("it would signal every process, or init");
    }
    if getsid(None).is_ok_and(|own| own.as_raw() == group) {
        return refuse("it is the daemon's own session");
    }
    if getpgrp().as_raw() == group || std::process::id() == sid {
        return refuse("it is the daemon's own process group");
    }
    Ok(group)
}

#[cfg(test)]
#[path = "kill_tests.rs"]
mod tests;
