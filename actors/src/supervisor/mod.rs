//! The supervisor: owns every child actor, routes requests to them, and
//! restarts the ones that crash.
//!
//! actix's own `Supervisor` restarts an actor only after `ctx.stop()`; a panic in
//! a handler kills the actor's task for good. So baton supervises by hand, in
//! the manner of Erlang/OTP: each child reports its death ([`child`]), and the
//! supervisor decides, by the child's [`SupervisionStrategy`](crate::SupervisionStrategy),
//! to restart it from its last checkpoint after a backoff, or to give up and
//! mark its record failed. A crash of one child never touches another: each
//! runs its own task, and its record is only ever written by itself.
//!
//! Requests reach a session through [`Supervisor::deliver`], which knows the
//! state of every child: running (forward), retiring (hold the request until
//! the old actor is gone, then deliver afresh), restarting (answer from the
//! checkpoint or say when to retry), or absent (wake the actor from its record,
//! or answer from the record of an ended session).

mod agent_requests;
mod agents;
pub(crate) mod child;
mod handoffs;
mod memory;
mod store_requests;

use std::collections::HashMap;
use std::pin::pin;
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::future::{Either, join_all, select};
use tracing::{debug, error, info, warn};

use crate::awaited::Awaited;
use crate::clock::to_chrono;
use crate::engine::Engine;
use crate::error::{EngineError, StoreError};
use crate::messages::{
    AckObservations, ClaimObservations, CloseSession, Enqueue, FindSession, GetQueueStats, GetSession,
    ListObservations, ListSessions, NackObservations, Observe, Open, QueueTotals, RequeueObservations, Shutdown,
    WatchdogTick,
};
use crate::model::{
    AckReport, ActorRef, EventKind, NewEvent, Observation, QueueStats, Session, SessionId, SessionState,
};
use crate::session_actor::{AgentsAtWork, Close, CurrentQueueStats, Get, Resume, SessionActor, SessionRequest};
use crate::store::Commit;
use crate::supervision::{CrashDecision, CrashHistory};
pub(crate) use agents::StopAgentsOf;
use child::{ChildExited, Exit, Retire, Stop};
pub(crate) use handoffs::{DeliverHandoff, Pick, PickAgents, Want};

/// The most ended sessions removed on one tick, as with agents
/// (`agents.rs`).
const SESSIONS_TRIMMED_PER_TICK: usize = 256;

/// The root actor of the engine.
pub struct Supervisor {
    engine: Engine,
    sessions: HashMap<SessionId, SessionChild>,
    /// Idle sessions with a maximum lifetime, by the time it runs out: the
    /// watchdog wakes them then, since no actor of theirs runs to notice.
    expiries: HashMap<SessionId, DateTime<Utc>>,
    /// Sessions whose actors start with the supervisor: those active or closing
    /// when the engine last stopped.
    boot: Vec<Session>,
    /// Counts child incarnations, so a notice from a replaced child is ignored.
    next_generation: u64,
    /// Set by [`Shutdown`]: no new work is taken.
    shutting_down: bool,
    /// The agents' actors and the spawns waiting for a slot (`agents.rs`).
    agents: agents::Agents,
}

/// What the supervisor knows of one session's actor.
struct SessionChild {
    generation: u64,
    slot: Slot,
    /// Recent crashes, for the restart intensity limit.
    history: CrashHistory,
}

enum Slot {
    /// The actor runs and takes requests.
    Running(Addr<SessionActor>),
    /// The actor was told to stop; requests wait here until it has, then are
    /// delivered afresh (to a new actor, or answered from the record).
    Retiring { held: Vec<HeldRequest> },
    /// The actor crashed and restarts at `at`.
    Restarting { at: DateTime<Utc> },
}

/// A request held for delivery once a retiring actor is gone.
type HeldRequest = Box<dyn FnOnce(&mut Supervisor, &mut Context<Supervisor>)>;

type Reply<T> = ResponseFuture<Result<T, EngineError>>;

impl Supervisor {
    /// A supervisor for the sessions recorded in `engine`'s store.
    pub fn new(engine: Engine) -> Result<Self, StoreError> {
        let mut boot = Vec::new();
        let mut expiries = HashMap::new();
        for session in engine.store.sessions()? {
            match session.state {
                SessionState::Active | SessionState::Closing => boot.push(session),
                SessionState::Idle => {
                    if let Some(max) = session.max_lifetime {
                        expiries.insert(session.id, session.created_at + to_chrono(max));
                    }
                }
                SessionState::Closed | SessionState::Failed => {}
            }
        }
        Ok(Self {
            engine,
            sessions: HashMap::new(),
            expiries,
            boot,
            next_generation: 0,
            shutting_down: false,
            agents: agents::Agents::default(),
        })
    }

