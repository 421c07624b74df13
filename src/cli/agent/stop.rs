//! `baton stop`.

use std::time::Duration;

use super::{AgentArg, millis, summary};
use crate::api::{AgentView, StopAgentRequest};
use crate::cli::context::Context;
use crate::cli::output;
use crate::client::Client;

/// Options of `baton stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    agent: AgentArg,
    /// How long it has after SIGTERM before SIGKILL [default: the daemon's].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    grace: Option<Duration>,
}

/// Stops the agent and everything it started; prints its state once stopped.
pub async fn run(context: &Context, args: StopArgs) -> anyhow::Result<()> {
    let request = StopAgentRequest { grace_ms: args.grace.map(millis) };
    // The answer comes once the agent is gone, which may take the whole grace period.
    let client =
        context.connect().await?.clone().with_timeout(Client::DEFAULT_TIMEOUT + args.grace.unwrap_or_default());
    let view: AgentView = client.post(&args.agent.path("stop"), &request).await?;
    if context.json {
        return output::json(&view);
    }
    output::line(summary(&view))
}
