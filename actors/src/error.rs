//! The engine's errors.
//!
//! [`StoreError`] is what the store can say; [`EngineError`] is what a caller of
//! the engine can get back. Each variant maps to one answer a user sees (not
//! found, conflict, unavailable, ...), so the daemon and the CLI can map them to
//! HTTP statuses and exit codes without parsing messages.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{
    ActorRef, AgentId, AgentState, HandoffId, InvalidPayload, InvalidTransition, ObservationState, SessionId,
    SessionState,
};

/// An error from the store. Cheap to clone, because one failed group commit
/// answers every write that was waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened (missing permissions, locked by another
    /// process, corrupt files).
    #[error("cannot open the store at {}: {err}", path.display())]
    Open {
        /// The database directory.
        path: PathBuf,
        /// What the backend said.
        err: Arc<io::Error>,
    },
    /// The database was written by a newer baton, whose records this one may misread.
    #[error(
        "the store at {} has schema version {found}, newer than the {supported} this baton supports; \
         upgrade baton or use another data dir",
        path.display()
    )]
    SchemaTooNew {
        /// The database directory.
        path: PathBuf,
        /// The schema version written in the store.
        found: u32,
        /// The newest schema version this build reads.
        supported: u32,
    },
    /// The store no longer holds every write it acknowledged (its files were
    /// damaged, cut short or removed): it is not served, so that nothing
    /// reads as if it had never happened.
    #[error(
        "the store at {} has lost writes it acknowledged: {missing}; it is not served. \
         Restore it from a backup, or set it aside and start over with an empty one",
        path.display()
    )]
    Damaged {
        /// The database directory.
        path: PathBuf,
        /// What is missing, against the commit record.
        missing: String,
    },
    /// A read found a damaged part of the store's files (sled's checksum did
    /// not match): what lies there is not served, rather than served wrong
    /// or left out.
    #[error(
        "the store's files are damaged where this lies ({0}); it is not served. \
         Check the whole store with `baton doctor`, and restore it from a backup"
    )]
    Unreadable(Arc<io::Error>),
    /// A read, write or flush failed (an I/O error).
    #[error("store I/O failed: {0}")]
    Backend(Arc<io::Error>),
    /// The disk holding the store has less space free than writes leave:
    /// new writes are refused until space is freed; what was acknowledged stays.
    #[error("the disk holding {} is full{}: writes are refused until space is freed", dir.display(), free_space(*available, *reserve))]
    DiskFull {
        /// The store's directory.
        dir: PathBuf,
        /// The bytes free there, when measured.
        available: Option<u64>,
        /// The bytes writes leave free.
        reserve: u64,
    },
    /// A record could not be decoded: the store holds something this build cannot read.
    #[error("corrupt {tree} record at key {key}: {detail}")]
    Corrupt {
        /// The tree the record is in.
        tree: &'static str,
        /// The record's key, as hex.
        key: String,
        /// What the decoder said.
        detail: String,
    },
    /// A record could not be encoded (a bug: records are plain data).
    #[error("cannot encode a record: {0}")]
    Encode(String),
    /// The store was closed while a write waited for its flush.
    #[error("the store is closed")]
    Closed,
}

/// ` (3.2 MiB free; writes leave 64 MiB)`, or nothing when not measured.
fn free_space(available: Option<u64>, reserve: u64) -> String {
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
    available.map(|free| format!(" ({} free; writes leave {})", mib(free), mib(reserve))).unwrap_or_default()
}

impl StoreError {
    /// A failed open of the store at `path`.
    pub(crate) fn open(path: &std::path::Path, err: sled::Error) -> Self {
        StoreError::Open { path: path.to_owned(), err: Arc::new(backend_io(err)) }
    }
}

/// sled's errors, as the backend-neutral I/O errors the store's callers see:
/// its I/O errors as they are (their kind says, for one, that a disk is full),
/// its others wrapped.
fn backend_io(err: sled::Error) -> io::Error {
    match err {
        sled::Error::Io(err) => err,
        err => io::Error::other(err),
    }
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Corruption { .. } => StoreError::Unreadable(Arc::new(backend_io(err))),
            err => StoreError::Backend(Arc::new(backend_io(err))),
        }
    }
}

