//! `baton session fallback`.

use baton_actors::model::{AgentId, HandoffTarget, Session, SessionId};

use crate::api::FallbackRequest;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton session fallback`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("fallback").required(true).args(["agent", "role", "none"])))]
pub struct FallbackArgs {
    /// The session id.
    id: SessionId,
    /// This agent takes them.
    #[arg(long, value_name = "AGENT")]
    agent: Option<AgentId>,
    /// An agent of this role takes them (one is spawned from the role's template if none is free).
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
    /// None: they go back to be routed anew to their own agent or role.
    #[arg(long)]
    none: bool,
}

/// Sets where the open handoffs of an agent that stops for good go, and
/// prints it (the session's record with `--json`).
pub async fn run(context: &Context, args: FallbackArgs) -> anyhow::Result<()> {
    let fallback = match (args.agent, args.role) {
        (Some(agent), _) => Some(HandoffTarget::Agent(agent)),
        (None, Some(role)) => Some(HandoffTarget::Role(role)),
        (None, None) => None,
    };
    let path = format!("/v1/sessions/{}/fallback", args.id);
    let session: Session = context.connect().await?.put(&path, &FallbackRequest { fallback }).await?;
    if context.json {
        return output::json(&session);
    }
    output::line(format_args!("fallback: {}", describe(session.fallback.as_ref())))
}

/// `role reviewer`, `agent 0190...`, or `none` with what that means.
pub(super) fn describe(fallback: Option<&HandoffTarget>) -> String {
    match fallback {
        Some(target) => target.to_string(),
        None => "none (handoffs go back to be routed anew)".to_owned(),
    }
}
