//! `baton session ...`: one file per verb.

mod close;
mod fallback;
mod list;
mod open;
mod show;

use baton_actors::model::Session;
use chrono::Utc;

use super::context::Context;
use super::output;

/// The session verbs.
#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Opens a session (idempotent by --external-id) and prints its id.
    Open(open::OpenArgs),
    /// Lists sessions, oldest first.
    List(list::ListArgs),
    /// Shows one session.
    Show(show::ShowArgs),
    /// Closes a session.
    Close(close::CloseArgs),
    /// Sets where the open handoffs of an agent that stops for good go.
    Fallback(fallback::FallbackArgs),
}

/// Runs a session verb.
pub async fn run(context: &Context, command: SessionCommand) -> anyhow::Result<()> {
    match command {
        SessionCommand::Open(args) => open::run(context, args).await,
        SessionCommand::List(args) => list::run(context, args).await,
        SessionCommand::Show(args) => show::run(context, args).await,
        SessionCommand::Close(args) => close::run(context, args).await,
        SessionCommand::Fallback(args) => fallback::run(context, args).await,
    }
}

/// How long ago, for people.
fn age(session: &Session) -> String {
    output::duration((Utc::now() - session.created_at).to_std().unwrap_or_default())
}
