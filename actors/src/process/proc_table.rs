//! Reading `/proc`: one process's stat line, or every process's.
//!
//! Processes come and go while `/proc` is read: one listed in the directory may
//! be gone before its `stat` is read. A scan skips those rather than failing,
//! because a process that vanished is simply no longer there to count or
//! signal. Only a `/proc` that cannot be listed at all is an error.

use std::io;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};
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
///
/// A scan reads every process's `stat`, a cost that grows with the machine;
/// callers that ask at once (100 agents stopped together) share scans. Each
/// caller gets a scan that started after it asked, so what it reads is never
/// older than its question.
pub(super) fn all_stats() -> io::Result<Arc<Vec<Stat>>> {
    let shared = &*SCANS;
    let mut state = lock(shared);
    // The scan running now may have read part of /proc before this call: wait
    // for the next one.
    let wanted = state.started + 1;
    loop {
        if state.finished >= wanted {
            return match &state.latest {
                Some(Ok(stats)) => Ok(Arc::clone(stats)),
                Some(Err((kind, message))) => Err(io::Error::new(*kind, message.clone())),
                None => Err(io::Error::other("no scan of /proc")),
            };
        }
        if state.running {
            state = shared.done.wait(state).unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        state.running = true;
        state.started += 1;
        let this = state.started;
        drop(state);
        let scanned = scan().map(Arc::new);
        state = lock(shared);
        state.running = false;
        state.finished = this;
        state.latest = Some(scanned.as_ref().map(Arc::clone).map_err(|err| (err.kind(), err.to_string())));
        shared.done.notify_all();
        if this >= wanted {
            return scanned;
        }
    }
}

fn scan() -> io::Result<Vec<Stat>> {
    let processes = procfs::process::all_processes().map_err(into_io)?;
    Ok(processes.filter_map(|process| process.and_then(|process| process.stat()).ok()).collect())
}

/// A finished scan, shared by its callers; an error is kept as its kind and
/// message, since `io::Error` is not `Clone`.
type ScanResult = Result<Arc<Vec<Stat>>, (io::ErrorKind, String)>;

/// The scans of `/proc` in this process: how many started and finished, and
/// the last one's result.
#[derive(Default)]
struct ScanState {
    running: bool,
    started: u64,
    finished: u64,
    latest: Option<ScanResult>,
}

struct Scans {
    state: Mutex<ScanState>,
    done: Condvar,
}

static SCANS: LazyLock<Scans> = LazyLock::new(|| Scans { state: Mutex::default(), done: Condvar::new() });

fn lock(scans: &Scans) -> MutexGuard<'_, ScanState> {
    // The state is counters and a result, consistent after every update.
    scans.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live members of session `sid`: every process whose session id is `sid`
/// and that is not a zombie.
pub(super) fn session_members(sid: u32) -> io::Result<Vec<Stat>> {
    Ok(all_stats()?.iter().filter(|stat| pid_of(stat.session) == Some(sid) && is_running(stat)).cloned().collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_at_once_each_see_a_scan_that_started_after_they_asked() {
        let before = lock(&SCANS).started;
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    // Started just before asking: a scan that began earlier could miss it.
                    let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
                    let pid = child.id();
                    let seen = all_stats().unwrap().iter().any(|stat| pid_of(stat.pid) == Some(pid));
                    child.kill().unwrap();
                    child.wait().unwrap();
                    seen
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap(), "a caller's scan missed a process started before it asked");
        }
        assert!(lock(&SCANS).started > before);
    }
}
