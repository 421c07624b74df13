//! The sled store's core: the [`SledStore`] struct, which the code of each
//! tree extends (`sled_observations.rs`, `sled_handoffs.rs`, `sled_check.rs`)
//! and `sled_store.rs` opens and puts behind the `Store` trait, and what all
//! of them share: encoding, keys in logs, locks, events in transactions.
//! Everything here is below the files that use it, so none imports another
//! in a circle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use tokio::sync::broadcast;

use super::commit_record::Durability;
use super::disk_space::DiskSpace;
use super::group_commit::GroupCommit;
use crate::error::StoreError;
use crate::fault::Faults;
use crate::model::{AgentId, Event, HandoffId, HandoffSummary, SessionId};

/// How many durable events a lagging subscriber's channel holds before it must
/// read the rest from the store.
const EVENT_CHANNEL_CAPACITY: usize = 4096;

/// Sends durable events to subscribers, through a channel made at the first
/// subscription. Until then nobody could receive what is sent (a broadcast
/// channel drops a value sent with no receiver), and the channel's slots,
/// about 0.5 MB written at creation, would only weigh on an idle daemon.
#[derive(Clone, Default)]
pub(super) struct Publisher(Arc<OnceLock<broadcast::Sender<Event>>>);

impl Publisher {
    pub(super) fn send(&self, event: Event) {
        if let Some(sender) = self.0.get() {
            // No subscriber is not an error: events stay in the store.
            let _ = sender.send(event);
        }
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.get_or_init(|| broadcast::channel(EVENT_CHANNEL_CAPACITY).0).subscribe()
    }
}

/// The sled-backed store.
pub struct SledStore {
    pub(super) path: PathBuf,
    pub(super) db: sled::Db,
    pub(super) sessions: sled::Tree,
    pub(super) external_ids: sled::Tree,
    pub(super) agents: sled::Tree,
    pub(super) events: sled::Tree,
    pub(super) observations: sled::Tree,
    /// Which observations are still only in their bundle (`sled_observations.rs`).
    pub(super) bundles: BundleIndex,
    pub(super) handoffs: sled::Tree,
    pub(super) handoff_sessions: sled::Tree,
    /// What the metrics need of every handoff, loaded at open and kept up to
    /// date by every handoff write.
    pub(super) handoff_summaries: Mutex<HashMap<HandoffId, HandoffSummary>>,
    /// The ended agents, oldest first (ids sort by creation), loaded at open
    /// and kept up to date by every agent write: what trimming removes.
    pub(super) ended_agents: Mutex<BTreeSet<AgentId>>,
    /// The ended sessions, oldest first, kept as `ended_agents` is.
    pub(super) ended_sessions: Mutex<BTreeSet<SessionId>>,
    /// What a commit needs, shared with the committer's thread.
    pub(super) sealing: Arc<Sealing>,
    /// The records a listing skipped because they do not decode, by tree and
    /// key: each is logged once and counted, and never ends a listing.
    pub(super) corrupt_records: Mutex<BTreeSet<(&'static str, Vec<u8>)>>,
    pub(super) faults: Faults,
    /// Declared last so it is dropped first: its last flush runs while the
    /// database is still open.
    pub(super) committer: GroupCommit,
}

/// How many records of each kind the store holds, kept up to date by every
/// write that adds or removes one, for the commit record.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) sessions: AtomicU64,
    pub(super) agents: AtomicU64,
    pub(super) handoffs: AtomicU64,
}

/// What a commit needs: the database, the events it publishes, the counts it
/// records and the files it makes durable. The store and its committer
/// thread share it.
pub(super) struct Sealing {
    pub(super) db: sled::Db,
    pub(super) meta: sled::Tree,
    /// Events appended but not yet durable, in sequence order; a commit
    /// publishes them once it covers them.
    pub(super) unpublished: Mutex<Vec<Event>>,
    pub(super) next_event_seq: AtomicU64,
    pub(super) counts: Counts,
    pub(super) publisher: Publisher,
    pub(super) faults: Faults,
    /// The files to sync and the number of the last durable commit; held
    /// through a whole commit, so that commits are numbered in order.
    pub(super) durability: Mutex<(Durability, u64)>,
    /// The room writes need on the disk, and whether sled failed one.
    pub(super) disk: DiskSpace,
}

/// Which observations of each session are still only in their bundle, for
/// the sessions whose queue the store has written or loaded since it opened:
/// every write to a session's queue keeps its entry exact.
pub(super) type BundleIndex = Mutex<HashMap<SessionId, SessionBundles>>;

/// One session's stored bundles, by their first sequence number.
pub(super) type SessionBundles = BTreeMap<u64, Bundle>;

/// A stored bundle of observations enqueued together.
#[derive(Debug, Clone)]
pub(super) struct Bundle {
    /// How many sequence numbers it covers, from its first.
    pub(super) len: u64,
    /// Its observations that are live and have no record of their own.
    pub(super) only_here: BTreeSet<u64>,
}

/// An event's key and encoded value.
pub(super) type EncodedEvent = ([u8; 8], Vec<u8>);

/// Inserts encoded events inside a transaction.
pub(super) fn insert_events(
    tree: &sled::transaction::TransactionalTree,
    events: &[EncodedEvent],
) -> Result<(), ConflictableTransactionError<()>> {
    for (seq, event) in events {
        tree.insert(seq, event.as_slice())?;
    }
    Ok(())
}

/// A transaction's error; ours never abort.
pub(super) fn storage_error(err: TransactionError<()>) -> StoreError {
    match err {
        TransactionError::Storage(err) => StoreError::from(err),
        TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Guarded data (lists, maps) is left consistent by every writer.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|err| StoreError::Encode(err.to_string()))
}

/// [`encode`] into a buffer made `capacity` bytes large at first: a record
/// whose size is known about is encoded without growing it again and again.
pub(super) fn encode_sized<T: Serialize>(record: &T, capacity: usize) -> Result<Vec<u8>, StoreError> {
    let mut buffer = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buffer, record).map_err(|err| StoreError::Encode(err.to_string()))?;
    Ok(buffer)
}

pub(super) fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt { tree, key: hex(key), detail: err.to_string() })
}

pub(super) fn decode_seq(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key).map(u64::from_be_bytes).map_err(|_| StoreError::Corrupt {
        tree: "events",
        key: hex(key),
        detail: "a sequence key is 8 bytes".into(),
    })
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
