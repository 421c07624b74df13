//! `baton handoff create`.

use std::time::Duration;

use baton_actors::model::{AgentId, Handoff, HandoffTarget, SessionId};

use super::{json_value, millis};
use crate::api::CreateHandoffRequest;
use crate::cli::context::Context;
use crate::cli::output;
use crate::cli::values::handoff_deadline;

/// Options of `baton handoff create`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "role"])))]
pub struct CreateArgs {
    /// The session it happens in.
    #[arg(long, value_name = "ID", env = "BATON_SESSION_ID")]
    session: SessionId,
    /// The agent handing the work off (only it, or an operator, may cancel it).
    #[arg(long, value_name = "AGENT", env = "BATON_AGENT_ID")]
    from: Option<AgentId>,
    /// The agent it is for.
    #[arg(long, value_name = "AGENT")]
    to: Option<AgentId>,
    /// The role it is for: an idle agent of the role takes it, or one is
    /// spawned from the role's template.
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
    /// What the receiver is asked to do.
    #[arg(long, value_name = "TEXT", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    task: String,
    /// Data passed along with the task, as JSON.
    #[arg(long, value_name = "JSON", value_parser = json_value)]
    payload: Option<serde_json::Value>,
    /// It times out unless acknowledged within this long (30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = handoff_deadline)]
    ack_within: Option<Duration>,
    /// It times out unless completed within this long.
    #[arg(long, value_name = "DURATION", value_parser = handoff_deadline)]
    complete_within: Option<Duration>,
    /// Not acknowledged in time, it goes to another agent of its role instead
    /// of timing out.
    #[arg(long)]
    redeliver: bool,
}

/// Creates the handoff and prints its id (its record with `--json`); one
/// that cannot be routed says why on stderr.
pub async fn run(context: &Context, args: CreateArgs) -> anyhow::Result<()> {
    let to = match (args.to, args.role) {
        (Some(agent), _) => HandoffTarget::Agent(agent),
        (None, Some(role)) => HandoffTarget::Role(role),
        (None, None) => unreachable!("clap requires --to or --role"),
    };
    let request = CreateHandoffRequest {
        session: args.session,
        from: args.from,
        to,
        task: args.task,
        payload: args.payload,
        ack_within_ms: args.ack_within.map(millis),
        complete_within_ms: args.complete_within.map(millis),
        redeliver: args.redeliver,
    };
    let handoff: Handoff = context.connect().await?.post("/v1/handoffs", &request).await?;
    if let Some(waits) = waits_for(&handoff) {
        // On stderr, so that the id stays the only thing on stdout.
        eprintln!("baton: handoff {} {waits}", handoff.id);
    }
    if context.json {
        return output::json(&handoff);
    }
    output::line(handoff.id)
}

/// Why a handoff that was not routed as it was created waits, when the
/// engine said (such as: no agent of its role, and no template to spawn one).
fn waits_for(handoff: &Handoff) -> Option<&str> {
    if handoff.assigned.is_some() || !handoff.is_open() {
        return None;
    }
    handoff.history.last()?.note.as_deref()
}
