//! `baton stop`: one agent, or every agent of a session at once.

use std::time::Duration;

use anyhow::Context as _;
use baton_actors::model::{AgentId, SessionId};

use super::{millis, summary};
use crate::api::{AgentView, StopAgentRequest};
use crate::cli::context::Context;
use crate::cli::output;
use crate::client::Client;

/// Options of `baton stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The agent's id.
    #[arg(value_name = "AGENT", required_unless_present = "session", conflicts_with = "session")]
    agent: Option<AgentId>,
    /// Stops every queued or running agent of this session instead, all at
    /// once; the session stays open.
    #[arg(long, value_name = "ID")]
    session: Option<SessionId>,
    /// How long each has after SIGTERM before SIGKILL [default: the daemon's].
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::values::stop_grace)]
    grace: Option<Duration>,
}

/// Stops the agent (or the session's agents) and everything it started;
/// prints the state of each once stopped.
pub async fn run(context: &Context, args: StopArgs) -> anyhow::Result<()> {
    let request = StopAgentRequest { grace_ms: args.grace.map(millis) };
    // The answer comes once the agents are gone, which may take the whole grace period.
    let client =
        context.connect().await?.clone().with_timeout(Client::DEFAULT_TIMEOUT + args.grace.unwrap_or_default());
    if let Some(agent) = args.agent {
        let view: AgentView = client.post(&format!("/v1/agents/{agent}/stop"), &request).await?;
        return if context.json { output::json(&view) } else { output::line(summary(&view)) };
    }
    let session = args.session.context("name an agent, or a session with --session")?;
    let views: Vec<AgentView> = client.post(&format!("/v1/sessions/{session}/agents/stop"), &request).await?;
    if context.json {
        return output::json(&views);
    }
    for view in &views {
        output::line(summary(view))?;
    }
    Ok(())
}
