//! `baton session show`.

use baton_actors::model::{Session, SessionId};

use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton session show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The session id.
    id: SessionId,
}

/// Prints one session's record.
pub async fn run(context: &Context, args: ShowArgs) -> anyhow::Result<()> {
    let session: Session = context.connect().await?.get(&format!("/v1/sessions/{}", args.id)).await?;
    if context.json {
        return output::json(&session);
    }
    let meta = session.meta.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(", ");
    output::fields([
        ("id", session.id.to_string()),
        ("state", session.state.to_string()),
        ("reason", output::or_dash(session.reason.as_ref())),
        ("name", output::or_dash(session.name.as_ref())),
        ("external id", output::or_dash(session.external_id.as_ref())),
        ("cwd", output::or_dash(session.cwd.as_ref().map(|cwd| cwd.display()))),
        ("meta", if meta.is_empty() { "-".into() } else { meta }),
        ("opened", format!("{} ({} ago)", session.created_at.to_rfc3339(), super::age(&session))),
        ("last active", session.last_active_at.to_rfc3339()),
        ("ended", output::or_dash(session.ended_at.map(|at| at.to_rfc3339()))),
        ("max lifetime", output::or_dash(session.max_lifetime.map(output::duration))),
        ("fallback", super::fallback::describe(session.fallback.as_ref())),
        ("restarts", session.restarts.to_string()),
    ])
}
