//! What every request handler shares.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::metrics::Metrics;
use crate::Baton;
use crate::config::Settings;

/// The daemon's shared state, handed to handlers as `web::Data<AppState>`.
#[derive(Debug)]
pub struct AppState {
    /// The engine.
    pub baton: Baton,
    /// The settings in force, for `status` and `doctor`.
    pub settings: Settings,
    /// When the daemon started, for its uptime.
    pub started: Instant,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Flips to `true` when the daemon begins to shut down, so long-lived
    /// answers (event streams) end and graceful shutdown is not held up.
    pub stopping: watch::Receiver<bool>,
}
