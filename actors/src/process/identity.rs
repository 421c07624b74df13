//! Knowing a process again: a pid together with the time it started.
//!
//! A pid alone names a process only while it lives: once it is reaped the kernel
//! hands the number to the next process that needs one, and on a small system
//! (`pid_max` is often 32768) that happens within minutes. A daemon that comes
//! back after a crash and finds "pid 4242" in its records must not adopt, or
//! signal, whatever process wears that number now. The start time (clock ticks
//! since boot, field 22 of `/proc/<pid>/stat`) cannot be the same for two
//! processes with the same pid, so the pair names one process for good.

use std::io;

use serde::{Deserialize, Serialize};

use super::proc_table::{is_running, stat_of};

/// One process, for good: its pid and when it started.
///
/// Stored in the agent's record (as `pid` and `pid_start_time`), so a restarted
/// daemon can tell its agent from a stranger that was given the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The process id, to signal and watch the process.
    pub pid: u32,
    /// When it started, in clock ticks since boot: what tells it from a later
    /// process given the same pid.
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of the process that has pid `pid` now (a zombie has one
    /// too, until it is reaped). An error of kind `NotFound` when there is no
    /// such process.
    pub fn of(pid: u32) -> io::Result<Self> {
        let stat = stat_of(pid)?;
        Ok(Self { pid, start_time: stat.starttime })
    }

    /// Whether this very process still runs: a process with this pid exists,
    /// has not exited (is not a zombie), and started when this one did.
    ///
    /// False for a process that exited, even before it is reaped, and for a
    /// stranger that reuses the pid.
    pub fn is_alive(&self) -> bool {
        match stat_of(self.pid) {
            Ok(stat) => stat.starttime == self.start_time && is_running(&stat),
            Err(_) => false,
        }
    }

    /// Whether the session this process leads (its session id is its pid, as
    /// for every agent baton spawns) is still this process's: true while the
    /// leader is alive, and after it died while its pid is taken by nobody.
    ///
    /// The kernel never hands out a pid that is still the session id of a live
    /// process, so once the leader is gone, members with that session id are
    /// its leftovers, unless the pid was freed (every member gone) and then
    /// given to a new process that started a session of its own. Ask this
    /// before signalling a session whose leader you no longer hold as a child.
    pub fn sid_is_ours(&self) -> bool {
        match stat_of(self.pid) {
            Ok(stat) => stat.starttime == self.start_time,
            Err(err) => err.kind() == io::ErrorKind::NotFound,
        }
    }
}

#[cfg(test)]
#[path = "identity_tests.rs"]
mod tests;
