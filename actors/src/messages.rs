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
    AckReport, Agent, AgentId, AgentLimits, CloseMode, Enqueued, Handoff, HandoffId, HandoffState, HandoffStats,
    HandoffTarget, Lifecycle, NewObservation, Observation, ObservationState, OpenSession, QueueStats, RestartPolicy,
    RestartSchedule, Session, SessionId, SessionState,
};
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
    /// Where the caller runs, for an agent that names no directory.
    pub(crate) caller_cwd: Option<std::path::PathBuf>,
    /// Which of [`restart`](Self::restart), [`schedule`](Self::schedule) and
    /// [`max_restarts`](Self::max_restarts) were given: over a role's
    /// template, only what was given replaces the template's.
    pub(crate) given: Given,
}

/// What a spawn set of what a role's template also says.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Given {
    pub(crate) restart: bool,
    pub(crate) schedule: bool,
    pub(crate) max_restarts: bool,
}

impl SpawnAgent {
    /// An agent of `session` that runs `argv` (directly, never through a
    /// shell), once, with the standard environment and no limits.
    pub fn new(session: SessionId, argv: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let argv = argv.into_iter().map(Into::into).collect();
        Self { agent: Agent::queued(session, argv, chrono::Utc::now()), caller_cwd: None, given: Given::default() }
    }

    /// Its role in the session, for routing handoffs.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.agent = self.agent.with_role(role);
        self
    }

    /// The directory it runs in. Without one, it runs in its role template's
    /// directory, else its session's, else the [`caller_cwd`](Self::caller_cwd),
    /// else the daemon's.
    pub fn cwd(mut self, cwd: impl Into<std::path::PathBuf>) -> Self {
        self.agent = self.agent.with_cwd(cwd);
        self
    }

    /// The directory the caller runs in: the agent's when neither the request,
    /// its role's template nor its session names one (the CLI gives its own).
    pub fn caller_cwd(mut self, cwd: impl Into<std::path::PathBuf>) -> Self {
        self.caller_cwd = Some(cwd.into());
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
        self.given.restart = true;
        self
    }

    /// How soon and how often it is run again.
    pub fn schedule(mut self, schedule: RestartSchedule) -> Self {
        self.agent = self.agent.with_schedule(schedule);
        self.given.schedule = true;
        self
    }

    /// The most restarts within the restart window before it is `failed`,
    /// the rest of its schedule as it is (its template's, for a role's).
    pub fn max_restarts(mut self, max_restarts: u32) -> Self {
        self.agent.schedule.intensity.max_restarts = max_restarts;
        self.given.max_restarts = true;
        self
    }

    /// The watchdog limits of its runs; over a role's template, each limit
    /// set here replaces the template's.
    pub fn limits(mut self, limits: AgentLimits) -> Self {
        self.agent = self.agent.with_limits(limits);
        self
    }

    /// Gives it a stdin pipe on which the handoffs routed to it and its
    /// session's new observations arrive as JSON lines (it does not survive
    /// a restart of baton; the inbox is the durable path).
    pub fn stdin_pipe(mut self, pipe: bool) -> Self {
        self.agent.stdin_pipe = pipe;
        self
    }

    /// How much it matters when memory runs short (higher is kept longer).
    pub fn priority(mut self, priority: i32) -> Self {
        self.agent.priority = priority;
        self
    }

    /// Whether a clean shutdown of baton stops it or leaves it running.
    pub fn on_shutdown(mut self, policy: crate::model::ShutdownPolicy) -> Self {
        self.agent.on_shutdown = policy;
        self
    }

    /// Whether a new baton adopts its process, found still running, or runs it afresh.
    pub fn on_adopt(mut self, policy: crate::model::AdoptPolicy) -> Self {
        self.agent.on_adopt = policy;
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

/// Hands work to an agent of a session, or to whichever agent of a role is
/// free. The answer comes once the handoff (routed, when an agent was found)
/// is durable.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Handoff, EngineError>")]
#[non_exhaustive]
pub struct CreateHandoff {
    /// The session it happens in.
    pub session: SessionId,
    /// The agent handing the work off; none when it comes from outside.
    pub from: Option<AgentId>,
    /// Whom it is for.
    pub to: HandoffTarget,
    /// What the receiver is asked to do.
    pub task: String,
    /// Data passed along with the task.
    pub payload: Option<serde_json::Value>,
    /// How long an agent has to acknowledge it: from now, and again each time
    /// it is routed anew.
    pub ack_within: Option<Duration>,
    /// How long it has, from now, to be completed.
    pub complete_within: Option<Duration>,
    /// When it is not acknowledged in time, give it to another agent of its
    /// role instead of timing it out.
    pub redeliver: bool,
}

impl CreateHandoff {
    /// A handoff of `task` in `session`, for `to`, from outside, without
    /// payload or deadlines.
    pub fn new(session: SessionId, to: HandoffTarget, task: impl Into<String>) -> Self {
        Self {
            session,
            from: None,
            to,
            task: task.into(),
            payload: None,
            ack_within: None,
            complete_within: None,
            redeliver: false,
        }
    }

    /// Says which agent hands the work off.
    pub fn from(mut self, agent: AgentId) -> Self {
        self.from = Some(agent);
        self
    }

    /// Passes data along with the task.
    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Gives agents this long to acknowledge it.
    pub fn ack_within(mut self, within: Duration) -> Self {
        self.ack_within = Some(within);
        self
    }

    /// Gives it this long, from now, to be completed.
    pub fn complete_within(mut self, within: Duration) -> Self {
        self.complete_within = Some(within);
        self
    }

    /// Redelivers it to another agent of its role when it is not acknowledged in time.
    pub fn redeliver(mut self, redeliver: bool) -> Self {
        self.redeliver = redeliver;
        self
    }
}

/// A step a party takes on a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffAction {
    /// The target takes it on (`initiated` -> `acknowledged`).
    Acknowledge,
    /// The target starts on it (`acknowledged` -> `in_progress`).
    Start,
    /// The target is done (`in_progress` -> `completed`).
    Complete,
    /// The target cannot do it (`acknowledged` or `in_progress` -> `failed`).
    Fail,
    /// The sender calls it off (any open state -> `cancelled`).
    Cancel,
}

