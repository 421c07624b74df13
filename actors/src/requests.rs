//! What a caller asks of the engine, as plain data with builders: spawning
//! an agent, creating and moving handoffs, listing them, reading an inbox.
//! The library's facade exports these types; each reaches the supervisor
//! inside a message ([`Ask`](crate::messages::Ask)), so no caller deals
//! with actix. Each request's own rules (bounds, names, conflicts) are
//! checked by the engine when it takes it, so the library and the daemon
//! refuse the same things.

use std::time::Duration;

use crate::model::{
    Agent, AgentId, AgentLimits, Handoff, HandoffId, HandoffState, HandoffTarget, Lifecycle, Observation,
    RestartPolicy, RestartSchedule, SessionId,
};

/// Spawns an agent in an open session: its process starts at once, or it
/// waits, queued, while the running agents are at a cap. The answer comes once
/// its record (with the pid, when it started) is durable.
///
/// Its `Debug` hides the values of its environment variables.
#[derive(Debug, Clone)]
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
        self.agent.spec.schedule.intensity.max_restarts = max_restarts;
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
        self.agent.spec.stdin_pipe = pipe;
        self
    }

    /// How much it matters when memory runs short (higher is kept longer).
    pub fn priority(mut self, priority: i32) -> Self {
        self.agent.spec.priority = priority;
        self
    }

    /// Whether a clean shutdown of baton stops it or leaves it running.
    pub fn on_shutdown(mut self, policy: crate::model::ShutdownPolicy) -> Self {
        self.agent.spec.on_shutdown = policy;
        self
    }

    /// Whether a new baton adopts its process, found still running, or runs it afresh.
    pub fn on_adopt(mut self, policy: crate::model::AdoptPolicy) -> Self {
        self.agent.spec.on_adopt = policy;
        self
    }

    /// The session it is for.
    pub fn session(&self) -> SessionId {
        self.agent.session
    }
}

/// Hands work to an agent of a session, or to whichever agent of a role is
/// free. The answer comes once the handoff (routed, when an agent was found)
/// is durable.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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

/// Lists handoffs, oldest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListHandoffs {
    /// Only those of this session, when set.
    pub session: Option<SessionId>,
    /// Only those in this state, when set.
    pub state: Option<HandoffState>,
    /// Only those sent by or assigned to this agent, when set.
    pub agent: Option<AgentId>,
}

/// What waits for an agent: the handoffs routed to it that it has not
/// acknowledged yet and, when the read claims, observations of its session
/// leased to it. A read that does not claim changes nothing: it is a look.
#[derive(Debug, Clone)]
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
/// Which observations a command applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every one the command can apply to.
    All,
    /// These, by sequence number.
    Seqs(Vec<u64>),
}
