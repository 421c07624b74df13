//! Reading `/proc`: one process's stat line, or every process's.
//!
//! Processes come and go while `/proc` is read: one listed in the directory may
//! be gone before its `stat` is read. A scan skips those rather than failing,
//! because a process that vanished is simply no longer there to count or
//! signal. Only a `/proc` that cannot be listed at all is an error.

use std::io;
use std::time::Duration;

use procfs::ProcError;
use procfs::process::{Process, Stat};

/// The `stat` of process `pid`; an error of kind `NotFound` when there is none.
pub(super) fn stat_of(pid: u32) -> io::Result<Stat> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::new(io::ErrorKind::NotFound, "no such process"))?;
    Process::new(pid).and_then(|process| process.stat()).map_err(into_io)
}

/// The `stat` of every process that could be read. Those that vanished (or
/// could not be read) between listing `/proc` and reading them are left out.
pub(super) fn all_stats() -> io::Result<Vec<Stat>> {
    let processes = procfs::process::all_processes().map_err(into_io)?;
    Ok(processes.filter_map(|process| process.and_then(|process| process.stat()).ok()).collect())
}

/// The live members of session `sid`: every process whose session id is `sid`
/// and that is not a zombie.
pub(super) fn session_members(sid: u32) -> io::Result<Vec<Stat>> {
    Ok(all_stats()?.into_iter().filter(|stat| pid_of(stat.session) == Some(sid) && is_running(stat)).collect())
}

/// Whether the process has not exited yet: it is neither a zombie (exited,
/// waiting for its parent to reap it) nor dead (being torn down).
pub(super) fn is_running(stat: &Stat) -> bool {
    !matches!(stat.state, 'Z' | 'X' | 'x')
}

/// A pid from a `stat` field, if it is a valid one.
pub(super) fn pid_of(field: i32) -> Option<u32> {
    u32::try_from(field).ok().filter(|&pid| pid > 0)
}

/// A number of clock ticks (the unit of CPU times and start times in `stat`)
/// as a duration.
pub(super) fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = procfs::ticks_per_second().max(1);
    let whole = Duration::from_secs(ticks / per_second);
    // (ticks % per_second) < per_second, so this cannot overflow.
    whole + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second)
}

/// A procfs error as the I/O error it mostly is, keeping "no such process" as
/// `NotFound` so callers can tell a gone process from a failure.
fn into_io(err: ProcError) -> io::Error {
    match err {
        ProcError::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, "no such process"),
        ProcError::PermissionDenied(_) => io::Error::new(io::ErrorKind::PermissionDenied, err.to_string()),
        ProcError::Io(source, _) if source.raw_os_error() == Some(nix::libc::ESRCH) => {
            io::Error::new(io::ErrorKind::NotFound, "no such process")
        }
        ProcError::Io(source, _) => source,
        other => io::Error::other(other.to_string()),
    }
}
