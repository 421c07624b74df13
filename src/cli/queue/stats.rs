//! `baton queue stats`.

use baton_actors::model::QueueStats;

use super::SessionArg;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton queue stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    session: SessionArg,
}

/// Prints the counts.
pub async fn run(context: &Context, args: StatsArgs) -> anyhow::Result<()> {
    let stats: QueueStats = context.connect().await?.get(&args.session.path("queue")).await?;
    if context.json {
        return output::json(&stats);
    }
    output::fields([
        ("pending", stats.pending.to_string()),
        ("leased", stats.leased.to_string()),
        ("dead", stats.dead.to_string()),
        ("acked", stats.acked.to_string()),
        ("next seq", stats.next_seq.to_string()),
    ])
}
