//! Handoffs: create, list, show, the steps of their lifecycle, metrics; an
//! agent's inbox; a session's fallback.

use actix_web::{HttpRequest, get, post, put, web};
use baton_actors::model::{AgentId, Handoff, HandoffId, HandoffState, HandoffStats, Session, SessionId};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{CreateHandoffRequest, ErrorBody, FallbackRequest, HandoffActionRequest, HandoffList, InboxContents};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;
use crate::{CreateHandoff, HandoffAction, Inbox, InboxClaim, InboxItems, ListHandoffs, UpdateHandoff};
use baton_actors::model::bounds;

/// Creates a handoff; answers once it is durable, routed to an agent when one
/// was found (or spawned from the role's template).
#[utoipa::path(
    post, path = "/v1/handoffs", tag = "handoffs",
    request_body = CreateHandoffRequest,
    responses(
        (status = 200, description = "The handoff, once durable", body = Handoff),
        (status = 400, description = "Malformed, an empty task or role, a zero deadline, a payload that would not read back", body = ErrorBody),
        (status = 404, description = "No such session or agent", body = ErrorBody),
        (status = 409, description = "The session or the target agent takes no handoffs", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/handoffs")]
pub async fn create(
    state: web::Data<AppState>,
    body: super::JsonObject<CreateHandoffRequest>,
) -> Result<web::Json<Handoff>, ApiError> {
    let message = create_message(body.into_inner())?;
    Ok(web::Json(state.baton.create_handoff(message).await?))
}

/// The engine's message for a create request; a bad value is an error before
/// anything is created.
fn create_message(request: CreateHandoffRequest) -> Result<CreateHandoff, ApiError> {
    let CreateHandoffRequest { session, from, to, task, payload, ack_within_ms, complete_within_ms, redeliver } =
        request;
    let ack_within = super::bounds::millis_some("ack_within_ms", ack_within_ms, bounds::HANDOFF_DEADLINE)?;
    let complete_within =
        super::bounds::millis_some("complete_within_ms", complete_within_ms, bounds::HANDOFF_DEADLINE)?;
    let mut message = CreateHandoff::new(session, to, task).redeliver(redeliver);
    if let Some(from) = from {
        message = message.from(from);
    }
    if let Some(payload) = payload {
        message = message.payload(payload);
    }
    if let Some(within) = ack_within {
        message = message.ack_within(within);
    }
    if let Some(within) = complete_within {
        message = message.complete_within(within);
    }
    Ok(message)
}

/// Which handoffs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only those of this session; the metrics are then this session's.
    #[param(value_type = Option<uuid::Uuid>)]
    session: Option<SessionId>,
    /// Only those in this state (initiated, acknowledged, in_progress,
    /// completed, failed, cancelled, timed_out).
    #[param(value_type = Option<HandoffState>)]
    state: Option<String>,
    /// Only those sent by or assigned to this agent.
    #[param(value_type = Option<uuid::Uuid>)]
    agent: Option<AgentId>,
}

/// Lists handoffs, oldest first, with the metrics of the session named (of
/// every session when none is).
#[utoipa::path(
    get, path = "/v1/handoffs", tag = "handoffs", params(ListQuery),
    responses((status = 200, body = HandoffList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/handoffs")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<HandoffList>, ApiError> {
    let wanted = match &query.state {
        Some(name) => Some(name.parse::<HandoffState>().map_err(|err| ApiError::bad_request(format!("{err}")))?),
        None => None,
    };
    let filter = ListHandoffs { session: query.session, state: wanted, agent: query.agent };
    let handoffs = state.baton.handoffs(filter).await?;
    let metrics = state.baton.handoff_stats(query.session).await?;
    Ok(web::Json(HandoffList { handoffs, stats: metrics }))
}

/// Whose metrics.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// This session's; every session's when absent.
    #[param(value_type = Option<uuid::Uuid>)]
    session: Option<SessionId>,
}

/// Handoff metrics: counts by state, acknowledgement rate, mean and 95th
/// percentile of the time to acknowledge and to complete.
#[utoipa::path(
    get, path = "/v1/handoffs/stats", tag = "handoffs", params(StatsQuery),
    responses((status = 200, body = HandoffStats), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/handoffs/stats")]
pub async fn stats(
    state: web::Data<AppState>,
    query: web::Query<StatsQuery>,
) -> Result<web::Json<HandoffStats>, ApiError> {
    Ok(web::Json(state.baton.handoff_stats(query.session).await?))
}

/// One handoff, with its history.
#[utoipa::path(
    get, path = "/v1/handoffs/{id}", tag = "handoffs",
    params(("id" = uuid::Uuid, Path, description = "The handoff id")),
    responses((status = 200, body = Handoff), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/handoffs/{id}")]
pub async fn show(state: web::Data<AppState>, id: web::Path<HandoffId>) -> Result<web::Json<Handoff>, ApiError> {
    Ok(web::Json(state.baton.handoff(id.into_inner()).await?))
}

/// Takes a step on a handoff: `acknowledge`, `start`, `complete` or `fail`
/// (its target's steps) or `cancel` (its sender's); an operator, who names no
/// agent, may take any. Answers once the change is durable. The body is optional.
#[utoipa::path(
    post, path = "/v1/handoffs/{id}/{action}", tag = "handoffs",
    params(
        ("id" = uuid::Uuid, Path, description = "The handoff id"),
        ("action" = ActionName, Path, description = "acknowledge, start, complete, fail or cancel"),
    ),
    request_body(content = Option<HandoffActionRequest>, description = "Optional; no body is a step by an operator"),
    responses(
        (status = 200, description = "The handoff after the step", body = Handoff),
        (status = 400, description = "Malformed, an unknown action, or a result that would not read back", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The lifecycle does not allow the step (code `conflict`), or the agent \
            is not the party to take it (code `not_permitted`)", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/handoffs/{id}/{action}")]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<(HandoffId, String)>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<web::Json<Handoff>, actix_web::Error> {
    let (id, action) = path.into_inner();
    let action = HandoffAction::ALL.iter().copied().find(|known| known.as_str() == action).ok_or_else(|| {
        ApiError::bad_request(format!("unknown action {action:?}: acknowledge, start, complete, fail or cancel"))
    })?;
    let HandoffActionRequest { by, result, note } = super::optional_json(&request, body).await?;
    let mut message = UpdateHandoff::new(id, action);
    message.by = by;
    message.result = result;
    message.note = note;
    Ok(web::Json(state.baton.update_handoff(message).await.map_err(ApiError::from)?))
}

/// Whether an inbox read claims, what, and how long it waits.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Whether the read claims observations of the agent's session for it
    /// (default false, unless `max` or `lease_ms` is given: the read is a
    /// look, and changes nothing).
    #[serde(default)]
    claim: bool,
    /// The most observations to lease to the agent; it makes the read claim
    /// (default 10 with `claim=true`; 0 takes none).
    #[param(minimum = 0, maximum = 10000)]
    max: Option<usize>,
    /// How long it holds them before they return to the queue, in
    /// milliseconds; it makes the read claim (default 300000).
    #[param(minimum = 1, maximum = 86400000)]
    lease_ms: Option<u64>,
    /// How long to wait when nothing waits, in milliseconds (default 0:
    /// answer at once; at most 600000). A read that does not claim waits for
    /// handoffs only.
    #[param(minimum = 0, maximum = 600000)]
    wait_ms: Option<u64>,
}

impl InboxQuery {
    /// What the read claims: none unless `claim=true`, a `max` or a `lease_ms` asks to.
    fn claim(&self) -> Result<Option<InboxClaim>, ApiError> {
        if !(self.claim || self.max.is_some() || self.lease_ms.is_some()) {
            return Ok(None);
        }
        let defaults = InboxClaim::default();
        let max = match self.max {
            Some(0) => return Ok(None),
            Some(max) => super::bounds::size("max", max, bounds::CLAIM_MAX)?,
            None => defaults.max,
        };
        let lease = super::bounds::millis_some("lease_ms", self.lease_ms, bounds::LEASE)?.unwrap_or(defaults.lease);
        Ok(Some(InboxClaim { max, lease }))
    }
}

/// What waits for an agent: the handoffs routed to it that it has not
/// acknowledged yet and, with `claim=true`, observations of its session,
/// leased to it. Without `claim=true` the read claims nothing. With
/// `wait_ms`, waits for something to arrive.
#[utoipa::path(
    get, path = "/v1/agents/{id}/inbox", tag = "handoffs",
    params(("id" = uuid::Uuid, Path, description = "The agent id"), InboxQuery),
    responses(
        (status = 200, description = "What waits; empty when nothing came", body = InboxContents),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[get("/v1/agents/{id}/inbox")]
pub async fn inbox(
    state: web::Data<AppState>,
    id: web::Path<AgentId>,
    query: web::Query<InboxQuery>,
) -> Result<web::Json<InboxContents>, ApiError> {
    let mut message =
        Inbox::new(id.into_inner()).wait(super::bounds::millis("wait_ms", query.wait_ms.unwrap_or(0), bounds::WAIT)?);
    message.claim = query.claim()?;
    let InboxItems { handoffs, observations, .. } = state.baton.inbox(message).await?;
    Ok(web::Json(InboxContents { handoffs, observations }))
}

/// Sets (or, with `null`, clears) where the open handoffs of an agent of the
/// session that stops for good go.
#[utoipa::path(
    put, path = "/v1/sessions/{id}/fallback", tag = "handoffs",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = FallbackRequest,
    responses(
        (status = 200, description = "The session, once durable", body = Session),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[put("/v1/sessions/{id}/fallback")]
pub async fn fallback(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<FallbackRequest>,
) -> Result<web::Json<Session>, ApiError> {
    let fallback = body.into_inner().fallback;
    match state.baton.set_fallback(id.into_inner(), fallback).await {
        Ok(session) => Ok(web::Json(session)),
        // A 404 says the session is not there: an agent the body names that
        // is not there is a conflict, as an ack of an observation the queue does not hold.
        Err(crate::Error::Engine(baton_actors::EngineError::AgentNotFound(agent))) => Err(ApiError::new(
            crate::api::ErrorCode::Conflict,
            format!("the fallback names no agent: no agent {agent}"),
        )),
        Err(err) => Err(err.into()),
    }
}

/// The steps a handoff takes by `POST /v1/handoffs/{id}/{action}`, as the document names them.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used.
pub enum ActionName {
    /// The target has it.
    Acknowledge,
    /// The target works on it.
    Start,
    /// The target finished it.
    Complete,
    /// The target gave up on it.
    Fail,
    /// The sender takes it back.
    Cancel,
}
