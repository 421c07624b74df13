//! Durable state: the [`Store`] trait and its sled implementation.
//!
//! Actors write their records here and wait for [`Store::commit`] before they
//! acknowledge a change, so what a caller was told is done survives a crash.
//! The trait keeps sled behind one seam: sled's Linux flush uses
//! `sync_file_range`, which survives `kill -9` but is weaker than `fsync` against
//! power loss, and another backend may be wanted one day.

mod group_commit;
mod sled_store;

pub use group_commit::{Commit, CommitMode};
pub use sled_store::{FlushObserver, SCHEMA_VERSION, SledStore, StoreOptions};

use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::model::{Event, NewEvent, Session, SessionId};

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

    /// Up to `limit` events with a sequence number above `after`, in order.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Drops the oldest events so that at most `keep` remain; returns how many went.
    fn trim_events(&self, keep: usize) -> Result<usize, StoreError>;

    /// Events as they become durable, in sequence order.
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// Completes once every write made before this call is durable.
    fn commit(&self) -> Commit;

    /// Makes every write durable now, blocking the calling thread.
    fn flush(&self) -> Result<(), StoreError>;
}
