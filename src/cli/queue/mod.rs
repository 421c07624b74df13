//! `baton queue ...`: consume a session's observations. One file per verb.

mod ack;
mod claim;
mod dead;
mod list;
mod nack;
mod requeue;
mod stats;

use baton_actors::model::{Observation, SessionId};
use chrono::Utc;

use super::context::Context;
use super::output;

/// The queue verbs.
#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Leases the oldest available observations and prints them.
    Claim(claim::ClaimArgs),
    /// Acks leased observations: processed, they leave the queue.
    Ack(ack::AckArgs),
    /// Gives leased observations back to the queue.
    Nack(nack::NackArgs),
    /// Lists the observations set aside after too many attempts.
    Dead(dead::DeadArgs),
    /// Puts dead observations back in the queue.
    Requeue(requeue::RequeueArgs),
    /// Lists a session's observations.
    List(list::ListArgs),
    /// Shows a session's queue counts.
    Stats(stats::StatsArgs),
}

/// Runs a queue verb.
pub async fn run(context: &Context, command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Claim(args) => claim::run(context, args).await,
        QueueCommand::Ack(args) => ack::run(context, args).await,
        QueueCommand::Nack(args) => nack::run(context, args).await,
        QueueCommand::Dead(args) => dead::run(context, args).await,
        QueueCommand::Requeue(args) => requeue::run(context, args).await,
        QueueCommand::List(args) => list::run(context, args).await,
        QueueCommand::Stats(args) => stats::run(context, args).await,
    }
}

/// The session a verb works on.
#[derive(Debug, Clone, clap::Args)]
struct SessionArg {
    /// The session whose queue it is.
    #[arg(long, value_name = "ID")]
    session: SessionId,
}

impl SessionArg {
    fn path(&self, rest: &str) -> String {
        format!("/v1/sessions/{}/{rest}", self.session)
    }
}

/// The most of a payload a table shows.
const PAYLOAD_WIDTH: usize = 60;

/// Prints observations as a table (or a JSON array).
pub(super) fn print(context: &Context, observations: &[Observation]) -> anyhow::Result<()> {
    if context.json {
        return output::json(observations);
    }
    output::table(
        &["SEQ", "KIND", "STATE", "ATTEMPTS", "AGE", "KEY", "PAYLOAD"],
        observations.iter().map(|observation| {
            vec![
                observation.seq.to_string(),
                observation.kind.to_string(),
                observation.state.to_string(),
                observation.attempts.to_string(),
                output::duration((Utc::now() - observation.created_at).to_std().unwrap_or_default()),
                output::or_dash(observation.key.as_ref()),
                output::shorten(&observation.payload.to_string(), PAYLOAD_WIDTH),
            ]
        }),
    )
}
