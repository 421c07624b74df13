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
//!
//! # Layout
//! - this file: the supervisor itself, its watchdog tick, child exits and
//!   shutdown;
//! - `sessions.rs` and `session_requests.rs`: the session children (slots,
//!   delivery, crashes, retirement, retention) and the requests routed to them;
//! - `agents.rs` and `agent_requests.rs`: the same for agents;
//! - `handoffs.rs`: routing handoffs to agents; `memory.rs`: the agents'
//!   memory budget; `store_requests.rs`: what the store answers alone.

mod agent_requests;
mod agents;
pub(crate) mod child;
mod handoffs;
mod memory;
mod session_requests;
mod sessions;
mod store_requests;

use std::collections::HashMap;

use actix::fut::wrap_future;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tracing::{info, warn};

use crate::clock::to_chrono;
use crate::engine::Engine;
use crate::error::{EngineError, StoreError};
use crate::messages::{Shutdown, WatchdogTick};
use crate::model::{ActorRef, Session, SessionId, SessionState};
use crate::session_actor::AgentsAtWork;
use crate::store::Commit;
pub(crate) use agents::StopAgentsOf;
use child::{ChildExited, Exit, Retire, Stop};
pub(crate) use handoffs::{DeliverHandoff, Pick, PickAgents, Want};
use sessions::{SessionChild, Slot};

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

fn commit_agent_in_background(commit: Commit, id: crate::model::AgentId, ctx: &mut Context<Supervisor>) {
    ctx.spawn(wrap_future(async move {
        if let Err(err) = commit.await {
            warn!(agent_id = %id, cause = %err, "supervisor change not committed");
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
