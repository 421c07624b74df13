//! The supervisor's side of agents: their actors, the caps on how many run,
//! the queue of spawns waiting for a slot, and the requests about them.
//!
//! An agent holds a slot while it has an actor: while its process runs, while
//! it waits out a restart backoff, while it is being stopped. When its run is
//! over its actor retires, the slot frees, and the oldest queued agent that
//! fits under both caps (global and per session) starts.
//!
//! A crashed agent actor is rebuilt from the record, as a session's is
//! (`children.rs`); its process is not touched: the new actor finds it by
//! pid and start time and adopts it.
//!
//! The requests about agents (spawn, get, list, stop, restart) are handled in
//! `agent_requests.rs`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;
use tracing::{error, info, warn};

use super::children::{Child, ChildKind, Slot, commit_in_background};
use super::{Reply, Supervisor, ready};
use crate::agent_actor::AgentActor;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::model::{ActorRef, Agent, AgentId, AgentState, EventKind, NewEvent, SessionId};
use crate::process::{AgentTree, LogPaths, TreeUsage};
use crate::protocol::Exit;
use crate::protocol::{Launch, Parent, StopAgentsOf, StopRun};
use crate::supervision::SupervisionStrategy;

/// The most ended agents removed on one tick, so that a store far past its
/// retention (after the retention was lowered) is trimmed over a few ticks
/// rather than in one long pause.
const AGENTS_TRIMMED_PER_TICK: usize = 256;

impl Handler<StopAgentsOf> for Supervisor {
    type Result = ();

    fn handle(&mut self, StopAgentsOf { session }: StopAgentsOf, ctx: &mut Context<Self>) {
        self.stop_session_agents(session, ctx);
    }
}

/// What the supervisor knows of the agents.
#[derive(Default)]
pub(super) struct Agents {
    /// Agents holding a slot, by id.
    pub(super) children: HashMap<AgentId, AgentChild>,
    /// Agents waiting for a slot, oldest first.
    pub(super) waiting: VecDeque<(AgentId, SessionId)>,
    /// Whether a tick's `/proc` work (memory budget, orphans) is under way.
    pub(super) scanning: bool,
}

/// An agent's child: its actor, and what routing needs of the agent.
pub(super) type AgentChild = Child<AgentActor, AgentMeta>;

/// What the supervisor keeps beside an agent's actor.
pub(super) struct AgentMeta {
    /// The agent's session.
    pub(super) session: SessionId,
    /// Its role, to route handoffs addressed to the role.
    pub(super) role: Option<String>,
}

/// The agent side of supervision.
pub(super) struct AgentKind;

impl ChildKind for AgentKind {
    type Id = AgentId;
    type Actor = AgentActor;
    type Meta = AgentMeta;

    fn children(supervisor: &mut Supervisor) -> &mut HashMap<AgentId, AgentChild> {
        &mut supervisor.agents.children
    }

    fn actor_ref(id: AgentId) -> ActorRef {
        ActorRef::Agent(id)
    }

    fn strategy(engine: &Engine) -> &SupervisionStrategy {
        &engine.config.agents.actor_restart
    }

    /// Rebuilds the agent's actor from its record (which adopts its
    /// process); one that crashed in its launch is launched again.
    fn rebuild(
        supervisor: &mut Supervisor,
        id: AgentId,
        attempt: u32,
        after: Duration,
        ctx: &mut Context<Supervisor>,
    ) -> Result<(), EngineError> {
        let Some(agent) = supervisor.engine.store.agent(id)? else {
            supervisor.agents.children.remove(&id);
            return Ok(());
        };
        let backoff_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let event = EventKind::ActorRestarted { actor: ActorRef::Agent(id), restarts: attempt, backoff_ms };
        let now = supervisor.engine.clock.now();
        if let Err(err) = supervisor.engine.store.save_agent(&agent, vec![NewEvent::session(agent.session, now, event)])
        {
            warn!(agent_id = %id, cause = %err, "restart not recorded");
        }
        let queued = agent.state == AgentState::Queued;
        let addr = supervisor.start_agent(agent, ctx);
        if queued {
            addr.do_send(Launch);
        }
        Ok(())
    }

