//! `baton handoff ...`: hand work from one agent to another. One file per
//! verb; the five steps of the lifecycle (ack, start, complete, fail, cancel)
//! share `update.rs`, as they share one route.
//!
//! Inside an agent, baton has set `BATON_SESSION_ID` and `BATON_AGENT_ID`, so
//! an agent hands work off with `baton handoff create --role R --task ...` and
//! takes its steps with `baton handoff ack HANDOFF`, without naming itself.

mod create;
mod list;
mod show;
mod update;

use std::time::Duration;

use crate::HandoffAction;
use baton_actors::model::{HandoffState, HandoffStats, Latency};

use super::context::Context;
use super::output;

/// The handoff verbs.
#[derive(Debug, clap::Subcommand)]
pub enum HandoffCommand {
    /// Hands work to an agent or to a role and prints the handoff's id.
    Create(create::CreateArgs),
    /// Acknowledges a handoff: its target takes it on.
    #[command(visible_alias = "acknowledge")]
    Ack(update::UpdateArgs),
    /// Starts on an acknowledged handoff.
    Start(update::UpdateArgs),
    /// Completes a handoff in progress, optionally with a result.
    Complete(update::UpdateArgs),
    /// Fails an acknowledged or started handoff: its target cannot do it.
    Fail(update::UpdateArgs),
    /// Cancels an open handoff (its sender's step).
    Cancel(update::UpdateArgs),
    /// Lists handoffs with their metrics.
    List(list::ListArgs),
    /// Shows one handoff and its history.
    Show(show::ShowArgs),
}

/// Runs a handoff verb.
pub async fn run(context: &Context, command: HandoffCommand) -> anyhow::Result<()> {
    match command {
        HandoffCommand::Create(args) => create::run(context, args).await,
        HandoffCommand::Ack(args) => update::run(context, HandoffAction::Acknowledge, args).await,
        HandoffCommand::Start(args) => update::run(context, HandoffAction::Start, args).await,
        HandoffCommand::Complete(args) => update::run(context, HandoffAction::Complete, args).await,
        HandoffCommand::Fail(args) => update::run(context, HandoffAction::Fail, args).await,
        HandoffCommand::Cancel(args) => update::run(context, HandoffAction::Cancel, args).await,
        HandoffCommand::List(args) => list::run(context, args).await,
        HandoffCommand::Show(args) => show::run(context, args).await,
    }
}

/// Reads a `--payload` or `--result`: any JSON value.
fn json_value(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))
}

/// A duration in whole milliseconds, for the wire.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `3 completed, 1 initiated; 75% acknowledged`, or `none`: the counts by
/// state (those above zero) and the acknowledgement rate.
pub fn counts(stats: &HandoffStats) -> String {
    if stats.total == 0 {
        return "none".to_owned();
    }
    let by_state = HandoffState::ALL
        .iter()
        .filter(|&&state| stats.count(state) > 0)
        .map(|&state| format!("{} {state}", stats.count(state)))
        .collect::<Vec<_>>()
        .join(", ");
    match stats.ack_rate {
        Some(rate) => format!("{by_state}; {} acknowledged", output::percent(rate)),
        None => by_state,
    }
}

/// The counts, then the latencies where there are any:
/// `...; to ack: mean 300ms, p95 500ms; to complete: mean 1.5s, p95 2s`.
fn summary(stats: &HandoffStats) -> String {
    let mut line = counts(stats);
    for (what, latency) in [("to ack", stats.time_to_ack), ("to complete", stats.time_to_complete)] {
        if let Some(Latency { mean_ms, p95_ms, .. }) = latency {
            let mean = output::latency(Duration::from_secs_f64(mean_ms.max(0.0) / 1000.0));
            let p95 = output::latency(Duration::from_millis(p95_ms));
            line.push_str(&format!("; {what}: mean {mean}, p95 {p95}"));
        }
    }
    line
}
