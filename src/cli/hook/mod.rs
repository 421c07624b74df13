//! `baton hook`: Claude Code's hook command, and `baton hook install|uninstall`.
//!
//! Claude Code runs `baton hook` at every event of every session, each tool
//! call included, and waits for it, so the hook is fast and fails open: it
//! exits 0 whatever happens, within its budget (default 2 s). It reads the
//! event, posts it whole to the daemon (one round trip; the daemon applies it,
//! see [`crate::hook::apply`]), and when the daemon cannot be reached or
//! started in time it appends the event to the spool in the data dir, synced
//! to disk, for the daemon to apply when it next runs. Events spooled earlier
//! go first: while the spool holds anything, a hook drains it before posting
//! its own event, or spools its own behind it.

mod install;
mod uninstall;

use std::io::Read as _;
use std::time::{Duration, Instant};

use tracing::warn;

use super::GlobalArgs;
use super::context::Context;
use crate::client::{Client, ClientError};
use crate::hook::{DrainOutcome, HOOK_BUDGET, HookEvent, HookOutcome, Spool, SpoolEntry, SpoolError};

/// Options of `baton hook`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HookArgs {
    /// Install or uninstall baton's hook instead of running it.
    #[command(subcommand)]
    command: Option<HookCommand>,
    /// How long the hook may take before it spools the event and exits [default: 2s].
    #[arg(long, env = "BATON_HOOK_BUDGET", value_name = "DURATION", value_parser = humantime::parse_duration)]
    budget: Option<Duration>,
}

/// The hook's own verbs.
#[derive(Debug, clap::Subcommand)]
enum HookCommand {
    /// Adds baton's hook to a Claude Code settings file, keeping everything else.
    Install(install::InstallArgs),
    /// Removes baton's hook from a Claude Code settings file, and nothing else.
    Uninstall(uninstall::UninstallArgs),
}

/// Runs `baton hook` or one of its verbs.
pub fn run(global: &GlobalArgs, args: HookArgs) -> anyhow::Result<()> {
    match args.command {
        Some(HookCommand::Install(install)) => install::run(global, install),
        Some(HookCommand::Uninstall(uninstall)) => uninstall::run(global, uninstall),
        None => {
            run_hook(global, args.budget.unwrap_or(HOOK_BUDGET));
            Ok(())
        }
    }
}

/// The hook itself: never fails, only warns on stderr.
fn run_hook(global: &GlobalArgs, budget: Duration) {
    let started = Instant::now();
    let mut input = Vec::new();
    if let Err(err) = std::io::stdin().read_to_end(&mut input) {
        return warn!(cause = %err, "baton hook: cannot read the event from stdin; ignoring it");
    }
    let event = match HookEvent::parse(&input) {
        Ok(event) => event,
        Err(err) => return warn!(cause = %err, "baton hook: ignoring input that is not a hook event"),
    };
    let context = match Context::new(global) {
        Ok(context) => context,
        Err(err) => return warn!(cause = %err, "baton hook: no settings, so nowhere to record the event; dropping it"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return warn!(cause = %err, "baton hook: cannot start; dropping the event"),
    };
    let spool = Spool::new(&context.settings.data_dir);
    // Made before the post, so that a post cut short and the spooled copy
    // carry the same id, and the daemon keys them the same.
    let entry = SpoolEntry::new(event.into_raw());
    let left = budget.saturating_sub(started.elapsed());
    let delivered = runtime.block_on(async { tokio::time::timeout(left, deliver(&context, &spool, &entry)).await });
    let spool_it = match delivered {
        Ok(Delivery::Applied) => false,
        Ok(Delivery::Refused(err)) => {
            warn!(cause = %err, "baton hook: the daemon refused the event; dropping it");
            false
        }
        Ok(Delivery::Failed(why)) => {
            warn!(%why, "baton hook: the daemon did not take the event; spooling it");
            true
        }
        Err(_) => {
            warn!(budget = ?budget, "baton hook: out of time; spooling the event");
            true
        }
    };
    if spool_it {
        if let Err(err) = spool.append_entry(&entry) {
            warn!(cause = %err, spool = %spool.path().display(), "baton hook: cannot spool the event; it is lost");
        }
    }
}

/// How a delivery ended.
enum Delivery {
    /// The daemon applied the event.
    Applied,
    /// The daemon refused it for good (a malformed event, an ended session).
    Refused(ClientError),
    /// It did not reach the daemon, or the daemon failed for now: spool it.
    Failed(Failure),
}

/// Why a delivery failed.
#[derive(Debug)]
enum Failure {
    /// The client's error (the daemon unreachable, or failing for now).
    Client(ClientError),
    /// Something local (the spool), or another hook holds the spool.
    Other(String),
}

impl Failure {
    fn is_unreachable(&self) -> bool {
        matches!(self, Failure::Client(ClientError::Unreachable { .. }))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Client(err) => err.fmt(f),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

/// Delivers `entry` (after the spool), starting the daemon if none answers.
/// The post is tried first: a running daemon costs one round trip.
async fn deliver(context: &Context, spool: &Spool, entry: &SpoolEntry) -> Delivery {
    match deliver_to(&context.client, spool, entry).await {
        Delivery::Failed(why) if why.is_unreachable() => match context.connect().await {
            Ok(client) => deliver_to(client, spool, entry).await,
            Err(err) => Delivery::Failed(Failure::Client(err)),
        },
        delivery => delivery,
    }
}

/// Drains the spool if it holds anything, then posts `entry`.
async fn deliver_to(client: &Client, spool: &Spool, entry: &SpoolEntry) -> Delivery {
    match spool.is_empty() {
        Ok(true) => {}
        Ok(false) => match spool.drain_async(|spooled| post_refusals_settled(client, spooled.clone())).await {
            Ok(report) if report.outcome == DrainOutcome::Emptied => {}
            Ok(_) => return Delivery::Failed(Failure::Other("another hook is delivering the spool".into())),
            Err(SpoolError::Delivery { error, .. }) => return Delivery::Failed(Failure::Client(error)),
            Err(SpoolError::Io(err)) => return Delivery::Failed(Failure::Other(format!("the spool: {err}"))),
        },
        Err(err) => return Delivery::Failed(Failure::Other(format!("cannot read the spool: {err}"))),
    }
    match post(client, entry).await {
        Ok(_) => Delivery::Applied,
        Err(err) if is_refusal(&err) => Delivery::Refused(err),
        Err(err) => Delivery::Failed(Failure::Client(err)),
    }
}

/// Posts a spooled entry; one the daemon refuses is logged and counts as
/// delivered, so it does not hold back the ones after it.
async fn post_refusals_settled(client: &Client, entry: SpoolEntry) -> Result<(), ClientError> {
    match post(client, &entry).await {
        Ok(_) => Ok(()),
        Err(err) if is_refusal(&err) => {
            warn!(entry_id = %entry.id, cause = %err, "baton hook: the daemon refused a spooled event; dropping it");
            Ok(())
        }
        Err(err) => Err(err),
    }
}

async fn post(client: &Client, entry: &SpoolEntry) -> Result<HookOutcome, ClientError> {
    client.post(&format!("/v1/hooks/claude-code?spool_id={}", entry.id), &entry.event).await
}

/// Whether the daemon answered that it will never take the event (4xx).
fn is_refusal(err: &ClientError) -> bool {
    matches!(err, ClientError::Api { status, .. } if (400..500).contains(status))
}
