//! The domain model: the records baton keeps and the lifecycles they follow.
//!
//! Records are plain serde structs, stored as JSON in sled. Their states are
//! enums with explicit transition functions ([`Lifecycle`]), so an invalid change
//! is refused with a typed error before anything is written.

pub mod agent;
pub mod bounds;
pub mod duration_ms;
pub mod event;
pub mod handoff;
pub mod handoff_stats;
mod ids;
mod lifecycle;
pub mod observation;
pub mod payload;
pub mod queue_stats;
pub mod session;

pub use agent::{AdoptPolicy, ExitStatus, RestartPolicy, ShutdownPolicy, UnknownRestartPolicy};
pub use agent::{Agent, AgentLimits, AgentSpec, AgentState, RestartSchedule};
pub use event::{ActorRef, Event, EventKind, EventType, NewEvent};
pub use handoff::{Deadline, Handoff, HandoffState, HandoffStep, HandoffTarget};
pub use handoff_stats::{HandoffStats, HandoffSummary, Latency};
pub use ids::{AgentId, HandoffId, SessionId};
#[cfg(test)]
pub(crate) use lifecycle::assert_edges;
pub(crate) use lifecycle::state_names;
pub use lifecycle::{InvalidTransition, Lifecycle, UnknownState};
pub use observation::NewObservation;
pub use observation::{JsonSize, Lease, UnknownObservationKind};
pub use observation::{Observation, ObservationKind, ObservationState, PendingObservation};
pub use payload::{InvalidPayload, MAX_PAYLOAD_DEPTH};
pub use queue_stats::{AckReport, Enqueued, QueueStats};
pub use session::{CloseMode, OpenSession, Session, SessionState};
