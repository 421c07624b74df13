//! The client against a real actix-web server on a Unix socket, so the tests
//! cover the same HTTP/1.1 framing (chunked streams included) the daemon uses.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{Client, ClientError};
use crate::api::{ErrorBody, ErrorCode, ErrorDetail, Health};

/// A real HTTP server on a Unix socket, with a few routes shaped like the daemon's.
pub(super) struct TestDaemon {
    /// Where it listens.
    socket: PathBuf,
    /// Stops it when the test ends.
    handle: ServerHandle,
    /// Its thread, joined on drop so no server outlives its test.
    thread: Option<JoinHandle<()>>,
    /// The directory holding the socket, when the daemon made it.
    _dir: Option<tempfile::TempDir>,
}

impl TestDaemon {
    /// Starts one on a socket in a fresh temporary directory.
    pub(super) fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut daemon = Self::start_at(&dir.path().join("baton.sock"));
        daemon._dir = Some(dir);
        daemon
    }

    /// Starts one on `socket`; it accepts connections once this returns.
    pub(super) fn start_at(socket: &Path) -> Self {
        let (sender, receiver) = std::sync::mpsc::channel();
        let path = socket.to_owned();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(|| {
                    App::new()
                        .route("/v1/health", web::get().to(|| async { HttpResponse::Ok().json(health()) }))
                        .route("/record", web::get().to(|| async { HttpResponse::Ok().json(record()) }))
                        .route("/missing", web::get().to(|| async { error(ErrorCode::NotFound, "no session 42") }))
                        .route("/taken", web::get().to(|| async { error(ErrorCode::Conflict, "already closed") }))
                        .route(
                            "/not-yours",
                            web::get().to(|| async { error(ErrorCode::NotPermitted, "only its target may") }),
                        )
                        .route("/boom", web::get().to(|| async { HttpResponse::InternalServerError().body("boom") }))
                        .route("/text", web::get().to(|| async { HttpResponse::Ok().body("# HELP up\nup 1\n") }))
                        .route("/empty", web::post().to(|| async { HttpResponse::NoContent().finish() }))
                        .route(
                            "/echo",
                            web::post().to(|body: web::Json<serde_json::Value>| async move {
                                HttpResponse::Ok().json(body.into_inner())
                            }),
                        )
                        .route(
                            "/echo",
                            web::put().to(|body: web::Json<serde_json::Value>| async move {
                                HttpResponse::Ok().json(body.into_inner())
                            }),
                        )
                        .route("/events", web::get().to(|| async { event_stream() }))
                        .route(
                            "/slow",
                            web::get().to(|| async {
                                actix_web::rt::time::sleep(Duration::from_secs(30)).await;
                                HttpResponse::Ok().json(health())
                            }),
                        )
                        .route(
                            "/versioned",
                            web::get().to(|| async {
                                HttpResponse::Ok().insert_header((crate::api::VERSION_HEADER, "9.9.9")).json(health())
                            }),
                        )
                })
                .workers(1)
                .disable_signals()
                .bind_uds(&path)
                .expect("bind the test socket")
                .run();
                sender.send(server.handle()).expect("hand over the server handle");
                server.await.expect("the test server runs");
            });
        });
        let handle = receiver.recv().expect("the test server started");
        Self { socket: socket.to_owned(), handle, thread: Some(thread), _dir: None }
    }

    /// A client of it.
    pub(super) fn client(&self) -> Client {
        Client::new(&self.socket)
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only reports completion.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits until `condition` holds, failing the test after a generous deadline.
pub(super) fn poll_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    count: u32,
}

fn health() -> Health {
    Health { status: "ok".into(), reason: None }
}

fn record() -> Record {
    Record { name: "refactor".into(), count: 3 }
}

fn error(code: ErrorCode, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(code.status()).expect("a valid status");
    HttpResponse::build(status).json(ErrorBody { error: ErrorDetail { code, message: message.into() } })
}

/// Two events, one with multi-line data, a keep-alive comment, and chunks cut mid-line.
fn event_stream() -> HttpResponse {
    let chunks = [
        ":keepalive\n\n",
        "id: 1\nevent: session_opened\ndata: {\"seq\":1}\n\n",
        "id: 2\ndata: first line\nda",
        "ta: second line\n\n",
    ];
    let body = futures_util::stream::iter(chunks.map(|chunk| Ok::<_, std::convert::Infallible>(Bytes::from(chunk))));
    HttpResponse::Ok().content_type("text/event-stream").streaming(body)
}

