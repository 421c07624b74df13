//! Wire types of the handoff routes.

use std::fmt;

use baton_actors::model::{AgentId, Handoff, HandoffStats, HandoffTarget, Observation, SessionId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/handoffs`: hand work to an agent, or to whichever agent of a role is free.
///
/// Its `Debug` shows the task by its length and leaves the payload out: they
/// carry whatever agents pass each other.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHandoffRequest {
    /// The session it happens in.
    #[schema(value_type = String, format = Uuid)]
    pub session: SessionId,
    /// The agent handing the work off; absent when it comes from outside (a
    /// person, a hook). Only this agent (or an operator) may cancel it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub from: Option<AgentId>,
    /// Whom it is for: `{"kind": "agent", "value": "<agent id>"}` or
    /// `{"kind": "role", "value": "reviewer"}`.
    pub to: HandoffTarget,
    /// What the receiver is asked to do; not empty.
    #[schema(pattern = "\\S")]
    pub task: String,
    /// Data passed along with the task: any JSON value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// It times out unless acknowledged within this many milliseconds (above 0).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 2592000000.0)]
    pub ack_within_ms: Option<u64>,
    /// It times out unless completed within this many milliseconds from now (above 0).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 2592000000.0)]
    pub complete_within_ms: Option<u64>,
    /// When it is not acknowledged in time, give it to another agent of its
    /// role instead of timing it out.
    #[serde(default)]
    pub redeliver: bool,
}

impl fmt::Debug for CreateHandoffRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateHandoffRequest")
            .field("session", &self.session)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("task_bytes", &self.task.len())
            .field("payload", &self.payload.as_ref().map(|_| "..."))
            .field("ack_within_ms", &self.ack_within_ms)
            .field("complete_within_ms", &self.complete_within_ms)
            .field("redeliver", &self.redeliver)
            .finish()
    }
}

/// `POST /v1/handoffs/{id}/{action}`: a step on a handoff. The body is
/// optional; no body is `{}`, a step by an operator.
///
/// Its `Debug` leaves the result out.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffActionRequest {
    /// The agent taking the step; absent for an operator, who may take any.
    /// Otherwise only the handoff's target acknowledges, starts, completes or
    /// fails it, and only its sender cancels it.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub by: Option<AgentId>,
    /// What the receiver hands back (on completion or failure): any JSON value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why, kept in the handoff's history.
    #[serde(default)]
    pub note: Option<String>,
}

impl fmt::Debug for HandoffActionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandoffActionRequest")
            .field("by", &self.by)
            .field("result", &self.result.as_ref().map(|_| "..."))
            .field("note", &self.note)
            .finish()
    }
}

/// `GET /v1/handoffs`: the handoffs a filter selects, and the metrics of the
/// filter's session (of every session when the filter names none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HandoffList {
    /// The handoffs, oldest first.
    pub handoffs: Vec<Handoff>,
    /// Counts by state, acknowledgement rate, time to acknowledge and to complete.
    pub stats: HandoffStats,
}

/// `GET /v1/agents/{id}/inbox`: what waits for an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InboxContents {
    /// Handoffs routed to it that it has not acknowledged yet, oldest first.
    pub handoffs: Vec<Handoff>,
    /// Observations of its session, leased to it (the consumer is its id):
    /// ack them with the queue's ack.
    pub observations: Vec<Observation>,
}

/// `PUT /v1/sessions/{id}/fallback`: where the open handoffs of an agent that
/// stops for good go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FallbackRequest {
    /// An agent or a role (as in [`CreateHandoffRequest::to`]), or `null` to
    /// send them back to be routed anew. Required, so that `{}` does not clear
    /// it by accident.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true)]
    pub fallback: Option<HandoffTarget>,
}