    fn start_session(&mut self, session: Session, ctx: &mut Context<Self>) -> Addr<SessionActor> {
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
    fn deliver<R>(&mut self, id: SessionId, request: R, ctx: &mut Context<Self>) -> Reply<R::Output>
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

    fn stored(&self, id: SessionId) -> Result<Session, EngineError> {
        self.engine.store.session(id)?.ok_or(EngineError::SessionNotFound(id))
    }

    fn session_crashed(&mut self, id: SessionId, ctx: &mut Context<Self>) {
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

    fn restart_session(&mut self, id: SessionId, generation: u64, backoff: Duration, ctx: &mut Context<Self>) {
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

    fn fail_session(&mut self, id: SessionId, reason: String, ctx: &mut Context<Self>) {
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

    fn retired(&mut self, id: SessionId, held: Vec<HeldRequest>, ctx: &mut Context<Self>) {
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

    fn schedule_tick(&self, ctx: &mut Context<Self>) {
        let sleep = self.engine.clock.sleep(self.engine.config.watchdog_interval);
        ctx.spawn(wrap_future::<_, Self>(sleep).map(|(), act, ctx| {
            ctx.notify(WatchdogTick { now: act.engine.clock.now() });
            act.schedule_tick(ctx);
        }));
    }
}

fn ready<T: Send + 'static>(result: Result<T, EngineError>) -> Reply<T> {
    Box::pin(std::future::ready(result))
}

fn forward<R>(addr: Addr<SessionActor>, request: R, id: SessionId) -> Reply<R::Output>
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

fn commit_agent_in_background(commit: Commit, id: crate::model::AgentId, ctx: &mut Context<Supervisor>) {
    ctx.spawn(wrap_future(async move {
        if let Err(err) = commit.await {
            warn!(agent_id = %id, cause = %err, "supervisor change not committed");
        }
    }));
}

fn commit_in_background(commit: Commit, id: SessionId, ctx: &mut Context<Supervisor>) {
    ctx.spawn(wrap_future(async move {
        if let Err(err) = commit.await {
            warn!(session_id = %id, cause = %err, "supervisor change not committed");
        }
    }));
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for session in std::mem::take(&mut self.boot) {
            self.start_session(session, ctx);
        }
        self.boot_agents(ctx);
        self.schedule_tick(ctx);
    }
}

impl Handler<Open> for Supervisor {
    type Result = Reply<Session>;

    fn handle(&mut self, Open(spec): Open, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return ready(Err(EngineError::ShuttingDown));
        }
        if let Err(err) = crate::model::bounds::SESSION_LIFETIME.check_some(spec.max_lifetime) {
            return ready(Err(err));
        }
        if let Some(external_id) = &spec.external_id {
            match self.engine.store.session_by_external_id(external_id) {
                // Open and taking work: the same session (idempotent open).
                Ok(Some(existing)) if matches!(existing.state, SessionState::Active | SessionState::Idle) => {
                    return self.deliver(existing.id, Resume, ctx);
                }
                // Closing or ended (a Claude Code session resumed after it
                // ended): a new session takes the external id over; the old
                // one keeps its record and drains its queue.
                Ok(_) => {}
                Err(err) => return ready(Err(err.into())),
            }
        }
        let now = self.engine.clock.now();
        let session = Session::open(spec, now);
        let opened = EventKind::SessionOpened { name: session.name.clone(), external_id: session.external_id.clone() };
        if let Err(err) = self.engine.store.save_session(&session, vec![NewEvent::session(session.id, now, opened)]) {
            return ready(Err(err.into()));
        }
        self.start_session(session.clone(), ctx);
        let commit = self.engine.store.commit();
        Box::pin(async move {
            commit.await?;
            Ok(session)
        })
    }
}

impl Handler<GetSession> for Supervisor {
    type Result = Reply<Session>;

    fn handle(&mut self, GetSession(id): GetSession, ctx: &mut Context<Self>) -> Self::Result {
        self.deliver(id, Get, ctx)
    }
}

impl Handler<CloseSession> for Supervisor {
    type Result = ResponseActFuture<Self, Result<Session, EngineError>>;

    /// Closing a session (or starting to drain it) stops its agents: its
    /// actor asks for that ([`StopAgentsOf`]), as any close of it does.
    fn handle(&mut self, CloseSession { id, reason, mode }: CloseSession, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(wrap_future::<_, Self>(self.deliver(id, Close { reason, mode }, ctx)))
    }
}

/// Queue changes go to the session's actor, which owns the queue.
macro_rules! route_to_session {
    ($($message:ty => $output:ty),* $(,)?) => {$(
        impl Handler<$message> for Supervisor {
            type Result = Reply<$output>;

            fn handle(&mut self, message: $message, ctx: &mut Context<Self>) -> Self::Result {
                self.deliver(message.session, message, ctx)
            }
        }
    )*};
}

route_to_session! {
    AckObservations => AckReport,
    NackObservations => Vec<Observation>,
    RequeueObservations => Vec<Observation>,
}

impl Handler<ClaimObservations> for Supervisor {
    type Result = Awaited<Result<Vec<Observation>, EngineError>>;

    /// Dropped once the caller hangs up, and with it the request to the
    /// session's actor: a claim parked there then leases nothing.
    fn handle(&mut self, claim: ClaimObservations, ctx: &mut Context<Self>) -> Self::Result {
        Awaited::new(self.deliver(claim.session, claim, ctx))
    }
}

impl Handler<Observe> for Supervisor {
    type Result = ();

    /// A running session's actor takes the enqueue as it is and answers the
    /// sender itself (no reply to relay here: this is the hottest request).
    /// Any other case goes the general way, and its answer is passed on.
    fn handle(&mut self, observe: Observe, ctx: &mut Context<Self>) {
        if !self.shutting_down {
            if let Some(SessionChild { slot: Slot::Running(addr), .. }) = self.sessions.get(&observe.session) {
                // In its mailbox now, ahead of any later `Stop`. Should the
                // actor have died meanwhile, the answer is dropped with the
                // message, which the sender reads as a crash.
                addr.do_send(observe);
                return;
            }
        }
        let Observe { session, observation, answer } = observe;
        let reply = self.deliver(session, Enqueue { observation }, ctx);
        ctx.spawn(wrap_future(async move {
            let _ = answer.send(reply.await);
        }));
    }
}

impl Handler<ListObservations> for Supervisor {
    type Result = Result<Vec<Observation>, EngineError>;

    fn handle(&mut self, list: ListObservations, _: &mut Context<Self>) -> Self::Result {
        self.stored(list.session)?;
        Ok(self.engine.store.observations(list.session, list.state, list.after, list.limit)?)
    }
}

impl Supervisor {
    /// A session's queue stats: from its actor while one runs (the store's are
    /// as of the last batch write), else from the store, without waking it.
    fn queue_stats_of(&self, id: SessionId) -> Reply<QueueStats> {
        if let Some(SessionChild { slot: Slot::Running(addr), .. }) = self.sessions.get(&id) {
            let asked = addr.send(CurrentQueueStats);
            let store = self.engine.store.clone();
            return Box::pin(async move {
                match asked.await {
                    Ok(stats) => Ok(stats),
                    // It stopped meanwhile: what it left in the store.
                    Err(_) => Ok(store.queue_stats(id)?.unwrap_or_else(QueueStats::empty)),
                }
            });
        }
        ready(
            self.engine.store.queue_stats(id).map(|stats| stats.unwrap_or_else(QueueStats::empty)).map_err(Into::into),
        )
    }
}

impl Handler<GetQueueStats> for Supervisor {
    type Result = Reply<QueueStats>;

    fn handle(&mut self, GetQueueStats(id): GetQueueStats, _: &mut Context<Self>) -> Self::Result {
        if let Err(err) = self.stored(id) {
            return ready(Err(err));
        }
        self.queue_stats_of(id)
    }
}

impl Handler<QueueTotals> for Supervisor {
    type Result = Reply<QueueStats>;

    fn handle(&mut self, _: QueueTotals, _: &mut Context<Self>) -> Self::Result {
        let sessions = match self.engine.store.sessions() {
            Ok(sessions) => sessions,
            Err(err) => return ready(Err(err.into())),
        };
        let each: Vec<Reply<QueueStats>> = sessions.iter().map(|session| self.queue_stats_of(session.id)).collect();
        Box::pin(async move {
            let mut totals = QueueStats::default();
            for stats in join_all(each).await {
                totals.add(&stats?);
            }
            Ok(totals)
        })
    }
}

impl Handler<FindSession> for Supervisor {
    type Result = Result<Option<Session>, EngineError>;

    fn handle(&mut self, FindSession { external_id }: FindSession, _: &mut Context<Self>) -> Self::Result {
        Ok(self.engine.store.session_by_external_id(&external_id)?)
    }
}

impl Handler<ListSessions> for Supervisor {
    type Result = Result<Vec<Session>, EngineError>;

    fn handle(&mut self, ListSessions { state }: ListSessions, _: &mut Context<Self>) -> Self::Result {
        let mut sessions = self.engine.store.sessions()?;
        sessions.retain(|session| state.is_none_or(|state| session.state == state));
        Ok(sessions)
    }
}

impl Handler<WatchdogTick> for Supervisor {
    type Result = ();

    fn handle(&mut self, tick: WatchdogTick, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        let at_work = self.sessions_with_agents();
        for (id, child) in &self.sessions {
            if let Slot::Running(addr) = &child.slot {
                // Ahead of the tick, which decides whether the session is idle.
                addr.do_send(AgentsAtWork(at_work.contains(id)));
                addr.do_send(tick);
            }
        }
        self.agents_tick(tick, ctx);
        let expired: Vec<SessionId> =
            self.expiries.iter().filter(|(_, at)| **at <= tick.now).map(|(id, _)| *id).collect();
        for id in expired {
            self.expiries.remove(&id);
            match self.engine.store.session(id) {
                Ok(Some(session)) if session.is_open() && !self.sessions.contains_key(&id) => {
                    self.start_session(session, ctx).do_send(tick);
                }
                Ok(_) => {}
                Err(err) => warn!(session_id = %id, cause = %err, "cannot read an expiring session"),
            }
        }
        if let Err(err) = self.engine.store.trim_events(self.engine.config.event_retention) {
            warn!(cause = %err, "cannot trim old events");
        }
        if let Err(err) = self.engine.store.trim_handoffs(self.engine.config.handoff_retention) {
            warn!(cause = %err, "cannot trim old handoffs");
        }
        self.trim_agents();
        self.trim_sessions();
    }
}

impl Supervisor {
    /// Removes the oldest ended sessions past the retention, with their
    /// queues and handoffs, a bounded number a tick.
    fn trim_sessions(&mut self) {
        let keep = self.engine.config.session_retention;
        match self.engine.store.trim_sessions(keep, SESSIONS_TRIMMED_PER_TICK) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => debug!(removed = removed.len(), keep, "removed the oldest ended sessions"),
            Err(err) => warn!(cause = %err, "cannot trim old sessions"),
        }
    }
}

impl Handler<ChildExited> for Supervisor {
    type Result = ();

