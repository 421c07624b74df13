//! The agent verbs: `baton spawn`, `ps`, `stop`, `restart`, `logs`. One file per verb.

pub mod logs;
pub mod ps;
pub mod restart;
pub mod spawn;
pub mod stop;

use std::time::Duration;

use baton_actors::model::AgentId;

use crate::api::AgentView;

/// The agent a verb works on.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArg {
    /// The agent's id.
    #[arg(value_name = "AGENT")]
    agent: AgentId,
}

impl AgentArg {
    /// The route of the agent, with `rest` after it when not empty.
    fn path(&self, rest: &str) -> String {
        match rest {
            "" => format!("/v1/agents/{}", self.agent),
            rest => format!("/v1/agents/{}/{rest}", self.agent),
        }
    }
}

/// A duration in whole milliseconds, for the wire.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// One line about an agent after a change: `<id> <state> (pid N)`.
fn summary(view: &AgentView) -> String {
    let agent = &view.agent;
    let mut line = format!("{} {}", agent.id, agent.state);
    if let Some(pid) = agent.pid.filter(|_| agent.state.is_live()) {
        line.push_str(&format!(" (pid {pid})"));
    }
    if let Some(exit) = &agent.last_exit {
        line.push_str(&format!(", last exit {exit}"));
    }
    if let Some(reason) = &agent.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}
