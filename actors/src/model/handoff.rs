//! The handoff record: work passed from one agent to another within a session.
//!
//! A handoff is addressed to an agent or to a role, routed to one agent, and
//! followed through acknowledgement to an outcome, with deadlines for both. Its
//! history keeps every step with its time, so a stuck or slow handoff can be
//! explained and its latencies measured.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::observation::JsonSize;
use super::{AgentId, HandoffId, InvalidTransition, Lifecycle, SessionId, state_names};

/// Where a handoff is in its life.
///
/// ```text
/// initiated -> acknowledged -> in_progress -> completed
///     ^             |               |
///     +-------------+---------------+  (transferred back to be routed again)
/// acknowledged | in_progress -> failed
/// initiated -> failed                (the engine gave up: its agents kept ending)
/// initiated | acknowledged | in_progress -> cancelled | timed_out
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandoffState {
    /// Created and waiting for the agent it was routed to to acknowledge it.
    Initiated,
    /// The receiving agent accepted it but has not started on it.
    Acknowledged,
    /// The receiving agent is working on it.
    InProgress,
    /// Done; `result` holds what the receiver handed back.
    Completed,
    /// The receiver could not do it, or the engine gave up on it: too many
    /// of the agents it was routed to ended while holding it.
    Failed,
    /// Called off before it was done.
    Cancelled,
    /// A deadline (to acknowledge or to complete) passed first.
    TimedOut,
}

state_names!(HandoffState {
    Initiated => "initiated",
    Acknowledged => "acknowledged",
    InProgress => "in_progress",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
    TimedOut => "timed_out",
});

impl Lifecycle for HandoffState {
    const ORDER: &'static [Self] = Self::ALL;

    const ENTITY: &'static str = "handoff";

    fn allows(self, next: Self) -> bool {
        use HandoffState::*;
        matches!(
            (self, next),
            (Initiated, Acknowledged)
                | (Acknowledged, InProgress)
                | (InProgress, Completed)
                | (Initiated | Acknowledged | InProgress, Failed)
                | (Initiated | Acknowledged | InProgress, Cancelled | TimedOut)
                | (Acknowledged | InProgress, Initiated)
        )
    }

    fn is_terminal(self) -> bool {
        use HandoffState::*;
        matches!(self, Completed | Failed | Cancelled | TimedOut)
    }
}

/// Whom a handoff is addressed to.
///
/// Serialized as `{"kind": "agent", "value": "<id>"}` or
/// `{"kind": "role", "value": "reviewer"}`. (Its OpenAPI schema is written
/// by hand, below: the derive cannot say that a role is not blank.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum HandoffTarget {
    /// One agent in particular.
    Agent(AgentId),
    /// Whichever agent of the session has this role.
    Role(String),
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for HandoffTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let variant = |kind: &str, description: &str, value: RefOr<utoipa::openapi::schema::Schema>| {
            ObjectBuilder::new()
                .description(Some(description))
                .property("kind", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([kind])))
                .property("value", value)
                .required("kind")
                .required("value")
        };
        let role = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"\S")).into();
        OneOfBuilder::new()
            .description(Some(
                "Whom a handoff is addressed to: `{\"kind\": \"agent\", \"value\": \"<id>\"}` or \
                 `{\"kind\": \"role\", \"value\": \"reviewer\"}`.",
            ))
            .item(variant("agent", "One agent in particular.", Ref::from_schema_name("AgentId").into()))
            .item(variant("role", "Whichever agent of the session has this role (not blank).", role))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for HandoffTarget {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema as _;
        schemas.push((AgentId::name().into_owned(), AgentId::schema()));
        AgentId::schemas(schemas);
    }
}

impl fmt::Display for HandoffTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffTarget::Agent(id) => write!(f, "agent {id}"),
            HandoffTarget::Role(role) => write!(f, "role {role}"),
        }
    }
}

/// Which of a handoff's deadlines passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// It was not acknowledged in time.
    Acknowledge,
    /// It was not completed in time.
    Complete,
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deadline::Acknowledge => "not acknowledged before its deadline",
            Deadline::Complete => "not completed before its deadline",
        })
    }
}

