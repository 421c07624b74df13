//! The engine's tunables, with the defaults a daemon runs with, and their
//! ranges (`config/validate.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::duration_ms;
use crate::process::TrackingMode;
use crate::queue_index::QueueConfig;
use crate::supervision::{Backoff, SupervisionStrategy};

mod validate;

pub use validate::{ConfigError, MAX_WATCHDOG_INTERVAL, MIN_LOG_MAX_BYTES, MIN_WATCHDOG_INTERVAL};

/// Where the daemon that runs the agents keeps its data and reads its config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonPaths {
    /// Its data dir.
    pub data_dir: Option<PathBuf>,
    /// Its config file, when it read one.
    pub config_file: Option<PathBuf>,
}

/// The store's cache unless configured: 32 MiB.
pub const DEFAULT_STORE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// How the engine behaves over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EngineConfig {
    /// How often crashed session actors may restart, and the backoff between restarts.
    pub session_restart: SupervisionStrategy,
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
    /// How many ended handoffs (completed, failed, cancelled, timed out) the
    /// store keeps, for their history and the metrics; the oldest beyond it
    /// are removed on watchdog ticks. Open ones are always kept.
    pub handoff_retention: usize,
    /// How a handoff goes on when the agent holding it ends: how long it
    /// waits before it is routed again, and how many agents it may lose.
    pub handoff_transfer: HandoffTransfer,
    /// How many ended agents (exited, failed, timed out, stopped) the store
    /// keeps, with their log files; the oldest beyond it are removed on
    /// watchdog ticks, a few hundred a tick. Agents whose run is not over are
    /// always kept.
    pub agent_retention: usize,
    /// How many ended sessions (closed, failed) the store keeps, each with
    /// its queue's kept observations and its handoffs; the oldest beyond it
    /// are removed on watchdog ticks, a few hundred a tick. Open sessions,
    /// and ended ones with a handoff still open, are always kept.
    pub session_retention: usize,
    /// How many bytes of the store's pages sled keeps in memory. sled's own
    /// default is 1 GiB, and a daemon under steady load grew toward it
    /// without levelling off; past this, pages are read again from the disk.
    pub store_cache_bytes: u64,
    /// How many bytes writes leave free on the disk that holds the store:
    /// below it, new writes are refused ("the disk holding DIR is full") and
    /// go through again once space returns, so the store never runs the disk
    /// full (sled fails every later write once one has failed). 0 turns it off.
    pub store_reserve_bytes: u64,
    /// The observation queues' limits.
    pub queue: QueueConfig,
    /// How agents are run.
    pub agents: AgentConfig,
}

/// How a handoff is handed on when the agent holding it ends for good.
///
/// A role whose agents exit at once (a command that fails on start) once
/// had one handoff spawn hundreds of agents in a second, each routed the
/// handoff and gone a few milliseconds later (issue 18). Transfers now back
/// off as restarts do, and are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct HandoffTransfer {
    /// How many agents it may be routed to that end while holding it: when
    /// that many have, it fails, with the reason, instead of being routed again.
    pub max_attempts: u32,
    /// The wait before it is routed again after each transfer: the first at
    /// once, then growing, on the engine's clock.
    pub backoff: Backoff,
}

impl Default for HandoffTransfer {
    /// 5 attempts; 100 ms, doubling, at most 5 s.
    fn default() -> Self {
        Self { max_attempts: 5, backoff: Backoff::default() }
    }
}

impl HandoffTransfer {
    /// A limit of `max_attempts` with the default backoff.
    pub fn new(max_attempts: u32) -> Self {
        Self { max_attempts, ..Self::default() }
    }
}

