//! Durable state: the [`Store`] trait and its sled implementation.
//!
//! Actors write their records here and wait for [`Store::commit`] before they
//! acknowledge a change, so what a caller was told is done survives a crash.
//! The trait keeps sled behind one seam: sled's Linux flush uses
//! `sync_file_range`, which survives `kill -9` but is weaker than `fsync` against
//! power loss, and another backend may be wanted one day.

mod commit_record;
mod disk_space;
mod group_commit;
mod sled_base;
mod sled_check;
mod sled_handoffs;
mod sled_observations;
mod sled_store;

pub use commit_record::{CommitRecord, record_path};
pub use disk_space::DEFAULT_RESERVE_BYTES;
pub use group_commit::{Commit, CommitMode};
pub use sled_base::SledStore;
pub use sled_store::{FlushObserver, SCHEMA_VERSION, StoreOptions};

use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::model::{
    Agent, AgentId, Event, Handoff, HandoffId, HandoffStats, HandoffSummary, NewEvent, Observation, ObservationState,
    PendingObservation, QueueStats, Session, SessionId,
};

/// Where the engine keeps its records.
///
/// Writes are applied at once and visible to later reads, but durable only once
/// a [`commit`](Store::commit) requested after them completes.
pub trait Store: Send + Sync + 'static {
    /// Writes a session's record, its external-id index entry and the events that
    /// report the change, all or nothing; returns the events with their sequence
    /// numbers. They are published once a commit makes them durable.
    fn save_session(&self, session: &Session, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError>;

    /// The session with this id.
    fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// The session with this external id.
    fn session_by_external_id(&self, external_id: &str) -> Result<Option<Session>, StoreError>;

    /// Every session, oldest first.
    fn sessions(&self) -> Result<Vec<Session>, StoreError>;

    /// Writes an agent's record and the events that report the change, all or
    /// nothing; returns the events with their sequence numbers.
    fn save_agent(&self, agent: &Agent, events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError>;

    /// The agent with this id.
    fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError>;

    /// Every agent, oldest first.
    fn agents(&self) -> Result<Vec<Agent>, StoreError>;

    /// Removes the oldest ended agents (exited, failed, timed out, stopped),
    /// at most `limit` of them, so that at most `keep` ended ones remain;
    /// returns the ids removed. Agents whose run is not over are never removed.
    fn trim_agents(&self, keep: usize, limit: usize) -> Result<Vec<AgentId>, StoreError>;

    /// Removes the oldest ended sessions (closed, failed), at most `limit` of
    /// them, so that at most `keep` ended ones remain: each with its external
    /// id, its queue and its handoffs. Returns the ids removed. Open sessions,
    /// and ended ones with a handoff still open, are never removed.
    fn trim_sessions(&self, keep: usize, limit: usize) -> Result<Vec<SessionId>, StoreError>;

    /// Writes handoffs' records and the events that report their changes, all
    /// or nothing; returns the events with their sequence numbers.
    fn save_handoffs(&self, handoffs: &[Handoff], events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError>;

    /// The handoff with this id.
    fn handoff(&self, id: HandoffId) -> Result<Option<Handoff>, StoreError>;

    /// The handoffs of `session` (of every session, when none), oldest first
    /// within a session.
    fn handoffs(&self, session: Option<SessionId>) -> Result<Vec<Handoff>, StoreError>;

    /// Removes the oldest ended handoffs so that at most `keep` ended ones
    /// remain; returns how many went. Open handoffs are never removed.
    fn trim_handoffs(&self, keep: usize) -> Result<usize, StoreError>;

    /// What the metrics know of one handoff (its session and state among
    /// them), without reading its record.
    fn handoff_summary(&self, id: HandoffId) -> Option<HandoffSummary>;

    /// Handoff metrics of `session` (of every session, when none), without
    /// reading the records.
    fn handoff_stats(&self, session: Option<SessionId>) -> Result<HandoffStats, StoreError>;

    /// Up to `limit` events with a sequence number above `after`, in order.
    /// An event that does not decode is skipped (and counted, see
    /// [`corrupt_records`](Store::corrupt_records)): one bad record never ends
    /// a listing or a stream.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// How many records listings have skipped because they do not decode,
    /// since the store was opened; each record counts once.
    fn corrupt_records(&self) -> u64;

    /// Drops the oldest events so that at most `keep` remain; returns how many went.
    fn trim_events(&self, keep: usize) -> Result<usize, StoreError>;

    /// Events as they become durable, in sequence order.
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// A session's queue as stored: its stats (none if it never held anything),
    /// its live observations (pending, leased, dead) in sequence order, and the
    /// acked ones kept for inspection, by sequence number and key.
    fn queue(&self, session: SessionId) -> Result<StoredQueue, StoreError>;

    /// A session's queue stats as of its last [`write_queue`](Store::write_queue)
    /// (an [`enqueue`](Store::enqueue) does not rewrite them); none if it
    /// never had one. While a session's actor runs, it has the exact figures.
    fn queue_stats(&self, session: SessionId) -> Result<Option<QueueStats>, StoreError>;

    /// Writes a batch of new pending observations of one session, with
    /// consecutive sequence numbers, all or nothing, and returns the commit
    /// that makes them durable. An enqueue is the engine's hottest write, so
    /// the store lays a batch out as cheaply as it can: the caller sees only
    /// observations, and later changes to them are ordinary
    /// [`QueueOp`]s.
    fn enqueue(&self, batch: &[PendingObservation]) -> Result<Commit, StoreError>;

    /// One observation of a session, live or kept after its ack.
    fn observation(&self, session: SessionId, seq: u64) -> Result<Option<Observation>, StoreError>;

    /// The observations of a session with these sequence numbers (ascending),
    /// each `None` if there is no such observation: cheaper than one
    /// [`observation`](Store::observation) call each for observations
    /// enqueued together.
    fn observations_at(&self, session: SessionId, seqs: &[u64]) -> Result<Vec<Option<Observation>>, StoreError>;

    /// Up to `limit` observations of a session in `state` (any, when `None`)
    /// with a sequence number above `after`, in order.
    fn observations(
        &self,
        session: SessionId,
        state: Option<ObservationState>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Observation>, StoreError>;

    /// Applies `write` to a session's queue and appends `events`, all or
    /// nothing; returns the events with their sequence numbers.
    fn write_queue(
        &self,
        session: SessionId,
        write: &QueueWrite,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, StoreError>;

    /// Completes once every write made before this call is durable.
    fn commit(&self) -> Commit;

    /// Makes every write durable now, blocking the calling thread.
    fn flush(&self) -> Result<(), StoreError>;

    /// Commits, then reads every record back and counts them against the
    /// commit record. Run it where no write runs meanwhile (the engine's
    /// thread), or the counts may disagree for that reason alone.
    fn check(&self) -> Result<StoreCheck, StoreError>;

    /// Commits, then copies the whole store to a new store at `dest` (which
    /// must not exist yet), with a commit record of its own: a consistent
    /// copy, as of that commit. Run it where no write runs meanwhile.
    fn backup(&self, dest: &std::path::Path) -> Result<CommitRecord, StoreError>;

    /// Why writes fail, while they do: the disk is full, or a write failed
    /// in a way only a restart clears. `None` while writes go through.
    fn degraded(&self) -> Option<String>;
}

/// What a [`Store::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreCheck {
    /// The commit the check began with: it covers every write acknowledged before it.
    pub commit: u64,
    /// How many records were read, in every tree.
    pub records: u64,
    /// How many of them are session records.
    pub sessions: u64,
    /// How many are agent records.
    pub agents: u64,
    /// How many are handoff records.
    pub handoffs: u64,
    /// How many are events.
    pub events: u64,
    /// How many records did not decode.
    pub undecodable: u64,
    /// What is wrong, a line each (the first undecodable records, counts
    /// that disagree with the commit record); empty for a sound store.
    pub problems: Vec<String>,
}

/// A session's queue as the store holds it.
#[derive(Debug, Clone, Default)]
pub struct StoredQueue {
    /// Counts and the next sequence number; `None` for a queue never written.
    pub stats: Option<QueueStats>,
    /// Pending, leased and dead observations, in sequence order.
    pub live: Vec<Observation>,
    /// Acked observations kept for inspection: sequence number and idempotency key.
    pub kept: Vec<(u64, Option<String>)>,
    /// The idempotency keys remembered after their observations were
    /// compacted away: sequence number, key and when it was set aside.
    pub remembered: Vec<(u64, String, chrono::DateTime<chrono::Utc>)>,
}

/// One atomic change to a session's queue: new stats and the records they count.
#[derive(Debug, Clone)]
pub struct QueueWrite {
    /// The queue's stats after the change.
    pub stats: QueueStats,
    /// The record changes, applied in order.
    pub ops: Vec<QueueOp>,
}

/// One record change in a [`QueueWrite`].
#[derive(Debug, Clone)]
pub enum QueueOp {
    /// Writes an observation where its state puts it: an acked one moves to
    /// the kept ones, any other is live.
    Put(Observation),
    /// Removes an observation, live or kept, and its idempotency key.
    Remove {
        /// Its sequence number.
        seq: u64,
        /// Its idempotency key, if it has one.
        key: Option<String>,
    },
    /// Remembers an idempotency key whose observation is compacted away, so
    /// that a repeated post with it is still recognised.
    Remember {
        /// The key.
        key: String,
        /// The sequence number of the observation first posted with it.
        seq: u64,
        /// When it was set aside: it is remembered for the key window from then.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// Forgets a remembered idempotency key: its window is over.
    Forget {
        /// The key.
        key: String,
    },
}
