//! The requests about agents that reach the supervisor: spawn, get, list,
//! stop, restart. Records are read from the store (every change is
//! checkpointed before it is answered); changes to a running agent go to its
//! actor.

use actix::prelude::*;
use futures_util::future::join_all;

use super::agents::AgentChild;
use super::children::{Slot, retry_after};
use super::{Reply, Supervisor, ready};
use crate::error::EngineError;
use crate::messages::{Ask, GetAgent, ListAgents, RerunAgent, StopAgent, StopSessionAgents};
use crate::model::bounds;
use crate::model::{ActorRef, Agent, AgentId, AgentState, EventKind, SessionId, SessionState};
use crate::protocol::StopRun;
use crate::requests::SpawnAgent;

impl Handler<Ask<SpawnAgent>> for Supervisor {
    type Result = Reply<Agent>;

    fn handle(
        &mut self,
        Ask(SpawnAgent { mut agent, caller_cwd, given }): Ask<SpawnAgent>,
        ctx: &mut Context<Self>,
    ) -> Self::Result {
        if self.shutting_down {
            return ready(Err(EngineError::ShuttingDown));
        }
        if let Err(err) = check_limits(&agent.spec.limits).and_then(|()| check_spawn(&agent)) {
            return ready(Err(err));
        }
        if agent.spec.argv.is_empty() {
            // No command: the role's template says how to run it.
            let Some(role) = agent.role.clone() else {
                return ready(Err(EngineError::InvalidRequest("an agent needs a command to run, or a role".into())));
            };
            let Some(template) = self.engine.config.agents.roles.get(&role) else {
                return ready(Err(EngineError::NoSuchRole(role)));
            };
            let mut templated = template.agent(&role, agent.session, agent.created_at);
            templated.spec.env.extend(std::mem::take(&mut agent.spec.env));
            templated.spec.inherit_env.append(&mut agent.spec.inherit_env);
            templated.spec.cwd = agent.spec.cwd.take().or(templated.spec.cwd);
            templated.spec.stdin_pipe |= agent.spec.stdin_pipe;
            // What the request sets replaces the template's.
            if given.restart {
                templated.spec.restart = agent.spec.restart;
            }
            if given.schedule {
                templated.spec.schedule = agent.spec.schedule;
            } else if given.max_restarts {
                templated.spec.schedule.intensity.max_restarts = agent.spec.schedule.intensity.max_restarts;
            }
            let limits = &mut templated.spec.limits;
            limits.max_runtime = agent.spec.limits.max_runtime.or(limits.max_runtime);
            limits.stale_after = agent.spec.limits.stale_after.or(limits.stale_after);
            limits.max_rss_bytes = agent.spec.limits.max_rss_bytes.or(limits.max_rss_bytes);
            limits.max_cpu_time = agent.spec.limits.max_cpu_time.or(limits.max_cpu_time);
            if agent.spec.priority != 0 {
                templated.spec.priority = agent.spec.priority;
            }
            if agent.spec.on_shutdown != crate::model::ShutdownPolicy::Keep {
                templated.spec.on_shutdown = agent.spec.on_shutdown;
            }
            if agent.spec.on_adopt != crate::model::AdoptPolicy::Adopt {
                templated.spec.on_adopt = agent.spec.on_adopt;
            }
            agent = templated;
        }
        if agent.spec.argv.first().is_none_or(String::is_empty) {
            return ready(Err(EngineError::InvalidRequest("an agent needs a command to run".into())));
        }
        if agent.spec.cwd.is_none() {
            agent.spec.cwd = self.session_cwd(agent.session).or(caller_cwd);
        }
        if let Err(err) = self.admit_agent(agent.session, ctx) {
            return ready(Err(err));
        }
        // The agent is a queued record already (`SpawnAgent` builds one): it
        // gets its own id and times now, so a message sent twice makes two agents.
        let now = self.engine.clock.now();
        agent.id = crate::model::AgentId::new();
        agent.created_at = now;
        agent.updated_at = now;
        let queued = EventKind::AgentStateChanged {
            agent: agent.id,
            from: AgentState::Queued,
            to: AgentState::Queued,
            reason: Some("spawned".into()),
        };
        self.enqueue(agent, vec![queued], ctx)
    }
}

impl Handler<GetAgent> for Supervisor {
    type Result = Result<Agent, EngineError>;

    fn handle(&mut self, GetAgent(id): GetAgent, _: &mut Context<Self>) -> Self::Result {
        self.stored_agent(id)
    }
}

impl Handler<ListAgents> for Supervisor {
    type Result = Result<Vec<Agent>, EngineError>;

    fn handle(&mut self, ListAgents { session }: ListAgents, _: &mut Context<Self>) -> Self::Result {
        let mut agents = self.engine.store.agents()?;
        agents.retain(|agent| session.is_none_or(|session| agent.session == session));
        Ok(agents)
    }
}

impl Handler<StopAgent> for Supervisor {
    type Result = Reply<Agent>;

    fn handle(&mut self, StopAgent { id, grace }: StopAgent, _: &mut Context<Self>) -> Self::Result {
        self.stop_agent(id, grace)
    }
}

impl Handler<StopSessionAgents> for Supervisor {
    type Result = Reply<Vec<Agent>>;

