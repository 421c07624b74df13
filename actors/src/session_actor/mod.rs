//! The session actor: owns one open session's record and its observation
//! queue while the session is in use.
//!
//! It applies each change to a copy of the record, checkpoints the copy (and the
//! events that report it) to the store, and answers only once a commit has made
//! the checkpoint durable. The queue follows the same rule (`queue_requests.rs`). On
//! watchdog ticks it returns lapsed leases to the queue, finishes a drain,
//! closes a session whose lifetime ran out and marks a quiet one idle; then it
//! asks the supervisor to retire it, so an idle session costs no actor until its
//! next message. A session with observations still pending or leased is never
//! idle (its actor must be there to notice lapsed leases), nor is one with
//! open handoffs (their deadlines) or agents at work.
//!
//! Its handoffs (`handoffs.rs`) follow the same rules as its queue.

mod handoffs;
mod hang_up;
mod queue_requests;

use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use tracing::{error, warn};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::messages::WatchdogTick;
use crate::model::{
    ActorRef, CloseMode, EventKind, InvalidTransition, NewEvent, ObservationState, Session, SessionState,
};
use crate::protocol::{DeathNotice, Parent, Retire, Stop, StopAgentsOf};
use crate::queue_index::QueueIndex;
use crate::store::{Commit, QueueOp};
use handoffs::Handoffs;
pub(crate) use queue_requests::CurrentQueueStats;
use queue_requests::Waiters;

/// The actor of one open session.
pub struct SessionActor {
    /// The record as last checkpointed: every change is saved before it is kept here.
    session: Session,
    /// The index of the session's observation queue, loaded when the actor starts.
    queue: QueueIndex,
    /// Consumers waiting for observations to claim.
    waiters: Waiters,
    /// The session's open handoffs and the agents waiting on their inbox.
    handoffs: Handoffs,
    engine: Engine,
    /// Its supervisor.
    parent: Parent,
    /// This incarnation, so the supervisor can tell its notices from an older one's.
    generation: u64,
    /// Tells the supervisor how this actor ended, panics included.
    notice: DeathNotice,
    /// Set once it has asked to retire, so it asks once.
    retiring: bool,
    /// Whether some agent of the session runs or waits to: the supervisor
    /// says so before each watchdog tick. Such a session is not idle.
    agents_at_work: bool,
    /// Enqueues taken and not yet written.
    unwritten: queue_requests::Unwritten,
}

