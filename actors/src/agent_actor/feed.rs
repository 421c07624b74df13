//! An agent's stdin pipe: for an agent spawned with one, baton writes the
//! handoffs routed to it and its session's new observations there, one JSON
//! object per line:
//!
//! ```text
//! {"type":"handoff","handoff":{...}}
//! {"type":"observation","observation":{...}}
//! ```
//!
//! The pipe is a convenience, not the durable path: its write end lives in
//! this process, so it ends (the agent reads end-of-file) when the daemon
//! stops, and an agent adopted by a new daemon has none. The inbox
//! (`baton inbox`) holds the same items durably. Lines wait in a bounded
//! channel; when an agent does not read and the channel fills, further lines
//! are dropped with a warning rather than held without bound.
//!
//! Sessions find their piped agents in [`Feeds`], which each agent actor
//! joins for a piped run and leaves when the run ends.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::model::AgentId;

/// How many lines may wait for an agent that does not read them.
const BACKLOG: usize = 1024;

/// The writing end of one run's stdin pipe.
pub(super) struct Feed {
    lines: mpsc::Sender<Arc<[u8]>>,
}

impl Feed {
    /// Starts writing to `stdin` what [`push`](Self::push) is given, in order,
    /// until the pipe breaks or the feed is dropped.
    pub(super) fn start(mut stdin: pipe::Sender, agent: AgentId) -> Self {
        let (lines, mut queued) = mpsc::channel::<Arc<[u8]>>(BACKLOG);
        actix::spawn(async move {
            while let Some(line) = queued.recv().await {
                if let Err(err) = stdin.write_all(&line).await {
                    debug!(%agent, cause = %err, "the agent's stdin closed");
                    return;
                }
            }
        });
        Self { lines }
    }

    /// Queues `line` for the agent; drops it (with a warning) when the agent
    /// has not read the backlog.
    pub(super) fn push(&self, line: Arc<[u8]>, agent: AgentId) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.lines.try_send(line) {
            warn!(%agent, backlog = BACKLOG, "the agent does not read its stdin; a line was dropped");
        }
    }
}
