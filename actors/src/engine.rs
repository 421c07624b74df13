//! What every actor of the engine shares.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::fault::Faults;
use crate::process::Tracking;
use crate::protocol::Feeds;
use crate::store::Store;

/// The parts every actor of the engine works with: where records go, what time
/// it is, the tunables, and (in tests) the injected faults.
#[derive(Clone)]
pub struct Engine {
    /// Where records are checkpointed.
    pub store: Arc<dyn Store>,
    /// Where time comes from; tests drive it.
    pub clock: Arc<dyn Clock>,
    /// The tunables.
    pub config: Arc<EngineConfig>,
    /// Injected faults; inert unless built with `fault-injection`.
    pub faults: Faults,
    /// How agents' processes are tracked (their cgroups, or their
    /// environments), decided when the engine starts.
    pub tracking: Arc<Tracking>,
    /// The agents with a stdin pipe, by session, for sessions to feed.
    pub(crate) feeds: Feeds,
}

impl Engine {
    /// The parts of an engine; agents are tracked by their environments
    /// until [`with_tracking`](Self::with_tracking) says otherwise.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<EngineConfig>, faults: Faults) -> Self {
        Self { store, clock, config, faults, tracking: Arc::new(Tracking::Environ), feeds: Feeds::default() }
    }

    /// Tracks agents' processes the way `tracking` says.
    pub fn with_tracking(mut self, tracking: Arc<Tracking>) -> Self {
        self.tracking = tracking;
        self
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).finish_non_exhaustive()
    }
}
