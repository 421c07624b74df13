//! Agents, through the library handle.
//!
//! An agent is one supervised OS process of a session: [`spawn_agent`](Baton::spawn_agent)
//! starts it (or queues it, when the running agents are at a cap), the engine
//! watches it, restarts it by its policy, enforces its limits, and
//! [`stop_agent`](Baton::stop_agent) stops it with everything it started.
//!
//! Agents outlive the engine: [`shutdown`](Baton::shutdown) leaves their
//! processes running, and the next engine on the same data dir adopts them by
//! pid and start time, as it does after a crash. Stop them first to end them.

use std::time::Duration;

use baton_actors::messages::{Ask, GetAgent, ListAgents, RerunAgent, StopAgent, StopSessionAgents};
use baton_actors::model::{Agent, AgentId, SessionId};
use baton_actors::process::LogPaths;
use baton_actors::requests::SpawnAgent;

use crate::Baton;
use crate::error::Result;

impl Baton {
    /// Spawns an agent: returns its record once durable, `running` with its
    /// pid, `queued` when a cap is reached, or `failed` when its command could
    /// not start (the reason says why).
    pub async fn spawn_agent(&self, spawn: SpawnAgent) -> Result<Agent> {
        self.ask(Ask(spawn)).await
    }

    /// The agent with this id.
    pub async fn agent(&self, id: AgentId) -> Result<Agent> {
        self.ask(GetAgent(id)).await
    }

    /// Every agent, oldest first; only those of `session` when one is given.
    pub async fn agents(&self, session: Option<SessionId>) -> Result<Vec<Agent>> {
        self.ask(ListAgents { session }).await
    }

    /// Stops an agent: SIGTERM to all its processes, SIGKILL after `grace`
    /// (the engine's default when none). Returns its record once it is
    /// stopped; one whose run is already over is returned as it is.
    pub async fn stop_agent(&self, id: AgentId, grace: Option<Duration>) -> Result<Agent> {
        self.ask(StopAgent { id, grace }).await
    }

    /// Stops every queued or running agent of `session`, all at once, as
    /// [`stop_agent`](Self::stop_agent) stops one; the session stays open.
    /// Returns their records once every one is stopped (none when it had no
    /// live agent).
    pub async fn stop_session_agents(&self, session: SessionId, grace: Option<Duration>) -> Result<Vec<Agent>> {
        self.ask(StopSessionAgents { session, grace }).await
    }

    /// Runs again an agent whose run is over; it is queued when a cap is reached.
    pub async fn restart_agent(&self, id: AgentId) -> Result<Agent> {
        self.ask(RerunAgent(id)).await
    }

    /// Where the agent with this id writes its stdout and stderr (whether or
    /// not it exists).
    pub fn agent_logs(&self, id: AgentId) -> LogPaths {
        LogPaths::in_dir(self.logs_dir(), id)
    }
}
