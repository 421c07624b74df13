//! Events: what happened, in order, for people and programs watching baton.
//!
//! Every state change of note appends one event in the same commit as the change,
//! so an event is published only once the change it reports is durable. Events
//! carry a global sequence number, which lets a watcher that fell behind read the
//! ones it missed from the store.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AgentId, AgentState, ExitStatus, HandoffId, HandoffState, HandoffTarget, SessionId, SessionState};

/// One durable event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Event {
    /// Its place in the global order; later events have larger numbers.
    pub seq: u64,
    /// When it happened, by the engine's clock.
    pub at: DateTime<Utc>,
    /// The session it concerns, so watchers can filter by session.
    pub session: Option<SessionId>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// An event before the store gives it a sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The session it concerns.
    pub session: Option<SessionId>,
    /// What happened.
    pub kind: EventKind,
}

impl NewEvent {
    /// An event about `session`.
    pub fn session(session: SessionId, at: DateTime<Utc>, kind: EventKind) -> Self {
        Self { at, session: Some(session), kind }
    }

    /// The event with its place in the order.
    pub fn sequenced(self, seq: u64) -> Event {
        Event { seq, at: self.at, session: self.session, kind: self.kind }
    }
}

/// What happened. Serialized with a `type` tag, such as `{"type": "session_opened", ...}`.
///
/// [`EventType`] names the variants without their fields, and lists them all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(name(EventType), derive(strum::EnumIter, strum::IntoStaticStr))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
#[strum_discriminants(doc = "The type of an [`EventKind`], without its fields; `EventType::iter()` lists them all.")]
#[non_exhaustive]
pub enum EventKind {
    /// A session was opened.
    SessionOpened {
        /// Its name, if it has one.
        name: Option<String>,
        /// Its external id, if it has one.
        external_id: Option<String>,
    },
    /// A session changed state.
    SessionStateChanged {
        /// The state it left.
        from: SessionState,
        /// The state it entered.
        to: SessionState,
        /// Why, when that is worth telling.
        reason: Option<String>,
    },
    /// A crashed actor was restarted from its checkpoint.
    ActorRestarted {
        /// Which actor.
        actor: ActorRef,
        /// Its restarts so far, this one included.
        restarts: u32,
        /// How long the supervisor waited before restarting it.
        backoff_ms: u64,
    },
    /// An observation was set aside as dead after too many attempts.
    ObservationDead {
        /// Its sequence number in the session's queue. Not `seq`: that name is
        /// the event's own, and the two share one JSON object.
        observation_seq: u64,
        /// How many times it was claimed.
        attempts: u32,
        /// Why it was given up on.
        reason: String,
    },
    /// An agent changed state.
    AgentStateChanged {
        /// Which agent.
        agent: AgentId,
        /// The state it left.
        from: AgentState,
        /// The state it entered.
        to: AgentState,
        /// Why, when that is worth telling (the limit that fired, the restart
        /// limit passed, a stop asked for).
        reason: Option<String>,
    },
    /// An agent's process was started.
    AgentSpawned {
        /// Which agent.
        agent: AgentId,
        /// The process's pid.
        pid: u32,
        /// Its restarts so far (0 for its first run).
        restarts: u32,
    },
    /// An agent's process ended.
    AgentExited {
        /// Which agent.
        agent: AgentId,
        /// The process's pid.
        pid: u32,
        /// How it ended; unknown for a process adopted after a restart of
        /// baton, which was not its parent.
        exit: Option<ExitStatus>,
    },
    /// A handoff was created.
    HandoffCreated {
        /// Which handoff.
        handoff: HandoffId,
        /// The agent that handed the work off; none when it came from outside.
        from: Option<AgentId>,
        /// Whom it is addressed to.
        to: HandoffTarget,
    },
    /// A handoff was routed to an agent: it is in that agent's inbox. Also
    /// reported when it moves to another agent (a redelivery or a transfer).
    HandoffAssigned {
        /// Which handoff.
        handoff: HandoffId,
        /// The agent it now waits for.
        agent: AgentId,
        /// The agent it was assigned to before, if any.
        previous: Option<AgentId>,
    },
    /// A handoff changed state.
    HandoffStateChanged {
        /// Which handoff.
        handoff: HandoffId,
        /// The state it left.
        from: HandoffState,
        /// The state it entered.
        to: HandoffState,
        /// Why, when that is worth telling.
        note: Option<String>,
    },
    /// An actor crashed more often than its restart limit allows and was given up on.
    ActorFailed {
        /// Which actor.
        actor: ActorRef,
        /// Why it was given up on.
        reason: String,
    },
}

impl EventKind {
    /// The event's `type` tag, such as `session_opened`.
    pub fn name(&self) -> &'static str {
        EventType::from(self).into()
    }
}

/// A reference to a supervised actor, in events and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ActorRef {
    /// The actor of a session.
    Session(SessionId),
    /// The actor of an agent.
    Agent(AgentId),
}

impl fmt::Display for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorRef::Session(id) => write!(f, "session {id}"),
            ActorRef::Agent(id) => write!(f, "agent {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_a_type_tag_and_parse_back() {
        let session = SessionId::new();
        let event = NewEvent::session(
            session,
            Utc::now(),
            EventKind::SessionStateChanged { from: SessionState::Active, to: SessionState::Idle, reason: None },
        )
        .sequenced(7);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "session_state_changed");
        assert_eq!(event.kind.name(), "session_state_changed");
        assert_eq!(json["from"], "active");
        assert_eq!(json["seq"], 7);
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
