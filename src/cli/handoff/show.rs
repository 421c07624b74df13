//! `baton handoff show`.

use baton_actors::model::{Handoff, HandoffId};
use chrono::{DateTime, Utc};

use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton handoff show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The handoff's id.
    #[arg(value_name = "HANDOFF")]
    handoff: HandoffId,
}

/// Prints one handoff's record, then its history (the record with `--json`).
pub async fn run(context: &Context, args: ShowArgs) -> anyhow::Result<()> {
    let handoff: Handoff = context.connect().await?.get(&format!("/v1/handoffs/{}", args.handoff)).await?;
    if context.json {
        return output::json(&handoff);
    }
    let routed = (handoff.route_to != handoff.to).then(|| handoff.route_to.to_string());
    output::fields([
        ("id", handoff.id.to_string()),
        ("session", handoff.session.to_string()),
        ("state", handoff.state.to_string()),
        ("from", output::or_dash(handoff.from)),
        ("to", handoff.to.to_string()),
        ("routed to", output::or_dash(routed)),
        ("assigned", output::or_dash(handoff.assigned)),
        ("task", handoff.task.clone()),
        ("payload", output::or_dash(handoff.payload.as_ref())),
        ("result", output::or_dash(handoff.result.as_ref())),
        ("ack by", output::or_dash(handoff.ack_deadline.map(deadline))),
        ("complete by", output::or_dash(handoff.complete_deadline.map(deadline))),
        ("redeliver", if handoff.redeliver { "yes" } else { "no" }.to_owned()),
        ("created", format!("{} ({} ago)", handoff.created_at.to_rfc3339(), ago(handoff.created_at))),
        ("updated", handoff.updated_at.to_rfc3339()),
    ])?;
    output::line("")?;
    output::table(
        &["STATE", "AT", "ASSIGNED", "NOTE"],
        handoff.history.iter().map(|step| {
            vec![
                step.state.to_string(),
                step.at.to_rfc3339(),
                output::or_dash(step.assigned),
                output::or_dash(step.note.as_ref()),
            ]
        }),
    )
}

/// A deadline with how far off it is: `... (in 4m 59s)`, or `... (passed)`.
fn deadline(at: DateTime<Utc>) -> String {
    match (at - Utc::now()).to_std() {
        Ok(left) => format!("{} (in {})", at.to_rfc3339(), output::duration(left)),
        Err(_) => format!("{} (passed)", at.to_rfc3339()),
    }
}

fn ago(at: DateTime<Utc>) -> String {
    output::duration((Utc::now() - at).to_std().unwrap_or_default())
}
