//! The supervisor: owns every child actor, routes requests to them, and
//! restarts the ones that crash.
//!
//! actix's own `Supervisor` restarts an actor only after `ctx.stop()`; a panic in
//! a handler kills the actor's task for good. So baton supervises by hand, in
//! the manner of Erlang/OTP: each child reports its death (`DeathNotice`, in `protocol.rs`), and the
//! supervisor decides, by the child's [`SupervisionStrategy`](crate::SupervisionStrategy),
//! to restart it from its last checkpoint after a backoff, or to give up and
//! mark its record failed: one path for sessions and agents alike
//! (`children.rs`). A crash of one child never touches another: each
//! runs its own task, and its record is only ever written by itself.
//!
//! Requests reach a session through [`Supervisor::deliver`], which knows the
//! state of every child: running (forward), retiring (hold the request until
//! the old actor is gone, then deliver afresh), restarting (answer from the
//! checkpoint or say when to retry), or absent (wake the actor from its record,
//! or answer from the record of an ended session).
//!
//! # Layout
//! - this file: the supervisor itself, its watchdog tick and shutdown;
//! - `children.rs`: the one registry and crash path of both kinds of child;
//! - `sessions.rs` and `session_requests.rs`: the session children (slots,
//!   delivery, crashes, retirement, retention) and the requests routed to them;
//! - `agents.rs` and `agent_requests.rs`: the same for agents;
//! - `handoffs.rs`: routing handoffs to agents; `memory.rs`: the agents'
//!   memory budget; `store_requests.rs`: what the store answers alone.

mod agent_requests;
mod agents;
mod children;
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
use crate::protocol::{ChildExited, Exit, Retire, Stop};
use crate::session_actor::AgentsAtWork;
use agents::AgentKind;
use children::Slot;
use sessions::{SessionChild, SessionKind};

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
        match actor {
            ActorRef::Session(id) => self.exited::<SessionKind>(id, generation, exit, ctx),
            ActorRef::Agent(id) => self.exited::<AgentKind>(id, generation, exit, ctx),
        }
    }
}

impl Handler<Retire> for Supervisor {
    type Result = ();

    fn handle(&mut self, Retire { actor, generation }: Retire, _: &mut Context<Self>) {
        match actor {
            ActorRef::Session(id) => self.retire::<SessionKind>(id, generation),
            ActorRef::Agent(id) => self.retire::<AgentKind>(id, generation),
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
