//! `baton ps`.

use std::time::Duration;

use baton_actors::model::SessionId;

use crate::api::AgentView;
use crate::cli::context::Context;
use crate::cli::output;

/// The most of a command line the table shows.
const COMMAND_WIDTH: usize = 50;

/// Options of `baton ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Only the agents of this session.
    #[arg(long, value_name = "ID")]
    session: Option<SessionId>,
}

/// Lists agents with their state, process and usage.
pub async fn run(context: &Context, args: PsArgs) -> anyhow::Result<()> {
    let path = match args.session {
        Some(session) => format!("/v1/agents?session={session}"),
        None => "/v1/agents".to_owned(),
    };
    let views: Vec<AgentView> = context.connect().await?.get(&path).await?;
    if context.json {
        return output::json(&views);
    }
    output::table(
        &["ID", "SESSION", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "RSS", "COMMAND"],
        views.iter().map(|view| {
            let agent = &view.agent;
            vec![
                agent.id.to_string(),
                agent.session.to_string(),
                agent.state.to_string(),
                output::or_dash(agent.pid.filter(|_| agent.state.is_live())),
                output::or_dash(view.uptime_ms.map(|ms| output::duration(Duration::from_millis(ms)))),
                agent.restarts.to_string(),
                output::or_dash(agent.last_exit.as_ref()),
                output::or_dash(view.usage.map(|usage| baton_actors::model::bounds::shown_bytes(usage.rss_bytes))),
                output::shorten(&agent.spec.argv.join(" "), COMMAND_WIDTH),
            ]
        }),
    )
}
