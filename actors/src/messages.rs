//! The engine's public messages: one type per intent, each with its reply.
//!
//! They are sent to the [`Supervisor`](crate::Supervisor), which routes each to
//! the child that owns the record. They stay inside the engine: the HTTP API
//! has wire types of its own.

use actix::Message;
use chrono::{DateTime, Utc};

use crate::error::EngineError;
use crate::model::{OpenSession, Session, SessionId, SessionState};

/// Opens a session, or returns the open one with the same external id (and
/// records activity on it).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct Open(pub OpenSession);

/// Reads one session.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct GetSession(pub SessionId);

/// Lists sessions, oldest first.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<Vec<Session>, EngineError>")]
pub struct ListSessions {
    /// Only sessions in this state, when set.
    pub state: Option<SessionState>,
}

/// Closes a session.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub struct CloseSession {
    /// Which session.
    pub id: SessionId,
    /// Why, kept in the record and the event.
    pub reason: Option<String>,
}

/// A watchdog tick: time-driven checks (idle reaping, lifetimes, event
/// retention) run when one arrives. The supervisor sends itself one every
/// `watchdog_interval` of its clock and passes it on to its children.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct WatchdogTick {
    /// The time of the tick, from the engine's clock.
    pub now: DateTime<Utc>,
}

/// Stops every child, makes every write durable and stops the supervisor.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), EngineError>")]
pub struct Shutdown;
