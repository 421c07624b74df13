//! A session's observation queue: observe, list, stats, claim, ack, nack, requeue.

use actix_web::{get, post, web};
use baton_actors::model::{AckReport, Enqueued, NewObservation, Observation, ObservationState, QueueStats, SessionId};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::Claim;
use crate::Selection;
use crate::api::{AckRequest, ClaimRequest, ErrorBody, NackRequest, ObserveRequest, RequeueRequest, RequeueSelection};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;
use baton_actors::model::bounds;

/// Queues an observation; answers once it is durable.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/observations", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = ObserveRequest,
    responses(
        (status = 200, description = "Its sequence number, once durable", body = Enqueued),
        (status = 400, description = "Malformed, or a payload that would not read back", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The session is closing or ended", body = ErrorBody),
        (status = 413, description = "The body or the payload is over its limit", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/observations")]
pub async fn observe(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<ObserveRequest>,
) -> Result<web::Json<Enqueued>, ApiError> {
    let ObserveRequest { kind, key, payload } = body.into_inner();
    let mut observation =
        NewObservation::from_json(kind, payload).map_err(|err| ApiError::bad_request(err.to_string()))?;
    observation.key = key;
    Ok(web::Json(state.baton.observe(id.into_inner(), observation).await?))
}

/// Filters for listing observations.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ObservationsQuery {
    /// Only those in this state: pending, leased, dead or acked (acked ones
    /// are kept only a while).
    #[param(value_type = Option<ObservationState>)]
    state: Option<String>,
    /// Only those with a sequence number above this.
    #[serde(default)]
    #[param(minimum = 0, maximum = 9007199254740991.0)]
    after: u64,
    /// At most this many (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// Lists a session's observations in order.
#[utoipa::path(
    get, path = "/v1/sessions/{id}/observations", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id"), ObservationsQuery),
    responses(
        (status = 200, body = Vec<Observation>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
#[get("/v1/sessions/{id}/observations")]
pub async fn list(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    query: web::Query<ObservationsQuery>,
) -> Result<web::Json<Vec<Observation>>, ApiError> {
    let wanted = match &query.state {
        Some(name) => Some(name.parse::<ObservationState>().map_err(|err| ApiError::bad_request(format!("{err}")))?),
        None => None,
    };
    let limit = super::bounds::size("limit", query.limit.unwrap_or(100), super::bounds::LIST_LIMIT)?;
    let after = super::bounds::count("after", query.after, super::bounds::SEQ)?;
    Ok(web::Json(state.baton.observations(id.into_inner(), wanted, after, limit).await?))
}

/// A session's queue counts.
#[utoipa::path(
    get, path = "/v1/sessions/{id}/queue", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    responses((status = 200, body = QueueStats), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/sessions/{id}/queue")]
pub async fn stats(state: web::Data<AppState>, id: web::Path<SessionId>) -> Result<web::Json<QueueStats>, ApiError> {
    Ok(web::Json(state.baton.queue_stats(id.into_inner()).await?))
}

/// Leases the oldest available observations, in order; with `wait_ms`, waits
/// for some to arrive. Never returns one past a summarize marker whose batch
/// is not yet acked.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/queue/claim", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "The leased observations; empty when none came", body = Vec<Observation>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/queue/claim")]
pub async fn claim(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<ClaimRequest>,
) -> Result<web::Json<Vec<Observation>>, ApiError> {
    let ClaimRequest { consumer, max, lease_ms, wait_ms } = body.into_inner();
    if consumer.trim().is_empty() {
        return Err(ApiError::bad_request("name the consumer that claims"));
    }
    let mut claim = Claim::new(consumer).wait(super::bounds::millis("wait_ms", wait_ms.unwrap_or(0), bounds::WAIT)?);
    if let Some(max) = max {
        claim = claim.max(super::bounds::size("max", max, bounds::CLAIM_MAX)?);
    }
    if let Some(lease_ms) = lease_ms {
        claim = claim.lease(super::bounds::millis("lease_ms", lease_ms, bounds::LEASE)?);
    }
    Ok(web::Json(state.baton.claim(id.into_inner(), claim).await?))
}

/// Acks leased observations, all or none. Acking one again is not an error.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/queue/ack", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = AckRequest,
    responses(
        (status = 200, body = AckReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The queue does not hold one, or it is not leased, or leased to another consumer", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/queue/ack")]
pub async fn ack(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<AckRequest>,
) -> Result<web::Json<AckReport>, ApiError> {
    let AckRequest { seqs, consumer } = body.into_inner();
    Ok(web::Json(state.baton.ack(id.into_inner(), &seqs, consumer.as_deref()).await.map_err(named_in_body)?))
}

/// The error for a request whose body names observations: one the queue does
/// not hold is a conflict (409), since a 404 says the session in the path is
/// not there.
fn named_in_body(err: crate::Error) -> ApiError {
    match err {
        crate::Error::Engine(err @ baton_actors::EngineError::ObservationNotFound { .. }) => {
            ApiError::new(crate::api::ErrorCode::Conflict, err.to_string())
        }
        err => err.into(),
    }
}

/// Gives leased observations back, all or none, optionally held back for a
/// while; one that has had its attempts is set aside as dead.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/queue/nack", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = NackRequest,
    responses(
        (status = 200, description = "Their records after the change", body = Vec<Observation>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/queue/nack")]
pub async fn nack(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<NackRequest>,
) -> Result<web::Json<Vec<Observation>>, ApiError> {
    let NackRequest { seqs, consumer, delay_ms } = body.into_inner();
    let delay = super::bounds::millis("delay_ms", delay_ms, bounds::NACK_DELAY)?;
    Ok(web::Json(state.baton.nack(id.into_inner(), &seqs, consumer.as_deref(), delay).await.map_err(named_in_body)?))
}

/// Puts dead observations back in the queue with fresh attempts.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/queue/requeue", tag = "queue",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body = RequeueRequest,
    responses(
        (status = 200, description = "Their records after the change", body = Vec<Observation>),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/queue/requeue")]
pub async fn requeue(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    body: super::JsonObject<RequeueRequest>,
) -> Result<web::Json<Vec<Observation>>, ApiError> {
    let selection = match body.into_inner().seqs {
        RequeueSelection::All(_) => Selection::All,
        RequeueSelection::Seqs(seqs) => Selection::Seqs(seqs),
    };
    Ok(web::Json(state.baton.requeue(id.into_inner(), selection).await.map_err(named_in_body)?))
}
