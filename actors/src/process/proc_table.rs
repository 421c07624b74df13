//! Reading `/proc`: one process's stat line, or every process's (with, when
//! asked, the agent each process belongs to, from its environment).
//!
//! Processes come and go while `/proc` is read: one listed in the directory may
//! be gone before its `stat` is read. A scan skips those rather than failing,
//! because a process that vanished is simply no longer there to count or
//! signal. Only a `/proc` that cannot be listed at all is an error.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read as _};
use std::sync::{Arc, LazyLock, mpsc};
use std::time::Duration;

use procfs::process::{Process, Stat};
use procfs::{FromRead as _, ProcError};

/// The `stat` of process `pid`; an error of kind `NotFound` when there is none.
pub(super) fn stat_of(pid: u32) -> io::Result<Stat> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::new(io::ErrorKind::NotFound, "no such process"))?;
    Process::new(pid).and_then(|process| process.stat()).map_err(into_io)
}

/// The `stat` of every process that could be read. Those that vanished (or
/// could not be read) between listing `/proc` and reading them are left out.
///
/// Blocks the calling thread until the scan is done; async callers use
/// [`all_stats_async`].
pub(super) fn all_stats() -> io::Result<Arc<Vec<Stat>>> {
    Ok(blocking_scan(false)?.stats)
}

/// [`all_stats`] for async callers: the scan runs on the scanner thread while
/// the caller's thread goes on with other work.
pub(super) async fn all_stats_async() -> io::Result<Arc<Vec<Stat>>> {
    Ok(async_scan(false).await?.stats)
}

/// A look at every process, blocking until it is done; when `tagged`, with
/// the agent each belongs to by its environment (`BATON_AGENT_ID`, which
/// every process an agent starts inherits). Reading every environment costs
/// more than the `stat`s alone, so only a caller that tracks agents by it
/// asks.
pub(super) fn blocking_scan(tagged: bool) -> io::Result<Scan> {
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    ask(Request { tagged, reply: Reply::Blocking(reply) });
    answer.recv().unwrap_or_else(|_| Err(scanner_gone())).map_err(into_error)
}

/// A tagged scan for a test, off the scanner thread (a test's own thread
/// may block).
#[cfg(test)]
pub(super) fn tagged_scan_free_for_tests() -> Scan {
    scan(true).expect("/proc can be listed")
}

/// [`blocking_scan`] for async callers.
pub(super) async fn async_scan(tagged: bool) -> io::Result<Scan> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    ask(Request { tagged, reply: Reply::Async(reply) });
    answer.await.unwrap_or_else(|_| Err(scanner_gone())).map_err(into_error)
}

/// Hands a request to the scanner thread.
fn ask(request: Request) {
    if let Err(mpsc::SendError(request)) = SCANNER.send(request) {
        request.reply.send(Err(scanner_gone()));
    }
}

/// One look at every process.
#[derive(Debug, Clone)]
pub(super) struct Scan {
    /// Every process's `stat`.
    pub(super) stats: Arc<Vec<Stat>>,
    /// The value of `BATON_AGENT_ID` in the environment of each process that
    /// has one, by pid; empty unless the scan was asked for it.
    pub(super) agents: Arc<HashMap<i32, Box<str>>>,
}

impl Scan {
    /// The agent whose id process `pid`'s environment holds, if any.
    pub(super) fn agent_of(&self, pid: i32) -> Option<&str> {
        self.agents.get(&pid).map(AsRef::as_ref)
    }
}

/// A finished scan, shared by its callers; an error is kept as its kind and
/// message, since `io::Error` is not `Clone`.
type ScanResult = Result<Scan, (io::ErrorKind, String)>;

fn into_error((kind, message): (io::ErrorKind, String)) -> io::Error {
    io::Error::new(kind, message)
}

fn scanner_gone() -> (io::ErrorKind, String) {
    (io::ErrorKind::Other, "the thread that scans /proc is gone".to_owned())
}

/// A request for a scan: whether it needs the agents' tags, and where the
/// answer goes.
struct Request {
    tagged: bool,
    reply: Reply,
}

/// Where a scan's result goes: a thread that blocks for it, or a task.
enum Reply {
    Blocking(mpsc::SyncSender<ScanResult>),
    Async(tokio::sync::oneshot::Sender<ScanResult>),
}

impl Reply {
    fn send(self, result: ScanResult) {
        // A caller that stopped waiting does not want the answer.
        let _ = match self {
            Reply::Blocking(reply) => reply.send(result).map_err(drop),
            Reply::Async(reply) => reply.send(result).map_err(drop),
        };
    }
}