/// One entry of a handoff's history: a state it entered, or an agent it was
/// routed to, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandoffStep {
    /// The state it entered (or stayed in, for a step that only routed it).
    pub state: HandoffState,
    /// When, to measure how long each step took.
    pub at: DateTime<Utc>,
    /// The agent it was assigned to after this step; none while it waits to
    /// be routed.
    #[serde(default)]
    pub assigned: Option<AgentId>,
    /// Why, when that is worth telling (such as who cancelled it, which
    /// deadline passed, or why it was transferred).
    pub note: Option<String>,
}

/// The durable record of a handoff.
///
/// Its `Debug` shows the task by its length and the payload and result by their
/// size: they carry whatever the agents pass each other.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Handoff {
    /// baton's own id for the handoff.
    pub id: HandoffId,
    /// The session it happens in; handoffs never cross sessions.
    pub session: SessionId,
    /// The agent that handed the work off; none when it came from outside
    /// (a person or a hook).
    pub from: Option<AgentId>,
    /// Whom it is addressed to, as the sender said.
    pub to: HandoffTarget,
    /// Whom it is routed to now: `to`, until its agent stops for good and it
    /// is transferred to the session's fallback.
    pub route_to: HandoffTarget,
    /// The agent it was routed to; none until routed, and again after it is
    /// transferred back to be routed anew.
    pub assigned: Option<AgentId>,
    /// What the receiver is asked to do, in words.
    pub task: String,
    /// Data the sender passes along with the task.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<serde_json::Value>,
    /// What the receiver handed back on completion.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// Where it is in its life.
    pub state: HandoffState,
    /// It times out if not acknowledged by then.
    pub ack_deadline: Option<DateTime<Utc>>,
    /// It times out if not completed by then.
    pub complete_deadline: Option<DateTime<Utc>>,
    /// How long an agent has to acknowledge it once it is routed anew (after
    /// a redelivery or a transfer); the first deadline counts from creation.
    #[serde(default, with = "crate::model::duration_ms::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>))]
    pub ack_timeout: Option<Duration>,
    /// When it is not acknowledged in time, route it to another agent of its
    /// role instead of timing it out.
    #[serde(default)]
    pub redeliver: bool,
    /// How many agents it was routed to ended while holding it (issue 18: a
    /// role whose agents exit at once spawned hundreds of them for one
    /// handoff). Each transfer waits longer before it is routed again, and
    /// past the engine's `handoff_transfer.max_attempts` it fails.
    #[serde(default)]
    pub transfers: u32,
    /// It is not routed again before then: the backoff after a transfer.
    #[serde(default)]
    pub route_after: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its record last changed.
    pub updated_at: DateTime<Utc>,
    /// Every state it entered, oldest first, starting with `initiated`.
    pub history: Vec<HandoffStep>,
}

