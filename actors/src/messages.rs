//! The engine's public messages: one type per intent, each with its reply.
//!
//! They are sent to the [`Supervisor`](crate::Supervisor), which routes each to
//! the child that owns the record. They stay inside the engine: the library's
//! facade exports the plain request types of [`crate::requests`], which
//! [`Ask`] carries, and the HTTP API has wire types of its own.

use std::time::Duration;

use actix::Message;
use chrono::{DateTime, Utc};

use crate::error::EngineError;
use crate::model::{
    AckReport, Agent, AgentId, CloseMode, Enqueued, Handoff, HandoffId, HandoffStats, HandoffTarget, NewObservation,
    Observation, ObservationState, OpenSession, QueueStats, Session, SessionId, SessionState,
};
use crate::requests::{CreateHandoff, Inbox, InboxItems, ListHandoffs, Selection, SpawnAgent, UpdateHandoff};
use crate::store::{CommitRecord, StoreCheck};

/// Opens a session, or returns the open one with the same external id (and
/// records activity on it).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct Open(pub OpenSession);

/// Reads one session.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct GetSession(pub SessionId);

/// Finds the session with an external id, from the store: no actor is woken
/// and nothing is written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<Session>, EngineError>")]
pub struct FindSession {
    /// The id another system knows the session by.
    pub external_id: String,
}

/// Lists sessions, oldest first.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Vec<Session>, EngineError>")]
pub struct ListSessions {
    /// Only sessions in this state, when set.
    pub state: Option<SessionState>,
}

/// Closes a session.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct CloseSession {
    /// Which session.
    pub id: SessionId,
    /// Why, kept in the record and the event.
    pub reason: Option<String>,
    /// What happens to observations still queued.
    pub mode: CloseMode,
}

/// Queues an observation in a session; answers with its sequence number
/// once it is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<Enqueued, EngineError>")]
pub struct Observe {
    /// Which session's queue.
    pub session: SessionId,
    /// What to queue, its payload already JSON text.
    pub observation: NewObservation,
}

/// Claims up to `max` of a session's oldest available observations for a
/// consumer, under a lease; with a `wait`, waits for some to arrive.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Observation>, EngineError>")]
pub struct ClaimObservations {
    /// Which session's queue.
    pub session: SessionId,
    /// Who claims them; acks and nacks may name it to guard against a stale holder.
    pub consumer: String,
    /// The most observations to take.
    pub max: usize,
    /// How long the consumer holds them before they return to the queue.
    pub lease: Duration,
    /// How long to wait when none is available; zero answers at once.
    pub wait: Duration,
}

/// Acks leased observations: they are processed and leave the queue.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<AckReport, EngineError>")]
pub struct AckObservations {
    /// Which session's queue.
    pub session: SessionId,
    /// Which observations; all or none are acked.
    pub seqs: Vec<u64>,
    /// When set, only the holder of their leases may ack them.
    pub consumer: Option<String>,
}

/// Gives leased observations back to the queue, optionally held back for a while.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Observation>, EngineError>")]
pub struct NackObservations {
    /// Which session's queue.
    pub session: SessionId,
    /// Which observations; all or none are returned.
    pub seqs: Vec<u64>,
    /// When set, only the holder of their leases may return them.
    pub consumer: Option<String>,
    /// How long they are held back before they may be claimed again.
    pub delay: Duration,
}

/// Puts dead observations back in the queue with fresh attempts.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Vec<Observation>, EngineError>")]
pub struct RequeueObservations {
    /// Which session's queue.
    pub session: SessionId,
    /// Which dead observations.
    pub seqs: Selection,
}

/// Lists a session's observations, from the store.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<Observation>, EngineError>")]
pub struct ListObservations {
    /// Which session's queue.
    pub session: SessionId,
    /// Only those in this state, when set.
    pub state: Option<ObservationState>,
    /// Only those with a sequence number above this.
    pub after: u64,
    /// At most this many.
    pub limit: usize,
}

/// A session's queue counts.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<QueueStats, EngineError>")]
pub struct GetQueueStats(pub SessionId);

/// The queue counts of every session added up (for status and metrics).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<QueueStats, EngineError>")]
pub struct QueueTotals;

/// A watchdog tick: time-driven checks (idle reaping, lifetimes, event
/// retention) run when one arrives. The supervisor sends itself one every
/// `watchdog_interval` of its clock and passes it on to its children.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct WatchdogTick {
    /// The time of the tick, from the engine's clock.
    pub now: DateTime<Utc>,
}

/// Reads the whole store back and counts it against its commit record (for
/// `baton doctor`). It runs on the engine's thread, which no write
/// interleaves with, so the counts are exact.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<StoreCheck, EngineError>")]
pub struct CheckStore;

/// Copies the whole store to a new store at `dest`, as of a commit that
/// covers every write acknowledged before it; answers with that commit.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<CommitRecord, EngineError>")]
pub struct BackupStore {
    /// Where the copy goes: a directory that does not exist yet.
    pub dest: std::path::PathBuf,
}

/// Stops every child, makes every write durable and stops the supervisor.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Shutdown;

/// Carries a caller's request ([`crate::requests`]) to the supervisor:
/// the message's reply is the request's answer, once it is true (durable, or
/// stopped).
#[derive(Debug, Clone)]
pub struct Ask<R>(pub R);

impl Message for Ask<SpawnAgent> {
    type Result = Result<Agent, EngineError>;
}

impl Message for Ask<CreateHandoff> {
    type Result = Result<Handoff, EngineError>;
}

impl Message for Ask<UpdateHandoff> {
    type Result = Result<Handoff, EngineError>;
}

impl Message for Ask<ListHandoffs> {
    type Result = Result<Vec<Handoff>, EngineError>;
}

impl Message for Ask<Inbox> {
    type Result = Result<InboxItems, EngineError>;
}

/// Reads one agent.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub struct GetAgent(pub AgentId);

/// Lists agents, oldest first.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Vec<Agent>, EngineError>")]
pub struct ListAgents {
    /// Only the agents of this session, when set.
    pub session: Option<SessionId>,
}

/// Stops an agent: SIGTERM to its whole process session, SIGKILL after the
/// grace period. A queued or backing-off agent is stopped before it runs
/// again. The answer comes once it is `stopped`; an agent whose run is already
/// over is returned as it is.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub struct StopAgent {
    /// Which agent.
    pub id: AgentId,
    /// How long it has to exit after SIGTERM; the engine's default when none.
    pub grace: Option<Duration>,
}

/// Stops every agent of a session that is queued or running, leaving the
/// session open; answers with their records once every one is stopped.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<Agent>, EngineError>")]
pub struct StopSessionAgents {
    /// Which session.
    pub session: SessionId,
    /// How long each has to exit after SIGTERM; the engine's default when none.
    pub grace: Option<Duration>,
}

/// Runs an agent whose run is over again (it is queued, then started when a
/// slot is free).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub struct RerunAgent(pub AgentId);

/// Reads one handoff.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Handoff, EngineError>")]
pub struct GetHandoff(pub HandoffId);

/// Handoff metrics of one session, or of all when none is named.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<HandoffStats, EngineError>")]
pub struct GetHandoffStats {
    /// Which session; every one when none.
    pub session: Option<SessionId>,
}

/// Sets (or clears) where the open handoffs of an agent that stops for good go.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct SetFallback {
    /// Which session.
    pub session: SessionId,
    /// The agent or role; none to route them anew.
    pub fallback: Option<HandoffTarget>,
}