    fn handle(
        &mut self,
        StopSessionAgents { session, grace }: StopSessionAgents,
        _: &mut Context<Self>,
    ) -> Self::Result {
        if let Err(err) = self.stored(session) {
            return ready(Err(err));
        }
        let queued = self.agents.waiting.iter().filter(|(_, of)| *of == session).map(|(id, _)| *id);
        let running = self.agents.children.iter().filter(|(_, child)| child.meta.session == session).map(|(id, _)| *id);
        let ids: Vec<AgentId> = queued.chain(running).collect();
        let stops: Vec<_> = ids.into_iter().map(|id| self.stop_agent(id, grace)).collect();
        // Every stop runs to its end; the first error, if any, is the answer.
        Box::pin(async move { join_all(stops).await.into_iter().collect() })
    }
}

impl Supervisor {
    /// Lets an agent run in `session`, which a spawn and a restart both ask:
    /// refused unless the session is open and not closing; an idle session is
    /// woken, and stays while its agent works.
    fn admit_agent(&mut self, session: SessionId, ctx: &mut Context<Self>) -> Result<(), EngineError> {
        let session = self.stored(session)?;
        if !session.is_open() || session.state == SessionState::Closing {
            return Err(EngineError::SessionNotAccepting {
                session: session.id,
                state: session.state,
                what: "new agents",
            });
        }
        if session.state == SessionState::Idle {
            let woken = self.deliver(session.id, crate::session_actor::Resume, ctx);
            let session_id = session.id;
            ctx.spawn(actix::fut::wrap_future(async move {
                if let Err(err) = woken.await {
                    tracing::warn!(%session_id, cause = %err, "cannot wake the session of an agent");
                }
            }));
        }
        Ok(())
    }

    /// Stops agent `id`: a queued one at once, a running one through its actor;
    /// one whose run is over is answered as it is.
    fn stop_agent(&mut self, id: AgentId, grace: Option<std::time::Duration>) -> Reply<Agent> {
        if let Err(err) = bounds::STOP_GRACE.check_some(grace) {
            return ready(Err(err));
        }
        if self.agents.waiting.iter().any(|(waiting, _)| *waiting == id) {
            let commit = match self.stop_queued(id, "stopped on request".into()) {
                Ok(commit) => commit,
                Err(err) => return ready(Err(err)),
            };
            let store = self.engine.store.clone();
            return Box::pin(async move {
                commit.await?;
                store.agent(id)?.ok_or(EngineError::AgentNotFound(id))
            });
        }
        match self.agents.children.get(&id).map(|child| &child.slot) {
            Some(Slot::Running(addr)) => {
                let reply = addr.send(StopRun { grace, reason: "stopped on request".into() });
                Box::pin(
                    async move { reply.await.unwrap_or(Err(EngineError::ActorCrashed { actor: ActorRef::Agent(id) })) },
                )
            }
            Some(Slot::Restarting { at }) => {
                let retry_after = retry_after(*at, self.engine.clock.now());
                ready(Err(EngineError::Restarting { actor: ActorRef::Agent(id), retry_after }))
            }
            Some(Slot::Retiring { .. }) | None => ready(self.stored_agent(id)),
        }
    }
}

impl Handler<RerunAgent> for Supervisor {
    type Result = Reply<Agent>;

    fn handle(&mut self, RerunAgent(id): RerunAgent, ctx: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return ready(Err(EngineError::ShuttingDown));
        }
        let mut agent = match self.stored_agent(id) {
            Ok(agent) => agent,
            Err(err) => return ready(Err(err)),
        };
        let now = self.engine.clock.now();
        let reason = Some("restarted on request".to_owned());
        // Only an agent whose run is over can be queued again.
        let from = match agent.transition(AgentState::Queued, now, reason.clone()) {
            Ok(from) => from,
            Err(err) => return ready(Err(err.into())),
        };
        // And only in a session that takes agents, as a spawn (issue 18).
        if let Err(err) = self.admit_agent(agent.session, ctx) {
            return ready(Err(err));
        }
        // Its run is over, but its actor may not have retired yet: it has
        // nothing left to do, so it is let go now (its notice, from an older
        // generation, is ignored).
        if let Some(AgentChild { slot: Slot::Running(addr), .. }) = self.agents.children.remove(&id) {
            addr.do_send(crate::protocol::Stop { exit: crate::protocol::Exit::Retired });
        }
        let event = EventKind::AgentStateChanged { agent: id, from, to: AgentState::Queued, reason };
        self.enqueue(agent, vec![event], ctx)
    }
}

/// An agent's limits, each within its bound.
/// Refuses a spawn the engine cannot run as asked: a command with an empty
/// program name, an empty role, or a variable whose name the environment
/// cannot hold.
fn check_spawn(agent: &Agent) -> Result<(), EngineError> {
    let refuse = |why: &str| Err(EngineError::InvalidRequest(why.to_owned()));
    if agent.spec.argv.first().is_some_and(String::is_empty) {
        return refuse("argv must name a command to run (or be empty, with a role whose template to run)");
    }
    if agent.role.as_deref().is_some_and(|role| role.trim().is_empty()) {
        return refuse("a role must not be empty");
    }
    if agent.spec.env.keys().any(|key| key.is_empty() || key.contains('=') || key.contains('\0')) {
        return refuse("an environment variable's name must be non-empty, without '=' or NUL");
    }
    Ok(())
}

fn check_limits(limits: &crate::model::AgentLimits) -> Result<(), EngineError> {
    for limit in [limits.max_runtime, limits.stale_after, limits.max_cpu_time] {
        bounds::AGENT_TIME_LIMIT.check_some(limit)?;
    }
    if let Some(bytes) = limits.max_rss_bytes {
        bounds::AGENT_MAX_RSS.check(bytes)?;
    }
    Ok(())
}
