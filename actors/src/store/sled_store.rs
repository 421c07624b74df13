//! The [`Store`] on sled 0.34.
//!
//! Layout: one sled database in `<data dir>/store`, with these trees, keyed
//! big-endian so sled's byte order is the natural order:
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema_version` | u32 big-endian |
//! | `sessions` | session id (UUIDv7, 16 bytes) | session record, JSON |
//! | `session_external_ids` | external id, UTF-8 | session id |
//! | `agents` | agent id (UUIDv7, 16 bytes) | agent record, JSON |
//! | `events` | sequence number, u64 big-endian | event, JSON |
//! | `observations` | session id, then a tag byte and the rest below | |
//! | `handoffs` | session id, then handoff id (UUIDv7) | handoff record, JSON |
//! | `handoff_sessions` | handoff id | the id of its session |
//!
//! The `observations` tree holds every session's queue under the session's id,
//! so one session's records are contiguous and one atomic batch covers any
//! change to them (see `sled_observations.rs`):
//!
//! | key after the session id | value |
//! |---|---|
//! | `0x00` | the queue's stats, JSON |
//! | `0x01`, sequence number (u64 BE) | a live observation (pending, leased, dead), JSON |
//! | `0x02`, sequence number (u64 BE) | an acked observation kept for inspection, JSON |
//! | `0x03`, idempotency key (UTF-8) | a key remembered after its observation was compacted away: its sequence number (u64 BE) and when it was set aside (milliseconds since the epoch, i64 BE) |
//! | `0x04`, first sequence number (u64 BE) | a bundle: observations enqueued together, as they were enqueued, a JSON array, compressed unless that saves nothing: `0x01`, the array's size (u32 LE), an LZ4 block |
//! | `0x05`, sequence number (u64 BE) | a tombstone: that observation is gone from its bundle; empty |
//!
//! JSON keeps records readable with any sled tool and lets fields be added
//! without a migration; the schema version guards the changes that need one.
//! Bundles alone are compressed: they are the bulk of what enqueues write,
//! and they are written once and never changed.
//!
//! This file opens the store and puts it behind the [`Store`] trait; the
//! struct and what every tree's code shares are in `sled_base.rs`, and each
//! tree's own code in its file.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::Transactional;
use tokio::sync::broadcast;
use tracing::warn;

use super::commit_record::{CommitRecord, Durability, record_path};
use super::disk_space::DiskSpace;
use super::group_commit::{Commit, CommitMode, GroupCommit};
use super::sled_base::{
    BundleIndex, Counts, EncodedEvent, Publisher, Sealing, SledStore, decode, decode_seq, encode, hex, insert_events,
    lock, storage_error,
};
use super::{QueueWrite, Store, StoredQueue};
use crate::error::StoreError;
use crate::fault::Faults;
use crate::model::{
    Agent, AgentId, Event, Handoff, HandoffId, HandoffStats, HandoffSummary, Lifecycle, NewEvent, Observation,
    ObservationState, PendingObservation, QueueStats, Session, SessionId,
};

/// The schema version this build writes and reads: the layout above. A
/// store with a newer one is refused at open; an older one is brought up to
/// this one by [`UPGRADES`] and marked with it, so an older baton refuses
/// what this one writes.
///
/// - 1: the first release's layout.
pub const SCHEMA_VERSION: u32 = 1;

/// A step that upgrades a store of one schema version to the next.
type Upgrade = fn(&sled::Db) -> Result<(), StoreError>;

/// The upgrades, in order: the one at index `n` takes a store of schema
/// `n + 1` to `n + 2`. Each schema ever released keeps a fixture store
/// (`actors/tests/fixtures/`) that the tests upgrade and read.
const UPGRADES: [Upgrade; SCHEMA_VERSION as usize - 1] = [];

const SCHEMA_KEY: &[u8] = b"schema_version";
/// The `meta` key of the last commit's number (u64 big-endian; see `commit_record.rs`).
const COMMIT_KEY: &[u8] = b"commit";
/// Called with the duration of every flush, for metrics.
pub type FlushObserver = Arc<dyn Fn(std::time::Duration) + Send + Sync>;

/// How to open a [`SledStore`].
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// Group commit, or one flush per write (to measure the difference).
    pub commit_mode: CommitMode,
    /// Injected faults, for tests.
    pub faults: Faults,
    /// Told how long each flush took.
    pub flush_observer: Option<FlushObserver>,
    /// How many bytes of pages sled caches (`None`: the engine's default,
    /// [`DEFAULT_STORE_CACHE_BYTES`](crate::config::DEFAULT_STORE_CACHE_BYTES)).
    pub cache_capacity: Option<u64>,
    /// How many bytes writes leave free on the store's disk (`None`:
    /// [`DEFAULT_RESERVE_BYTES`](super::DEFAULT_RESERVE_BYTES)); see [`super::disk_space`].
    pub reserve_bytes: Option<u64>,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions").field("commit_mode", &self.commit_mode).finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, checking its schema version and
    /// that it still holds every commit its commit record says was made.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let open_err = |err: sled::Error| StoreError::open(dir, err);
        let record = read_record(dir)?;
        let cache = options.cache_capacity.unwrap_or(crate::config::DEFAULT_STORE_CACHE_BYTES);
        let db = open_db(dir, cache).map_err(open_err)?;
        check_schema(&db, dir)?;
        let meta = db.open_tree("meta")?;
        let events = db.open_tree("events")?;
        let last_event_seq = match events.last()? {
            Some((key, _)) => decode_seq(&key)?,
            None => 0,
        };
        let sessions = db.open_tree("sessions")?;
        let (ended_sessions, session_count) = ended_sessions(&sessions)?;
        let handoffs = db.open_tree("handoffs")?;
        let handoff_summaries = SledStore::handoff_summaries_in(&handoffs)?;
        let agents = db.open_tree("agents")?;
        let (ended, agent_count) = ended_agents(&agents)?;
        let found = CommitRecord {
            commit: read_commit(&meta)?,
            last_event_seq,
            sessions: session_count,
            agents: agent_count,
            handoffs: u64::try_from(handoff_summaries.len()).unwrap_or(u64::MAX),
        };
        if let Some(record) = record {
            check_against(dir, &record, &found)?;
        } else if found.commit > 0 {
            tracing::warn!(
                store = %dir.display(),
                record = %record_path(dir).display(),
                "the store has no commit record: it cannot be checked for lost writes this once; a new record is written"
            );
        }
        let mut durability = Durability::open(dir).map_err(|err| open_err(err.into()))?;
        durability.seal(&found).map_err(|err| open_err(err.into()))?;
        let sealing = Arc::new(Sealing {
            counts: Counts {
                sessions: AtomicU64::new(found.sessions),
                agents: AtomicU64::new(found.agents),
                handoffs: AtomicU64::new(found.handoffs),
            },
            durability: Mutex::new((durability, found.commit)),
            db: db.clone(),
            meta,
            unpublished: Mutex::new(Vec::new()),
            next_event_seq: AtomicU64::new(last_event_seq + 1),
            publisher: Publisher::default(),
            faults: options.faults.clone(),
            disk: DiskSpace::new(dir, options.reserve_bytes.unwrap_or(super::DEFAULT_RESERVE_BYTES)),
        });
        let committer = GroupCommit::start(options.commit_mode, {
            let sealing = Arc::clone(&sealing);
            let observer = options.flush_observer.clone();
            move || {
                let started = std::time::Instant::now();
                let result = sealing.commit();
                if let Some(observe) = &observer {
                    observe(started.elapsed());
                }
                result
            }
        })
        .map_err(|err| open_err(err.into()))?;
        Ok(Self {
            path: dir.to_owned(),
            sessions,
            external_ids: db.open_tree("session_external_ids")?,
            agents,
            ended_agents: Mutex::new(ended),
            ended_sessions: Mutex::new(ended_sessions),
            events,
            observations: db.open_tree("observations")?,
            bundles: BundleIndex::default(),
            handoffs,
            handoff_summaries: Mutex::new(handoff_summaries),
            handoff_sessions: db.open_tree("handoff_sessions")?,
            db,
            sealing,
            corrupt_records: Mutex::default(),
            faults: options.faults,
            committer,
        })
    }

    /// How many `fdatasync`/`fsync` calls this store's commits have made.
    pub fn syncs(&self) -> u64 {
        lock(&self.sealing.durability).0.syncs
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Refuses a write while faults are injected, or while the disk is full.
    pub(super) fn refuse_if_faulty(&self) -> Result<(), StoreError> {
        if self.faults.store_writes_fail() {
            return Err(injected_io_error());
        }
        self.sealing.disk.ensure_room()
    }

    /// Gives `events` the next sequence numbers and encodes them for the
    /// events tree. Call with the `unpublished` lock held, then [`appended`](Self::appended).
    pub(super) fn sequence(&self, events: Vec<NewEvent>) -> Result<(Vec<Event>, Vec<EncodedEvent>), StoreError> {
        let first_seq = self.sealing.next_event_seq.load(Ordering::SeqCst);
        let events: Vec<Event> = (first_seq..).zip(events).map(|(seq, event)| event.sequenced(seq)).collect();
        let encoded = events
            .iter()
            .map(|event| Ok((event.seq.to_be_bytes(), encode(event)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((events, encoded))
    }

    /// Records that `events` are written: they are published after the next flush.
    pub(super) fn appended(&self, unpublished: &mut Vec<Event>, events: &[Event]) {
        if let Some(last) = events.last() {
            self.sealing.next_event_seq.store(last.seq + 1, Ordering::SeqCst);
        }
        unpublished.extend(events.iter().cloned());
    }

    /// Notes a record that a listing skipped because it does not decode: it is
    /// logged the first time, and counted.
    fn skip_corrupt(&self, tree: &'static str, key: &[u8], err: &StoreError) {
        if lock(&self.corrupt_records).insert((tree, key.to_vec())) {
            warn!(tree, key = %hex(key), cause = %err, "skipping a record that does not decode");
        }
    }

    /// The events not yet published, locked: hold it across sequencing and writing.
    pub(super) fn unpublished(&self) -> MutexGuard<'_, Vec<Event>> {
        lock(&self.sealing.unpublished)
    }
}

impl Sealing {
    /// One commit: numbers it in the `meta` tree, after every write it
    /// answers; flushes sled; makes the flush durable and records it; then
    /// publishes the events it covered.
    pub(super) fn commit(&self) -> Result<(), StoreError> {
        let mut durability = lock(&self.durability);
        let (files, last_commit) = &mut *durability;
        let (covered, record) = {
            let unpublished = &mut *lock(&self.unpublished);
            let record = CommitRecord {
                commit: *last_commit + 1,
                last_event_seq: self.next_event_seq.load(Ordering::SeqCst) - 1,
                sessions: self.counts.sessions.load(Ordering::SeqCst),
                agents: self.counts.agents.load(Ordering::SeqCst),
                handoffs: self.counts.handoffs.load(Ordering::SeqCst),
            };
            (std::mem::take(unpublished), record)
        };
        let result = if self.faults.store_writes_fail() {
            Err(injected_io_error())
        } else {
            self.meta
                .insert(COMMIT_KEY, &record.commit.to_be_bytes())
                .and_then(|_| self.db.flush())
                .map_err(StoreError::from)
                .and_then(|_| files.seal(&record).map_err(|err| StoreError::Backend(Arc::new(err))))
                .map_err(|err| self.disk.write_failed(err))
        };
        match result {
            Ok(()) => {
                *last_commit = record.commit;
                for event in covered {
                    self.publisher.send(event);
                }
                Ok(())
            }
            Err(err) => {
                // Not durable yet: keep them, in order, for the next commit that works.
                let mut pending = lock(&self.unpublished);
                let later = std::mem::replace(&mut *pending, covered);
                pending.extend(later);
                Err(err)
            }
        }
    }
}

/// The store's commit record, checked before sled opens the store (and,
/// finding it damaged, rewrites its files): a record whose store has no log
/// left is refused at once.
fn read_record(dir: &Path) -> Result<Option<CommitRecord>, StoreError> {
    let path = record_path(dir);
    let record = CommitRecord::read(&path).map_err(|err| StoreError::Damaged {
        path: dir.to_owned(),
        missing: format!("its commit record {} cannot be read ({err})", path.display()),
    })?;
    if let Some(record) = &record {
        let log = dir.join("db");
        let empty = std::fs::metadata(&log).map(|meta| meta.len() == 0).unwrap_or(true);
        if empty && record.commit > 0 {
            return Err(StoreError::Damaged {
                path: dir.to_owned(),
                missing: format!("its log {} is gone or empty, and {} commits were made", log.display(), record.commit),
            });
        }
    }
    Ok(record)
}

/// Refuses a store that holds less than its commit record says was made durable.
fn check_against(dir: &Path, record: &CommitRecord, found: &CommitRecord) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    if found.commit < record.commit {
        missing.push(format!("it ends at commit {} of {}", found.commit, record.commit));
    }
    if found.last_event_seq < record.last_event_seq {
        missing.push(format!("its last event is {} of {}", found.last_event_seq, record.last_event_seq));
    }
    // Sessions, agents and handoffs are all trimmed, and sled may make a
    // trim durable before the next commit records the lower count: a count
    // below the record's is no proof of loss (`baton doctor` compares them
    // exactly, after a commit).
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Damaged { path: dir.to_owned(), missing: missing.join(", ") })
    }
}

/// The number of the last commit written in `meta` (0 for none yet).
fn read_commit(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(COMMIT_KEY)? {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref()).map(u64::from_be_bytes).map_err(|_| StoreError::Corrupt {
            tree: "meta",
            key: hex(COMMIT_KEY),
            detail: format!("{} bytes", bytes.len()),
        }),
    }
}

/// How long opening waits for a store of this process that is still closing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the database. sled's background threads let go of its file lock a
/// moment after the last handle is dropped, so a store reopened at once in
/// the same process (an engine restarted in place) can find it still locked:
/// that is retried briefly. Another process cannot hold it: the daemon takes
/// the data dir's own lock first.
fn open_db(dir: &Path, cache_capacity: u64) -> Result<sled::Db, sled::Error> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(dir).cache_capacity(cache_capacity).open() {
            Err(sled::Error::Io(err)) if is_lock_held(&err) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// Whether sled could not take its file lock (sled 0.34 says so only in words).
fn is_lock_held(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock || err.to_string().contains("could not acquire lock")
}

fn check_schema(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get(SCHEMA_KEY)? {
        None => {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
            Ok(())
        }
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref()).map(u32::from_be_bytes).map_err(|_| {
                StoreError::Corrupt { tree: "meta", key: hex(SCHEMA_KEY), detail: format!("{} bytes", bytes.len()) }
            })?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew { path: dir.to_owned(), found, supported: SCHEMA_VERSION });
            }
            if found == 0 {
                return Err(StoreError::Corrupt {
                    tree: "meta",
                    key: hex(SCHEMA_KEY),
                    detail: "schema version 0, which no baton writes".into(),
                });
            }
            for (from, upgrade) in (found..).zip(&UPGRADES[found as usize - 1..]) {
                upgrade(db)?;
                meta.insert(SCHEMA_KEY, &(from + 1).to_be_bytes())?;
                db.flush()?;
                tracing::info!(store = %dir.display(), from, to = from + 1, "store upgraded");
            }
            Ok(())
        }
    }
}

impl Store for SledStore {
    fn save_session(&self, session: &Session, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.refuse_if_faulty()?;
        let key = session.id.to_bytes();
        let value = encode(session)?;
        // Sequence numbers are handed out and queued for publishing under one
        // lock, so subscribers see events in sequence order.
        let mut unpublished = self.unpublished();
        let (events, encoded_events) = self.sequence(events)?;
        let added = (&self.sessions, &self.external_ids, &self.events)
            .transaction(|(sessions, external_ids, event_tree)| {
                let added = sessions.insert(&key, value.as_slice())?.is_none();
                if let Some(external_id) = &session.external_id {
                    external_ids.insert(external_id.as_bytes(), &key)?;
                }
                insert_events(event_tree, &encoded_events)?;
                Ok(added)
            })
            .map_err(storage_error)?;
        if added {
            self.sealing.counts.sessions.fetch_add(1, Ordering::SeqCst);
        }
        self.appended(&mut unpublished, &events);
        let mut ended = lock(&self.ended_sessions);
        if session.is_open() {
            ended.remove(&session.id);
        } else {
            ended.insert(session.id);
        }
        Ok(events)
    }

    fn trim_sessions(&self, keep: usize, limit: usize) -> Result<Vec<SessionId>, StoreError> {
        self.refuse_if_faulty()?;
        let mut ended = lock(&self.ended_sessions);
        let excess = ended.len().saturating_sub(keep).min(limit);
        if excess == 0 {
            return Ok(Vec::new());
        }
        // Oldest first; one with a handoff still open stays until it ends.
        let (mut doomed, mut handoffs) = (Vec::new(), Vec::new());
        for &id in ended.iter() {
            if doomed.len() == excess {
                break;
            }
            let its = self.handoff_keys_of(id)?;
            let summaries = lock(&self.handoff_summaries);
            if its.iter().any(|(handoff, _)| summaries.get(handoff).is_some_and(|s| !s.state.is_terminal())) {
                continue;
            }
            drop(summaries);
            doomed.push(id);
            handoffs.extend(its);
        }
        self.remove_sessions(&doomed, &handoffs)?;
        self.sealing.counts.sessions.fetch_sub(u64::try_from(doomed.len()).unwrap_or(0), Ordering::SeqCst);
        for id in &doomed {
            ended.remove(id);
        }
        let removed: Vec<HandoffId> = handoffs.into_iter().map(|(id, _)| id).collect();
        self.forget_handoffs(&removed);
        Ok(doomed)
    }

    fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let key = id.to_bytes();
        self.sessions.get(key)?.map(|bytes| decode("sessions", &key, &bytes)).transpose()
    }

    fn session_by_external_id(&self, external_id: &str) -> Result<Option<Session>, StoreError> {
        let Some(id) = self.external_ids.get(external_id.as_bytes())? else {
            return Ok(None);
        };
        let id = <[u8; 16]>::try_from(id.as_ref()).map_err(|_| StoreError::Corrupt {
            tree: "session_external_ids",
            key: hex(external_id.as_bytes()),
            detail: format!("a session id of {} bytes", id.len()),
        })?;
        self.session(SessionId::from_bytes(id))
    }

    fn sessions(&self) -> Result<Vec<Session>, StoreError> {
        self.sessions
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode("sessions", &key, &value)
            })
            .collect()
    }

    fn save_agent(&self, agent: &Agent, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.refuse_if_faulty()?;
        let key = agent.id.to_bytes();
        let value = encode(agent)?;
        let mut unpublished = self.unpublished();
        let (events, encoded_events) = self.sequence(events)?;
        let added = (&self.agents, &self.events)
            .transaction(|(agents, event_tree)| {
                let added = agents.insert(&key, value.as_slice())?.is_none();
                insert_events(event_tree, &encoded_events)?;
                Ok(added)
            })
            .map_err(storage_error)?;
        if added {
            self.sealing.counts.agents.fetch_add(1, Ordering::SeqCst);
        }
        self.appended(&mut unpublished, &events);
        let mut ended = lock(&self.ended_agents);
        if agent.state.is_ended() {
            ended.insert(agent.id);
        } else {
            ended.remove(&agent.id);
        }
        Ok(events)
    }

    fn trim_agents(&self, keep: usize, limit: usize) -> Result<Vec<AgentId>, StoreError> {
        self.refuse_if_faulty()?;
        let mut ended = lock(&self.ended_agents);
        let excess = ended.len().saturating_sub(keep).min(limit);
        let oldest: Vec<AgentId> = ended.iter().take(excess).copied().collect();
        for id in &oldest {
            if self.agents.remove(id.to_bytes())?.is_some() {
                self.sealing.counts.agents.fetch_sub(1, Ordering::SeqCst);
            }
            ended.remove(id);
        }
        Ok(oldest)
    }

    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        let key = id.to_bytes();
        self.agents.get(key)?.map(|bytes| decode("agents", &key, &bytes)).transpose()
    }

    fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.agents
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode("agents", &key, &value)
            })
            .collect()
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.events
            .range(start.to_be_bytes()..)
            .filter_map(|entry| match entry {
                Ok((key, value)) => match decode("events", &key, &value) {
                    Ok(event) => Some(Ok(event)),
                    Err(err) => {
                        self.skip_corrupt("events", &key, &err);
                        None
                    }
                },
                Err(err) => Some(Err(err.into())),
            })
            .take(limit)
            .collect()
    }

    fn corrupt_records(&self) -> u64 {
        u64::try_from(lock(&self.corrupt_records).len()).unwrap_or(u64::MAX)
    }

    fn trim_events(&self, keep: usize) -> Result<usize, StoreError> {
        // Events are numbered without gaps and trimmed only from the front, so
        // the first and last keys give the count (`Tree::len` walks the tree).
        let (Some((first, _)), Some((last, _))) = (self.events.first()?, self.events.last()?) else {
            return Ok(0);
        };
        let count = decode_seq(&last)?.saturating_sub(decode_seq(&first)?).saturating_add(1);
        let excess = usize::try_from(count).unwrap_or(usize::MAX).saturating_sub(keep);
        let mut removed = 0;
        for key in self.events.iter().keys().take(excess) {
            self.events.remove(key?)?;
            removed += 1;
        }
        Ok(removed)
    }

    fn queue(&self, session: SessionId) -> Result<StoredQueue, StoreError> {
        self.read_queue(session)
    }

    fn queue_stats(&self, session: SessionId) -> Result<Option<QueueStats>, StoreError> {
        self.read_queue_stats(session)
    }

    fn observation(&self, session: SessionId, seq: u64) -> Result<Option<Observation>, StoreError> {
        self.read_observation(session, seq)
    }

    fn observations(
        &self,
        session: SessionId,
        state: Option<ObservationState>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Observation>, StoreError> {
        self.read_observations(session, state, after, limit)
    }

    fn enqueue(&self, batch: &[PendingObservation]) -> Result<Commit, StoreError> {
        self.enqueue_batch(batch)
    }

    fn observations_at(&self, session: SessionId, seqs: &[u64]) -> Result<Vec<Option<Observation>>, StoreError> {
        self.read_observations_at(session, seqs)
    }

    fn write_queue(
        &self,
        session: SessionId,
        write: &QueueWrite,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, StoreError> {
        self.apply_queue_write(session, write, events)
    }

    fn save_handoffs(&self, handoffs: &[Handoff], events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.write_handoffs(handoffs, events)
    }

    fn handoff(&self, id: HandoffId) -> Result<Option<Handoff>, StoreError> {
        self.read_handoff(id)
    }

    fn handoffs(&self, session: Option<SessionId>) -> Result<Vec<Handoff>, StoreError> {
        self.read_handoffs(session)
    }

    fn trim_handoffs(&self, keep: usize) -> Result<usize, StoreError> {
        self.remove_old_handoffs(keep)
    }

    fn handoff_summary(&self, id: HandoffId) -> Option<HandoffSummary> {
        lock(&self.handoff_summaries).get(&id).copied()
    }

    fn handoff_stats(&self, session: Option<SessionId>) -> Result<HandoffStats, StoreError> {
        let summaries = lock(&self.handoff_summaries);
        let selected = summaries.values().filter(|summary| session.is_none_or(|session| summary.session == session));
        Ok(HandoffStats::of_summaries(selected.copied()))
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sealing.publisher.subscribe()
    }

    fn commit(&self) -> Commit {
        self.committer.request()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.sealing.commit()
    }

    fn check(&self) -> Result<super::StoreCheck, StoreError> {
        self.check_all()
    }

    fn backup(&self, dest: &Path) -> Result<CommitRecord, StoreError> {
        self.copy_to(dest)
    }

    fn degraded(&self) -> Option<String> {
        self.sealing.disk.degraded()
    }
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SledStore {
    /// Removes these sessions with their external ids and queues, and
    /// `handoffs` (theirs: ids and record keys), all or nothing.
    fn remove_sessions(&self, doomed: &[SessionId], handoffs: &[(HandoffId, sled::IVec)]) -> Result<(), StoreError> {
        let (mut external_ids, mut queue_keys) = (Vec::new(), Vec::new());
        for &id in doomed {
            if let Some(external_id) = self.session(id).ok().flatten().and_then(|session| session.external_id) {
                external_ids.push((external_id, id.to_bytes()));
            }
            for key in self.observations.scan_prefix(id.to_bytes()).keys() {
                queue_keys.push(key?);
            }
        }
        let trees = (&self.sessions, &self.external_ids, &self.observations, &self.handoffs, &self.handoff_sessions);
        trees
            .transaction(|(sessions, external_id_index, observations, handoff_tree, handoff_index)| {
                for id in doomed {
                    sessions.remove(&id.to_bytes()[..])?;
                }
                for (external_id, id) in &external_ids {
                    // Unless the external id has named another session since.
                    if external_id_index.get(external_id.as_bytes())?.is_some_and(|named| named == id[..]) {
                        external_id_index.remove(external_id.as_bytes())?;
                    }
                }
                for key in &queue_keys {
                    observations.remove(key)?;
                }
                for (id, key) in handoffs {
                    handoff_tree.remove(key)?;
                    handoff_index.remove(&id.to_bytes()[..])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)?;
        self.forget_bundles(doomed);
        Ok(())
    }
}

/// The ended sessions in `sessions`, and how many sessions it holds. A record
/// that does not decode counts, and is left to the listings to report.
fn ended_sessions(sessions: &sled::Tree) -> Result<(BTreeSet<SessionId>, u64), StoreError> {
    let (mut ended, mut count) = (BTreeSet::new(), 0);
    for entry in sessions.iter() {
        let (key, value) = entry?;
        match decode::<Session>("sessions", &key, &value) {
            Ok(session) if !session.is_open() => {
                ended.insert(session.id);
            }
            _ => {}
        }
        count += 1;
    }
    Ok((ended, count))
}

/// The ids of the ended agents in `agents`, oldest first, and how many agents there are.
fn ended_agents(agents: &sled::Tree) -> Result<(BTreeSet<AgentId>, u64), StoreError> {
    let (mut ended, mut count) = (BTreeSet::new(), 0);
    for entry in agents.iter() {
        let (key, value) = entry?;
        let agent: Agent = decode("agents", &key, &value)?;
        if agent.state.is_ended() {
            ended.insert(agent.id);
        }
        count += 1;
    }
    Ok((ended, count))
}

fn injected_io_error() -> StoreError {
    StoreError::Backend(Arc::new(std::io::Error::other("injected fault: the store refuses writes")))
}

#[cfg(test)]
#[path = "sled_store_tests.rs"]
mod tests;
