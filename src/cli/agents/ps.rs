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
                output::or_dash(view.usage.map(|usage| bytes(usage.rss_bytes))),
                output::shorten(&agent.spec.argv.join(" "), COMMAND_WIDTH),
            ]
        }),
    )
}

/// A size for people: `512B`, `3.2MiB`.
fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count}B");
    }
    // In tenths of the unit, so no float is needed.
    let mut tenths = u128::from(count) * 10 / 1024;
    let mut unit = 0;
    while tenths >= 1024 * 10 && unit + 1 < UNITS.len() {
        tenths /= 1024;
        unit += 1;
    }
    format!("{}.{}{}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(super::bytes(512), "512B");
        assert_eq!(super::bytes(1536), "1.5KiB");
        assert_eq!(super::bytes(3 * 1024 * 1024 + 200 * 1024), "3.1MiB");
        assert_eq!(super::bytes(5 * 1024 * 1024 * 1024), "5.0GiB");
    }
}
