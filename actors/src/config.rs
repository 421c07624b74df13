//! The engine's tunables, with the defaults a daemon runs with.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::duration_ms;
use crate::queue::QueueConfig;
use crate::restart::RestartStrategy;

/// How the engine behaves over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EngineConfig {
    /// How often crashed session actors may restart, and the backoff between restarts.
    pub session_restart: RestartStrategy,
    /// How often the supervisor delivers a watchdog tick to every running child.
    #[serde(with = "duration_ms")]
    pub watchdog_interval: Duration,
    /// A session with no activity for this long is marked idle and its actor
    /// stopped; its record stays and the next message wakes it.
    #[serde(with = "duration_ms")]
    pub idle_after: Duration,
    /// How many events the store keeps for watchers that fell behind; older ones
    /// are trimmed on watchdog ticks.
    pub event_retention: usize,
    /// The observation queues' limits.
    pub queue: QueueConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            session_restart: RestartStrategy::default(),
            watchdog_interval: Duration::from_secs(1),
            idle_after: Duration::from_secs(15 * 60),
            event_retention: 100_000,
            queue: QueueConfig::default(),
        }
    }
}
