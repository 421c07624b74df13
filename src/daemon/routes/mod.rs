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

use agents::SpawnRequestShape;

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
    components(schemas(crate::api::ErrorCode, crate::api::ErrorDetail, handoffs::ActionName)),
    modifiers(&SpawnRequestShape),
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

/// A JSON body read as `T`, or `T::default()` when there is no body (or a
/// body of `null`, as an optional body is in the document). Errors
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
    let raw = web::Json::<Box<serde_json::value::RawValue>>::from_request(request, &mut body.into_inner()).await?;
    if raw.get() == "null" {
        return Ok(T::default());
    }
    object_of(raw.get())
}

/// A request body that is a JSON object, read as `T`.
///
/// actix-web's `Json` reads a struct from a JSON array too (serde's derive
/// takes a struct's fields in order from a sequence), so `["n1", "e1"]`
/// opened a session. This reads the body as actix-web's `Json` does (its
/// limit, content type and errors, from the app's `JsonConfig`), and refuses
/// any body but an object.
pub struct JsonObject<T>(T);

impl<T> JsonObject<T> {
    /// The body, read.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> actix_web::FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let raw = web::Json::<Box<serde_json::value::RawValue>>::from_request(request, payload);
        Box::pin(async move { object_of(raw.await?.get()).map(JsonObject) })
    }
}

/// `text`, a JSON object, read as `T`.
fn object_of<T: DeserializeOwned>(text: &str) -> Result<T, actix_web::Error> {
    if !text.starts_with('{') {
        return Err(crate::daemon::error::ApiError::bad_request("the body must be a JSON object").into());
    }
    serde_json::from_str(text).map_err(|err| crate::daemon::error::ApiError::of_body(&err).into())
}

/// Every route's path pattern and the methods it takes, from the API
/// document, which lists every route: built once.
fn route_table() -> &'static [(actix_web::dev::ResourceDef, Vec<String>)] {
    static TABLE: std::sync::OnceLock<Vec<(actix_web::dev::ResourceDef, Vec<String>)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("the document encodes");
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        paths
            .into_iter()
            .map(|(path, operations)| {
                let methods = operations.as_object().map(|ops| ops.keys().map(|m| m.to_uppercase()).collect());
                (actix_web::dev::ResourceDef::new(path), methods.unwrap_or_default())
            })
            .collect()
    })
}

/// What no route took: 405, with the methods in `Allow`, for a path that a
/// route serves with other methods; else 404.
pub async fn unrouted(request: HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError as _;
    let path = request.path();
    let allowed: Vec<&str> = route_table()
        .iter()
        .filter(|(pattern, _)| pattern.is_match(path))
        .flat_map(|(_, methods)| methods.iter().map(String::as_str))
        .collect();
    if allowed.is_empty() {
        return crate::daemon::error::ApiError::no_route(&request).error_response();
    }
    let message = format!("{} {path} is not served; it takes {}", request.method(), allowed.join(", "));
    let mut response =
        crate::daemon::error::ApiError::new(crate::api::ErrorCode::MethodNotAllowed, message).error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}
