//! The fail-open spool: hook events the daemon has not had yet, kept in a file
//! in the data dir until a later hook can deliver them.
//!
//! A hook must never block the editor, so when the daemon cannot be reached it
//! appends its event here, fsyncs, and exits 0. What a hook does, so that no
//! event overtakes one spooled before it:
//! 1. spool empty ([`Spool::is_empty`], one `stat`): post the event live;
//! 2. else drain first, and post live only if the drain emptied the spool; if
//!    a delivery failed or another process is draining, append the event;
//! 3. a live post that fails or runs out of time: append the event, as a
//!    [`SpoolEntry`] made before the post so the post's key is the entry's.
//!
//! A deliverer returns `Ok` (after logging) for an entry it can never deliver,
//! such as one the daemon refuses as malformed: an `Err` keeps the entry and
//! holds back every later one until the next drain.
//!
//! # Format
//! `<data dir>/hook-spool.jsonl`, mode 0600 (events hold prompts and file
//! contents): one JSON object a line, `{"id": ..., "spooled_at": ..., "event":
//! {...}}`, where `event` is the hook's object as received and `id` a UUIDv7
//! made when it was spooled. A line that is not a whole entry (a hook that
//! crashed mid-append leaves a torn last line) is skipped with a warning and
//! dropped; an append after one first ends it with a newline, so a torn line
//! never swallows the entry after it.
//!
//! # Concurrency
//! Claude Code runs many hooks at once, so two `flock`s in the data dir order
//! them. `hook-spool.lock` is held only for short file work: one append, one
//! snapshot read, one rewrite; appends therefore never wait on the network.
//! `hook-spool.drain.lock` is held by the one process draining, for the whole
//! drain; a hook that finds it taken leaves its entry to that drainer, which
//! looks again for new entries before it lets go and once more after.
//!
//! # Delivery: at least once, with an idempotency key, so exactly once in effect
//! A drain delivers a batch of entries, then removes them by rewriting the file
//! without them (the rest written to a temporary file, fsynced, renamed over
//! the spool, the directory fsynced; or the file removed when nothing is
//! left). A crash (or Claude Code killing the hook at its timeout) between a
//! delivery and that rewrite means the entries are delivered again by the next
//! drain, with the same ids. So the deliverer must make a repeat harmless:
//! post each observation with the event's own key when it has one (its
//! `tool_use_id`, so a spooled copy of an event also posted live is one
//! observation) and else with [`SpoolEntry::idempotency_key`]; opening and
//! closing a session are idempotent by its external id. At-least-once delivery
//! plus idempotent receipt is exactly-once in effect. A rewrite rather than a
//! committed-offset file keeps one file as the whole truth, and the spool is
//! small and usually empty: it only grows while the daemon is down.
//!
//! # Sync I/O
//! The file work is plain blocking I/O, also inside [`Spool::drain_async`]: a
//! hook runs on a current-thread tokio runtime with nothing else to do, and an
//! append or a rewrite of a small local file costs about one fsync. Only
//! deliveries, which go over the network, are awaited.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufRead as _, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Utc};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JsonSize;
use super::durable::{FileMode, sync_dir, with_path, write_atomically};
use crate::lock_file::open_lock_file;

/// The spool's file name in the data dir.
pub const SPOOL_FILE: &str = "hook-spool.jsonl";
/// Held for each append, snapshot read and rewrite of the spool.
const APPEND_LOCK_FILE: &str = "hook-spool.lock";
/// Held by the one process draining the spool, for the whole drain.
const DRAIN_LOCK_FILE: &str = "hook-spool.drain.lock";
/// How many entries a drain delivers before it removes them from the file, so
/// a drain cut short (by Claude Code's timeout, say) has made progress.
const BATCH: usize = 64;

/// The spool of one data dir. Holds only paths; every call opens and locks the
/// files afresh, so any number of processes may use the same spool at once.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The data dir, which holds the spool and its locks.
    dir: PathBuf,
    /// `<dir>/hook-spool.jsonl`.
    file: PathBuf,
}

