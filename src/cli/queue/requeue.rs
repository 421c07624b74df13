//! `baton queue requeue`.

use baton_actors::model::Observation;

use super::SessionArg;
use crate::api::{AllKeyword, RequeueRequest, RequeueSelection};
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton queue requeue`.
#[derive(Debug, clap::Args)]
pub struct RequeueArgs {
    #[command(flatten)]
    session: SessionArg,
    /// Every dead observation of the session.
    #[arg(long, conflicts_with = "seqs")]
    all: bool,
    /// The dead observations to put back.
    #[arg(value_name = "SEQ", required_unless_present = "all")]
    seqs: Vec<u64>,
}

/// Requeues the observations and says how many.
pub async fn run(context: &Context, args: RequeueArgs) -> anyhow::Result<()> {
    let seqs = if args.all { RequeueSelection::All(AllKeyword::All) } else { RequeueSelection::Seqs(args.seqs) };
    let request = RequeueRequest { seqs };
    let records: Vec<Observation> =
        context.connect().await?.post(&args.session.path("queue/requeue"), &request).await?;
    if context.json { output::json(&records) } else { output::line(format_args!("requeued {}", records.len())) }
}
