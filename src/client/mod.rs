//! The HTTP client the CLI uses to talk to the daemon over its Unix socket.
//!
//! Every CLI invocation makes a request or two and exits, so this client is
//! built for start-up time, not throughput: one connection per request, opened
//! with hyper's low-level HTTP/1.1 handshake, no pool, no TLS, no proxy logic.
//! A Unix-socket connect costs microseconds, and a fresh connection per request
//! also means a daemon restarted between two requests is simply found again.
//!
//! Errors are sorted by what the CLI does with them, not by where they arose:
//! [`ClientError::Unreachable`] (start the daemon, or tell the user it is not
//! running), [`ClientError::Api`] (the daemon said no; print its message), and
//! [`ClientError::Protocol`] (anything else: a bug or a version mismatch).
//!
//! # Layout
//! - `mod.rs`: [`Client`] and [`ClientError`].
//! - `sse.rs`: reading a server-sent-event stream off a response body.
//! - `autostart.rs`: [`ensure_running`], which starts the daemon when none answers.

mod autostart;
mod sse;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::{ErrorBody, ErrorCode, VERSION_HEADER};

pub use autostart::{Autostart, ensure_running};

/// How much of an unexpected answer body an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// A client of the daemon's HTTP API over its Unix socket. One connection per request.
#[derive(Debug, Clone)]
pub struct Client {
    /// Where the daemon listens; connected afresh for every request, so a
    /// daemon that restarts between two requests is found again.
    socket: PathBuf,
    /// The daemon's version, from the last answer that named it; shared by
    /// clones, so the CLI can warn about a mismatch after any command.
    daemon_version: Arc<Mutex<Option<String>>>,
    /// How long a request may wait for its whole answer (for a stream, its
    /// head), so a stuck daemon fails a command instead of hanging it.
    timeout: Duration,
}

impl Client {
    /// A client of the daemon listening on `socket`. Nothing is connected yet.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self { socket: socket.into(), daemon_version: Arc::default(), timeout: Self::DEFAULT_TIMEOUT }
    }

    /// How long a request waits for its answer unless told otherwise.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// The same client, waiting up to `timeout` for each answer (a long-polling
    /// claim waits longer than its wait).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The daemon's package version, as its last answer gave it (none before
    /// the first answer).
    pub fn daemon_version(&self) -> Option<String> {
        self.daemon_version.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The socket this client connects to, for messages that name it.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// GET, JSON answer decoded into `T`.
    pub async fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> Result<T, ClientError> {
        let body = self.exchange(Method::GET, path_and_query, None).await?;
        decode(&Method::GET, path_and_query, &body)
    }

    /// POST with a JSON body, JSON answer decoded into `T`.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let json = serde_json::to_vec(body)
            .map_err(|err| ClientError::Protocol(format!("cannot encode the body of POST {path}: {err}")))?;
        self.post_raw(path, json).await
    }

    /// PUT with a JSON body, JSON answer decoded into `T`.
    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let json = serde_json::to_vec(body)
            .map_err(|err| ClientError::Protocol(format!("cannot encode the body of PUT {path}: {err}")))?;
        let answer = self.exchange(Method::PUT, path, Some(json)).await?;
        decode(&Method::PUT, path, &answer)
    }

    /// POST with raw bytes as the body and content-type `application/json`
    /// (used to pass a user's JSON through unchanged), JSON answer decoded into `T`.
    pub async fn post_raw<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T, ClientError> {
        let answer = self.exchange(Method::POST, path, Some(body)).await?;
        decode(&Method::POST, path, &answer)
    }

    /// GET, the answer body as text (for `/metrics` and `/v1/openapi.json`).
    pub async fn get_text(&self, path_and_query: &str) -> Result<String, ClientError> {
        let body = self.exchange(Method::GET, path_and_query, None).await?;
        String::from_utf8(body.to_vec()).map_err(|err| {
            ClientError::Protocol(format!("GET {path_and_query} answered text that is not UTF-8: {err}"))
        })
    }

    /// GET a server-sent-events stream; yields the `data:` payload of each
    /// event (multi-line data joined with `\n`), skipping comments and
    /// keep-alives. Ends when the server closes the stream; a stream that
    /// breaks off yields one [`ClientError::Protocol`] and then ends.
    pub async fn events(
        &self,
        path_and_query: &str,
    ) -> Result<impl futures_core::Stream<Item = Result<String, ClientError>> + Unpin + Send + use<>, ClientError> {
        let response = self.in_time(self.send(Method::GET, path_and_query, None, "text/event-stream")).await?;
        let status = response.status();
        if !status.is_success() {
            let body = collect(&Method::GET, path_and_query, response).await?;
            return Err(error_answer(&Method::GET, path_and_query, status, &body));
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
        if !content_type.starts_with("text/event-stream") {
            return Err(ClientError::Protocol(format!(
                "GET {path_and_query} answered {content_type:?} instead of an event stream"
            )));
        }
        Ok(sse::ServerSentEvents::new(response.into_body()))
    }

    /// Sends a request expecting JSON and returns the body of a 2xx answer;
    /// any other answer becomes an error.
    async fn exchange(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes, ClientError> {
        self.in_time(async {
            let response = self.send(method.clone(), path, body, "application/json").await?;
            let status = response.status();
            let body = collect(&method, path, response).await?;
            if status.is_success() { Ok(body) } else { Err(error_answer(&method, path, status, &body)) }
        })
        .await
    }

    /// `request`, or [`ClientError::TimedOut`] once the client's timeout has passed.
    async fn in_time<T>(&self, request: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
        tokio::time::timeout(self.timeout, request)
            .await
            .unwrap_or_else(|_| Err(ClientError::TimedOut { socket: self.socket.clone(), after: self.timeout }))
    }

    /// Connects, sends one request, and returns the answer's head with its body still to read.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &'static str,
    ) -> Result<Response<Incoming>, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|err| ClientError::Unreachable { socket: self.socket.clone(), err })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| ClientError::Protocol(format!("{method} {path}: HTTP handshake failed: {err}")))?;
        // The connection future does the actual I/O; it ends once the answer
        // has been read (or dropped) and our sender is gone.
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(cause = %err, "the connection to the daemon ended with an error");
            }
        });
        let mut request =
            Request::builder().method(method.clone()).uri(path).header(HOST, "localhost").header(ACCEPT, accept);
        let body = match body {
            Some(bytes) => {
                request = request.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|err| ClientError::Protocol(format!("cannot build the request {method} {path}: {err}")))?;
        tracing::debug!(method = %method, path, socket = %self.socket.display(), "request to the daemon");
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| ClientError::Protocol(format!("{method} {path}: no answer: {err}")))?;
        if let Some(version) = response.headers().get(VERSION_HEADER).and_then(|value| value.to_str().ok()) {
            *self.daemon_version.lock().unwrap_or_else(PoisonError::into_inner) = Some(version.to_owned());
        }
        Ok(response)
    }
}

