//! An agent process this process spawned, waited for through a pidfd.
//!
//! A pidfd names one process for good: it becomes readable when that process
//! exits, and `waitid(P_PIDFD)` reaps exactly that process, never a later one
//! that got its pid. So waiting needs no `SIGCHLD` handler and no
//! `waitpid(-1)`, and cannot race the orphan reaper, which reaps only the
//! zombies it is told are not ours.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;

use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions, WaitIdStatus, pidfd_open, waitid};
use tokio::io::unix::AsyncFd;

/// A child process of this one. Dropping it neither kills nor leaks the
/// process: one not reaped yet is reaped in the background once it exits,
/// when a tokio runtime is there to do it (otherwise the orphan reaper or its
/// adopting actor takes it).
#[derive(Debug)]
pub struct Child {
    pid: u32,
    /// The pidfd, registered with the runtime's reactor, until the child is
    /// reaped.
    pidfd: Option<AsyncFd<OwnedFd>>,
    /// How it ended, once reaped.
    status: Option<ExitStatus>,
}

impl Child {
    /// Takes charge of child `pid`, just spawned and not reaped yet. Must be
    /// called within a tokio runtime.
    pub(super) fn new(pid: nix::unistd::Pid) -> io::Result<Self> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "not a process id");
        let pid = u32::try_from(pid.as_raw()).map_err(|_| invalid())?;
        Ok(Self { pid, pidfd: Some(open_pidfd(pid)?), status: None })
    }

    /// Its pid.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Waits for it to exit and reaps it; once reaped, answers at once with
    /// the same status. Cancel-safe: a wait dropped before the end leaves the
    /// child as it was, to wait for again or to drop.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let pidfd = self.pidfd.as_ref().ok_or_else(|| io::Error::other("the child's pidfd is gone"))?;
        let status = reap_once_exited(pidfd).await?;
        self.reaped(status);
        Ok(status)
    }

    /// Waits for it to exit and reaps it, blocking the calling thread: for a
    /// thread that is not a runtime's, such as one undoing a spawn.
    pub fn wait_blocking(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let pidfd = self.pidfd.as_ref().ok_or_else(|| io::Error::other("the child's pidfd is gone"))?;
        let status = loop {
            match waitid(WaitId::PidFd(pidfd.get_ref().as_fd()), WaitIdOptions::EXITED) {
                Ok(status) => break status.map_or_else(|| ExitStatus::from_raw(0), |status| exit_status(&status)),
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        };
        self.reaped(status);
        Ok(status)
    }

    /// Reaps it if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            if let Some(status) = self.pidfd.as_ref().map(|pidfd| reap(pidfd.get_ref())).transpose()?.flatten() {
                self.reaped(status);
            }
        }
        Ok(self.status)
    }

    /// Keeps how it ended; its pidfd is of no more use.
    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        self.pidfd = None;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(pidfd) = self.pidfd.take() else { return };
        if let Ok(Some(_)) = reap(pidfd.get_ref()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        // Not a `Child`, whose drop would come back here: a runtime shutting
        // down drops the task at once.
        runtime.spawn(async move {
            // Someone else (an adopting actor, the orphan reaper) may reap it
            // first: then there is nothing left to do.
            let _ = reap_once_exited(&pidfd).await;
        });
    }
}

/// Tells when a process exits, any process, not only a child of this one:
/// its pidfd turns readable then. For a child, exiting is becoming a zombie;
/// it is not reaped.
#[derive(Debug)]
pub(super) struct ExitWatch(AsyncFd<OwnedFd>);

impl ExitWatch {
    /// Watches process `pid`. Fails when there is no such process (or pidfds
    /// are not supported). Must be called within a tokio runtime.
    pub(super) fn open(pid: u32) -> io::Result<Self> {
        open_pidfd(pid).map(Self)
    }

    /// Waits until the process has exited.
    pub(super) async fn exited(&self) -> io::Result<()> {
        self.0.readable().await.map(drop)
    }
}

/// A pidfd of process `pid`, registered with the current tokio runtime's
/// reactor to tell when it turns readable. An error of kind `NotFound` when
/// `pid` cannot be a process's.
fn open_pidfd(pid: u32) -> io::Result<AsyncFd<OwnedFd>> {
    let no_such = || io::Error::new(io::ErrorKind::NotFound, "no such process");
    let pid = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(no_such)?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    // SAFETY: the `OwnedFd` is the pidfd's only owner, and the `AsyncFd`
    // holds it, open, until it is deregistered in `into_inner` or dropped.
    Ok(unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }?)
}

/// Waits for the child of `pidfd` to exit, and reaps it.
async fn reap_once_exited(pidfd: &AsyncFd<OwnedFd>) -> io::Result<ExitStatus> {
    loop {
        let mut ready = pidfd.readable().await?;
        match reap(pidfd.get_ref())? {
            Some(status) => return Ok(status),
            None => ready.clear_ready(),
        }
    }
}

/// Reaps the process of `pidfd` if it has exited: its status, or `None` while
/// it runs.
fn reap(pidfd: &impl AsFd) -> io::Result<Option<ExitStatus>> {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
    loop {
        match waitid(WaitId::PidFd(pidfd.as_fd()), options) {
            Ok(status) => return Ok(status.map(|status| exit_status(&status))),
            Err(rustix::io::Errno::INTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// `waitid`'s account of an exit as the wait status std understands.
fn exit_status(status: &WaitIdStatus) -> ExitStatus {
    let raw = match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => (code & 0xff) << 8,
        (None, Some(signal)) if status.dumped() => signal | 0x80,
        (None, Some(signal)) => signal,
        (None, None) => 0,
    };
    ExitStatus::from_raw(raw)
}
