//! The HTTP API's wire types, shared by the daemon and the client.
//!
//! Records (sessions, events) travel as the engine serializes them; requests
//! and the small replies that are not records have their own types here. Actor
//! messages never cross the wire. Every type derives `utoipa::ToSchema`, so the
//! OpenAPI document is generated from these definitions and cannot drift.

mod agents;
mod error;
mod handoffs;
mod integral;
mod queue;

use std::collections::BTreeMap;
use std::path::PathBuf;

use baton_actors::model::{CloseMode, HandoffStats, HandoffTarget, QueueStats};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use agents::{AgentLogs, AgentUsage, AgentView, SpawnAgentRequest, StopAgentRequest};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use handoffs::{CreateHandoffRequest, FallbackRequest, HandoffActionRequest, HandoffList, InboxContents};
pub use queue::{AckRequest, AllKeyword, ClaimRequest, NackRequest, ObserveRequest, RequeueRequest, RequeueSelection};

/// The response header that carries the daemon's package version on every
/// answer, so any command can tell a CLI and a daemon of different versions.
pub const VERSION_HEADER: &str = "baton-version";

/// The version of the wire protocol; bumped on incompatible changes.
pub const API_VERSION: u32 = 1;

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `"ok"`, or `"degraded"` while the store refuses writes (reads still answer).
    pub status: String,
    /// Why it is degraded, such as "the disk holding DIR is full ...".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/store/backup`: where the copy goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// An absolute path that does not exist yet, or an empty directory: it
    /// becomes a data dir of its own.
    #[schema(value_type = String, pattern = r"^/[^\u0000]*$")]
    pub dest: PathBuf,
}

/// `GET /v1/version`: what the daemon is, so a CLI can warn about a mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Version {
    /// The daemon's package version.
    pub version: String,
    /// The wire protocol version ([`API_VERSION`]).
    pub api: u32,
}

/// `GET /v1/status`: what a person wants to know first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The daemon's package version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// How long the daemon has run, in milliseconds.
    pub uptime_ms: u64,
    /// Where its data lives.
    #[schema(value_type = String)]
    pub data_dir: PathBuf,
    /// Where it listens.
    #[schema(value_type = String)]
    pub socket: PathBuf,
    /// How many sessions are in each state.
    pub sessions: BTreeMap<String, usize>,
    /// How many agents are in each state.
    #[serde(default)]
    pub agents: BTreeMap<String, usize>,
    /// The observation queues of all sessions together.
    pub queue: QueueStats,
    /// The handoffs of all sessions together: counts by state (every state,
    /// zeros included), acknowledgement rate, time to acknowledge and to complete.
    #[serde(default)]
    pub handoffs: HandoffStats,
    /// How many stored records could not be decoded and were skipped since the
    /// daemon started (each is in the daemon's log with its key).
    #[serde(default)]
    pub corrupt_records: u64,
    /// How every process of an agent is found, to stop it whole: `cgroup v2
    /// at DIR`, or `subreaper + BATON_AGENT_ID`.
    #[serde(default)]
    pub agent_tracking: String,
}

/// `POST /v1/sessions`: open a session (idempotent by `external_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSessionRequest {
    /// A name for people.
    #[serde(default)]
    pub name: Option<String>,
    /// The id another system knows the session by, such as Claude Code's `session_id`.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The directory the session works in.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub cwd: Option<PathBuf>,
    /// Free-form labels.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// Close the session after this many milliseconds, whatever it is doing.
    #[serde(default, deserialize_with = "crate::api::integral::integral")]
    #[schema(minimum = 1, maximum = 315360000000.0)]
    pub max_lifetime_ms: Option<u64>,
    /// Where the open handoffs of an agent that stops for good go: an agent
    /// or a role (`{"kind": "role", "value": "reviewer"}`); without one, they
    /// go back to be routed anew.
    #[serde(default)]
    pub fallback: Option<HandoffTarget>,
}

/// `POST /v1/sessions/{id}/close`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseSessionRequest {
    /// Why, kept in the record.
    #[serde(default)]
    pub reason: Option<String>,
    /// What happens to observations still queued: `drain` (the default) keeps
    /// the session `closing` until they are acked; `discard` drops them.
    #[serde(default)]
    pub mode: CloseMode,
}
