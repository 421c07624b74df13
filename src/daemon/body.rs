//! A request body must arrive in time.
//!
//! actix-http times out a request whose headers are slow (5 s), never one
//! whose body trickles: a client that sends a header with a large
//! `Content-Length` and then one byte holds its connection, and its
//! descriptor, for as long as it likes, and enough of them take the daemon's
//! every connection (issue 17). [`read_within_deadline`] gives the whole body
//! [`BODY_TIMEOUT`] from the end of the headers; a body still incomplete then
//! ends the read with an error that the JSON extractor's error handler
//! ([`super::error::json_error`]) answers with 408, and the connection closes.

use std::io;
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use futures_util::StreamExt as _;

/// How long a request body may take to arrive, once its headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Middleware: a body not read in full within [`BODY_TIMEOUT`] fails its read.
pub async fn read_within_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let payload = request.take_payload();
    let timed = futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => Some((Err(timed_out()), None)),
        }
    });
    request.set_payload(Payload::Stream { payload: Box::pin(timed) });
    next.call(request).await
}

/// The error a body read gets when its deadline passes.
fn timed_out() -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, BodyTimedOut))
}

/// Marks the timeout as this deadline's, not any other I/O error.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
pub struct BodyTimedOut;

/// Whether `err` is a body read that ran out of time.
pub fn is_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<BodyTimedOut>()))
}
