//! The messages the engine's actors send one another, never a caller's:
//! how a child's life is told ([`ChildExited`], [`Retire`], [`Stop`]), how a
//! session's handoffs reach agents ([`PickAgents`], [`DeliverHandoff`],
//! [`HandoffDelivered`], [`AgentGone`]), agents' runs ([`Launch`],
//! [`StopRun`], [`StopAgentsOf`]) and their stdin pipes ([`FeedLine`],
//! [`Feeds`]).
//!
//! It sits below every actor. A child holds its supervisor as a [`Parent`],
//! the recipients of what it may send, never the supervisor's type, so no
//! actor imports another, and the supervisor (which imports its children)
//! stays on top. A caller's requests are in `messages.rs` and `requests.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use actix::prelude::*;
use serde::Serialize;

use crate::error::EngineError;
use crate::model::{ActorRef, Agent, AgentId, Handoff, Observation, SessionId};

/// What a child actor may tell or ask its supervisor: one recipient each.
#[derive(Clone)]
pub(crate) struct Parent {
    /// Told how the child ended (by its [`DeathNotice`]).
    pub(crate) exited: Recipient<ChildExited>,
    /// Asked to let the child go.
    pub(crate) retire: Recipient<Retire>,
    /// Asked to stop a closed session's agents.
    pub(crate) stop_agents_of: Recipient<StopAgentsOf>,
    /// Asked for agents to route a session's handoffs to.
    pub(crate) pick_agents: Recipient<PickAgents>,
    /// Asked to hand a routed handoff to its agent.
    pub(crate) deliver_handoff: Recipient<DeliverHandoff>,
}

impl Parent {
    /// The recipients of the actor at `addr`.
    pub(crate) fn of<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<ChildExited>
            + Handler<Retire>
            + Handler<StopAgentsOf>
            + Handler<PickAgents>
            + Handler<DeliverHandoff>,
    {
        Self {
            exited: addr.clone().recipient(),
            retire: addr.clone().recipient(),
            stop_agents_of: addr.clone().recipient(),
            pick_agents: addr.clone().recipient(),
            deliver_handoff: addr.clone().recipient(),
        }
    }
}

// A child's life.

/// Why a child actor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// It stopped without saying why: a panic unwound through it.
    Crashed,
    /// It stopped at the supervisor's word, because its session went idle or ended.
    Retired,
    /// The engine is shutting down.
    Shutdown,
}

/// Sent by a child's [`DeathNotice`] when the child is gone.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct ChildExited {
    pub(crate) actor: ActorRef,
    /// Which incarnation of the child: a notice from an older one is ignored.
    pub(crate) generation: u64,
    pub(crate) exit: Exit,
}

/// A child asks to be stopped: its session went idle or was closed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Retire {
    pub(crate) actor: ActorRef,
    pub(crate) generation: u64,
}

/// The supervisor tells a child to stop, after every message sent to it before.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Stop {
    pub(crate) exit: Exit,
}

/// Reports its child's death to the supervisor when dropped.
pub(crate) struct DeathNotice {
    supervisor: Recipient<ChildExited>,
    actor: ActorRef,
    generation: u64,
    exit: Exit,
}

impl DeathNotice {
    /// A notice that reports a crash unless [`set_exit`](Self::set_exit) says otherwise.
    pub(crate) fn new(supervisor: Recipient<ChildExited>, actor: ActorRef, generation: u64) -> Self {
        Self { supervisor, actor, generation, exit: Exit::Crashed }
    }

    /// Records why the child is about to stop.
    pub(crate) fn set_exit(&mut self, exit: Exit) {
        self.exit = exit;
    }
}

impl Drop for DeathNotice {
    fn drop(&mut self) {
        // Runs during a panic's unwind too; `do_send` only queues a message.
        self.supervisor.do_send(ChildExited { actor: self.actor, generation: self.generation, exit: self.exit });
    }
}

// Handoffs on their way to agents.

/// Asks the supervisor for an agent for each of a session's handoffs that
/// wait to be routed to a role; the answer lists one [`Pick`] per want, in
/// order.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<Pick>, EngineError>")]
pub(crate) struct PickAgents {
    pub(crate) session: SessionId,
    /// Agents with open handoffs: not idle, so not picked.
    pub(crate) busy: HashSet<AgentId>,
    pub(crate) wants: Vec<Want>,
}

