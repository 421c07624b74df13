//! The supervisor's session children: starting a session's actor, delivering
//! requests to it whatever state it is in, what its restarts and giving up
//! write (the rest of its supervision is `children.rs`), its retirement, and
//! the removal of ended sessions past their retention. (The agent side is
//! `agents.rs`; the session requests it serves are `session_requests.rs`.)

use std::collections::HashMap;
use std::pin::pin;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use futures_util::future::{Either, select};
use tracing::{debug, error, info, warn};

use super::children::{Child, ChildKind, HeldRequest, Slot, commit_in_background, retry_after};
use super::{Reply, Supervisor, ready};
use crate::clock::to_chrono;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::model::{ActorRef, EventKind, NewEvent, Session, SessionId, SessionState};
use crate::protocol::Exit;
use crate::protocol::Parent;
use crate::session_actor::{SessionActor, SessionRequest};
use crate::supervision::SupervisionStrategy;

/// The most ended sessions removed on one tick, as with agents
/// (`agents.rs`).
const SESSIONS_TRIMMED_PER_TICK: usize = 256;
/// A session's child: no more than its actor.
pub(super) type SessionChild = Child<SessionActor, ()>;

/// The session side of supervision.
pub(super) struct SessionKind;

impl ChildKind for SessionKind {
    type Id = SessionId;
    type Actor = SessionActor;
    type Meta = ();

    fn children(supervisor: &mut Supervisor) -> &mut HashMap<SessionId, SessionChild> {
        &mut supervisor.sessions
    }

    fn actor_ref(id: SessionId) -> ActorRef {
        ActorRef::Session(id)
    }

    fn strategy(engine: &Engine) -> &SupervisionStrategy {
        &engine.config.session_restart
    }

    /// Restarts the actor of a session still open, counting the restart in
    /// its record; an ended one needs no actor.
    fn rebuild(
        supervisor: &mut Supervisor,
        id: SessionId,
        _: u32,
        backoff: Duration,
        ctx: &mut Context<Supervisor>,
    ) -> Result<(), EngineError> {
        let mut session = match supervisor.engine.store.session(id)? {
            Some(session) if session.is_open() => session,
            _ => {
                supervisor.sessions.remove(&id);
                return Ok(());
            }
        };
        session.restarts += 1;
        let event = EventKind::ActorRestarted {
            actor: ActorRef::Session(id),
            restarts: session.restarts,
            backoff_ms: u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        };
        let now = supervisor.engine.clock.now();
        match supervisor.engine.store.save_session(&session, vec![NewEvent::session(id, now, event)]) {
            Ok(_) => commit_in_background(supervisor.engine.store.commit(), ActorRef::Session(id), ctx),
            Err(err) => warn!(session_id = %id, cause = %err, "restart not recorded"),
        }
        info!(session_id = %id, restarts = session.restarts, "session actor restarted from its checkpoint");
        supervisor.start_session(session, ctx);
        Ok(())
    }

    /// Marks the session failed.
    fn give_up(supervisor: &mut Supervisor, id: SessionId, (): (), reason: String, ctx: &mut Context<Supervisor>) {
        supervisor.fail_session(id, reason, ctx);
    }

    /// A retired session's actor is gone: the requests held meanwhile are
    /// delivered afresh, and a session wanted again gets a new actor.
    fn gone(
        supervisor: &mut Supervisor,
        id: SessionId,
        child: SessionChild,
        exit: Exit,
        ctx: &mut Context<Supervisor>,
    ) {
        if exit == Exit::Retired {
            let held = match child.slot {
                Slot::Retiring { held } => held,
                Slot::Running(_) | Slot::Restarting { .. } => Vec::new(),
            };
            supervisor.retired(id, held, ctx);
        }
    }
}

impl Supervisor {
    pub(super) fn start_session(&mut self, session: Session, ctx: &mut Context<Self>) -> Addr<SessionActor> {
        let generation = self.next_generation();
        let id = session.id;
        let addr = SessionActor::new(session, self.engine.clone(), Parent::of(&ctx.address()), generation).start();
        self.register::<SessionKind>(id, generation, addr.clone(), ());
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
                let retry_after = retry_after(*at, now);
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
            Ok(_) => commit_in_background(self.engine.store.commit(), ActorRef::Session(id), ctx),
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