    fn give_up(supervisor: &mut Supervisor, id: AgentId, _: AgentMeta, reason: String, ctx: &mut Context<Supervisor>) {
        supervisor.give_up_agent(id, reason, ctx);
    }

    /// A retired agent's run is over: its handoffs move on, and its slot
    /// goes to the next agent waiting.
    fn gone(supervisor: &mut Supervisor, id: AgentId, child: AgentChild, exit: Exit, ctx: &mut Context<Supervisor>) {
        if exit == Exit::Retired {
            supervisor.agent_gone(id, child.meta.session);
        }
        supervisor.pump_agents(ctx);
    }
}

impl Supervisor {
    /// Sorts the stored agents at start: those with a process or a pending
    /// restart get an actor (which adopts or restarts them), queued ones wait.
    pub(super) fn boot_agents(&mut self, ctx: &mut Context<Self>) {
        let agents = match self.engine.store.agents() {
            Ok(agents) => agents,
            Err(err) => return error!(cause = %err, "cannot read the stored agents"),
        };
        for agent in agents {
            match agent.state {
                AgentState::Queued => self.agents.waiting.push_back((agent.id, agent.session)),
                state if state.is_ended() => {}
                _ => {
                    self.start_agent(agent, ctx);
                }
            }
        }
        self.pump_agents(ctx);
    }

    fn start_agent(&mut self, agent: Agent, ctx: &mut Context<Self>) -> Addr<AgentActor> {
        let generation = self.next_generation();
        let (id, meta) = (agent.id, AgentMeta { session: agent.session, role: agent.role.clone() });
        let addr = AgentActor::new(agent, self.engine.clone(), Parent::of(&ctx.address()), generation).start();
        self.register::<AgentKind>(id, generation, addr.clone(), meta);
        addr
    }

    pub(super) fn has_slot(&self, session: SessionId) -> bool {
        let config = &self.engine.config.agents;
        let in_session = self.agents.children.values().filter(|child| child.meta.session == session).count();
        self.agents.children.len() < config.max_running && in_session < config.max_running_per_session
    }

    /// Starts queued agents, oldest first, while they fit under the caps.
    pub(super) fn pump_agents(&mut self, ctx: &mut Context<Self>) {
        if self.shutting_down {
            return;
        }
        let mut index = 0;
        while index < self.agents.waiting.len() {
            let (id, session) = self.agents.waiting[index];
            if !self.has_slot(session) {
                index += 1;
                continue;
            }
            self.agents.waiting.remove(index);
            match self.engine.store.agent(id) {
                Ok(Some(agent)) if agent.state == AgentState::Queued => {
                    self.start_agent(agent, ctx).do_send(Launch);
                }
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read a queued agent"),
            }
        }
    }

    /// Checkpoints a queued `agent` and starts it if a slot is free; answers
    /// with its record once durable (running, or queued).
    pub(super) fn enqueue(&mut self, agent: Agent, events: Vec<EventKind>, ctx: &mut Context<Self>) -> Reply<Agent> {
        let now = agent.updated_at;
        let events = events.into_iter().map(|kind| NewEvent::session(agent.session, now, kind)).collect();
        if let Err(err) = self.engine.store.save_agent(&agent, events) {
            return ready(Err(err.into()));
        }
        let commit = self.engine.store.commit();
        if !self.has_slot(agent.session) {
            self.agents.waiting.push_back((agent.id, agent.session));
            return Box::pin(async move {
                commit.await?;
                Ok(agent)
            });
        }
        let launched = self.start_agent(agent.clone(), ctx).send(Launch);
        let id = agent.id;
        Box::pin(async move {
            commit.await?;
            launched.await.unwrap_or(Err(EngineError::ActorCrashed { actor: ActorRef::Agent(id) }))
        })
    }

    /// The directory session `id` works in, if it names one: where an agent
    /// that names none runs, rather than where the daemon happens to run.
    pub(super) fn session_cwd(&self, id: SessionId) -> Option<std::path::PathBuf> {
        self.stored(id).ok().and_then(|session| session.cwd)
    }

