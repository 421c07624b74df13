//! baton's engine: the supervisor, the session and agent actors, their typed
//! messages, restart strategies, the watchdog clock, the domain model and the
//! durable store.
//!
//! It knows nothing of HTTP or the command line: the `baton` crate wraps it in
//! a library handle, a daemon and a CLI.
//!
//! # Layout
//! - [`model`]: the records (Session, Agent, Observation, Handoff, Event) and
//!   their lifecycles.
//! - [`store`]: the [`Store`] trait and [`SledStore`], with group commit.
//! - [`Supervisor`] (`supervisor/`): owns the children, routes requests,
//!   restarts crashed children from their checkpoints.
//! - `session_actor/`: the actor of one open session, and its observation queue.
//! - `agent_actor/`: the actor of one agent: its process's runs, restart
//!   policy, watchdog limits and stop; adoption of a live process.
//! - `queue`: the index of a session's queue and the rules it follows.
//! - [`process`]: the OS side of an agent (Linux): spawning it in its own
//!   session, its environment, its identity, usage, stopping, orphan reaping
//!   and log files.
//! - [`messages`]: what callers send to the supervisor.
//! - `awaited`: replies dropped once their caller hangs up (long-polls).
//! - [`restart`]: restart intensity and backoff.
//! - [`clock`]: time, real or driven by a test.
//! - [`fault`]: fault injection for tests (feature `fault-injection`).

mod agent_actor;
mod awaited;
pub mod clock;
pub mod config;
mod engine;
pub mod error;
pub mod fault;
pub mod messages;
pub mod model;
pub mod process;
mod protocol;
mod queue_index;
pub mod requests;
mod session_actor;
pub mod store;
pub mod supervision;
mod supervisor;

pub use agent_actor::AgentActor;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AgentConfig, EngineConfig, HandoffTransfer, RoleTemplate};
pub use engine::Engine;
pub use error::{EngineError, StoreError};
pub use fault::Faults;
pub use queue_index::QueueConfig;
pub use session_actor::SessionActor;
pub use store::{CommitMode, SledStore, Store, StoreOptions};
pub use supervision::{Backoff, RestartIntensity, SupervisionStrategy};
pub use supervisor::Supervisor;
