//! `baton queue dead`.

use baton_actors::model::Observation;

use super::SessionArg;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton queue dead`.
#[derive(Debug, clap::Args)]
pub struct DeadArgs {
    #[command(flatten)]
    session: SessionArg,
}

/// Prints the dead observations with the reason each was set aside.
pub async fn run(context: &Context, args: DeadArgs) -> anyhow::Result<()> {
    let path = args.session.path("observations?state=dead&limit=10000");
    let dead: Vec<Observation> = context.connect().await?.get(&path).await?;
    if context.json {
        return output::json(&dead);
    }
    output::table(
        &["SEQ", "KIND", "ATTEMPTS", "KEY", "REASON"],
        dead.iter().map(|observation| {
            vec![
                observation.seq.to_string(),
                observation.kind.to_string(),
                observation.attempts.to_string(),
                output::or_dash(observation.key.as_ref()),
                output::or_dash(observation.reason.as_ref()),
            ]
        }),
    )
}
