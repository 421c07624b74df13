//! `baton status`: what the daemon is and holds.

use std::collections::BTreeMap;
use std::time::Duration;

use super::context::Context;
use super::output;
use crate::api::Status;

/// Prints the daemon's version, uptime, paths, session, agent and handoff
/// counts, queue depth and the handoff acknowledgement rate.
pub async fn run(context: &Context) -> anyhow::Result<()> {
    let status: Status = context.connect().await?.get("/v1/status").await?;
    if context.json {
        return output::json(&status);
    }
    let sessions = counts(&status.sessions);
    let agents = counts(&status.agents);
    output::fields([
        ("version", status.version.clone()),
        ("pid", status.pid.to_string()),
        ("uptime", output::duration(Duration::from_millis(status.uptime_ms))),
        ("data dir", status.data_dir.display().to_string()),
        ("socket", status.socket.display().to_string()),
        ("sessions", sessions),
        ("agents", agents),
        (
            "queue",
            format!(
                "{} pending, {} leased, {} dead, {} acked",
                status.queue.pending, status.queue.leased, status.queue.dead, status.queue.acked
            ),
        ),
        ("handoffs", super::handoff::counts(&status.handoffs)),
        ("tracking", status.agent_tracking.clone()),
    ])
}

/// `2 running, 1 stopped`, or `none`.
fn counts(by_state: &BTreeMap<String, usize>) -> String {
    if by_state.is_empty() {
        return "none".to_owned();
    }
    by_state.iter().map(|(state, count)| format!("{count} {state}")).collect::<Vec<_>>().join(", ")
}
