//! `baton session list`.

use baton_actors::model::{Session, SessionState};

use crate::cli::context::Context;
use crate::cli::output;

/// Options of `baton session list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only sessions in this state (active, idle, closing, closed, failed).
    #[arg(long)]
    state: Option<SessionState>,
}

/// Prints the sessions as a table (or a JSON array).
pub async fn run(context: &Context, args: ListArgs) -> anyhow::Result<()> {
    let path = match args.state {
        Some(state) => format!("/v1/sessions?state={state}"),
        None => "/v1/sessions".to_owned(),
    };
    let sessions: Vec<Session> = context.connect().await?.get(&path).await?;
    if context.json {
        return output::json(&sessions);
    }
    output::table(
        &["ID", "STATE", "NAME", "EXTERNAL ID", "AGE", "RESTARTS"],
        sessions.iter().map(|session| {
            vec![
                session.id.to_string(),
                session.state.to_string(),
                output::or_dash(session.name.as_ref()),
                output::or_dash(session.external_id.as_ref()),
                super::age(session),
                session.restarts.to_string(),
            ]
        }),
    )
}