    fn handle(&mut self, ChildExited { actor, generation, exit }: ChildExited, ctx: &mut Context<Self>) {
        let id = match actor {
            ActorRef::Session(id) => id,
            ActorRef::Agent(id) => return self.agent_exited(id, generation, exit, ctx),
        };
        if self.sessions.get(&id).is_none_or(|child| child.generation != generation) {
            return;
        }
        match exit {
            Exit::Crashed if !self.shutting_down => self.session_crashed(id, ctx),
            Exit::Retired => {
                let held = match self.sessions.remove(&id).map(|child| child.slot) {
                    Some(Slot::Retiring { held }) => held,
                    _ => Vec::new(),
                };
                self.retired(id, held, ctx);
            }
            Exit::Crashed | Exit::Shutdown => {
                self.sessions.remove(&id);
            }
        }
    }
}

impl Handler<Retire> for Supervisor {
    type Result = ();

    fn handle(&mut self, Retire { actor, generation }: Retire, _: &mut Context<Self>) {
        let id = match actor {
            ActorRef::Session(id) => id,
            ActorRef::Agent(id) => return self.retire_agent(id, generation),
        };
        let Some(child) = self.sessions.get_mut(&id).filter(|child| child.generation == generation) else {
            return;
        };
        if let Slot::Running(addr) = &child.slot {
            // Requests already in its mailbox are handled before `Stop`; later ones wait in `held`.
            addr.do_send(Stop { exit: Exit::Retired });
            child.slot = Slot::Retiring { held: Vec::new() };
        }
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), EngineError>>;

    /// Agents whose shutdown policy says so are stopped first; the others'
    /// processes go on running, and the next engine adopts them.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let mut stops = Vec::new();
        let mut held = Vec::new();
        for child in self.sessions.values_mut() {
            match &mut child.slot {
                Slot::Running(addr) => stops.push(addr.send(Stop { exit: Exit::Shutdown })),
                Slot::Retiring { held: waiting } => held.append(waiting),
                Slot::Restarting { .. } => {}
            }
        }
        // Held requests are answered now: the engine takes no more work.
        for request in held {
            request(self, ctx);
        }
        let agent_runs = self.stop_agents_on_shutdown();
        Box::pin(wrap_future::<_, Self>(join_all(agent_runs)).then(move |_, act, _| {
            let agent_stops = act.stop_agent_actors();
            let store = act.engine.store.clone();
            wrap_future(async move {
                join_all(stops).await;
                join_all(agent_stops).await;
                store.commit().await?;
                info!("engine stopped; every change is durable");
                Ok(())
            })
        }))
    }
}
