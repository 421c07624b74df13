//! `baton logs`.
//!
//! `--follow` reads the agent's log file itself, at the path the daemon
//! reports in the agent's view, rather than polling the logs route: the route
//! answers with a tail, which cannot tell new lines from repeated ones, while a
//! [`LogCursor`] keeps a byte offset and notices rotation (baton rotates by
//! copy-and-truncate). The daemon only serves its own user on a local socket,
//! so the CLI can always read the files it writes.

use std::io::Write as _;
use std::time::Duration;

use baton_actors::process::LogCursor;

use super::AgentArg;
use crate::api::AgentView;
use crate::cli::context::Context;

/// How often `--follow` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Options of `baton logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[command(flatten)]
    agent: AgentArg,
    /// Its stderr instead of its stdout.
    #[arg(long)]
    stderr: bool,
    /// The last this many lines (at most 10000).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100)]
    lines: usize,
    /// Keep printing what it writes, until interrupted.
    #[arg(long, short = 'f')]
    follow: bool,
}

/// Prints the last lines the agent wrote; with `--follow`, then what it writes next.
pub async fn run(context: &Context, args: LogsArgs) -> anyhow::Result<()> {
    let client = context.connect().await?;
    let stream = if args.stderr { "stderr" } else { "stdout" };
    // Found before the tail is read, so nothing written in between is missed.
    let cursor = if args.follow {
        let view: AgentView = client.get(&args.agent.path("")).await?;
        let path = if args.stderr { view.logs.stderr } else { view.logs.stdout };
        Some(LogCursor::at_end(path)?)
    } else {
        None
    };
    let text = client.get_text(&format!("{}?stream={stream}&lines={}", args.agent.path("logs"), args.lines)).await?;
    let lines = text.lines();
    if context.json && !args.follow {
        let lines: Vec<&str> = lines.collect();
        return crate::cli::output::json(&lines);
    }
    for line in lines {
        print_line(context.json, line)?;
    }
    match cursor {
        Some(cursor) => follow(context.json, cursor).await,
        None => Ok(()),
    }
}

/// Prints new lines as they come until ctrl-c (or SIGTERM kills the process).
async fn follow(json: bool, mut cursor: LogCursor) -> anyhow::Result<()> {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let read = cursor.read_lines()?;
        if read.truncated {
            eprintln!("baton: the log was rotated");
        }
        for line in &read.lines {
            print_line(json, line)?;
        }
        std::io::stdout().flush()?;
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
    }
}

/// One line: as it is, or as a JSON string (one a line) with `--json`.
fn print_line(json: bool, line: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut stdout, line)?;
        writeln!(stdout)?;
    } else {
        writeln!(stdout, "{line}")?;
    }
    Ok(())
}
