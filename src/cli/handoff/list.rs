//! `baton handoff list`.

use baton_actors::model::{AgentId, HandoffState, SessionId};
use chrono::Utc;

use crate::api::HandoffList;
use crate::cli::context::Context;
use crate::cli::output;

/// The most of a task the table shows.
const TASK_WIDTH: usize = 40;

/// Options of `baton handoff list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only the handoffs of this session (the metrics are then this session's).
    #[arg(long, value_name = "ID")]
    session: Option<SessionId>,
    /// Only those in this state (initiated, acknowledged, in_progress,
    /// completed, failed, cancelled, timed_out).
    #[arg(long)]
    state: Option<HandoffState>,
    /// Only those sent by or assigned to this agent.
    #[arg(long, value_name = "AGENT")]
    agent: Option<AgentId>,
}

/// Prints the handoffs as a table with a line of metrics under it (with
/// `--json`, `{"handoffs": [...], "stats": {...}}`).
pub async fn run(context: &Context, args: ListArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if let Some(session) = args.session {
        query.push(format!("session={session}"));
    }
    if let Some(state) = args.state {
        query.push(format!("state={state}"));
    }
    if let Some(agent) = args.agent {
        query.push(format!("agent={agent}"));
    }
    let path = match query.is_empty() {
        true => "/v1/handoffs".to_owned(),
        false => format!("/v1/handoffs?{}", query.join("&")),
    };
    let list: HandoffList = context.connect().await?.get(&path).await?;
    if context.json {
        return output::json(&list);
    }
    output::table(
        &["ID", "STATE", "FROM", "TO", "ASSIGNED", "AGE", "TASK"],
        list.handoffs.iter().map(|handoff| {
            vec![
                handoff.id.to_string(),
                handoff.state.to_string(),
                output::or_dash(handoff.from),
                handoff.to.to_string(),
                output::or_dash(handoff.assigned),
                output::duration((Utc::now() - handoff.created_at).to_std().unwrap_or_default()),
                output::shorten(&handoff.task.replace(['\n', '\t'], " "), TASK_WIDTH),
            ]
        }),
    )?;
    let scope = match args.session {
        Some(_) => "session",
        None => "all sessions",
    };
    output::line(format_args!("{scope}: {}", super::summary(&list.stats)))
}