/// Reads a whole answer body.
async fn collect(method: &Method, path: &str, response: Response<Incoming>) -> Result<Bytes, ClientError> {
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|err| ClientError::Protocol(format!("{method} {path}: the answer broke off: {err}")))?;
    Ok(collected.to_bytes())
}

/// Decodes a 2xx answer. An empty body (a 204, say) decodes as JSON `null`,
/// so callers can ask for `()` or an `Option`.
fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, ClientError> {
    let json = if body.iter().all(u8::is_ascii_whitespace) { b"null".as_slice() } else { body };
    serde_json::from_slice(json).map_err(|err| {
        ClientError::Protocol(format!("cannot decode the answer to {method} {path} ({err}): {}", excerpt(body)))
    })
}

/// Turns a non-2xx answer into an error: the daemon's own error body if it is
/// one, otherwise a protocol error quoting the start of the body.
fn error_answer(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            ClientError::Api { status: status.as_u16(), code: error.code, message: error.message }
        }
        Err(_) => ClientError::Protocol(format!("{method} {path} answered {status}: {}", excerpt(body))),
    }
}

/// The start of a body, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Why a request to the daemon failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// connect() failed: no socket file, connection refused, permission denied...
    #[error("cannot reach the baton daemon at {}: {err}", socket.display())]
    Unreachable {
        /// The socket we tried, so the message can name it.
        socket: PathBuf,
        /// What connect() said (or, after an autostart, why the daemon did not come up).
        err: std::io::Error,
    },
    /// The daemon answered with an error body `{"error":{"code","message"}}` ([`ErrorBody`]).
    #[error("{message}")]
    Api {
        /// The HTTP status of the answer.
        status: u16,
        /// The daemon's stable code, which decides the CLI's exit code.
        code: ErrorCode,
        /// The daemon's one line for a person.
        message: String,
    },
    /// The daemon accepted the connection but did not answer in time (it is
    /// stuck, or overloaded).
    #[error("the baton daemon at {} did not answer within {}", socket.display(), humantime::format_duration(*after))]
    TimedOut {
        /// The socket, so the message can name it.
        socket: PathBuf,
        /// How long the client waited.
        after: Duration,
    },
    /// Anything else unexpected: a non-JSON error answer, a body that does
    /// not decode, a dropped connection mid-answer.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The CLI's exit code for this error: 3 daemon unreachable, 4 not found
    /// (code `not_found`), 5 conflict (codes `conflict` and `not_permitted`),
    /// 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 3,
            ClientError::Api { code: ErrorCode::NotFound, .. } => 4,
            ClientError::Api { code: ErrorCode::Conflict | ErrorCode::NotPermitted, .. } => 5,
            ClientError::Api { .. } | ClientError::TimedOut { .. } | ClientError::Protocol(_) => 1,
        }
    }
}
