//! The Claude Code hook adapter: the parts of `baton hook` that need no daemon.
//!
//! Claude Code runs `baton hook` at every lifecycle event of every session (each
//! tool call included) and writes the event as one JSON object to its stdin. The
//! hook must be quick and must never break the editor: it reads the event,
//! decides what it means for baton, posts it to the daemon, and when the daemon
//! cannot be reached it records the event locally and exits 0 (fail open). A
//! later hook delivers what was recorded, in order.
//!
//! This module holds the pure and the file-bound halves of that; the HTTP half
//! (posting to the daemon) and the `baton hook` verb belong to the CLI.
//!
//! # Layout
//! - `event.rs`: [`HookEvent`] (one event as read from stdin) and [`HookAction`]
//!   (what baton does with it: open, observe, summarize, close).
//! - `spool.rs`: [`Spool`], the fail-open file of events the daemon has not had yet.
//! - `command.rs`: [`HookCommand`], the command line a Claude Code settings
//!   entry runs for baton, and the rule that tells baton's entries from
//!   everyone else's.
//! - `durable.rs`: replacing a file atomically and durably.

mod command;
mod durable;
mod event;
mod spool;

use std::fmt;
use std::io;

pub use command::{HookCommand, InvalidHookCommand, is_baton_hook_command};
pub use event::{HookAction, HookEvent, HookEventName, HookInputError};
pub use spool::{DrainOutcome, DrainReport, SPOOL_FILE, Spool, SpoolEntry, SpoolError};

/// A JSON value shown only by the size of its encoding, such as `<120 bytes>`:
/// hook events carry prompts, file contents and command output, which stay out
/// of logs.
struct JsonSize<'a>(&'a serde_json::Value);

impl fmt::Debug for JsonSize<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counter = ByteCounter(0);
        // Writing a `Value` to a writer that never fails cannot fail.
        let _ = serde_json::to_writer(&mut counter, self.0);
        write!(f, "<{} bytes>", counter.0)
    }
}

/// A writer that only counts what it is given.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
