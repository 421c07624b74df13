//! The HTTP routes, one file per resource, and the OpenAPI document built
//! from their annotations.

pub mod agents;
pub mod bounds;
pub mod daemon;
pub mod events;
pub mod handoffs;
pub mod hook;
pub mod queue;
pub mod sessions;
pub mod store;

use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::web::ServiceConfig;
use actix_web::{FromRequest as _, HttpRequest, web};
use serde::de::DeserializeOwned;
use utoipa::OpenApi;

/// The OpenAPI 3 document of every route.
#[derive(OpenApi)]
#[openapi(
    info(title = "baton", description = "The baton daemon's HTTP API, served on a Unix socket."),
    paths(
        daemon::health, daemon::version, daemon::status, daemon::metrics, daemon::openapi,
        sessions::open, sessions::list, sessions::show, sessions::close,
        queue::observe, queue::list, queue::stats, queue::claim, queue::ack, queue::nack, queue::requeue,
        agents::spawn, agents::list, agents::show, agents::stop, agents::stop_session, agents::restart, agents::logs,
        handoffs::create, handoffs::list, handoffs::stats, handoffs::show, handoffs::update, handoffs::inbox,
        handoffs::fallback,
        hook::claude_code,
        events::stream_events, events::event_log,
        store::check, store::backup,
    ),
    components(schemas(crate::api::ErrorCode, crate::api::ErrorDetail)),
    tags(
        (name = "daemon", description = "The daemon itself"),
        (name = "sessions", description = "Durable records of agent sessions"),
        (name = "queue", description = "Each session's durable observation queue"),
        (name = "agents", description = "Supervised agent processes of sessions"),
        (name = "handoffs", description = "Work passed from one agent to another, agents' inboxes"),
        (name = "hooks", description = "Editor hooks: Claude Code's events, posted whole"),
        (name = "events", description = "What happened, in order"),
        (name = "store", description = "The durable store as a whole: its check and its backups"),
    )
)]
pub struct ApiDoc;

/// Registers every route.
pub fn configure(config: &mut ServiceConfig) {
    config
        // The hottest routes first: a request is matched against the routes in
        // order, and matching a pattern with a parameter runs a regex
        // (docs/benchmarks.md, "Through HTTP and the CLI").
        .service(hook::claude_code)
        .service(queue::observe)
        .service(daemon::health)
        .service(daemon::version)
        .service(daemon::status)
        .service(daemon::metrics)
        .service(daemon::openapi)
        .service(sessions::open)
        .service(sessions::list)
        .service(sessions::show)
        .service(sessions::close)
        .service(queue::list)
        .service(queue::stats)
        .service(queue::claim)
        .service(queue::ack)
        .service(queue::nack)
        .service(queue::requeue)
        .service(agents::spawn)
        .service(agents::list)
        .service(agents::show)
        .service(agents::stop)
        .service(agents::stop_session)
        .service(agents::restart)
        .service(agents::logs)
        .service(handoffs::create)
        .service(handoffs::list)
        // Before `show`, whose `{id}` would otherwise claim "stats".
        .service(handoffs::stats)
        .service(handoffs::show)
        .service(handoffs::update)
        .service(handoffs::inbox)
        .service(handoffs::fallback)
        .service(events::event_log)
        .service(events::stream_events)
        .service(store::check)
        .service(store::backup);
}

/// A JSON body read as `T`, or `T::default()` when there is no body. Errors
/// (malformed, over the limit) take the one error shape, as for any JSON body.
pub(crate) async fn optional_json<T: DeserializeOwned + Default + 'static>(
    request: &HttpRequest,
    body: web::Payload,
) -> Result<T, actix_web::Error> {
    let headers = request.headers();
    let length = headers.get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()).map(str::trim);
    let empty = match length {
        Some(length) => length == "0",
        None => !headers.contains_key(TRANSFER_ENCODING),
    };
    if empty {
        return Ok(T::default());
    }
    let json = web::Json::<T>::from_request(request, &mut body.into_inner()).await?;
    Ok(json.into_inner())
}
