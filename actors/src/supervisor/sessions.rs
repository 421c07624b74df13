//! The supervisor's session children: starting a session's actor, delivering
//! requests to it whatever state it is in, its crashes, restarts and giving up,
//! its retirement, and the removal of ended sessions past their retention.
//! (The agent side is `agents.rs`; the session requests it serves are
//! `session_requests.rs`.)

use std::pin::pin;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::future::{Either, select};
use tracing::{debug, error, info, warn};

use super::{Reply, Supervisor, ready};
use crate::clock::to_chrono;
use crate::error::EngineError;
use crate::model::{ActorRef, EventKind, NewEvent, Session, SessionId, SessionState};
use crate::session_actor::{SessionActor, SessionRequest};
use crate::store::Commit;
use crate::supervision::{CrashDecision, CrashHistory};

/// The most ended sessions removed on one tick, as with agents
/// (`agents.rs`).
const SESSIONS_TRIMMED_PER_TICK: usize = 256;
/// What the supervisor knows of one session's actor.
pub(super) struct SessionChild {
    pub(super) generation: u64,
    pub(super) slot: Slot,
    /// Recent crashes, for the restart intensity limit.
    pub(super) history: CrashHistory,
}

pub(super) enum Slot {
    /// The actor runs and takes requests.
    Running(Addr<SessionActor>),
    /// The actor was told to stop; requests wait here until it has, then are
    /// delivered afresh (to a new actor, or answered from the record).
    Retiring { held: Vec<HeldRequest> },
    /// The actor crashed and restarts at `at`.
    Restarting { at: DateTime<Utc> },
}

/// A request held for delivery once a retiring actor is gone.
pub(super) type HeldRequest = Box<dyn FnOnce(&mut Supervisor, &mut Context<Supervisor>)>;

impl Supervisor {
    pub(super) fn start_session(&mut self, session: Session, ctx: &mut Context<Self>) -> Addr<SessionActor> {
        self.next_generation += 1;
        let generation = self.next_generation;
        let id = session.id;
        let addr = SessionActor::new(session, self.engine.clone(), ctx.address(), generation).start();
        let slot = Slot::Running(addr.clone());
        match self.sessions.get_mut(&id) {
            Some(child) => {
                child.generation = generation;
                child.slot = slot;
            }
            None => {
                self.sessions.insert(id, SessionChild { generation, slot, history: CrashHistory::default() });
            }
        }
        self.expiries.remove(&id);
        addr
    }

    /// Routes `request` to session `id`'s actor, as the module doc describes.
    pub(super) fn deliver<R>(&mut self, id: SessionId, request: R, ctx: &mut Context<Self>) -> Reply<R::Output>
    where
        R: SessionRequest + Message<Result = Result<<R as SessionRequest>::Output, EngineError>>,
        SessionActor: Handler<R>,
    {
        if self.shutting_down {
            return ready(Err(EngineError::ShuttingDown));
        }
        let now = self.engine.clock.now();
        match self.sessions.get_mut(&id).map(|child| &mut child.slot) {
            Some(Slot::Running(addr)) => forward(addr.clone(), request, id),
            Some(Slot::Retiring { held }) => {
                let (answer, answered) = tokio::sync::oneshot::channel();
                held.push(Box::new(move |supervisor, ctx| {
                    let reply = supervisor.deliver(id, request, ctx);
                    ctx.spawn(wrap_future(async move {
                        let mut answer = answer;
                        // A caller that hung up meanwhile waits for nothing (a parked claim included).
                        let reply = match select(reply, pin!(answer.closed())).await {
                            Either::Left((reply, _)) => reply,
                            Either::Right(((), _)) => return,
                        };
                        let _ = answer.send(reply);
                    }));
                }));
                Box::pin(async move { answered.await.unwrap_or(Err(EngineError::ShuttingDown)) })
            }
            Some(Slot::Restarting { at }) => {
                let retry_after = (*at - now).to_std().unwrap_or(Duration::ZERO);
                ready(self.stored(id).and_then(|stored| request.without_actor(stored, Some(retry_after))))
            }
            None => match self.stored(id) {
                Ok(stored) if stored.is_open() => {
                    debug!(session_id = %id, "waking session");
                    forward(self.start_session(stored, ctx), request, id)
                }
                Ok(stored) => ready(request.without_actor(stored, None)),
                Err(err) => ready(Err(err)),
            },
        }
    }

    pub(super) fn stored(&self, id: SessionId) -> Result<Session, EngineError> {
        self.engine.store.session(id)?.ok_or(EngineError::SessionNotFound(id))
    }

    pub(super) fn session_crashed(&mut self, id: SessionId, ctx: &mut Context<Self>) {
        let now = self.engine.clock.now();
        let strategy = self.engine.config.session_restart;
        let Some(child) = self.sessions.get_mut(&id) else { return };
        let held = match std::mem::replace(&mut child.slot, Slot::Restarting { at: now }) {
            Slot::Retiring { held } => held,
            Slot::Running(_) | Slot::Restarting { .. } => Vec::new(),
        };
        match child.history.record_crash(now, &strategy) {
            CrashDecision::Restart { attempt, after } => {
                warn!(session_id = %id, attempt, backoff = ?after, "session actor crashed; restarting it from its checkpoint");
                child.slot = Slot::Restarting { at: now + to_chrono(after) };
                let generation = child.generation;
                ctx.spawn(
                    wrap_future::<_, Self>(self.engine.clock.sleep(after))
                        .map(move |(), act, ctx| act.restart_session(id, generation, after, ctx)),
                );
            }
            CrashDecision::GiveUp { reason } => {
                self.sessions.remove(&id);
                self.fail_session(id, reason, ctx);
            }
        }
        for request in held {
            request(self, ctx);
        }
    }

