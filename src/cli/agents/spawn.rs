//! `baton spawn`: a command, or the template of a role.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use baton_actors::model::{AdoptPolicy, AgentState, RestartPolicy, SessionId, ShutdownPolicy};

use super::millis;
use crate::api::{AgentView, SpawnAgentRequest};
use crate::cli::context::Context;
use crate::cli::output;
use crate::cli::values::{agent_time_limit, memory_limit};

/// Options of `baton spawn`.
#[derive(Debug, clap::Args)]
pub struct SpawnArgs {
    /// The session the agent works for.
    #[arg(long, value_name = "ID")]
    session: SessionId,
    /// Its role in the session, for routing handoffs.
    #[arg(long)]
    role: Option<String>,
    /// When to run it again after it ends [default: never]. With a command only.
    #[arg(long, value_name = "POLICY")]
    restart: Option<RestartPolicy>,
    /// The most restarts within the restart window before it is failed.
    #[arg(long, value_name = "N")]
    max_restarts: Option<u32>,
    /// Stop it after it has run this long (30s, 2h).
    #[arg(long, value_name = "DURATION", value_parser = agent_time_limit)]
    max_runtime: Option<Duration>,
    /// Stop it after this long without output.
    #[arg(long, value_name = "DURATION", value_parser = agent_time_limit)]
    stale_after: Option<Duration>,
    /// Stop it when its processes use more memory than this (RSS): 512M, 2GiB.
    #[arg(long, value_name = "SIZE", value_parser = memory_limit)]
    max_rss: Option<u64>,
    /// Stop it when its processes used this much CPU time.
    #[arg(long, value_name = "DURATION", value_parser = agent_time_limit)]
    max_cpu_time: Option<Duration>,
    /// Give it a stdin pipe on which its handoffs and its session's new
    /// observations arrive as JSON lines (it ends when the daemon stops).
    #[arg(long)]
    stdin_pipe: bool,
    /// How much it matters when the agents' memory budget is exceeded; the
    /// lowest priority is stopped first [default: 0].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    priority: Option<i32>,
    /// What a clean shutdown of the daemon does with it: keep (the next
    /// daemon adopts it) or stop [default: keep].
    #[arg(long, value_name = "POLICY")]
    on_shutdown: Option<ShutdownPolicy>,
    /// What a restarted daemon does when it finds it running: adopt, or
    /// restart it afresh [default: adopt].
    #[arg(long, value_name = "POLICY")]
    on_adopt: Option<AdoptPolicy>,
    /// The directory it runs in [default: the role template's, else the session's, else this one].
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// An environment variable to set for it.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value)]
    env: Vec<(String, String)>,
    /// The command and its arguments, after `--`; run directly, never through
    /// a shell. Without one, `--role`'s template from the daemon's config
    /// (`[engine.agents.roles.<role>]`) says what to run, with its restart
    /// policy and limits; the flags given replace the template's.
    #[arg(last = true, required_unless_present = "role", value_name = "CMD")]
    command: Vec<String>,
}

/// Spawns the agent and prints its id (its view with `--json`).
pub async fn run(context: &Context, args: SpawnArgs) -> anyhow::Result<()> {
    let request = SpawnAgentRequest {
        session: args.session,
        argv: args.command,
        role: args.role,
        cwd: args.cwd,
        // The last resort, after the role's template and the session.
        caller_cwd: std::env::current_dir().ok(),
        env: args.env.into_iter().collect::<BTreeMap<_, _>>(),
        restart: args.restart,
        max_restarts: args.max_restarts,
        max_runtime_ms: args.max_runtime.map(millis),
        stale_after_ms: args.stale_after.map(millis),
        max_rss_bytes: args.max_rss,
        max_cpu_time_ms: args.max_cpu_time.map(millis),
        stdin_pipe: args.stdin_pipe,
        priority: args.priority,
        on_shutdown: args.on_shutdown,
        on_adopt: args.on_adopt,
    };
    let view: AgentView = context.connect().await?.post("/v1/agents", &request).await?;
    if context.json {
        output::json(&view)?;
    } else {
        output::line(view.agent.id)?;
    }
    // An agent that could not start keeps its record, for `baton ps`: its id
    // is printed, and the failure is the command's.
    if view.agent.state == AgentState::Failed {
        let reason = view.agent.reason.as_deref().unwrap_or("no reason given");
        anyhow::bail!("agent {} failed: {reason}", view.agent.id);
    }
    Ok(())
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