impl HandoffAction {
    /// Every action.
    pub const ALL: &'static [HandoffAction] = &[
        HandoffAction::Acknowledge,
        HandoffAction::Start,
        HandoffAction::Complete,
        HandoffAction::Fail,
        HandoffAction::Cancel,
    ];

    /// The state the action moves a handoff to.
    pub fn target(self) -> HandoffState {
        match self {
            HandoffAction::Acknowledge => HandoffState::Acknowledged,
            HandoffAction::Start => HandoffState::InProgress,
            HandoffAction::Complete => HandoffState::Completed,
            HandoffAction::Fail => HandoffState::Failed,
            HandoffAction::Cancel => HandoffState::Cancelled,
        }
    }

    /// The verb, as in errors: "acknowledge".
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffAction::Acknowledge => "acknowledge",
            HandoffAction::Start => "start",
            HandoffAction::Complete => "complete",
            HandoffAction::Fail => "fail",
            HandoffAction::Cancel => "cancel",
        }
    }

    /// Whether a party may take it from `state`, which the lifecycle allows
    /// for more than parties: only the engine fails a handoff that nobody
    /// acknowledged (when the agents it was routed to kept ending).
    pub fn allowed_from(self, state: HandoffState) -> bool {
        !(self == HandoffAction::Fail && state == HandoffState::Initiated) && state.allows(self.target())
    }

    /// Whether only the sender (rather than the target) may take it, besides an operator.
    pub fn is_senders(self) -> bool {
        self == HandoffAction::Cancel
    }
}

/// Moves a handoff along its lifecycle. The answer comes once the change is
/// durable; a change the lifecycle does not allow, or one asked by an agent
/// that is not the party to make it, changes nothing.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Handoff, EngineError>")]
pub struct UpdateHandoff {
    /// Which handoff.
    pub id: HandoffId,
    /// What to do.
    pub action: HandoffAction,
    /// The agent asking; none for an operator, who may take any step.
    pub by: Option<AgentId>,
    /// What the receiver hands back (on completion or failure).
    pub result: Option<serde_json::Value>,
    /// Why, kept in the handoff's history.
    pub note: Option<String>,
}

impl UpdateHandoff {
    /// `action` on handoff `id`, by an operator, with no result or note.
    pub fn new(id: HandoffId, action: HandoffAction) -> Self {
        Self { id, action, by: None, result: None, note: None }
    }

    /// Says which agent asks.
    pub fn by(mut self, agent: AgentId) -> Self {
        self.by = Some(agent);
        self
    }

    /// Hands a result back.
    pub fn result(mut self, result: serde_json::Value) -> Self {
        self.result = Some(result);
        self
    }

    /// Says why.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Reads one handoff.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Handoff, EngineError>")]
pub struct GetHandoff(pub HandoffId);

/// Lists handoffs, oldest first.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Vec<Handoff>, EngineError>")]
pub struct ListHandoffs {
    /// Only those of this session, when set.
    pub session: Option<SessionId>,
    /// Only those in this state, when set.
    pub state: Option<HandoffState>,
    /// Only those sent by or assigned to this agent, when set.
    pub agent: Option<AgentId>,
}

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

/// What waits for an agent: the handoffs routed to it that it has not
/// acknowledged yet and, when the read claims, observations of its session
/// leased to it. A read that does not claim changes nothing: it is a look.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<InboxItems, EngineError>")]
pub struct Inbox {
    /// Whose inbox.
    pub agent: AgentId,
    /// Whether the read claims observations of the session for the agent,
    /// and how many for how long; `None` claims none.
    pub claim: Option<InboxClaim>,
    /// How long to wait when the inbox is empty; zero answers at once. A read
    /// that does not claim waits for handoffs only.
    pub wait: Duration,
}

impl Inbox {
    /// A look at `agent`'s inbox: its handoffs, nothing claimed, answered at once.
    pub fn new(agent: AgentId) -> Self {
        Self { agent, claim: None, wait: Duration::ZERO }
    }

    /// Claims observations of the session for the agent as `claim` says.
    pub fn claim(mut self, claim: InboxClaim) -> Self {
        self.claim = Some(claim);
        self
    }

    /// When the inbox is empty, waits up to `wait` for something to arrive.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// What an inbox read claims for its agent: observations of its session,
/// leased to it (the consumer is its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxClaim {
    /// The most observations to lease to it.
    pub max: usize,
    /// How long it holds them before they return to the queue.
    pub lease: Duration,
}

impl Default for InboxClaim {
    /// Up to 10 observations, for 5 minutes.
    fn default() -> Self {
        Self { max: 10, lease: Duration::from_secs(5 * 60) }
    }
}

/// The contents of an agent's inbox.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct InboxItems {
    /// Handoffs routed to it and not yet acknowledged, oldest first.
    pub handoffs: Vec<Handoff>,
    /// Observations of its session leased to it by a read that claims (the
    /// consumer is its id); ack them with the queue's ack.
    pub observations: Vec<Observation>,
}

impl InboxItems {
    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.handoffs.is_empty() && self.observations.is_empty()
    }
}
