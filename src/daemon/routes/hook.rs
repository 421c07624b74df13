//! `POST /v1/hooks/claude-code`: one Claude Code hook event, as the editor wrote it.

use actix_web::{post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::api::ErrorBody;
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;
use crate::hook::{HookEvent, HookOutcome, apply};

/// Options of a hook delivery.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HookQuery {
    /// The id of the spool entry the event was (or would have been) spooled
    /// as: it keys observations that have no key of their own, so a repeated
    /// delivery queues them once.
    spool_id: Option<Uuid>,
}

/// Applies a Claude Code hook event: opens the session it names if baton has
/// not seen it, then queues an observation (tool uses keyed by their
/// `tool_use_id`), a summarize marker (`Stop`) or closes the session,
/// draining its queue (`SessionEnd`). Unknown events and fields are kept.
#[utoipa::path(
    post, path = "/v1/hooks/claude-code", tag = "hooks", params(HookQuery),
    request_body(content = HookEventBody, description = "The hook event, as Claude Code wrote it to the hook's stdin"),
    responses(
        (status = 200, description = "What the event did, once durable", body = HookOutcome),
        (status = 400, description = "Not a hook event", body = ErrorBody),
        (status = 409, description = "The session is closing or ended", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
#[post("/v1/hooks/claude-code")]
pub async fn claude_code(
    state: web::Data<AppState>,
    query: web::Query<HookQuery>,
    body: web::Json<serde_json::Value>,
) -> Result<web::Json<HookOutcome>, ApiError> {
    let event = HookEvent::from_value(body.into_inner()).map_err(|err| ApiError::bad_request(err.to_string()))?;
    Ok(web::Json(apply(&state.baton, event, query.spool_id).await?))
}

/// What the document says of a hook event: the two fields the route needs;
/// any other field is kept as Claude Code wrote it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used.
pub struct HookEventBody {
    /// Claude Code's session id.
    #[schema(min_length = 1)]
    session_id: String,
    /// The hook, such as `PostToolUse`.
    #[schema(min_length = 1)]
    hook_event_name: String,
}
