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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use actix::prelude::*;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::model::{AgentId, Handoff, Observation, SessionId};

/// How many lines may wait for an agent that does not read them.
const BACKLOG: usize = 1024;

/// One line for an agent's stdin, newline included.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub(crate) struct FeedLine(pub(crate) Arc<[u8]>);

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
    Handoff { handoff: &'a Handoff },
    Observation { observation: &'a Observation },
}

impl FeedLine {
    fn of(item: &Item<'_>) -> Option<Self> {
        let mut line = serde_json::to_vec(item).ok()?;
        line.push(b'\n');
        Some(Self(line.into()))
    }

    /// The line that tells an agent of a handoff routed to it.
    pub(crate) fn handoff(handoff: &Handoff) -> Option<Self> {
        Self::of(&Item::Handoff { handoff })
    }

    /// The line that tells an agent of a new observation of its session.
    pub(crate) fn observation(observation: &Observation) -> Option<Self> {
        Self::of(&Item::Observation { observation })
    }
}

/// The piped agents of each session, by id.
type BySession = HashMap<SessionId, HashMap<AgentId, Recipient<FeedLine>>>;

/// The agents with a stdin pipe, by session.
#[derive(Clone, Default)]
pub(crate) struct Feeds(Arc<Mutex<BySession>>);

impl Feeds {
    pub(crate) fn join(&self, session: SessionId, agent: AgentId, recipient: Recipient<FeedLine>) {
        self.lock().entry(session).or_default().insert(agent, recipient);
    }

    pub(crate) fn leave(&self, session: SessionId, agent: AgentId) {
        let mut feeds = self.lock();
        if let Some(agents) = feeds.get_mut(&session) {
            agents.remove(&agent);
            if agents.is_empty() {
                feeds.remove(&session);
            }
        }
    }

    /// Whether some agent of `session` has a pipe.
    pub(crate) fn any(&self, session: SessionId) -> bool {
        self.lock().contains_key(&session)
    }

    /// Sends `line` (built only if some agent of `session` has a pipe) to
    /// every piped agent of the session.
    pub(crate) fn send(&self, session: SessionId, line: impl FnOnce() -> Option<FeedLine>) {
        let feeds = self.lock();
        let Some(agents) = feeds.get(&session) else { return };
        let Some(line) = line() else { return };
        for recipient in agents.values() {
            recipient.do_send(line.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BySession> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds").field("sessions", &self.lock().len()).finish()
    }
}

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
