//! `baton session close`.

use baton_actors::model::{Session, SessionId};

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
}

/// Closes the session and says so.
pub async fn run(context: &Context, args: CloseArgs) -> anyhow::Result<()> {
    let request = CloseSessionRequest { reason: args.reason };
    let session: Session = context.connect().await?.post(&format!("/v1/sessions/{}/close", args.id), &request).await?;
    if context.json { output::json(&session) } else { output::line(format_args!("closed {}", session.id)) }
}
