//! `baton queue ack`.

use baton_actors::model::AckReport;

use super::SessionArg;
use crate::api::AckRequest;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton queue ack`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    #[command(flatten)]
    session: SessionArg,
    /// Only if their leases are this consumer's.
    #[arg(long)]
    consumer: Option<String>,
    /// The sequence numbers to ack; all or none are.
    #[arg(value_name = "SEQ", required = true)]
    seqs: Vec<u64>,
}

/// Acks the observations and says how many.
pub async fn run(context: &Context, args: AckArgs) -> anyhow::Result<()> {
    let request = AckRequest { seqs: args.seqs, consumer: args.consumer };
    let report: AckReport = context.connect().await?.post(&args.session.path("queue/ack"), &request).await?;
    if context.json {
        return output::json(&report);
    }
    match report.already_acked.len() {
        0 => output::line(format_args!("acked {}", report.acked.len())),
        1 => output::line(format_args!("acked {}; 1 was acked before", report.acked.len())),
        again => output::line(format_args!("acked {}; {again} were acked before", report.acked.len())),
    }
}
