//! The engine's public messages: one type per intent, each with its reply.
//!
//! They are sent to the [`Supervisor`](crate::Supervisor), which routes each to
//! the child that owns the record. They stay inside the engine: the HTTP API
//! has wire types of its own.

use std::time::Duration;

use actix::Message;
use chrono::{DateTime, Utc};

use crate::error::EngineError;
use crate::model::{
    AckReport, Agent, AgentId, AgentLimits, CloseMode, Enqueued, NewObservation, Observation, ObservationState,
    OpenSession, QueueStats, RestartPolicy, RestartSchedule, Session, SessionId, SessionState,
};

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

/// Queues an observation in a session; the answer comes once it is durable.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Enqueued, EngineError>")]
pub struct Observe {
    /// Which session's queue.
    pub session: SessionId,
    /// What to queue.
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

/// Which observations a command applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every one the command can apply to.
    All,
    /// These, by sequence number.
    Seqs(Vec<u64>),
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

/// Stops every child, makes every write durable and stops the supervisor.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Shutdown;

/// Spawns an agent in an open session: its process starts at once, or it
/// waits, queued, while the running agents are at a cap. The answer comes once
/// its record (with the pid, when it started) is durable.
///
/// Its `Debug` hides the values of its environment variables.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub struct SpawnAgent {
    /// The agent to create, as a queued record; its id and times are set when
    /// the engine takes it.
    pub(crate) agent: Agent,
}

impl SpawnAgent {
    /// An agent of `session` that runs `argv` (directly, never through a
    /// shell), once, with the standard environment and no limits.
    pub fn new(session: SessionId, argv: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let argv = argv.into_iter().map(Into::into).collect();
        Self { agent: Agent::queued(session, argv, chrono::Utc::now()) }
    }

    /// Its role in the session, for routing handoffs.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.agent = self.agent.with_role(role);
        self
    }

    /// The directory it runs in.
    pub fn cwd(mut self, cwd: impl Into<std::path::PathBuf>) -> Self {
        self.agent = self.agent.with_cwd(cwd);
        self
    }

    /// Sets an environment variable for it.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.agent = self.agent.with_env(key, value);
        self
    }

    /// Lets it inherit the supervisor's variable `name` as well as the standard ones.
    pub fn inherit_env(mut self, name: impl Into<String>) -> Self {
        self.agent = self.agent.inheriting(name);
        self
    }

    /// When it is run again after it ends.
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.agent = self.agent.with_restart(policy);
        self
    }

    /// How soon and how often it is run again.
    pub fn schedule(mut self, schedule: RestartSchedule) -> Self {
        self.agent = self.agent.with_schedule(schedule);
        self
    }

    /// The watchdog limits of its runs.
    pub fn limits(mut self, limits: AgentLimits) -> Self {
        self.agent = self.agent.with_limits(limits);
        self
    }

    /// The session it is for.
    pub fn session(&self) -> SessionId {
        self.agent.session
    }
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

/// Runs an agent whose run is over again (it is queued, then started when a
/// slot is free).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub struct RestartAgent(pub AgentId);
