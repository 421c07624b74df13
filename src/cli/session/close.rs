//! `baton session close`.

use baton_actors::model::{CloseMode, Session, SessionId, SessionState};

use crate::api::CloseSessionRequest;
use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton session close`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The session id.
    id: SessionId,
    /// Why, kept in the record.
    #[arg(long)]
    reason: Option<String>,
    /// Keep queued observations until consumers ack them (the default): the
    /// session stays closing until then.
    #[arg(long, conflicts_with = "discard")]
    drain: bool,
    /// Drop queued observations and close at once.
    #[arg(long)]
    discard: bool,
}

/// Closes the session and says so.
pub async fn run(context: &Context, args: CloseArgs) -> anyhow::Result<()> {
    let mode = match (args.drain, args.discard) {
        (_, true) => CloseMode::Discard,
        (_, false) => CloseMode::Drain,
    };
    let request = CloseSessionRequest { reason: args.reason, mode };
    let session: Session = context.connect().await?.post(&format!("/v1/sessions/{}/close", args.id), &request).await?;
    if context.json {
        output::json(&session)
    } else if session.state == SessionState::Closing {
        output::line(format_args!("closing {} ({})", session.id, output::or_dash(session.reason.as_ref())))
    } else {
        output::line(format_args!("closed {}", session.id))
    }
}