/// How the engine runs agents' processes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AgentConfig {
    /// The most agents running at once; spawns beyond it wait, queued, in order.
    pub max_running: usize,
    /// The most agents of one session running at once.
    pub max_running_per_session: usize,
    /// Where agents' log files go; the library handle sets `<data dir>/agents`
    /// when none is given.
    pub logs_dir: Option<PathBuf>,
    /// The socket agents are told about in `BATON_SOCKET` (empty when none).
    pub socket: Option<PathBuf>,
    /// The data dir and config file agents are told about in `BATON_DATA_DIR`
    /// and `BATON_CONFIG`, so that a `baton` an agent runs names this daemon
    /// completely: should it find the socket gone, it starts this same daemon
    /// again, never one on the default data dir (set by the daemon).
    #[serde(skip)]
    pub daemon: DaemonPaths,
    /// A log file past this size is rotated on the next watchdog tick.
    pub log_max_bytes: u64,
    /// How many rotated copies of a log file are kept.
    pub log_keep: usize,
    /// How long a stop waits after SIGTERM before SIGKILL, unless told otherwise.
    #[serde(with = "duration_ms")]
    pub stop_grace: Duration,
    /// How often a crashed agent actor may restart (its process keeps running).
    pub actor_restart: SupervisionStrategy,
    /// Whether watchdog ticks reap orphaned zombie children of this process.
    /// Only for a process that made itself a subreaper for its agents (the
    /// daemon does): in a library host, other children are the host's own.
    pub reap_orphans: bool,
    /// How every process of an agent is found, to stop it whole: a cgroup v2
    /// per agent where one can be made (`auto`, the default, or `cgroup`,
    /// which insists), else, or with `environ`, by the agent's id in their
    /// environments.
    pub tracking: TrackingMode,
    /// The environment agents inherit allow-listed variables from; the
    /// supervisor's own when none. Tests set it so as not to touch their own.
    #[serde(skip)]
    pub env_source: Option<BTreeMap<String, String>>,
    /// The most resident memory, in bytes, all running agents may use
    /// together. Past it, on a watchdog tick, the lowest-priority agents
    /// (the youngest first among equals) are stopped until the rest fit,
    /// each with the reason. None: no budget.
    pub memory_budget_bytes: Option<u64>,
    /// Named agent templates: `baton spawn --role R` without a command runs
    /// role R's, and a handoff to a role with no free agent spawns one from it.
    pub roles: BTreeMap<String, RoleTemplate>,
}

/// A role's template: how to run an agent of that role, the same
/// [`AgentSpec`](crate::model::AgentSpec) every agent's record holds (its
/// program is `command` here, `argv` in a record).
///
/// In the config file, under `[engine.agents.roles.<name>]`:
/// ```toml
/// [engine.agents.roles.reviewer]
/// command = ["claude", "-p", "review the diff"]
/// restart = "on-failure"
/// env = { REVIEW_DEPTH = "2" }
/// limits = { max_runtime = 600000 }
/// ```
///
/// Its `Debug` shows the names of its variables, not their values.
pub type RoleTemplate = crate::model::AgentSpec;

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            max_running: 64,
            max_running_per_session: 16,
            logs_dir: None,
            socket: None,
            daemon: DaemonPaths::default(),
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 3,
            stop_grace: Duration::from_secs(10),
            actor_restart: SupervisionStrategy::default(),
            reap_orphans: false,
            tracking: TrackingMode::Auto,
            env_source: None,
            memory_budget_bytes: None,
            roles: BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `env_source` holds values that may be secrets: its names only.
        f.debug_struct("AgentConfig")
            .field("max_running", &self.max_running)
            .field("max_running_per_session", &self.max_running_per_session)
            .field("logs_dir", &self.logs_dir)
            .field("socket", &self.socket)
            .field("log_max_bytes", &self.log_max_bytes)
            .field("log_keep", &self.log_keep)
            .field("stop_grace", &self.stop_grace)
            .field("actor_restart", &self.actor_restart)
            .field("reap_orphans", &self.reap_orphans)
            .field("tracking", &self.tracking)
            .field("env_source", &self.env_source.as_ref().map(|env| env.keys().collect::<Vec<_>>()))
            .field("memory_budget_bytes", &self.memory_budget_bytes)
            .field("roles", &self.roles.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            session_restart: SupervisionStrategy::default(),
            watchdog_interval: Duration::from_secs(1),
            idle_after: Duration::from_secs(15 * 60),
            event_retention: 100_000,
            handoff_retention: 100_000,
            handoff_transfer: HandoffTransfer::default(),
            agent_retention: 10_000,
            session_retention: 1_000,
            store_cache_bytes: DEFAULT_STORE_CACHE_BYTES,
            store_reserve_bytes: crate::store::DEFAULT_RESERVE_BYTES,
            queue: QueueConfig::default(),
            agents: AgentConfig::default(),
        }
    }
}