    pub(super) fn stored_agent(&self, id: AgentId) -> Result<Agent, EngineError> {
        self.engine.store.agent(id)?.ok_or(EngineError::AgentNotFound(id))
    }

    /// Stops a queued agent before it runs.
    pub(super) fn stop_queued(&mut self, id: AgentId, reason: String) -> Result<crate::store::Commit, EngineError> {
        self.agents.waiting.retain(|(waiting, _)| *waiting != id);
        let mut agent = self.stored_agent(id)?;
        let now = self.engine.clock.now();
        let from = agent.transition(AgentState::Stopped, now, Some(reason.clone()))?;
        let event = EventKind::AgentStateChanged { agent: id, from, to: AgentState::Stopped, reason: Some(reason) };
        self.engine.store.save_agent(&agent, vec![NewEvent::session(agent.session, now, event)])?;
        self.agent_gone(id, agent.session);
        Ok(self.engine.store.commit())
    }

    /// Stops every agent of `session` (it closed), in the background.
    pub(super) fn stop_session_agents(&mut self, session: SessionId, ctx: &mut Context<Self>) {
        let reason = "its session closed".to_owned();
        let queued: Vec<AgentId> =
            self.agents.waiting.iter().filter(|(_, of)| *of == session).map(|(id, _)| *id).collect();
        for id in queued {
            match self.stop_queued(id, reason.clone()) {
                Ok(commit) => commit_in_background(commit, ActorRef::Agent(id), ctx),
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot stop a queued agent"),
            }
        }
        for child in self.agents.children.values().filter(|child| child.meta.session == session) {
            if let Slot::Running(addr) = &child.slot {
                addr.do_send(StopRun { grace: None, reason: reason.clone() });
            }
        }
    }

    /// The sessions with an agent that holds a slot or waits for one.
    pub(super) fn sessions_with_agents(&self) -> std::collections::HashSet<SessionId> {
        let holding = self.agents.children.values().map(|child| child.meta.session);
        holding.chain(self.agents.waiting.iter().map(|(_, session)| *session)).collect()
    }

    /// Passes a tick to every running agent, then, off the engine's thread,
    /// weighs the agents against the memory budget and reaps orphans. One
    /// tick's `/proc` work at a time: a tick that finds the last one's still
    /// under way leaves it be.
    pub(super) fn agents_tick(&mut self, tick: crate::messages::WatchdogTick, ctx: &mut Context<Self>) {
        for child in self.agents.children.values() {
            if let Slot::Running(addr) = &child.slot {
                addr.do_send(tick);
            }
        }
        let budget = self.engine.config.agents.memory_budget_bytes;
        let reap = self.engine.config.agents.reap_orphans;
        if self.agents.scanning || (budget.is_none() && !reap) {
            return;
        }
        let running = if budget.is_some() { self.running_for_budget() } else { Vec::new() };
        let trees: Vec<(u32, AgentTree)> =
            running.iter().filter_map(|(agent, _)| Some((agent.pid?, agent.process_tree()?))).collect();
        self.agents.scanning = true;
        let scans = async move {
            let usage = match trees.is_empty() {
                true => None,
                false => Some(TreeUsage::measure_trees_async(&trees).await),
            };
            let reaped = match reap {
                true => Some(crate::agent_actor::reap_orphans().await),
                false => None,
            };
            (usage, reaped)
        };
        ctx.spawn(wrap_future::<_, Self>(scans).map(move |(usage, reaped), act, _| {
            act.agents.scanning = false;
            match (budget, usage) {
                (Some(budget), Some(Ok(usage))) => act.shed_for_memory(running, budget, &usage),
                (_, Some(Err(err))) => warn!(cause = %err, "cannot measure the agents' memory"),
                _ => {}
            }
            match reaped {
                Some(Ok(reaped)) => {
                    for orphan in reaped {
                        info!(pid = orphan.pid, exit = %orphan.exit, "reaped an orphaned agent process");
                    }
                }
                Some(Err(err)) => warn!(cause = %err, "cannot reap orphans"),
                None => {}
            }
        }));
    }

