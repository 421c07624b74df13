//! The session actor: owns one open session's record while it is in use.
//!
//! It applies each change to a copy of the record, checkpoints the copy (and the
//! events that report it) to the store, and answers only once a commit has made
//! the checkpoint durable. On watchdog ticks it closes a session whose lifetime
//! ran out and marks a quiet one idle; then it asks the supervisor to retire
//! it, so an idle session costs no actor until its next message.

use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tracing::warn;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::messages::WatchdogTick;
use crate::model::{ActorRef, EventKind, InvalidTransition, Lifecycle, NewEvent, Session, SessionState};
use crate::store::Commit;
use crate::supervisor::Supervisor;
use crate::supervisor::child::{DeathNotice, Retire, Stop};

/// The actor of one open session.
pub struct SessionActor {
    /// The record as last checkpointed: every change is saved before it is kept here.
    session: Session,
    engine: Engine,
    supervisor: Addr<Supervisor>,
    /// This incarnation, so the supervisor can tell its notices from an older one's.
    generation: u64,
    /// Tells the supervisor how this actor ended, panics included.
    notice: DeathNotice,
    /// Set once it has asked to retire, so it asks once.
    retiring: bool,
}

impl SessionActor {
    pub(crate) fn new(session: Session, engine: Engine, supervisor: Addr<Supervisor>, generation: u64) -> Self {
        let notice = DeathNotice::new(supervisor.clone().recipient(), ActorRef::Session(session.id), generation);
        Self { session, engine, supervisor, generation, notice, retiring: false }
    }

    fn actor(&self) -> ActorRef {
        ActorRef::Session(self.session.id)
    }

    /// Checkpoints `next` with `events`, keeps it, and returns the commit to wait for.
    fn save(&mut self, next: Session, now: DateTime<Utc>, events: Vec<EventKind>) -> Result<Commit, EngineError> {
        let events = events.into_iter().map(|kind| NewEvent::session(next.id, now, kind)).collect();
        self.engine.store.save_session(&next, events)?;
        self.session = next;
        Ok(self.engine.store.commit())
    }

    fn close(&mut self, now: DateTime<Utc>, reason: Option<String>) -> Result<Commit, EngineError> {
        let mut next = self.session.clone();
        let mut events = Vec::new();
        // Nothing is pending yet, so closing finishes at once.
        for to in [SessionState::Closing, SessionState::Closed] {
            let from = next.transition(to, now, reason.clone())?;
            events.push(EventKind::SessionStateChanged { from, to, reason: reason.clone() });
        }
        self.save(next, now, events)
    }

    fn go_idle(&mut self, now: DateTime<Utc>, quiet: Duration) -> Result<Commit, EngineError> {
        let mut next = self.session.clone();
        let reason = Some(format!("no activity for {quiet:?}"));
        let from = next.transition(SessionState::Idle, now, reason.clone())?;
        self.save(next, now, vec![EventKind::SessionStateChanged { from, to: SessionState::Idle, reason }])
    }

    fn retire(&mut self) {
        if !self.retiring {
            self.retiring = true;
            self.supervisor.do_send(Retire { actor: self.actor(), generation: self.generation });
        }
    }

    /// Waits for `change` to be durable, then retires; a failure is logged and
    /// the actor stays, to try again on the next tick.
    fn retire_after(&mut self, change: Result<Commit, EngineError>, ctx: &mut Context<Self>) {
        let session_id = self.session.id;
        match change {
            Ok(commit) => {
                ctx.spawn(wrap_future::<_, Self>(commit).map(move |result, act, _| match result {
                    Ok(()) => act.retire(),
                    Err(err) => warn!(%session_id, cause = %err, "watchdog change not committed"),
                }));
            }
            Err(err) => warn!(%session_id, cause = %err, "watchdog change refused"),
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;
}

/// A request the supervisor routes to a session's actor, with the answer it
/// gets when no actor runs for the session (it ended, or it is restarting).
pub(crate) trait SessionRequest: Message<Result = Result<Session, EngineError>> + Send + 'static {
    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Session, EngineError>;
}

/// Reads the session.
#[derive(Debug, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub(crate) struct Get;

impl SessionRequest for Get {
    fn without_actor(self, stored: Session, _: Option<Duration>) -> Result<Session, EngineError> {
        Ok(stored)
    }
}

impl Handler<Get> for SessionActor {
    type Result = Result<Session, EngineError>;

    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Result {
        self.engine.faults.maybe_panic(self.actor());
        Ok(self.session.clone())
    }
}

/// Records activity (a repeated open by external id), waking an idle session.
#[derive(Debug, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub(crate) struct Resume;

impl SessionRequest for Resume {
    fn without_actor(self, stored: Session, _: Option<Duration>) -> Result<Session, EngineError> {
        Ok(stored)
    }
}

impl Handler<Resume> for SessionActor {
    type Result = ResponseFuture<Result<Session, EngineError>>;

    fn handle(&mut self, _: Resume, _: &mut Context<Self>) -> Self::Result {
        self.engine.faults.maybe_panic(self.actor());
        let now = self.engine.clock.now();
        let mut next = self.session.clone();
        let events = match next.record_activity(now) {
            Some(from) => vec![EventKind::SessionStateChanged { from, to: next.state, reason: None }],
            None => Vec::new(),
        };
        let change = if next.is_open() { self.save(next, now, events) } else { Ok(self.engine.store.commit()) };
        let session = self.session.clone();
        Box::pin(async move {
            change?.await?;
            Ok(session)
        })
    }
}

/// Closes the session.
#[derive(Debug, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub(crate) struct Close {
    pub(crate) reason: Option<String>,
}

impl SessionRequest for Close {
    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Session, EngineError> {
        match restarting_in {
            Some(retry_after) => Err(EngineError::Restarting { actor: ActorRef::Session(stored.id), retry_after }),
            // No actor runs for an open session only while it restarts: this one ended.
            None => Err(EngineError::from(InvalidTransition {
                entity: SessionState::ENTITY,
                from: stored.state.to_string(),
                to: SessionState::Closing.to_string(),
            })),
        }
    }
}

impl Handler<Close> for SessionActor {
    type Result = ResponseActFuture<Self, Result<Session, EngineError>>;

    fn handle(&mut self, msg: Close, _: &mut Context<Self>) -> Self::Result {
        self.engine.faults.maybe_panic(self.actor());
        let change = self.close(self.engine.clock.now(), msg.reason);
        let session = self.session.clone();
        let reply = async move {
            change?.await?;
            Ok(session)
        };
        Box::pin(wrap_future::<_, Self>(reply).map(|result, act, _| {
            if result.is_ok() {
                act.retire();
            }
            result
        }))
    }
}

impl Handler<WatchdogTick> for SessionActor {
    type Result = ();

    fn handle(&mut self, WatchdogTick { now }: WatchdogTick, ctx: &mut Context<Self>) {
        if self.retiring || !self.session.is_open() {
            return;
        }
        let idle_after = self.engine.config.idle_after;
        if self.session.lifetime_expired(now) {
            let change = self.close(now, Some("max lifetime reached".into()));
            self.retire_after(change, ctx);
        } else if self.session.state == SessionState::Active && self.session.quiet_for(idle_after, now) {
            let change = self.go_idle(now, idle_after);
            self.retire_after(change, ctx);
        } else if self.session.state == SessionState::Idle {
            self.retire();
        }
    }
}

impl Handler<Stop> for SessionActor {
    type Result = ();

    fn handle(&mut self, Stop { exit }: Stop, ctx: &mut Context<Self>) {
        self.notice.set_exit(exit);
        ctx.stop();
    }
}
