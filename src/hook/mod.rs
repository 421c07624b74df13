//! The Claude Code hook adapter: the parts of `baton hook` that need no daemon.
//!
//! Claude Code runs `baton hook` at every lifecycle event of every session (each
//! tool call included) and writes the event as one JSON object to its stdin. The
//! hook must be quick and must never break the editor: it reads the event,
//! decides what it means for baton, posts it to the daemon, and when the daemon
//! cannot be reached it records the event locally and exits 0 (fail open). A
//! later hook delivers what was recorded, in order.
//!
//! The hook process posts the event whole to the daemon, which applies it
//! ([`apply`]); the `baton hook` verb itself is in the CLI.
//!
//! # Layout
//! - `apply.rs`: [`apply`], what the daemon does with an event.
//! - `event.rs`: [`HookEvent`] (one event as read from stdin) and [`HookAction`]
//!   (what baton does with it: open, observe, summarize, close).
//! - `spool.rs`: [`Spool`], the fail-open file of events the daemon has not had yet.
//! - `install.rs`: [`install`] and [`uninstall`], which add and remove baton's
//!   entries in a Claude Code settings file.
//! - `command.rs`: [`HookCommand`], the command line those entries run, and the
//!   rule that tells baton's entries from everyone else's.
//! - `settings.rs`: the merge itself, on a settings document.
//! - `durable.rs`: replacing a file atomically and durably.
//! - `ordered_json.rs`: a JSON value that keeps its keys in file order, so a
//!   user's settings file keeps its shape when baton edits it.

mod apply;
mod command;
mod durable;
mod event;
mod install;
mod ordered_json;
mod settings;
mod spool;

use std::time::Duration;

use baton_actors::model::JsonSize;

pub use apply::{HookOutcome, apply, deliver_spool, is_refusal};
pub use command::{HookCommand, InvalidHookCommand, is_baton_hook_command};
pub use event::{HookAction, HookEvent, HookEventName, HookInputError};
pub use install::{INSTALLED_EVENTS, InstallError, SettingsReport, SettingsScope, backup_path, install, uninstall};
pub use settings::EventChange;
pub use spool::{DrainOutcome, DrainReport, SPOOL_FILE, Spool, SpoolEntry, SpoolError};

/// How long `baton hook` may take from reading its stdin to exiting. A delivery
/// still unfinished by then is abandoned and the event spooled instead: the
/// editor waits on the hook, so the hook never waits long on baton.
pub const HOOK_BUDGET: Duration = Duration::from_secs(2);

/// The `timeout` (whole seconds) to give Claude Code for a hook that keeps to
/// `budget`: twice the budget, rounded up, plus one second.
///
/// Claude Code's timeout is a backstop that should never fire: the hook stops
/// itself at its budget. The slack covers what the budget does not measure, such
/// as starting the process and an fsync on a busy disk. A 2 s budget gives 5.
pub fn claude_timeout_secs(budget: Duration) -> u64 {
    let doubled_ms = budget.as_millis().saturating_mul(2);
    u64::try_from(doubled_ms.div_ceil(1000)).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
mod tests;