/// One spooled hook event.
///
/// Its `Debug` shows the event only by its size.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolEntry {
    /// Made when it was spooled (a UUIDv7, so it also sorts by time); the same
    /// on every delivery attempt, so it can serve as an idempotency key.
    pub id: Uuid,
    /// When it was spooled, for consumers that care how late it arrived.
    pub spooled_at: DateTime<Utc>,
    /// The hook's object as received.
    pub event: serde_json::Value,
}

impl SpoolEntry {
    /// A new entry for `event`, with a fresh id.
    pub fn new(event: serde_json::Value) -> Self {
        Self { id: Uuid::now_v7(), spooled_at: Utc::now(), event }
    }

    /// The idempotency key for delivering an event that has no key of its own:
    /// `spool:<id>`.
    pub fn idempotency_key(&self) -> String {
        format!("spool:{}", self.id)
    }
}

impl fmt::Debug for SpoolEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpoolEntry")
            .field("id", &self.id)
            .field("spooled_at", &self.spooled_at)
            .field("event", &JsonSize(&self.event))
            .finish()
    }
}

/// What a drain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Entries delivered and removed from the spool.
    pub delivered: usize,
    /// Lines that were not whole entries (torn by a crash mid-append) and were
    /// dropped with a warning.
    pub skipped: usize,
    /// Whether this call drained the spool or left it to another process.
    pub outcome: DrainOutcome,
}

/// How a drain that met no failure ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// The spool was empty, or this call emptied it.
    Emptied,
    /// Another process was draining it; that one delivers what is there.
    AnotherDrainer,
}

/// Why a drain stopped early. Every entry not yet delivered is still in the spool, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpoolError<E> {
    /// The spool's files could not be read, written or locked; the error names the file.
    Io(io::Error),
    /// An entry could not be delivered. It and every later one are kept.
    Delivery {
        /// What the deliverer said.
        error: E,
        /// What was delivered and removed before it.
        report: DrainReport,
    },
}

impl<E: fmt::Display> fmt::Display for SpoolError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Io(source) => write!(f, "hook spool: {source}"),
            SpoolError::Delivery { error, report } => write!(
                f,
                "cannot deliver a spooled hook event ({} delivered before it; it and the rest are kept): {error}",
                report.delivered
            ),
        }
    }
}

/// The message names the cause, so it is not also given as the source: a
/// printed chain would say it twice.
impl<E: std::error::Error + 'static> std::error::Error for SpoolError<E> {}

/// One line of a snapshot read, and where it ends in the file.
enum Line {
    /// A whole entry.
    Entry(SpoolEntry),
    /// Not a whole entry: torn, or written by something else.
    Unreadable,
    /// Nothing but whitespace (the newline that ended a torn line, say).
    Blank,
}