impl Handoff {
    /// A new handoff of `task` from `from` to `to` in `session`, initiated at `now`,
    /// with no payload, no deadlines and not yet routed.
    pub fn new(
        session: SessionId,
        from: Option<AgentId>,
        to: HandoffTarget,
        task: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: HandoffId::new(),
            session,
            from,
            route_to: to.clone(),
            to,
            assigned: None,
            task: task.into(),
            payload: None,
            result: None,
            state: HandoffState::Initiated,
            ack_deadline: None,
            complete_deadline: None,
            ack_timeout: None,
            redeliver: false,
            transfers: 0,
            route_after: None,
            created_at: now,
            updated_at: now,
            history: vec![HandoffStep { state: HandoffState::Initiated, at: now, assigned: None, note: None }],
        }
    }

    /// Sets the data passed along with the task.
    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Gives it `timeout` to be acknowledged, from its creation and again
    /// each time it is routed anew.
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = Some(timeout);
        self.ack_deadline =
            Some(self.created_at + chrono::Duration::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX));
        self
    }

    /// Sets the time by which it must be acknowledged.
    pub fn with_ack_deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.ack_deadline = Some(deadline);
        self
    }

    /// Sets the time by which it must be completed.
    pub fn with_complete_deadline(mut self, deadline: DateTime<Utc>) -> Self {
        self.complete_deadline = Some(deadline);
        self
    }

    /// Moves the handoff to `next`, adding a step to its history; returns the
    /// state it left. Going back to `initiated` clears `assigned`, so it is
    /// routed again. An invalid change is refused and leaves the record as it was.
    pub fn transition(
        &mut self,
        next: HandoffState,
        now: DateTime<Utc>,
        note: Option<String>,
    ) -> Result<HandoffState, InvalidTransition> {
        let from = self.state;
        self.state = from.transition(next).map_err(|refused| refused.of(self.id))?;
        self.updated_at = now;
        if next == HandoffState::Initiated {
            self.assigned = None;
        }
        self.history.push(HandoffStep { state: next, at: now, assigned: self.assigned, note });
        Ok(from)
    }

    /// Routes an initiated handoff to `agent` (or, with `None`, takes it back
    /// to wait for routing), adding a step to its history. A handoff past
    /// `initiated` is refused: it is transferred by going back to `initiated` first.
    pub fn assign(
        &mut self,
        agent: Option<AgentId>,
        now: DateTime<Utc>,
        note: Option<String>,
    ) -> Result<(), InvalidTransition> {
        if self.state != HandoffState::Initiated {
            let already = self.state.rank() > HandoffState::Initiated.rank();
            return Err(
                InvalidTransition::named(HandoffState::ENTITY, self.state, "assigned".into(), already).of(self.id)
            );
        }
        self.assigned = agent;
        self.updated_at = now;
        self.history.push(HandoffStep { state: self.state, at: now, assigned: agent, note });
        Ok(())
    }

    /// Starts the acknowledgement clock again for a handoff routed anew, when
    /// it has an acknowledgement timeout.
    pub fn restart_ack_clock(&mut self, now: DateTime<Utc>) {
        if let Some(timeout) = self.ack_timeout {
            self.ack_deadline = Some(now + chrono::Duration::from_std(timeout).unwrap_or(chrono::TimeDelta::MAX));
        }
    }

    /// Whether it may be routed at `now`: not while it waits out the backoff
    /// after a transfer.
    pub fn routable_at(&self, now: DateTime<Utc>) -> bool {
        self.route_after.is_none_or(|at| at <= now)
    }

    /// Whether it is still under way: not completed, failed, cancelled or timed out.
    pub fn is_open(&self) -> bool {
        !self.state.is_terminal()
    }

    /// The deadline that has passed at `now`, if one has: the acknowledgement
    /// deadline while it is initiated, the completion deadline until it ends.
    pub fn overdue(&self, now: DateTime<Utc>) -> Option<Deadline> {
        if !self.is_open() {
            return None;
        }
        if self.state == HandoffState::Initiated && self.ack_deadline.is_some_and(|at| at <= now) {
            return Some(Deadline::Acknowledge);
        }
        self.complete_deadline.filter(|at| *at <= now).map(|_| Deadline::Complete)
    }

    /// When it first entered `state`, if it ever did.
    pub fn first_entered(&self, state: HandoffState) -> Option<DateTime<Utc>> {
        self.history.iter().find(|step| step.state == state).map(|step| step.at)
    }

    /// When it was first acknowledged, to measure time to acknowledge.
    pub fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.first_entered(HandoffState::Acknowledged)
    }

    /// When it was completed, to measure time to complete.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.first_entered(HandoffState::Completed)
    }
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("id", &self.id)
            .field("session", &self.session)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("route_to", &self.route_to)
            .field("assigned", &self.assigned)
            .field("task", &TextLen(&self.task))
            .field("payload", &self.payload.as_ref().map(JsonSize))
            .field("result", &self.result.as_ref().map(JsonSize))
            .field("state", &self.state)
            .field("ack_deadline", &self.ack_deadline)
            .field("complete_deadline", &self.complete_deadline)
            .field("ack_timeout", &self.ack_timeout)
            .field("redeliver", &self.redeliver)
            .field("transfers", &self.transfers)
            .field("route_after", &self.route_after)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("history", &self.history)
            .finish()
    }
}

/// Text shown only by its length in bytes, such as `<42 bytes>`.
struct TextLen<'a>(&'a str);

