//! `baton session open`.

use std::path::PathBuf;
use std::time::Duration;

use baton_actors::model::{HandoffTarget, Session};

use crate::api::OpenSessionRequest;
use crate::cli::context::Context;
use crate::cli::output;
use crate::cli::values::session_lifetime;

/// Options of `baton session open`.
#[derive(Debug, clap::Args)]
pub struct OpenArgs {
    /// A name for people.
    #[arg(long)]
    name: Option<String>,
    /// The id another system knows the session by; opening again with it returns the same session.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    /// The directory the session works in.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// A label, repeatable: --meta transcript=/tmp/t.jsonl.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = key_value)]
    meta: Vec<(String, String)>,
    /// Close the session after this long, whatever it is doing (500ms, 30s, 5m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = session_lifetime)]
    max_lifetime: Option<Duration>,
    /// The open handoffs of an agent that stops for good go to an agent of
    /// this role (`baton session fallback` changes it).
    #[arg(long, value_name = "ROLE")]
    fallback_role: Option<String>,
}

/// Opens the session and prints its id (or the record with --json).
pub async fn run(context: &Context, args: OpenArgs) -> anyhow::Result<()> {
    let request = OpenSessionRequest {
        name: args.name,
        external_id: args.external_id,
        cwd: args.cwd,
        meta: args.meta.into_iter().collect(),
        max_lifetime_ms: args.max_lifetime.map(|max| u64::try_from(max.as_millis()).unwrap_or(u64::MAX)),
        fallback: args.fallback_role.map(HandoffTarget::Role),
    };
    let session: Session = context.connect().await?.post("/v1/sessions", &request).await?;
    // A new session takes the name asked for: another name means the
    // external id named an open session, which is returned as it was.
    if let (Some(external_id), Some(asked)) = (&request.external_id, &request.name) {
        if session.name.as_ref() != Some(asked) {
            let name = session.name.as_deref().map_or_else(|| "none".to_owned(), |name| format!("{name:?}"));
            eprintln!(
                "baton: session {} already has external id {external_id:?}: it is returned as it is, and its name \
                 stays {name} (not {asked:?})",
                session.id
            );
        }
    }
    if context.json { output::json(&session) } else { output::line(session.id) }
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
