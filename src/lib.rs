#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`Baton`] and [`BatonBuilder`] (`handle.rs`): the library facade.
//! - [`EventStream`] (`events.rs`): a gapless stream of durable events.
//! - The agent methods of [`Baton`] (`agents.rs`): spawn, watch, stop, restart agents.
//! - The handoff methods of [`Baton`] (`handoffs.rs`): create, route, move along, inboxes.
//! - [`Claim`] and the queue methods of [`Baton`] (`queue.rs`): the observation queue.
//! - The store methods of [`Baton`] (`store.rs`): check, back up, set a damaged store aside.
//! - [`Error`] (`error.rs`): what the facade's calls fail with.
//! - `paths.rs`: default locations; `lock_file.rs`: opening the files `flock`s are taken on;
//!   `private_dir.rs`: the data and socket directories, private when baton makes them.
//! - `cli/`: the `baton` command, one file per verb.
//! - [`hook`]: the Claude Code hook adapter: reading hook events, the
//!   fail-open spool, installing the hook in Claude Code's settings.
//! - The engine itself (actors, store, model) is the `baton-actors` crate,
//!   re-exported here as [`engine`].

mod agents;
pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
mod error;
mod events;
mod handle;
mod handoffs;
pub mod hook;
mod lock_file;
mod paths;
mod private_dir;
mod queue;
mod store;

pub use baton_actors as engine;
#[cfg(feature = "fault-injection")]
pub use baton_actors::Faults;
pub use baton_actors::model::{
    AckReport, ActorRef, AdoptPolicy, Agent, AgentId, AgentLimits, AgentState, CloseMode, Enqueued, Event, EventKind,
    EventType, ExitStatus, Handoff, HandoffId, HandoffState, HandoffStats, HandoffStep, HandoffTarget, InvalidPayload,
    Latency, MAX_PAYLOAD_DEPTH, NewObservation, Observation, ObservationKind, ObservationState, OpenSession,
    QueueStats, RestartPolicy, RestartSchedule, Session, SessionId, SessionState, ShutdownPolicy,
};
pub use baton_actors::requests::{
    CreateHandoff, HandoffAction, Inbox, InboxClaim, InboxItems, ListHandoffs, Selection, SpawnAgent, UpdateHandoff,
};
pub use baton_actors::{
    AgentConfig, Backoff, Clock, CommitMode, EngineConfig, HandoffTransfer, ManualClock, QueueConfig, RestartIntensity,
    RoleTemplate, SupervisionStrategy, SystemClock,
};
pub use error::{ConfigError, EngineError, Error, Result, StoreError};
pub use events::EventStream;
pub use handle::{Baton, BatonBuilder};
pub use paths::default_data_dir;
pub use queue::Claim;
pub use store::{CommitRecord, StoreCheck, set_store_aside};