/// An error from the engine, as a caller sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// No session has this id.
    #[error("no session {0}")]
    SessionNotFound(SessionId),
    /// No agent has this id.
    #[error("no agent {0}")]
    AgentNotFound(AgentId),
    /// No handoff has this id.
    #[error("no handoff {0}")]
    HandoffNotFound(HandoffId),
    /// A handoff was addressed to an agent whose run is over; nothing was
    /// created. (An agent of another session is an invalid request.)
    #[error("agent {agent} is {state}; it takes no handoffs")]
    AgentNotAccepting {
        /// The agent.
        agent: AgentId,
        /// Its state.
        state: AgentState,
    },
    /// An agent asked for a change to a handoff that only another party may
    /// make (only its target acknowledges, starts, completes or fails it; only
    /// its sender cancels it; an operator may do any); nothing was changed.
    #[error("agent {agent} may not {action} handoff {handoff}: only its {party} (or an operator) may")]
    NotPermitted {
        /// The handoff.
        handoff: HandoffId,
        /// The agent that asked.
        agent: AgentId,
        /// What it asked, such as "acknowledge".
        action: &'static str,
        /// Who may: "target" or "sender".
        party: &'static str,
    },
    /// The request asks for a change of state that the lifecycle does not allow;
    /// nothing was changed.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The store refused or failed; nothing acknowledged before was lost.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The actor that was handling the request crashed; the supervisor restarts it
    /// from its last checkpoint, so a retry may succeed.
    #[error("{actor} crashed while handling the request; it is being restarted")]
    ActorCrashed {
        /// The actor that crashed.
        actor: ActorRef,
    },
    /// The actor is waiting out its restart backoff after a crash.
    #[error("{actor} is restarting after a crash; retry in {retry_after:?}")]
    Restarting {
        /// The actor that is restarting.
        actor: ActorRef,
        /// How long until it is back.
        retry_after: Duration,
    },
    /// No observation with this sequence number was ever queued in the session.
    #[error("session {session} has no observation {seq}")]
    ObservationNotFound {
        /// The session.
        session: SessionId,
        /// The sequence number asked for.
        seq: u64,
    },
    /// The observation is not in the state the request needs (an ack of a
    /// pending one, a requeue of a live one); nothing was changed.
    #[error("observation {seq} is {state}, not {expected}")]
    WrongObservationState {
        /// The observation.
        seq: u64,
        /// Its state.
        state: ObservationState,
        /// The state the request needs.
        expected: ObservationState,
    },
    /// The observation's lease belongs to another consumer (the caller's lease
    /// lapsed and it was claimed again); nothing was changed.
    #[error("observation {seq} is leased to {holder:?}, not {consumer:?}")]
    LeaseHeldByOther {
        /// The observation.
        seq: u64,
        /// Who holds the lease.
        holder: String,
        /// Who asked.
        consumer: String,
    },
    /// The session no longer takes this request: new observations once it is
    /// closing, any queue change once it has ended.
    #[error("session {session} is {state}; it takes no {what}")]
    SessionNotAccepting {
        /// The session.
        session: SessionId,
        /// Its state.
        state: SessionState,
        /// What it refused, such as "new observations".
        what: &'static str,
    },
    /// The observation's payload is over the configured limit.
    #[error("the payload is {size} bytes, over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The payload's size, as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload would not read back once stored (nested too deeply, say).
    #[error(transparent)]
    InvalidPayload(#[from] InvalidPayload),
    /// The request itself is wrong (an empty list, a zero count).
    #[error("{0}")]
    InvalidRequest(String),
    /// An agent was spawned by role, with no command, and the configuration
    /// has no template for that role.
    #[error(
        "no command given and no role {0:?} in the configuration: give a command, or add [engine.agents.roles.{0}]"
    )]
    NoSuchRole(String),
    /// A backup was to go into a directory that already holds something.
    #[error("{} is not empty: a backup goes into a new directory", .0.display())]
    NotEmpty(std::path::PathBuf),
    /// The engine is shutting down and takes no new work.
    #[error("baton is shutting down")]
    ShuttingDown,
}