impl SessionActor {
    pub(crate) fn new(session: Session, engine: Engine, parent: Parent, generation: u64) -> Self {
        let notice = DeathNotice::new(parent.exited.clone(), ActorRef::Session(session.id), generation);
        Self {
            session,
            queue: QueueIndex::load(Default::default()),
            waiters: Waiters::default(),
            handoffs: Handoffs::default(),
            engine,
            parent,
            generation,
            notice,
            retiring: false,
            agents_at_work: false,
            unwritten: queue_requests::Unwritten::default(),
        }
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

    /// Moves the session through `states` in one checkpoint, each step with `reason`.
    fn change_state(
        &mut self,
        states: &[SessionState],
        now: DateTime<Utc>,
        reason: Option<String>,
    ) -> Result<Commit, EngineError> {
        let mut next = self.session.clone();
        let mut events = Vec::new();
        for &to in states {
            let from = next.transition(to, now, reason.clone())?;
            events.push(EventKind::SessionStateChanged { from, to, reason: reason.clone() });
        }
        self.save(next, now, events)
    }

    /// Closes the session as `mode` says, whatever asks (a request, its max
    /// lifetime, the end of a drain). Draining with observations still
    /// outstanding leaves it `closing` until they are acked; otherwise it ends
    /// `closed`, and the actor retires once that is durable. Open handoffs
    /// are cancelled, the session's agents are stopped, and once it is closed
    /// nobody is left waiting on it.
    fn close(&mut self, now: DateTime<Utc>, reason: Option<String>, mode: CloseMode) -> Result<Commit, EngineError> {
        let change = self.close_record(now, reason, mode)?;
        self.parent.stop_agents_of.do_send(StopAgentsOf { session: self.session.id });
        if !self.session.is_open() {
            self.waiters.release_all();
            self.handoffs.release_all();
        }
        Ok(change)
    }

    /// The record's side of [`close`](Self::close).
    fn close_record(
        &mut self,
        now: DateTime<Utc>,
        reason: Option<String>,
        mode: CloseMode,
    ) -> Result<Commit, EngineError> {
        self.cancel_open_handoffs(now)?;
        let outstanding = self.queue.stats().outstanding();
        let closing = self.session.state == SessionState::Closing;
        match mode {
            CloseMode::Drain if outstanding > 0 && closing => Ok(self.engine.store.commit()),
            CloseMode::Drain if outstanding > 0 => {
                let mut next = self.session.clone();
                next.close_reason.clone_from(&reason);
                let reason = Some(reason.unwrap_or_else(|| format!("draining {outstanding} observations")));
                let from = next.transition(SessionState::Closing, now, reason.clone())?;
                let event = EventKind::SessionStateChanged { from, to: SessionState::Closing, reason };
                self.save(next, now, vec![event])
            }
            CloseMode::Drain => {
                let steps: &[SessionState] =
                    if closing { &[SessionState::Closed] } else { &[SessionState::Closing, SessionState::Closed] };
                // The reason the close gave, else that the queue drained.
                let given = reason.or_else(|| self.session.close_reason.clone());
                let reason = given.or_else(|| closing.then(|| "drained".to_owned()));
                self.change_state(steps, now, reason)
            }
            CloseMode::Discard => {
                let discarded = self.discard_queue()?;
                let steps: &[SessionState] =
                    if closing { &[SessionState::Closed] } else { &[SessionState::Closing, SessionState::Closed] };
                let reason = match (reason, discarded) {
                    (reason, 0) => reason,
                    (Some(reason), n) => Some(format!("{reason}; discarded {n} observations")),
                    (None, n) => Some(format!("discarded {n} observations")),
                };
                self.change_state(steps, now, reason)
            }
        }
    }

    /// Drops every live observation (pending, leased, dead); returns how many.
    fn discard_queue(&mut self) -> Result<usize, EngineError> {
        let ops: Vec<QueueOp> = [ObservationState::Pending, ObservationState::Leased, ObservationState::Dead]
            .into_iter()
            .flat_map(|state| self.queue.in_state(state))
            .map(|(seq, key)| QueueOp::Remove { seq, key })
            .collect();
        let discarded = ops.len();
        if discarded > 0 {
            // The closing checkpoint that follows is committed after this write,
            // and its commit covers both.
            drop(self.write_queue(ops, Vec::new())?);
        }
        Ok(discarded)
    }

    fn go_idle(&mut self, now: DateTime<Utc>, quiet: Duration) -> Result<Commit, EngineError> {
        self.change_state(&[SessionState::Idle], now, Some(format!("no activity for {quiet:?}")))
    }

    /// Records activity: in memory only, unless it wakes an idle session, which
    /// is a change of state and checkpointed. QueueIndex traffic is too frequent to
    /// checkpoint the record on every message; the next checkpoint carries it.
    fn touch(&mut self, now: DateTime<Utc>) -> Result<(), EngineError> {
        if self.session.state == SessionState::Idle {
            let mut next = self.session.clone();
            if let Some(from) = next.record_activity(now) {
                let event = EventKind::SessionStateChanged { from, to: next.state, reason: None };
                // Every caller waits for a commit requested after this write.
                drop(self.save(next, now, vec![event])?);
            }
        } else {
            self.session.last_active_at = self.session.last_active_at.max(now);
        }
        Ok(())
    }

    /// Waits in the background for `commit`, which no caller waits for (a
    /// watchdog change), so it becomes durable and its events are published;
    /// a failure is logged, naming `what`.
    fn commit_in_background(&self, commit: Commit, what: &'static str, ctx: &mut Context<Self>) {
        let session_id = self.session.id;
        ctx.spawn(wrap_future(async move {
            if let Err(err) = commit.await {
                warn!(%session_id, cause = %err, "{what} not committed");
            }
        }));
    }

    fn retire(&mut self) {
        if !self.retiring {
            self.retiring = true;
            self.parent.retire.do_send(Retire { actor: self.actor(), generation: self.generation });
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

    /// Closes a draining session whose queue has emptied.
    fn finish_drain(&mut self, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        if self.session.state == SessionState::Closing && self.queue.stats().outstanding() == 0 && !self.retiring {
            let change = self.close(now, None, CloseMode::Drain);
            self.retire_after(change, ctx);
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    /// Loads the queue's index before the first message is handled. A store
    /// that cannot be read is a crash: the supervisor retries with backoff.
    fn started(&mut self, ctx: &mut Context<Self>) {
        match self.engine.store.queue(self.session.id) {
            Ok(stored) => self.queue = QueueIndex::load(stored),
            Err(err) => {
                error!(session_id = %self.session.id, cause = %err, "cannot load the session's queue");
                return ctx.stop();
            }
        }
        if let Err(err) = self.load_handoffs(ctx) {
            error!(session_id = %self.session.id, cause = %err, "cannot load the session's handoffs");
            ctx.stop();
        }
    }

    /// Waiting consumers get an empty claim: the actor is going away (idle,
    /// closed or shutting down), and a consumer claims again.
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.waiters.release_all();
        self.handoffs.release_all();
    }
}

/// Which shared steps run before a message's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// A caller's request: the enqueues taken so far are written first, so
    /// that it sees them, and a test may inject a panic.
    Request,
    /// An enqueue: it joins the enqueues taken so far, which are written
    /// together once the mailbox is empty; a test may inject a panic.
    Enqueue,
    /// The engine's own housekeeping (ticks, stops, hang-ups): the enqueues
    /// taken so far are written first.
    Housekeeping,
}

/// How the session actor handles message `M`. Every message reaches its
/// handler through the one [`Handler`] impl below, which runs the
/// [`Preamble`] the handler names first: no handler can forget it.
pub trait Handles<M: Message> {
    /// The steps to run first.
    const PREAMBLE: Preamble = Preamble::Request;
    /// What the handler answers with.
    type Reply: actix::dev::MessageResponse<SessionActor, M>;

    /// Handles `message`, once the preamble ran.
    fn handle(&mut self, message: M, ctx: &mut Context<SessionActor>) -> Self::Reply;
}

impl<M: Message> Handler<M> for SessionActor
where
    Self: Handles<M>,
{
    type Result = <Self as Handles<M>>::Reply;

    fn handle(&mut self, message: M, ctx: &mut Context<Self>) -> Self::Result {
        let preamble = <Self as Handles<M>>::PREAMBLE;
        if preamble != Preamble::Enqueue {
            self.write_enqueued(ctx);
        }
        if preamble != Preamble::Housekeeping {
            self.engine.faults.maybe_panic(self.actor());
        }
        <Self as Handles<M>>::handle(self, message, ctx)
    }
}

/// A request the supervisor routes to a session's actor, with the answer it
/// gets when no actor runs for the session (it ended, or it is restarting).
pub(crate) trait SessionRequest: Send + 'static {
    /// What the request answers with.
    type Output: Send + 'static;

    /// The answer without an actor: `stored` is the session's record, and
    /// `restarting_in` says when its crashed actor is back, if it is restarting.
    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Self::Output, EngineError>;
}

/// The answer to a queue change while no actor runs for the session.
pub(crate) fn queue_without_actor<T>(stored: &Session, restarting_in: Option<Duration>) -> Result<T, EngineError> {
    match restarting_in {
        Some(retry_after) => Err(EngineError::Restarting { actor: ActorRef::Session(stored.id), retry_after }),
        None => {
            Err(EngineError::SessionNotAccepting { session: stored.id, state: stored.state, what: "queue changes" })
        }
    }
}

/// Reads the session.
#[derive(Debug, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub(crate) struct Get;

impl SessionRequest for Get {
    type Output = Session;

    fn without_actor(self, stored: Session, _: Option<Duration>) -> Result<Session, EngineError> {
        Ok(stored)
    }
}

impl Handles<Get> for SessionActor {
    type Reply = Result<Session, EngineError>;

    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Self::Reply {
        Ok(self.session.clone())
    }
}

/// Records activity (a repeated open by external id), waking an idle session.
#[derive(Debug, Message)]
#[rtype(result = "Result<Session, EngineError>")]
pub(crate) struct Resume;

impl SessionRequest for Resume {
    type Output = Session;

    fn without_actor(self, stored: Session, _: Option<Duration>) -> Result<Session, EngineError> {
        Ok(stored)
    }
}

impl Handles<Resume> for SessionActor {
    type Reply = ResponseFuture<Result<Session, EngineError>>;

    fn handle(&mut self, _: Resume, _: &mut Context<Self>) -> Self::Reply {
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
    pub(crate) mode: CloseMode,
}

impl SessionRequest for Close {
    type Output = Session;

    fn without_actor(self, stored: Session, restarting_in: Option<Duration>) -> Result<Session, EngineError> {
        match restarting_in {
            Some(retry_after) => Err(EngineError::Restarting { actor: ActorRef::Session(stored.id), retry_after }),
            // No actor runs for an open session only while it restarts: this one ended.
            None => {
                Err(EngineError::from(InvalidTransition::between(stored.state, SessionState::Closing).of(stored.id)))
            }
        }
    }
}

impl Handles<Close> for SessionActor {
    type Reply = ResponseActFuture<Self, Result<Session, EngineError>>;

    fn handle(&mut self, Close { reason, mode }: Close, _: &mut Context<Self>) -> Self::Reply {
        let change = self.close(self.engine.clock.now(), reason, mode);
        let session = self.session.clone();
        let reply = async move {
            change?.await?;
            Ok(session)
        };
        Box::pin(wrap_future::<_, Self>(reply).map(|result, act, _| {
            if result.is_ok() && !act.session.is_open() {
                act.retire();
            }
            result
        }))
    }
}

impl Handles<WatchdogTick> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = ();

    fn handle(&mut self, WatchdogTick { now }: WatchdogTick, ctx: &mut Context<Self>) {
        if self.retiring || !self.session.is_open() {
            return;
        }
        self.return_lapsed(now, ctx);
        self.serve_waiters(now, ctx);
        self.handoff_tick(now, ctx);
        let idle_after = self.engine.config.idle_after;
        let busy = self.queue.stats().outstanding() > 0
            || !self.waiters.is_empty()
            || !self.handoffs.open.is_empty()
            || self.handoffs.has_waiters()
            || self.agents_at_work;
        if self.session.lifetime_expired(now) && self.session.state != SessionState::Closing {
            let change = self.close(now, Some("max lifetime reached".into()), CloseMode::Drain);
            if !self.session.is_open() {
                self.retire_after(change, ctx);
            } else if let Err(err) = change {
                warn!(session_id = %self.session.id, cause = %err, "watchdog change refused");
            }
        } else if self.session.state == SessionState::Closing {
            self.finish_drain(now, ctx);
        } else if busy {
            // Work in hand: not idle, whatever the clock says.
        } else if self.session.state == SessionState::Active && self.session.quiet_for(idle_after, now) {
            let change = self.go_idle(now, idle_after);
            self.retire_after(change, ctx);
        } else if self.session.state == SessionState::Idle {
            self.retire();
        }
    }
}

/// Tells a session's actor whether any of its agents runs or waits to, ahead
/// of a watchdog tick.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct AgentsAtWork(pub(crate) bool);

impl Handles<AgentsAtWork> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = ();

    fn handle(&mut self, AgentsAtWork(at_work): AgentsAtWork, _: &mut Context<Self>) {
        self.agents_at_work = at_work;
    }
}

impl Handles<hang_up::HungUp> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = ();

    fn handle(&mut self, hang_up::HungUp(wait): hang_up::HungUp, ctx: &mut Context<Self>) {
        let timer = match wait {
            hang_up::Wait::Claim(id) => self.waiters.remove(id).and_then(|waiter| waiter.timer),
            hang_up::Wait::Inbox(id) => self.handoffs.remove_inbox(id).and_then(|waiter| waiter.timer),
        };
        if let Some(timer) = timer {
            ctx.cancel_future(timer);
        }
    }
}

impl Handles<Stop> for SessionActor {
    const PREAMBLE: Preamble = Preamble::Housekeeping;
    type Reply = ();

    fn handle(&mut self, Stop { exit }: Stop, ctx: &mut Context<Self>) {
        self.notice.set_exit(exit);
        ctx.stop();
    }
}
