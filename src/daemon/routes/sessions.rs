//! Sessions: open, list, show, close.

use actix_web::{HttpRequest, get, post, web};
use baton_actors::model::{HandoffTarget, OpenSession, Session, SessionId, SessionState};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::{CloseSessionRequest, ErrorBody, OpenSessionRequest};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;

/// Opens a session, or returns the one with the same `external_id`.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    request_body = OpenSessionRequest,
    responses(
        (status = 200, description = "The session, once durable", body = Session),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions")]
pub async fn open(
    state: web::Data<AppState>,
    body: super::JsonObject<OpenSessionRequest>,
) -> Result<web::Json<Session>, ApiError> {
    let OpenSessionRequest { name, external_id, cwd, meta, max_lifetime_ms, fallback } = body.into_inner();
    if matches!(&fallback, Some(HandoffTarget::Role(role)) if role.trim().is_empty()) {
        return Err(ApiError::bad_request("a fallback role must be named"));
    }
    let mut spec = OpenSession::default();
    spec.name = name;
    spec.external_id = external_id;
    spec.cwd = cwd;
    spec.meta = meta;
    spec.max_lifetime =
        super::bounds::millis_some("max_lifetime_ms", max_lifetime_ms, baton_actors::model::bounds::SESSION_LIFETIME)?;
    spec.fallback = fallback;
    Ok(web::Json(state.baton.open_session(spec).await?))
}

/// Filters for listing sessions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only sessions in this state (active, idle, closing, closed, failed).
    #[param(value_type = Option<SessionState>)]
    state: Option<String>,
}

/// Lists sessions, oldest first.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = Vec<Session>), (status = 400, body = ErrorBody))
)]
#[get("/v1/sessions")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<Session>>, ApiError> {
    let sessions = match &query.state {
        Some(name) => {
            let wanted: SessionState = name.parse().map_err(|err| ApiError::bad_request(format!("{err}")))?;
            state.baton.sessions_in(wanted).await?
        }
        None => state.baton.sessions().await?,
    };
    Ok(web::Json(sessions))
}

/// One session.
#[utoipa::path(
    get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    responses((status = 200, body = Session), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/v1/sessions/{id}")]
pub async fn show(state: web::Data<AppState>, id: web::Path<SessionId>) -> Result<web::Json<Session>, ApiError> {
    Ok(web::Json(state.baton.session(id.into_inner()).await?))
}

/// Closes a session. The body is optional. By default the queue is drained:
/// with observations pending or leased, the session stays `closing` until they
/// are acked; `"mode": "discard"` drops them and closes at once.
#[utoipa::path(
    post, path = "/v1/sessions/{id}/close", tag = "sessions",
    params(("id" = uuid::Uuid, Path, description = "The session id")),
    request_body(content = Option<CloseSessionRequest>, description = "Optional"),
    responses(
        (status = 200, description = "The closed (or closing, while draining) session, once durable", body = Session),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Already closed or failed", body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/sessions/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    id: web::Path<SessionId>,
    request: HttpRequest,
    body: web::Payload,
) -> Result<web::Json<Session>, actix_web::Error> {
    let request: CloseSessionRequest = super::optional_json(&request, body).await?;
    let closed =
        state.baton.close_session_with(id.into_inner(), request.mode, request.reason).await.map_err(ApiError::from)?;
    Ok(web::Json(closed))
}