impl Spool {
    /// The spool of `data_dir`. Creates nothing until the first append.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let dir = data_dir.into();
        let file = dir.join(SPOOL_FILE);
        Self { dir, file }
    }

    /// The spool file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Whether there is nothing to deliver: no spool file, or an empty one. A
    /// single `stat`, for a hook to decide whether it must drain before it posts.
    pub fn is_empty(&self) -> io::Result<bool> {
        match fs::metadata(&self.file) {
            Ok(meta) => Ok(meta.len() == 0),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(with_path(&self.file, err)),
        }
    }

    /// Appends `raw_event` as a new entry and syncs it to disk before returning.
    /// Creates the data dir (0700) and the spool (0600) when missing.
    pub fn append(&self, raw_event: &serde_json::Value) -> io::Result<SpoolEntry> {
        let entry = SpoolEntry::new(raw_event.clone());
        self.append_entry(&entry)?;
        Ok(entry)
    }

    /// Appends an entry made beforehand, such as one whose id was already used
    /// as the idempotency key of a live post that may or may not have arrived.
    ///
    /// An entry that would not read back (an event nested as deep as serde_json
    /// reads at all, which the entry's own level pushes past it) is refused
    /// with `InvalidData` and not written: spooled, it would only be skipped
    /// later as a line torn by a crash.
    pub fn append_entry(&self, entry: &SpoolEntry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        if let Err(err) = serde_json::from_slice::<SpoolEntry>(&line) {
            let message = format!("the event would not read back from the spool: {err}");
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        line.push(b'\n');
        DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).map_err(|err| with_path(&self.dir, err))?;
        let _lock = self.lock(APPEND_LOCK_FILE)?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.file)
            .map_err(|err| with_path(&self.file, err))?;
        let len_before = append_line(&file, line).map_err(|err| with_path(&self.file, err))?;
        if len_before == 0 {
            // The file may have just been created: make its name durable too.
            sync_dir(&self.dir).map_err(|err| with_path(&self.dir, err))?;
        }
        Ok(())
    }

    /// Delivers the spooled entries oldest first, removing them from the spool
    /// as they are delivered, until it is empty or a delivery fails; the entry
    /// that failed and every later one stay, in order, for the next drain.
    ///
    /// `deliver` must be idempotent by the entry (see the module doc): an entry
    /// may be delivered again after a crash. It should return `Ok` for an entry
    /// that can never be delivered, or that entry holds back all later ones. A
    /// missing or empty spool is a no-op that creates nothing.
    pub fn drain<E>(
        &self,
        mut deliver: impl FnMut(&SpoolEntry) -> Result<(), E>,
    ) -> Result<DrainReport, SpoolError<E>> {
        // The async drain awaits nothing but the deliveries, which are all
        // ready here, so it completes in a single poll.
        let drain = pin!(self.drain_async(|entry| std::future::ready(deliver(entry))));
        match drain.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("a drain whose deliveries are ready never waits"),
        }
    }

    /// [`drain`](Self::drain) with a delivery that is awaited, such as an HTTP
    /// post. The future `deliver` returns must not borrow the entry: take what
    /// the post needs from it before the `async move` block.
    pub async fn drain_async<E, F, Fut>(&self, mut deliver: F) -> Result<DrainReport, SpoolError<E>>
    where
        F: FnMut(&SpoolEntry) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let mut report = DrainReport { delivered: 0, skipped: 0, outcome: DrainOutcome::Emptied };
        // Once more after letting go of the drain lock: a hook that appended
        // while this drain was ending found the lock taken and left its entry here.
        while !self.is_empty().map_err(SpoolError::Io)? {
            let Some(_drainer) = self.try_lock(DRAIN_LOCK_FILE).map_err(SpoolError::Io)? else {
                report.outcome = DrainOutcome::AnotherDrainer;
                return Ok(report);
            };
            loop {
                let batch = self.read_batch().map_err(SpoolError::Io)?;
                if batch.is_empty() {
                    break;
                }
                let mut done_through = 0;
                for (line, end) in batch {
                    match line {
                        Line::Entry(entry) => match deliver(&entry).await {
                            Ok(()) => report.delivered += 1,
                            Err(error) => {
                                self.remove_through(done_through).map_err(SpoolError::Io)?;
                                return Err(SpoolError::Delivery { error, report });
                            }
                        },
                        Line::Unreadable => {
                            tracing::warn!(
                                spool = %self.file.display(),
                                offset = done_through,
                                "skipping a spool line that is not a whole entry (torn by a crash mid-append?)"
                            );
                            report.skipped += 1;
                        }
                        Line::Blank => {}
                    }
                    done_through = end;
                }
                self.remove_through(done_through).map_err(SpoolError::Io)?;
            }
        }
        Ok(report)
    }

    /// Up to [`BATCH`] entries from the start of the spool (with the unreadable
    /// and blank lines among them), each with the offset just past its line.
    /// Empty when the spool is. Read under the append lock, so no append is
    /// half there.
    fn read_batch(&self) -> io::Result<Vec<(Line, u64)>> {
        let _lock = self.lock(APPEND_LOCK_FILE)?;
        let file = match File::open(&self.file) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(with_path(&self.file, err)),
        };
        let mut reader = BufReader::new(file);
        let (mut batch, mut entries, mut offset) = (Vec::new(), 0, 0u64);
        let mut bytes = Vec::new();
        while entries < BATCH {
            bytes.clear();
            let read = reader.read_until(b'\n', &mut bytes).map_err(|err| with_path(&self.file, err))?;
            if read == 0 {
                break;
            }
            offset += u64::try_from(read).unwrap_or(u64::MAX);
            let line = if bytes.iter().all(u8::is_ascii_whitespace) {
                Line::Blank
            } else {
                entries += 1;
                // A last line without its newline is parsed too: it was
                // written whole, only its appender died before syncing.
                serde_json::from_slice(&bytes).map_or(Line::Unreadable, Line::Entry)
            };
            batch.push((line, offset));
        }
        Ok(batch)
    }

    /// Removes the first `offset` bytes (whole lines, already delivered) from
    /// the spool, durably: what follows them is written to a new file renamed
    /// over the spool, or the spool is removed when nothing follows.
    fn remove_through(&self, offset: u64) -> io::Result<()> {
        if offset == 0 {
            return Ok(());
        }
        let _lock = self.lock(APPEND_LOCK_FILE)?;
        let mut rest = Vec::new();
        let read = |rest: &mut Vec<u8>| -> io::Result<bool> {
            let mut file = File::open(&self.file)?;
            if file.metadata()?.len() < offset {
                return Ok(false);
            }
            file.seek(SeekFrom::Start(offset))?;
            file.read_to_end(rest)?;
            Ok(true)
        };
        if !read(&mut rest).map_err(|err| with_path(&self.file, err))? {
            tracing::warn!(spool = %self.file.display(), "the spool shrank during a drain; leaving it as it is");
            return Ok(());
        }
        if rest.iter().all(u8::is_ascii_whitespace) {
            fs::remove_file(&self.file).map_err(|err| with_path(&self.file, err))?;
            return sync_dir(&self.dir).map_err(|err| with_path(&self.dir, err));
        }
        write_atomically(&self.file, &rest, FileMode::Exactly(0o600)).map_err(|err| with_path(&self.file, err))
    }

    /// Takes the lock `name` in the data dir, waiting while another process
    /// holds it. Released when the returned lock is dropped.
    fn lock(&self, name: &str) -> io::Result<Flock<File>> {
        self.flock(name, FlockArg::LockExclusive)?.ok_or_else(|| io::Error::from(Errno::EWOULDBLOCK))
    }

    /// Takes the lock `name` in the data dir; `None` when another process holds it.
    fn try_lock(&self, name: &str) -> io::Result<Option<Flock<File>>> {
        self.flock(name, FlockArg::LockExclusiveNonblock)
    }

    /// Takes the lock `name` in the data dir; `None` when it is held and `how`
    /// said not to wait.
    fn flock(&self, name: &str, how: FlockArg) -> io::Result<Option<Flock<File>>> {
        let path = self.dir.join(name);
        let file = open_lock_file(&path).map_err(|err| with_path(&path, err))?;
        match Flock::lock(file, how) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, Errno::EWOULDBLOCK)) if how == FlockArg::LockExclusiveNonblock => Ok(None),
            Err((_, errno)) => Err(with_path(&path, errno.into())),
        }
    }
}

/// Appends `line` to the end of `file` and syncs it; returns the length the
/// file had before. A file that does not end in a newline ends in a line torn
/// by a crash mid-append: it gets its newline first, so it stays one bad line
/// and does not swallow this one.
fn append_line(file: &File, mut line: Vec<u8>) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1)?;
        if last != *b"\n" {
            line.insert(0, b'\n');
        }
    }
    (&*file).write_all(&line)?;
    file.sync_data()?;
    Ok(len)
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