/// The requests for the scanner thread, started on first use.
///
/// A scan reads every process's `stat`, a cost that grows with the machine.
/// One thread does every scan of the process, and callers that ask while a
/// scan runs (100 agents stopped together, every agent's watchdog check on
/// one tick) share the next one: each caller gets a scan that started after
/// it asked, so what it reads is never older than its question. One thread,
/// not a thread per waiting caller, so a burst of stops leaves no threads
/// behind.
static SCANNER: LazyLock<mpsc::Sender<Request>> = LazyLock::new(|| {
    let (requests, queue) = mpsc::channel();
    let started = std::thread::Builder::new()
        .name("baton-proc".into())
        .stack_size(SCANNER_STACK)
        .spawn(move || serve_scans(&queue));
    if let Err(err) = started {
        // Every request is then answered with an error (its sender fails).
        tracing::error!(cause = %err, "cannot start the thread that scans /proc");
    }
    requests
});

/// The scanner thread's stack: a scan keeps little on it.
const SCANNER_STACK: usize = 256 * 1024;

/// Answers requests until every sender is gone (never, for the static one).
fn serve_scans(queue: &mpsc::Receiver<Request>) {
    while let Ok(first) = queue.recv() {
        let waiting: Vec<Request> = std::iter::once(first).chain(queue.try_iter()).collect();
        let tagged = waiting.iter().any(|request| request.tagged);
        let result: ScanResult = scan(tagged).map_err(|err| (err.kind(), err.to_string()));
        for request in waiting {
            request.reply.send(result.clone());
        }
    }
}

/// Reads every process's `stat`: for each numeric entry of `/proc`, one
/// open, one read into a reused buffer and one close, parsed by procfs.
/// (procfs's own `Process` first opens the process's directory, sizes the
/// file with `statx` and `lseek`, and closes twice: a third of a scan in a
/// profile of 100 stops.) When `tagged`, each process's environment is read
/// too, for its `BATON_AGENT_ID`.
fn scan(tagged: bool) -> io::Result<Scan> {
    let mut stats = Vec::with_capacity(512);
    let mut agents = HashMap::new();
    let mut path = String::with_capacity(32);
    let mut buf = [0u8; STAT_LINE_MAX];
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|name| name.bytes().all(|byte| byte.is_ascii_digit())) else { continue };
        path.clear();
        path.push_str("/proc/");
        path.push_str(pid);
        path.push_str("/stat");
        // Gone since the listing, or not ours to read: not there to count.
        let Ok(len) = read_into(&path, &mut buf) else { continue };
        let Ok(stat) = Stat::from_read(&buf[..len]) else { continue };
        if tagged {
            if let Some(agent) = agent_in_environment(stat.pid) {
                agents.insert(stat.pid, agent);
            }
        }
        stats.push(stat);
    }
    Ok(Scan { stats: Arc::new(stats), agents: Arc::new(agents) })
}

/// The `BATON_AGENT_ID` in process `pid`'s environment (as it was when the
/// process started its program), if it has one and it can be read.
fn agent_in_environment(pid: i32) -> Option<Box<str>> {
    let environment = Process::new(pid).and_then(|process| process.environ()).ok()?;
    let agent = environment.get(OsStr::new(super::env::BATON_AGENT_ID))?;
    agent.to_str().map(Box::from)
}

/// The longest `stat` line read: 52 fields of at most 20 digits and a
/// command name of at most 64 bytes fit well within it.
const STAT_LINE_MAX: usize = 4096;

/// Reads the file at `path` into `buf`, up to its size; returns the length read.
fn read_into(path: &str, buf: &mut [u8]) -> io::Result<usize> {
    let mut file = std::fs::File::open(path)?;
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(read) => len += read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(len)
}

/// The live members of session `sid`: every process whose session id is `sid`
/// and that is not a zombie.
pub(super) fn sid_members(sid: u32) -> io::Result<Vec<Stat>> {
    Ok(all_stats()?.iter().filter(|stat| is_member(stat, sid)).cloned().collect())
}

/// Whether `stat` is a live member of session `sid`.
pub(super) fn is_member(stat: &Stat, sid: u32) -> bool {
    pid_of(stat.session) == Some(sid) && is_running(stat)
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

    /// Starts a process just before asking: a scan that began earlier could miss it.
    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep").arg("30").spawn().unwrap()
    }

    fn seen(stats: &[Stat], pid: u32) -> bool {
        stats.iter().any(|stat| pid_of(stat.pid) == Some(pid))
    }

    #[test]
    fn callers_at_once_each_see_a_scan_that_started_after_they_asked() {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    let mut child = sleeper();
                    let seen = seen(&all_stats().unwrap(), child.id());
                    child.kill().unwrap();
                    child.wait().unwrap();
                    seen
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap(), "a caller's scan missed a process started before it asked");
        }
    }

    #[tokio::test]
    async fn async_callers_share_the_scanner_and_see_what_was_there_when_they_asked() {
        let mut children: Vec<_> = (0..8).map(|_| sleeper()).collect();
        let asked = children.iter().map(|child| {
            let pid = child.id();
            async move { all_stats_async().await.map(|stats| seen(&stats, pid)) }
        });
        let answers = futures_util::future::join_all(asked).await;
        for child in &mut children {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        for answer in answers {
            assert!(answer.unwrap(), "an async caller's scan missed a process started before it asked");
        }
    }
}
