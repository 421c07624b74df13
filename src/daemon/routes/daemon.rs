//! The daemon's own routes: health, version, status, metrics, the API document.

use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi as _;

use crate::api::{API_VERSION, ErrorBody, Health, Status, Version};
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;

/// Answers while the daemon runs: `ok`, or `degraded` with the reason while
/// the store refuses writes (a full disk).
#[utoipa::path(get, path = "/v1/health", tag = "daemon", responses((status = 200, body = Health)))]
#[get("/v1/health")]
pub async fn health(state: web::Data<AppState>) -> web::Json<Health> {
    match state.baton.store_degraded().ok().flatten() {
        None => web::Json(Health { status: "ok".into(), reason: None }),
        Some(reason) => web::Json(Health { status: "degraded".into(), reason: Some(reason) }),
    }
}

/// The daemon's version and wire protocol version.
#[utoipa::path(get, path = "/v1/version", tag = "daemon", responses((status = 200, body = Version)))]
#[get("/v1/version")]
pub async fn version() -> web::Json<Version> {
    web::Json(Version { version: env!("CARGO_PKG_VERSION").into(), api: API_VERSION })
}

/// Version, uptime, paths, counts, and the handoff metrics of every session.
#[utoipa::path(
    get, path = "/v1/status", tag = "daemon",
    responses((status = 200, body = Status), (status = 503, body = ErrorBody))
)]
#[get("/v1/status")]
pub async fn status(state: web::Data<AppState>) -> Result<web::Json<Status>, ApiError> {
    let sessions = state.baton.sessions().await?;
    let mut counts = std::collections::BTreeMap::new();
    for session in &sessions {
        *counts.entry(session.state.to_string()).or_insert(0) += 1;
    }
    let mut agents = std::collections::BTreeMap::new();
    for agent in state.baton.agents(None).await? {
        *agents.entry(agent.state.to_string()).or_insert(0) += 1;
    }
    Ok(web::Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        uptime_ms: u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        data_dir: state.settings.data_dir.clone(),
        socket: state.settings.socket.clone(),
        sessions: counts,
        agents,
        queue: state.baton.queue_totals().await?,
        handoffs: state.baton.handoff_stats(None).await?,
        corrupt_records: state.baton.corrupt_records()?,
        agent_tracking: state.baton.tracking().to_string(),
    }))
}

/// Metrics in the Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "daemon",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.metrics.render(&state.baton).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "daemon",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
#[get("/v1/openapi.json")]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::ApiDoc::openapi())
}
