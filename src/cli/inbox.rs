//! `baton inbox`: what waits for an agent.
//!
//! An agent's loop: `baton inbox --wait 30s --json`, then for each handoff
//! `baton handoff ack`, the work, `baton handoff complete`; observations
//! are acked with `baton queue ack --consumer <agent id>`.
//!
//! Reading claims only when the reader is the agent itself (its
//! `BATON_AGENT_ID` is the agent read) or asks to, with `--claim`, `--max` or
//! `--lease`: an operator who looks at an agent's inbox takes nothing away
//! from the queue.

use std::time::Duration;

use baton_actors::model::AgentId;
use chrono::Utc;

use super::context::Context;
use super::output;
use super::values::{lease, wait_duration};
use crate::api::InboxContents;
use crate::client::Client;

/// The most of a task the table shows.
const TASK_WIDTH: usize = 50;

/// Options of `baton inbox`.
#[derive(Debug, clap::Args)]
pub struct InboxArgs {
    /// Whose inbox.
    #[arg(long, value_name = "AGENT", env = "BATON_AGENT_ID")]
    agent: AgentId,
    /// When nothing waits, wait this long for something to arrive (at most 10m).
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    wait: Option<Duration>,
    /// Lease observations of its session to it, as its own reads do (the
    /// agent itself claims without it, and so do --max and --lease; anyone
    /// else only looks).
    #[arg(long)]
    claim: bool,
    /// Claim at most this many observations for it [default with a claim: 10; 0 takes none].
    #[arg(long, value_name = "N")]
    max: Option<usize>,
    /// Claim them for this long, before they return to the queue [default with a claim: 5m].
    #[arg(long, value_name = "DURATION", value_parser = lease)]
    lease: Option<Duration>,
}

impl InboxArgs {
    /// Whether the read claims: the agent's own read does, another's only
    /// with `--claim`, `--max` or `--lease`.
    fn claims(&self) -> bool {
        let own = std::env::var(crate::engine::process::BATON_AGENT_ID).is_ok_and(|own| own == self.agent.to_string());
        own || self.claim || self.max.is_some() || self.lease.is_some()
    }
}

/// Prints the handoffs routed to the agent that it has not acknowledged, and
/// the observations leased to it (with `--json`, `{"handoffs": [...], "observations": [...]}`).
pub async fn run(context: &Context, args: InboxArgs) -> anyhow::Result<()> {
    let mut path = format!("/v1/agents/{}/inbox?claim={}", args.agent, args.claims());
    if let Some(max) = args.max {
        path.push_str(&format!("&max={max}"));
    }
    if let Some(lease) = args.lease {
        path.push_str(&format!("&lease_ms={}", millis(lease)));
    }
    if let Some(wait) = args.wait {
        path.push_str(&format!("&wait_ms={}", millis(wait)));
    }
    // The answer may wait as long as the inbox read does.
    let client = context.connect().await?.clone().with_timeout(Client::DEFAULT_TIMEOUT + args.wait.unwrap_or_default());
    let inbox: InboxContents = client.get(&path).await?;
    if context.json {
        return output::json(&inbox);
    }
    if inbox.handoffs.is_empty() && inbox.observations.is_empty() {
        return output::line(format_args!("nothing waits for agent {}", args.agent));
    }
    if !inbox.handoffs.is_empty() {
        output::table(
            &["HANDOFF", "FROM", "AGE", "ACK BY", "TASK"],
            inbox.handoffs.iter().map(|handoff| {
                vec![
                    handoff.id.to_string(),
                    output::or_dash(handoff.from),
                    output::duration((Utc::now() - handoff.created_at).to_std().unwrap_or_default()),
                    output::or_dash(handoff.ack_deadline.map(|at| at.to_rfc3339())),
                    output::shorten(&handoff.task.replace(['\n', '\t'], " "), TASK_WIDTH),
                ]
            }),
        )?;
    }
    if !inbox.observations.is_empty() {
        if !inbox.handoffs.is_empty() {
            output::line("")?;
        }
        super::queue::print(context, &inbox.observations)?;
    }
    Ok(())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
