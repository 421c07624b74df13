//! `baton serve`: the daemon. actix-web, HTTP/1.1 + JSON under `/v1`, on a
//! Unix socket, in front of the engine.
//!
//! Start-up order matters: the data-dir lock first (one daemon per data dir),
//! then the socket's lock (one data dir per socket), then the socket (a stale
//! one replaced, a live one refused), then the
//! engine, then the server. Shutdown, on SIGTERM or SIGINT, runs the other way:
//! stop accepting, end event streams, let in-flight requests finish, stop the
//! engine (which flushes the store), remove the socket, release the locks.
//!
//! # Layout
//! - `instance.rs`: the lock and the socket.
//! - `descriptors.rs`: the limit on open files, and the share connections get.
//! - `body.rs`: a request body must arrive in time.
//! - `peer.rs`: only the daemon's own user is served.
//! - `error.rs`: every error answer has one JSON shape.
//! - `routes/`: one file per resource; the OpenAPI document.
//! - `metrics.rs`: `/metrics`.

mod body;
mod descriptors;
mod error;
pub(crate) mod instance;
mod metrics;
mod peer;
pub mod routes;
mod state;

use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::info;

pub use descriptors::close_inherited;
pub use error::ApiError;
pub use instance::{InstanceLock, SocketLock, bind_socket};
pub use metrics::Metrics;
use state::AppState;

use crate::Baton;
use crate::api::VERSION_HEADER;
use crate::config::Settings;
use crate::hook::{Spool, deliver_spool};
use crate::private_dir::{self, Holds};
use descriptors::DescriptorBudget;

/// How long in-flight requests get to finish once shutdown begins.
const GRACE: Duration = Duration::from_secs(10);

/// actix-web workers: each serves its share of the connections.
const WORKERS: usize = 2;

/// Runs the daemon until SIGTERM or SIGINT; returns once it has stopped cleanly.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    private_dir::prepare(&settings.data_dir, Holds::Data)?;
    let limit = descriptors::raise_limit();
    let lock = InstanceLock::acquire(&settings.lock_file())?;
    let socket_lock = SocketLock::acquire(&settings.socket, &settings.data_dir)?;
    let listener = bind_socket(&socket_lock)?;
    listener.set_nonblocking(true)?;

    // Orphaned grandchildren of agents come to the daemon, which reaps them on
    // watchdog ticks, rather than escaping to init.
    let mut engine = settings.engine.clone();
    match baton_actors::process::become_subreaper() {
        Ok(()) => engine.agents.reap_orphans = true,
        Err(err) => tracing::warn!(cause = %err, "cannot become a child subreaper; orphans of agents go to init"),
    }
    let metrics = Arc::new(Metrics::new());
    let flushes = metrics.flush_observer();
    engine.agents.socket.get_or_insert_with(|| settings.socket.clone());
    engine.agents.daemon = baton_actors::config::DaemonPaths {
        data_dir: Some(settings.data_dir.clone()),
        config_file: settings.config_file.clone(),
    };
    let baton = Baton::builder()
        .data_dir(&settings.data_dir)
        .config(engine)
        .on_flush(move |elapsed| flushes(elapsed))
        .spawn()
        .context("cannot start the engine")?;

    let budget = DescriptorBudget::new(limit, settings.engine.agents.max_running);
    if budget.is_short() {
        tracing::warn!(
            limit = budget.limit,
            wanted_reserve = budget.wanted_reserve,
            "the limit on open files is low for the agents that may run; raise it (ulimit -n, LimitNOFILE=)"
        );
    }
    info!(limit = budget.limit, connections = budget.connections, reserve = budget.reserve, "open files shared out");

    let system = actix_web::rt::System::new();
    let served = system.block_on(serve(listener, baton.clone(), settings.clone(), metrics, budget));
    // No new connection once the server has stopped: the socket goes now.
    match std::fs::remove_file(&settings.socket) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(socket = %settings.socket.display(), cause = %err, "cannot remove the socket"),
    }
    let flushed = system.block_on(baton.shutdown()).context("the engine did not stop cleanly");
    drop(socket_lock);
    drop(lock);
    served?;
    flushed?;
    info!("baton stopped");
    Ok(())
}

async fn serve(
    listener: UnixListener,
    baton: Baton,
    settings: Settings,
    metrics: Arc<Metrics>,
    budget: DescriptorBudget,
) -> anyhow::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let body_limit = settings.body_limit;
    let socket = settings.socket.clone();
    let data_dir = settings.data_dir.clone();
    let state = web::Data::new(AppState { baton: baton.clone(), settings, started: Instant::now(), metrics, stopping });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::JsonConfig::default().limit(body_limit).error_handler(error::json_error))
            .app_data(web::PayloadConfig::default().limit(body_limit))
            .app_data(web::PathConfig::default().error_handler(error::path_error))
            .app_data(web::QueryConfig::default().error_handler(error::query_error))
            .configure(routes::configure)
            .default_service(web::to(routes::unrouted))
            .wrap(from_fn(body::read_within_deadline))
            .wrap(from_fn(peer::require_same_user))
            .wrap(DefaultHeaders::new().add((VERSION_HEADER, env!("CARGO_PKG_VERSION"))))
            .wrap(from_fn(record_request))
    })
    .on_connect(peer::on_connect)
    // A client that closes its connection drops its request: a long-poll
    // (claim, inbox) whose client is gone then claims nothing (issue 18).
    // By default actix-web reads the close as a half-close and runs the
    // handler to its end.
    .h1_allow_half_closed(false)
    .disable_signals()
    .workers(WORKERS)
    .max_connections(budget.per_worker(WORKERS))
    .shutdown_timeout(GRACE.as_secs())
    .listen_uds(listener)
    .context("cannot serve on the socket")?
    .run();

    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let reason = wait_for_signal().await;
        info!(signal = reason, "shutting down: no new connections, finishing requests in flight");
        let _ = stop.send(true);
        handle.stop(true).await;
    });
    info!(socket = %socket.display(), version = env!("CARGO_PKG_VERSION"), "baton is listening");
    actix_web::rt::spawn(deliver_spooled_hook_events(baton, data_dir));
    server.await.context("the server failed")
}

/// Delivers the hook events spooled while no daemon ran (see [`crate::hook::Spool`]).
async fn deliver_spooled_hook_events(baton: Baton, data_dir: std::path::PathBuf) {
    let spool = Spool::new(data_dir);
    match spool.is_empty() {
        Ok(true) => {}
        Ok(false) => match deliver_spool(&baton, &spool).await {
            Ok(report) => {
                info!(delivered = report.delivered, skipped = report.skipped, "spooled hook events delivered")
            }
            Err(err) => tracing::warn!(cause = %err, "spooled hook events not all delivered; the next hook retries"),
        },
        Err(err) => tracing::warn!(cause = %err, "cannot read the hook spool"),
    }
}

async fn wait_for_signal() -> &'static str {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for signals; stop the daemon with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Middleware: records each request's latency by method, route pattern and status.
async fn record_request(
    request: actix_web::dev::ServiceRequest,
    next: Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    if let Some(state) = state {
        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        let method = response.request().method().as_str().to_owned();
        state.metrics.observe_request(&method, &route, response.status().as_u16(), started.elapsed());
    }
    Ok(response)
}
