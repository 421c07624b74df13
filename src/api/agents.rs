//! Wire types of the agent routes.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use baton_actors::model::{AdoptPolicy, Agent, RestartPolicy, SessionId, ShutdownPolicy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/agents`: start an agent process in a session.
///
/// Its `Debug` hides the values of its environment variables.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnAgentRequest {
    /// The session it works for.
    #[schema(value_type = String, format = Uuid)]
    pub session: SessionId,
    /// The command and its arguments, run directly (never through a shell).
    /// Empty, with a `role`: the role's template (`[engine.agents.roles.<role>]`
    /// in the daemon's config) says what to run.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Its role in the session, for routing handoffs.
    #[serde(default)]
    #[schema(pattern = "\\S")]
    pub role: Option<String>,
    /// The directory it runs in. When absent: its role template's, else its
    /// session's, else `caller_cwd`, else the daemon's.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<PathBuf>,
    /// The directory the caller runs in (the CLI sends its own): where the
    /// agent runs when neither `cwd`, its role's template nor its session names one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub caller_cwd: Option<PathBuf>,
    /// Environment variables set for it, on top of the allow-listed ones.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// When it is run again after it ends: `never` (the default),
    /// `on-failure` or `always`.
    #[serde(default)]
    pub restart: Option<RestartPolicy>,
    /// The most restarts within the restart window before it is `failed`.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 0, maximum = 4294967295.0)]
    pub max_restarts: Option<u32>,
    /// Stop it after it has run this many milliseconds.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 31536000000.0)]
    pub max_runtime_ms: Option<u64>,
    /// Stop it after this many milliseconds without output.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 31536000000.0)]
    pub stale_after_ms: Option<u64>,
    /// Stop it when its processes together use more memory than this (RSS bytes).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 1125899906842624.0)]
    pub max_rss_bytes: Option<u64>,
    /// Stop it when its processes together used this much CPU time, in milliseconds.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 31536000000.0)]
    pub max_cpu_time_ms: Option<u64>,
    /// Give it a stdin pipe on which its handoffs and its session's new
    /// observations arrive as JSON lines (it ends when the daemon stops).
    #[serde(default)]
    pub stdin_pipe: bool,
    /// How much it matters when the agents' memory budget is exceeded: the
    /// lowest priority is stopped first (default 0).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = -2147483648.0, maximum = 2147483647)]
    pub priority: Option<i32>,
    /// What a clean shutdown of the daemon does with it: `keep` it running
    /// (the default; the next daemon adopts it) or `stop` it.
    #[serde(default)]
    pub on_shutdown: Option<ShutdownPolicy>,
    /// What a restarted daemon does with it when it finds it running: `adopt`
    /// it (the default) or `restart` it afresh.
    #[serde(default)]
    pub on_adopt: Option<AdoptPolicy>,
}

impl fmt::Debug for SpawnAgentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnAgentRequest")
            .field("session", &self.session)
            .field("argv", &self.argv)
            .field("role", &self.role)
            .field("cwd", &self.cwd)
            .field("caller_cwd", &self.caller_cwd)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("restart", &self.restart)
            .field("max_restarts", &self.max_restarts)
            .field("max_runtime_ms", &self.max_runtime_ms)
            .field("stale_after_ms", &self.stale_after_ms)
            .field("max_rss_bytes", &self.max_rss_bytes)
            .field("max_cpu_time_ms", &self.max_cpu_time_ms)
            .field("stdin_pipe", &self.stdin_pipe)
            .field("priority", &self.priority)
            .field("on_shutdown", &self.on_shutdown)
            .field("on_adopt", &self.on_adopt)
            .finish()
    }
}

/// `POST /v1/agents/{id}/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopAgentRequest {
    /// How long it has after SIGTERM before SIGKILL, in milliseconds (the
    /// daemon's default when absent).
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 0, maximum = 3600000)]
    pub grace_ms: Option<u64>,
}

/// An agent as the API shows it: its record, and what its process is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// The durable record.
    #[schema(value_type = Object)]
    pub agent: Agent,
    /// What its processes use now; absent when it is not running or cannot be
    /// measured, and in the answers of spawn, stop and restart, which do not
    /// wait for a scan of `/proc` (list and show measure).
    #[serde(default)]
    pub usage: Option<AgentUsage>,
    /// How long its current run has lasted, in milliseconds; absent when it is not running.
    #[serde(default)]
    pub uptime_ms: Option<u64>,
    /// The last lines of its stdout, oldest first.
    #[serde(default)]
    pub stdout_tail: Vec<String>,
    /// The last lines of its stderr, oldest first.
    #[serde(default)]
    pub stderr_tail: Vec<String>,
    /// Where its output goes, so a client on the same machine can follow it.
    pub logs: AgentLogs,
}

/// What an agent's process session uses, measured when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentUsage {
    /// Resident memory of all its processes, in bytes.
    pub rss_bytes: u64,
    /// CPU time all its live processes have used, in milliseconds.
    pub cpu_time_ms: u64,
    /// How many processes it has.
    pub processes: usize,
}

/// An agent's log files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentLogs {
    /// Its stdout.
    #[schema(value_type = String)]
    pub stdout: PathBuf,
    /// Its stderr.
    #[schema(value_type = String)]
    pub stderr: PathBuf,
}
