//! `baton queue nack`.

use std::time::Duration;

use baton_actors::model::Observation;

use super::SessionArg;
use crate::api::NackRequest;
use crate::cli::context::Context;

/// Options of `baton queue nack`.
#[derive(Debug, clap::Args)]
pub struct NackArgs {
    #[command(flatten)]
    session: SessionArg,
    /// Only if their leases are this consumer's.
    #[arg(long)]
    consumer: Option<String>,
    /// Hold them back this long before they may be claimed again (10s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::values::nack_delay)]
    delay: Option<Duration>,
    /// The sequence numbers to give back; all or none are.
    #[arg(value_name = "SEQ", required = true)]
    seqs: Vec<u64>,
}

/// Gives the observations back and prints where they are now.
pub async fn run(context: &Context, args: NackArgs) -> anyhow::Result<()> {
    let delay_ms = args.delay.map_or(0, |delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
    let request = NackRequest { seqs: args.seqs, consumer: args.consumer, delay_ms };
    let records: Vec<Observation> = context.connect().await?.post(&args.session.path("queue/nack"), &request).await?;
    super::print(context, &records)
}