    pub(super) fn restart_session(
        &mut self,
        id: SessionId,
        generation: u64,
        backoff: Duration,
        ctx: &mut Context<Self>,
    ) {
        let waiting = self
            .sessions
            .get(&id)
            .is_some_and(|child| child.generation == generation && matches!(child.slot, Slot::Restarting { .. }));
        if !waiting {
            return;
        }
        let mut session = match self.engine.store.session(id) {
            Ok(Some(session)) if session.is_open() => session,
            Ok(_) => {
                self.sessions.remove(&id);
                return;
            }
            Err(err) => {
                error!(session_id = %id, cause = %err, "cannot read the checkpoint of a crashed session");
                self.session_crashed(id, ctx);
                return;
            }
        };
        session.restarts += 1;
        let event = EventKind::ActorRestarted {
            actor: ActorRef::Session(id),
            restarts: session.restarts,
            backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        };
        let now = self.engine.clock.now();
        match self.engine.store.save_session(&session, vec![NewEvent::session(id, now, event)]) {
            Ok(_) => commit_in_background(self.engine.store.commit(), id, ctx),
            Err(err) => warn!(session_id = %id, cause = %err, "restart not recorded"),
        }
        info!(session_id = %id, restarts = session.restarts, "session actor restarted from its checkpoint");
        self.start_session(session, ctx);
    }

    pub(super) fn fail_session(&mut self, id: SessionId, reason: String, ctx: &mut Context<Self>) {
        error!(session_id = %id, %reason, "gave up restarting the session actor; marking the session failed");
        let now = self.engine.clock.now();
        let mut session = match self.stored(id) {
            Ok(session) => session,
            Err(err) => return error!(session_id = %id, cause = %err, "cannot mark the session failed"),
        };
        let Ok(from) = session.transition(SessionState::Failed, now, Some(reason.clone())) else { return };
        let events = vec![
            NewEvent::session(id, now, EventKind::ActorFailed { actor: ActorRef::Session(id), reason: reason.clone() }),
            NewEvent::session(
                id,
                now,
                EventKind::SessionStateChanged { from, to: SessionState::Failed, reason: Some(reason) },
            ),
        ];
        match self.engine.store.save_session(&session, events) {
            Ok(_) => commit_in_background(self.engine.store.commit(), id, ctx),
            Err(err) => error!(session_id = %id, cause = %err, "cannot mark the session failed"),
        }
    }

    pub(super) fn retired(&mut self, id: SessionId, held: Vec<HeldRequest>, ctx: &mut Context<Self>) {
        match self.engine.store.session(id) {
            // Activity arrived while it was retiring: it is wanted again.
            Ok(Some(session)) if session.state == SessionState::Active => {
                self.start_session(session, ctx);
            }
            Ok(Some(session)) if session.is_open() => {
                if let Some(max) = session.max_lifetime {
                    self.expiries.insert(id, session.created_at + to_chrono(max));
                }
            }
            Ok(_) => {}
            Err(err) => warn!(session_id = %id, cause = %err, "cannot read a retired session"),
        }
        for request in held {
            request(self, ctx);
        }
    }
}

pub(super) fn forward<R>(addr: Addr<SessionActor>, request: R, id: SessionId) -> Reply<R::Output>
where
    R: SessionRequest + Message<Result = Result<<R as SessionRequest>::Output, EngineError>>,
    SessionActor: Handler<R>,
{
    // Enqueue now, inside the supervisor's handler, not when the reply is first
    // polled: a `Stop` the supervisor sends later must find this request ahead of
    // it. (A fresh clone of the address is never parked, so `send` always
    // enqueues at once.)
    let reply = addr.clone().send(request);
    Box::pin(async move { reply.await.unwrap_or(Err(EngineError::ActorCrashed { actor: ActorRef::Session(id) })) })
}

pub(super) fn commit_in_background(commit: Commit, id: SessionId, ctx: &mut Context<Supervisor>) {
    ctx.spawn(wrap_future(async move {
        if let Err(err) = commit.await {
            warn!(session_id = %id, cause = %err, "supervisor change not committed");
        }
    }));
}

impl Supervisor {
    /// Removes the oldest ended sessions past the retention, with their
    /// queues and handoffs, a bounded number a tick.
    pub(super) fn trim_sessions(&mut self) {
        let keep = self.engine.config.session_retention;
        match self.engine.store.trim_sessions(keep, SESSIONS_TRIMMED_PER_TICK) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => debug!(removed = removed.len(), keep, "removed the oldest ended sessions"),
            Err(err) => warn!(cause = %err, "cannot trim old sessions"),
        }
    }
}
