//! `baton queue list`.

use baton_actors::model::{Observation, ObservationState};

use super::SessionArg;
use crate::cli::context::Context;

/// Options of `baton queue list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    session: SessionArg,
    /// Only those in this state (pending, leased, dead, acked).
    #[arg(long)]
    state: Option<ObservationState>,
    /// Only those after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    after: u64,
    /// At most this many.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
}

/// Prints the observations as a table (or a JSON array).
pub async fn run(context: &Context, args: ListArgs) -> anyhow::Result<()> {
    let mut query = format!("observations?after={}&limit={}", args.after, args.limit);
    if let Some(state) = args.state {
        query.push_str(&format!("&state={state}"));
    }
    let observations: Vec<Observation> = context.connect().await?.get(&args.session.path(&query)).await?;
    super::print(context, &observations)
}