    /// Removes the oldest ended agents past the retention, with their log
    /// files (removed in the background), a bounded number a tick.
    pub(super) fn trim_agents(&mut self) {
        let keep = self.engine.config.agent_retention;
        match self.engine.store.trim_agents(keep, AGENTS_TRIMMED_PER_TICK) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => {
                info!(removed = removed.len(), keep, "removed the oldest ended agents");
                let dir = crate::agent_actor::logs_dir(&self.engine);
                let logs = removed.into_iter().map(|id| LogPaths::in_dir(&dir, id)).collect();
                crate::agent_actor::remove_logs(logs, self.engine.config.agents.log_keep);
            }
            Err(err) => warn!(cause = %err, "cannot trim old agents"),
        }
    }

    /// Stops the process of an agent whose actor keeps crashing, and marks it failed.
    pub(super) fn give_up_agent(&mut self, id: AgentId, reason: String, ctx: &mut Context<Self>) {
        let Ok(mut agent) = self.stored_agent(id) else { return };
        if let Some(tree) = agent.process_tree() {
            if agent.state.is_live() {
                let grace = self.engine.config.agents.stop_grace;
                ctx.spawn(wrap_future(async move {
                    let stopping = crate::process::stop_tree(
                        &tree,
                        crate::process::Signal::SIGTERM,
                        grace,
                        Duration::from_millis(20),
                    );
                    if let Err(err) = stopping.await {
                        warn!(agent_id = %id, cause = %err, "cannot stop a given-up agent");
                    }
                }));
            }
        }
        let now = self.engine.clock.now();
        let from = agent.state;
        // The lifecycle lets a run fail from any state with a process; a queued
        // or backing-off one is stopped instead.
        let to = if agent.state.is_live() { AgentState::Failed } else { AgentState::Stopped };
        if agent.transition(to, now, Some(reason.clone())).is_err() {
            return;
        }
        let events = vec![
            NewEvent::session(
                agent.session,
                now,
                EventKind::ActorFailed { actor: ActorRef::Agent(id), reason: reason.clone() },
            ),
            NewEvent::session(
                agent.session,
                now,
                EventKind::AgentStateChanged { agent: id, from, to, reason: Some(reason) },
            ),
        ];
        match self.engine.store.save_agent(&agent, events) {
            Ok(_) => commit_in_background(self.engine.store.commit(), ActorRef::Agent(id), ctx),
            Err(err) => error!(agent_id = %id, cause = %err, "cannot mark the agent failed"),
        }
        self.agent_gone(id, agent.session);
        self.pump_agents(ctx);
    }

    /// Stops the runs of the agents whose shutdown policy says so; returns
    /// the replies to wait for.
    pub(super) fn stop_agents_on_shutdown(&mut self) -> Vec<Request<AgentActor, StopRun>> {
        let mut stops = Vec::new();
        for (id, child) in &self.agents.children {
            let Slot::Running(addr) = &child.slot else { continue };
            match self.engine.store.agent(*id) {
                Ok(Some(agent)) if agent.spec.on_shutdown == crate::model::ShutdownPolicy::Stop => {
                    stops.push(addr.send(StopRun { grace: None, reason: "baton shut down".into() }));
                }
                Ok(_) => {}
                Err(err) => warn!(agent_id = %id, cause = %err, "cannot read an agent's shutdown policy"),
            }
        }
        stops
    }

    /// Tells every agent actor to stop (their processes go on running) and
    /// returns the replies to wait for.
    pub(super) fn stop_agent_actors(&mut self) -> Vec<Request<AgentActor, crate::protocol::Stop>> {
        let mut stops = Vec::new();
        for child in self.agents.children.values() {
            if let Slot::Running(addr) = &child.slot {
                stops.push(addr.send(crate::protocol::Stop { exit: crate::protocol::Exit::Shutdown }));
            }
        }
        stops
    }
}