impl fmt::Debug for TextLen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assert_edges;
    use HandoffState::*;
    use serde_json::json;

    fn handoff(now: DateTime<Utc>) -> Handoff {
        Handoff::new(
            SessionId::new(),
            Some(AgentId::new()),
            HandoffTarget::Role("reviewer".into()),
            "review the diff",
            now,
        )
    }

    #[test]
    fn handoff_lifecycle_allows_exactly_its_edges() {
        assert_edges(
            HandoffState::ALL,
            &[
                (Initiated, Acknowledged),
                (Acknowledged, InProgress),
                (InProgress, Completed),
                (Initiated, Failed),
                (Acknowledged, Failed),
                (InProgress, Failed),
                (Initiated, Cancelled),
                (Acknowledged, Cancelled),
                (InProgress, Cancelled),
                (Initiated, TimedOut),
                (Acknowledged, TimedOut),
                (InProgress, TimedOut),
                (Acknowledged, Initiated),
                (InProgress, Initiated),
            ],
        );
    }

    #[test]
    fn history_records_every_step_and_times_the_first_of_each() {
        let t0 = Utc::now();
        let t = |s| t0 + chrono::Duration::seconds(s);
        let mut handoff = handoff(t0);
        assert_eq!(handoff.history.len(), 1);
        assert_eq!(handoff.acknowledged_at(), None);

        handoff.assigned = Some(AgentId::new());
        handoff.transition(Acknowledged, t(1), None).unwrap();
        assert_eq!(handoff.transition(Initiated, t(2), Some("transferred".into())).unwrap(), Acknowledged);
        assert_eq!(handoff.assigned, None);
        handoff.transition(Acknowledged, t(3), None).unwrap();
        handoff.transition(InProgress, t(4), None).unwrap();
        handoff.transition(Completed, t(5), None).unwrap();

        let states: Vec<_> = handoff.history.iter().map(|step| step.state).collect();
        assert_eq!(states, [Initiated, Acknowledged, Initiated, Acknowledged, InProgress, Completed]);
        assert_eq!(handoff.history[2].note.as_deref(), Some("transferred"));
        assert_eq!(handoff.acknowledged_at(), Some(t(1)));
        assert_eq!(handoff.completed_at(), Some(t(5)));
        assert_eq!(handoff.updated_at, t(5));
        assert!(handoff.state.is_terminal());
    }

    #[test]
    fn a_refused_transition_leaves_the_record_unchanged() {
        let now = Utc::now();
        let mut handoff = handoff(now);
        let before = handoff.clone();
        let err = handoff.transition(Completed, now, Some("skip".into())).unwrap_err();
        assert_eq!(err.to_string(), format!("handoff {} is initiated and cannot become completed", handoff.id));
        assert_eq!(handoff, before);
    }

    #[test]
    fn handoffs_serialize_with_their_wire_names_and_parse_back() {
        let now = Utc::now();
        let mut handoff = handoff(now).with_payload(json!({"files": ["a.rs"]}));
        handoff.transition(Acknowledged, now, None).unwrap();
        handoff.transition(InProgress, now, None).unwrap();
        let json = serde_json::to_value(&handoff).unwrap();
        assert_eq!(json["state"], "in_progress");
        assert_eq!(json["to"], json!({"kind": "role", "value": "reviewer"}));
        assert_eq!(json["history"][2]["state"], "in_progress");
        assert_eq!(serde_json::from_value::<Handoff>(json).unwrap(), handoff);

        let agent = AgentId::new();
        let target = HandoffTarget::Agent(agent);
        assert_eq!(serde_json::to_value(&target).unwrap(), json!({"kind": "agent", "value": agent.to_string()}));
        assert_eq!(target.to_string(), format!("agent {agent}"));
        assert_eq!(HandoffTarget::Role("reviewer".into()).to_string(), "role reviewer");
        for &state in HandoffState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(state.as_str().parse::<HandoffState>().unwrap(), state);
        }
    }

    #[test]
    fn debug_shows_task_and_payloads_only_by_size() {
        let now = Utc::now();
        let mut handoff = Handoff::new(
            SessionId::new(),
            None,
            HandoffTarget::Role("deployer".into()),
            "deploy with token tok-task-secret",
            now,
        )
        .with_payload(json!({"password": "pw-payload-secret"}));
        handoff.result = Some(json!("res-result-secret"));
        let shown = format!("{handoff:?}");
        for secret in ["tok-task-secret", "pw-payload-secret", "res-result-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(&format!("<{} bytes>", handoff.task.len())), "{shown}");
        assert!(shown.contains("deployer"), "{shown}");
    }
}
