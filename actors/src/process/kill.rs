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
use tokio::time::{Instant, sleep};

use super::proc_table::{pid_of, session_members};

/// How long [`stop_session`] waits for processes to vanish after SIGKILL
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
    #[error("refusing to signal session {sid}: {why}")]
    NotAnAgentSession {
        /// The session id given.
        sid: u32,
        /// Why it was refused.
        why: &'static str,
    },
    /// A process could not be signalled (not ours to signal, such as one that
    /// became another user through a setuid program).
    #[error("cannot send {signal} to process {pid} of session {sid}: {errno}")]
    Signal {
        /// The session.
        sid: u32,
        /// The process, or the negated process group.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// What `kill` said.
        errno: Errno,
    },
    /// `/proc` could not be listed.
    #[error("cannot list the processes of session {sid}: {source}")]
    Scan {
        /// The session.
        sid: u32,
        /// What the system said.
        source: io::Error,
    },
    /// Processes outlived SIGKILL for [`KILL_WAIT`].
    #[error("session {sid} still has processes {pids:?} after SIGKILL")]
    Unkillable {
        /// The session.
        sid: u32,
        /// The processes still there.
        pids: Vec<u32>,
    },
}

/// Sends `signal` to every process of session `sid`: to its process group,
/// and to every live process whose session id is `sid`, wherever its group.
///
/// Processes already gone are skipped. When some cannot be signalled, the rest
/// still are, and the first failure is returned.
pub fn signal_session(sid: u32, signal: Signal) -> Result<(), StopError> {
    let group = agent_session(sid)?;
    let mut first_error = None;
    let mut send = |pid: i32| match kill(Pid::from_raw(pid), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => {
            first_error.get_or_insert(StopError::Signal { sid, pid, signal, errno });
        }
    };
    send(-group);
    for member in session_members(sid).map_err(|source| StopError::Scan { sid, source })? {
        send(member.pid);
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether session `sid` has a live process (zombies, which have exited and
/// wait to be reaped, do not count). False when `/proc` cannot be read.
pub fn session_alive(sid: u32) -> bool {
    members(sid).is_ok_and(|pids| !pids.is_empty())
}

/// Stops session `sid`: sends `signal` (normally SIGTERM), waits up to `grace`
/// for every process to exit, checking `/proc` every `poll`, then SIGKILLs
/// whatever is left and waits (up to [`KILL_WAIT`]) until nothing is.
///
/// The agent's own process, a child of the caller, stays a zombie until its
/// `Child` is waited for; zombies do not count as left.
pub async fn stop_session(sid: u32, signal: Signal, grace: Duration, poll: Duration) -> Result<StopOutcome, StopError> {
    off_thread(move || signal_session(sid, signal)).await?;
    if wait_until_empty(sid, grace, poll).await?.is_empty() {
        return Ok(StopOutcome::Exited);
    }
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        // Sent again each round: a process that was forking when the last one
        // went out can leave a child the scan had not seen.
        off_thread(move || signal_session(sid, Signal::SIGKILL)).await?;
        let left = wait_until_empty(sid, poll, poll).await?;
        if left.is_empty() {
            return Ok(StopOutcome::Killed);
        }
        if Instant::now() >= deadline {
            return Err(StopError::Unkillable { sid, pids: left });
        }
    }
}

/// Waits up to `limit` for session `sid` to have no live process, looking
/// every `poll`; returns those still there (none when it emptied).
async fn wait_until_empty(sid: u32, limit: Duration, poll: Duration) -> Result<Vec<u32>, StopError> {
    let deadline = Instant::now() + limit;
    loop {
        let left = off_thread(move || members(sid)).await?;
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        sleep(poll.max(MIN_POLL).min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Runs `scan` (which reads all of `/proc`, a cost that grows with the
/// machine's processes) on tokio's blocking pool, so that the caller's thread,
/// the engine's, goes on serving other requests meanwhile.
async fn off_thread<T: Send + 'static>(scan: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(scan).await {
        Ok(value) => value,
        Err(err) => std::panic::resume_unwind(err.into_panic()),
    }
}

/// The pids of the live members of session `sid`.
fn members(sid: u32) -> Result<Vec<u32>, StopError> {
    let members = session_members(sid).map_err(|source| StopError::Scan { sid, source })?;
    Ok(members.iter().filter_map(|stat| pid_of(stat.pid)).collect())
}

/// `sid` as a process group id to signal, if it can be an agent's session.
fn agent_session(sid: u32) -> Result<i32, StopError> {
    let refuse = |why| Err(StopError::NotAnAgentSession { sid, why });
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
