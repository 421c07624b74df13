//! `baton queue claim`.

use std::time::Duration;

use baton_actors::model::Observation;

use super::SessionArg;
use crate::Claim;
use crate::api::ClaimRequest;
use crate::cli::context::Context;
use crate::cli::values::{lease, positive, wait_duration};
use crate::client::Client;

/// Options of `baton queue claim`.
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    session: SessionArg,
    /// Who claims them; ack and nack may name it with --consumer.
    #[arg(long, default_value = "baton-cli")]
    consumer: String,
    /// The most observations to take.
    #[arg(long, value_name = "N", default_value_t = Claim::DEFAULT_MAX, value_parser = positive::<usize>)]
    max: usize,
    /// How long to hold them before they return to the queue (30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = lease, default_value = "60s")]
    lease: Duration,
    /// When none is available, wait this long for some to arrive (at most 10m).
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    wait: Option<Duration>,
}

/// Claims and prints what was leased (nothing when none came).
pub async fn run(context: &Context, args: ClaimArgs) -> anyhow::Result<()> {
    let request = ClaimRequest {
        consumer: args.consumer,
        max: Some(args.max),
        lease_ms: Some(millis(args.lease)),
        wait_ms: args.wait.map(millis),
    };
    // The answer may wait as long as the claim does.
    let client = context.connect().await?.clone().with_timeout(Client::DEFAULT_TIMEOUT + args.wait.unwrap_or_default());
    let claimed: Vec<Observation> = client.post(&args.session.path("queue/claim"), &request).await?;
    super::print(context, &claimed)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
