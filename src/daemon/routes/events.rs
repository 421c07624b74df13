//! Events: a live server-sent-event stream, and the stored log.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, web};
use baton_actors::model::{Event, SessionId};
use bytes::Bytes;
use futures_util::{StreamExt as _, stream};
use serde::Deserialize;
use tokio_stream::wrappers::IntervalStream;
use utoipa::IntoParams;

use crate::api::ErrorBody;
use crate::daemon::error::ApiError;
use crate::daemon::state::AppState;

/// How often an idle event stream sends a comment, so proxies and clients
/// can tell a quiet stream from a dead one.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Which events a stream carries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Only events of this session.
    #[param(value_type = Option<uuid::Uuid>)]
    session: Option<SessionId>,
    /// First replay stored events with a sequence number above this one (as
    /// the `Last-Event-ID` header does), then go on live.
    #[param(minimum = 0, maximum = 9007199254740991.0)]
    after: Option<u64>,
}

/// Events as they happen, as server-sent events: `id` is the sequence number,
/// `event` the type, `data` the event as JSON.
#[utoipa::path(
    get, path = "/v1/events", tag = "events", params(StreamQuery),
    responses(
        (status = 200, description = "A stream of server-sent events", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody),
    )
)]
#[get("/v1/events")]
pub async fn stream_events(
    state: web::Data<AppState>,
    query: web::Query<StreamQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let last_event_id = request.headers().get("last-event-id").and_then(|value| value.to_str().ok()?.parse().ok());
    let after = query
        .after
        .or(last_event_id)
        .map(|after| super::bounds::count("after", after, super::bounds::SEQ))
        .transpose()?;
    // Subscribe before reading the stored events, so nothing falls between them.
    let live = state.baton.subscribe();
    let backlog = match after {
        Some(after) => state.baton.events_after(after, usize::MAX)?,
        None => Vec::new(),
    };
    let replayed_up_to = backlog.last().map(|event| event.seq).or(after).unwrap_or(0);
    let session = query.session;
    let events = stream::iter(backlog)
        .chain(live.filter(move |event| std::future::ready(event.seq > replayed_up_to)))
        .filter(move |event| std::future::ready(session.is_none_or(|id| event.session == Some(id))))
        .map(|event| Bytes::from(server_sent_event(&event)));
    let keepalive = IntervalStream::new(tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE))
        .map(|_| Bytes::from_static(b":keepalive\n\n"));
    let mut stopping = state.stopping.clone();
    let body = stream::select(events, keepalive)
        .take_until(async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        })
        .map(Ok::<_, Infallible>);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body))
}

fn server_sent_event(event: &Event) -> String {
    // Serializing a record cannot fail; an empty object would still be valid data.
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    format!("id: {}\nevent: {}\ndata: {data}\n\n", event.seq, event.kind.name())
}

/// Which stored events to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only events of this session.
    #[param(value_type = Option<uuid::Uuid>)]
    session: Option<SessionId>,
    /// Only events with a sequence number above this one (default 0: from the oldest kept).
    #[param(minimum = 0, maximum = 9007199254740991.0)]
    after: Option<u64>,
    /// At most this many events (default 100, at most 10,000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// Stored events, oldest first.
#[utoipa::path(
    get, path = "/v1/events/log", tag = "events", params(LogQuery),
    responses((status = 200, body = Vec<Event>), (status = 400, body = ErrorBody))
)]
#[get("/v1/events/log")]
pub async fn event_log(
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> Result<web::Json<Vec<Event>>, ApiError> {
    const PAGE: usize = 1000;
    let limit = super::bounds::size("limit", query.limit.unwrap_or(100), super::bounds::LIST_LIMIT)?;
    let mut after = super::bounds::count("after", query.after.unwrap_or(0), super::bounds::SEQ)?;
    let mut found = Vec::new();
    while found.len() < limit {
        let page = state.baton.events_after(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() == PAGE;
        found.extend(page.into_iter().filter(|event| query.session.is_none_or(|id| event.session == Some(id))));
        if !full {
            break;
        }
    }
    found.truncate(limit);
    Ok(web::Json(found))
}