/// One handoff's want in a [`PickAgents`].
#[derive(Debug)]
pub(crate) struct Want {
    /// The role the agent must have.
    pub(crate) role: String,
    /// Agents it must not go to (those it was already given to).
    pub(crate) exclude: Vec<AgentId>,
    /// Whether a new agent may be spawned from the role's template when none is free.
    pub(crate) spawn: bool,
}

/// The supervisor's answer to one [`Want`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// This agent takes the handoff.
    Agent(AgentId),
    /// No agent is free now (all are busy, or the caps allow no spawn): the
    /// handoff waits for one.
    Wait,
    /// The session has no agent of the role whose run is not over, and the
    /// role has no template to spawn one from: nothing will come for the
    /// handoff unless someone starts an agent of the role (issue 18).
    Nobody,
}

impl Pick {
    /// The agent picked, if one was.
    pub(crate) fn agent(self) -> Option<AgentId> {
        match self {
            Pick::Agent(agent) => Some(agent),
            Pick::Wait | Pick::Nobody => None,
        }
    }
}

/// Hands a routed handoff to its agent's actor.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct DeliverHandoff(pub(crate) Handoff);

/// Tells a session's actor that one of its agents' runs is over: its open
/// handoffs are handed on if the agent stopped for good.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AgentGone(pub(crate) AgentId);

// Agents' runs.

/// From a session's actor that closed its session (on request, at its max
/// lifetime, at the end of a drain): stop the session's agents.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct StopAgentsOf {
    /// The session that closed.
    pub(crate) session: SessionId,
}

/// Starts a queued agent's run; answers with its record once the run's start
/// (or its failure to start) is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub(crate) struct Launch;

/// Stops the agent's run, for a user or because its session closed; answers
/// once it is stopped.
#[derive(Debug, Message)]
#[rtype(result = "Result<Agent, EngineError>")]
pub(crate) struct StopRun {
    pub(crate) grace: Option<std::time::Duration>,
    pub(crate) reason: String,
}

/// A handoff routed to this agent, durable and waiting in its inbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct HandoffDelivered(pub(crate) crate::model::Handoff);

// Agents' stdin pipes.

/// One line for an agent's stdin, newline included.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct FeedLine(pub(crate) Arc<[u8]>);

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
    Handoff { handoff: &'a Handoff },
    Observation { observation: &'a Observation },
}

impl FeedLine {
    fn of(item: &Item<'_>) -> Option<Self> {
        let mut line = serde_json::to_vec(item).ok()?;
        line.push(b'\n');
        Some(Self(line.into()))
    }

    /// The line that tells an agent of a handoff routed to it.
    pub(crate) fn handoff(handoff: &Handoff) -> Option<Self> {
        Self::of(&Item::Handoff { handoff })
    }

    /// The line that tells an agent of a new observation of its session.
    pub(crate) fn observation(observation: &Observation) -> Option<Self> {
        Self::of(&Item::Observation { observation })
    }
}

/// The piped agents of each session, by id.
type BySession = HashMap<SessionId, HashMap<AgentId, Recipient<FeedLine>>>;

/// The agents with a stdin pipe, by session.
#[derive(Clone, Default)]
pub(crate) struct Feeds(Arc<Mutex<BySession>>);

impl Feeds {
    pub(crate) fn join(&self, session: SessionId, agent: AgentId, recipient: Recipient<FeedLine>) {
        self.lock().entry(session).or_default().insert(agent, recipient);
    }

    pub(crate) fn leave(&self, session: SessionId, agent: AgentId) {
        let mut feeds = self.lock();
        if let Some(agents) = feeds.get_mut(&session) {
            agents.remove(&agent);
            if agents.is_empty() {
                feeds.remove(&session);
            }
        }
    }

    /// Whether some agent of `session` has a pipe.
    pub(crate) fn any(&self, session: SessionId) -> bool {
        self.lock().contains_key(&session)
    }

    /// Sends `line` (built only if some agent of `session` has a pipe) to
    /// every piped agent of the session.
    pub(crate) fn send(&self, session: SessionId, line: impl FnOnce() -> Option<FeedLine>) {
        let feeds = self.lock();
        let Some(agents) = feeds.get(&session) else { return };
        let Some(line) = line() else { return };
        for recipient in agents.values() {
            recipient.do_send(line.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BySession> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds").field("sessions", &self.lock().len()).finish()
    }
}
