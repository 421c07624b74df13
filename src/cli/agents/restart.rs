//! `baton restart`.

use super::{AgentArg, summary};
use crate::api::AgentView;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    agent: AgentArg,
}

/// Runs the agent again (its run must be over; stop it first) and prints its state.
pub async fn run(context: &Context, args: RestartArgs) -> anyhow::Result<()> {
    let view: AgentView = context.connect().await?.post(&args.agent.path("restart"), &serde_json::json!({})).await?;
    if context.json {
        return output::json(&view);
    }
    output::line(summary(&view))
}