#[tokio::test]
async fn get_decodes_json() {
    let daemon = TestDaemon::start();
    let got: Record = daemon.client().get("/record").await.expect("a record");
    assert_eq!(got, record());
}

#[tokio::test]
async fn an_error_body_becomes_an_api_error() {
    let daemon = TestDaemon::start();
    let err = daemon.client().get::<Record>("/missing").await.expect_err("not found");
    assert!(
        matches!(&err, ClientError::Api { status: 404, code: ErrorCode::NotFound, message } if message == "no session 42"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no session 42");
    assert_eq!(err.exit_code(), 4);
    let err = daemon.client().get::<Record>("/taken").await.expect_err("conflict");
    assert_eq!(err.exit_code(), 5);
    let err = daemon.client().get::<Record>("/not-yours").await.expect_err("not permitted");
    assert!(matches!(&err, ClientError::Api { status: 409, code: ErrorCode::NotPermitted, .. }), "{err:?}");
    assert_eq!(err.exit_code(), 5);
}

#[tokio::test]
async fn a_plain_text_error_is_a_protocol_error() {
    let daemon = TestDaemon::start();
    let err = daemon.client().get::<Record>("/boom").await.expect_err("a 500");
    assert!(
        matches!(&err, ClientError::Protocol(message) if message.contains("500") && message.contains("boom")),
        "{err:?}"
    );
    assert_eq!(err.exit_code(), 1);
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_protocol_error() {
    let daemon = TestDaemon::start();
    let err = daemon.client().get::<Vec<u64>>("/record").await.expect_err("not a list");
    assert!(matches!(&err, ClientError::Protocol(message) if message.contains("refactor")), "{err:?}");
}

#[tokio::test]
async fn post_and_put_send_json() {
    let daemon = TestDaemon::start();
    let echoed: Record = daemon.client().post("/echo", &record()).await.expect("echoed");
    assert_eq!(echoed, record());
    let echoed: Record = daemon.client().put("/echo", &record()).await.expect("echoed by PUT");
    assert_eq!(echoed, record());
    let raw = br#"{"name":"raw","count":9}"#.to_vec();
    let echoed: Record = daemon.client().post_raw("/echo", raw).await.expect("echoed");
    assert_eq!(echoed, Record { name: "raw".into(), count: 9 });
    let () = daemon.client().post("/empty", &()).await.expect("no content");
}

#[tokio::test]
async fn get_text_returns_the_body() {
    let daemon = TestDaemon::start();
    assert_eq!(daemon.client().get_text("/text").await.expect("text"), "# HELP up\nup 1\n");
}

#[tokio::test]
async fn events_yields_each_payload() {
    let daemon = TestDaemon::start();
    let stream = daemon.client().events("/events").await.expect("a stream");
    let payloads: Vec<String> = stream.map(|item| item.expect("an event")).collect().await;
    assert_eq!(payloads, ["{\"seq\":1}", "first line\nsecond line"]);
}

#[tokio::test]
async fn events_on_an_error_route_is_an_api_error() {
    let daemon = TestDaemon::start();
    let err = daemon.client().events("/missing").await.err().expect("not found");
    assert_eq!(err.exit_code(), 4);
    let err = daemon.client().events("/record").await.err().expect("not a stream");
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn nothing_behind_the_socket_is_unreachable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("nobody.sock");
    let err = Client::new(&socket).get::<Health>("/v1/health").await.expect_err("nothing listens");
    assert!(matches!(&err, ClientError::Unreachable { socket: tried, .. } if tried == &socket), "{err:?}");
    assert!(err.to_string().contains(&socket.display().to_string()), "{err}");
    assert_eq!(err.exit_code(), 3);
}

#[tokio::test]
async fn the_daemon_version_is_read_off_any_answer() {
    let daemon = TestDaemon::start();
    let client = daemon.client();
    assert_eq!(client.daemon_version(), None);
    let _: Health = client.get("/v1/health").await.unwrap();
    assert_eq!(client.daemon_version(), None, "an answer without the header names no version");
    let _: Health = client.clone().get("/versioned").await.unwrap();
    assert_eq!(client.daemon_version().as_deref(), Some("9.9.9"), "clones share what they learn");
}

#[tokio::test]
async fn a_daemon_that_does_not_answer_in_time_fails_the_request() {
    let daemon = TestDaemon::start();
    let client = daemon.client().with_timeout(Duration::from_millis(100));
    let err = client.get::<Health>("/slow").await.unwrap_err();
    assert!(matches!(err, ClientError::TimedOut { .. }), "{err}");
    assert!(err.to_string().ends_with("did not answer within 100ms"), "{err}");
    assert_eq!(err.exit_code(), 1);
}
