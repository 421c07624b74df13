//! The agent actor: one per agent whose process runs, waits to restart, or is
//! being stopped. It owns the agent's record and its one OS process.
//!
//! Like the session actor it checkpoints every change (and the events that
//! report it) before it answers or acts on it, so the record always says which
//! process (pid and start time) is the agent's. That is what lets a new actor,
//! after this one crashed, or a new engine, after the daemon died, know the
//! process again and *adopt* it instead of spawning a second one.
//!
//! # Layout
//! - `run.rs`: starting a run, noticing its end, the restart policy and backoff.
//! - `stop.rs`: stopping the process session, on request or when a limit fires.
//! - `watchdog.rs`: the limits checked on watchdog ticks, and log rotation.
//! - `spawned.rs`: spawning on the spawner thread, off the engine's; the pids
//!   this process spawned, so orphan reaping spares them.
//! - `feed.rs`: the optional stdin pipe that handoffs and observations are written to.
//!
//! How a run's end is seen: a process this actor spawned is its child, and a
//! future spawned in the actor's context waits for it, so its exit status is
//! known at once. An adopted process (started by an earlier actor or engine)
//! is not waited for here: its identity is checked on each watchdog tick, and
//! its exit status is unknown (counted as a failure by the restart policy).

mod feed;
mod run;
mod spawned;
mod stop;
mod watchdog;

use std::collections::VecDeque;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tracing::warn;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::messages::WatchdogTick;
use crate::model::{ActorRef, Agent, AgentState, EventKind, NewEvent};
use crate::process::{LogCursor, LogPaths, ProcessIdentity};
use crate::protocol::{DeathNotice, FeedLine, HandoffDelivered, Launch, Parent, Retire, Stop, StopRun};
use crate::store::Commit;
pub(crate) use spawned::{reap_orphans, remove_logs};

use stop::{StopCause, Stopping};

/// The actor of one agent.
pub struct AgentActor {
    /// The record as last checkpointed.
    agent: Agent,
    engine: Engine,
    /// Its supervisor.
    parent: Parent,
    /// This incarnation, so the supervisor can tell its notices from an older one's.
    generation: u64,
    /// Tells the supervisor how this actor ended, panics included.
    notice: DeathNotice,
    /// Counts runs (and cancelled backoffs): a notice of exit or a backoff
    /// timer from an earlier run is ignored.
    run: u64,
    /// The process of the current run, while it lives.
    watch: Option<Watch>,
    /// Set while the process session is being stopped.
    stopping: Option<Stopping>,
    /// When the restart policy ran it again, within the current window.
    restarts: VecDeque<DateTime<Utc>>,
    /// Set once it asked to retire, so it asks once.
    retiring: bool,
    /// The current run's stdin pipe, for an agent spawned with one.
    feed: Option<feed::Feed>,
}

/// The process of the current run.
struct Watch {
    identity: ProcessIdentity,
    /// Whether this actor spawned it and waits for it; false for one adopted,
    /// whose identity is polled on ticks instead.
    waited: bool,
    /// Where its output goes, followed to notice activity.
    cursors: [LogCursor; 2],
    /// When it last wrote output (or started, or was adopted).
    last_output: DateTime<Utc>,
}

impl AgentActor {
    pub(crate) fn new(agent: Agent, engine: Engine, parent: Parent, generation: u64) -> Self {
        let notice = DeathNotice::new(parent.exited.clone(), ActorRef::Agent(agent.id), generation);
        Self {
            agent,
            engine,
            parent,
            generation,
            notice,
            run: 0,
            watch: None,
            stopping: None,
            restarts: VecDeque::new(),
            retiring: false,
            feed: None,
        }
    }

    fn actor(&self) -> ActorRef {
        ActorRef::Agent(self.agent.id)
    }

    fn logs(&self) -> LogPaths {
        LogPaths::in_dir(logs_dir(&self.engine), self.agent.id)
    }

    /// Checkpoints `next` with `events`, keeps it, and returns the commit to wait for.
    fn save(&mut self, next: Agent, events: Vec<EventKind>) -> Result<Commit, EngineError> {
        let now = next.updated_at;
        let events = events.into_iter().map(|kind| NewEvent::session(next.session, now, kind)).collect();
        self.engine.store.save_agent(&next, events)?;
        self.agent = next;
        Ok(self.engine.store.commit())
    }

    /// Moves `next` (a copy of the record) to `to`, adding the event to `events`.
    fn step(
        next: &mut Agent,
        to: AgentState,
        now: DateTime<Utc>,
        reason: Option<String>,
        events: &mut Vec<EventKind>,
    ) -> Result<(), EngineError> {
        let from = next.transition(to, now, reason.clone())?;
        events.push(EventKind::AgentStateChanged { agent: next.id, from, to, reason });
        Ok(())
    }

    /// Moves the record through `states` in one checkpoint, each with `reason`.
    fn change_state(&mut self, states: &[AgentState], reason: Option<String>) -> Result<Commit, EngineError> {
        let now = self.engine.clock.now();
        let mut next = self.agent.clone();
        let mut events = Vec::new();
        for &to in states {
            Self::step(&mut next, to, now, reason.clone(), &mut events)?;
        }
        self.save(next, events)
    }

    /// Asks the supervisor to retire this actor once `change` is durable: the
    /// agent's run is over, and it frees its slot.
    fn retire_after(&mut self, change: Result<Commit, EngineError>, ctx: &mut Context<Self>) {
        let agent_id = self.agent.id;
        match change {
            Ok(commit) => {
                ctx.spawn(actix::fut::wrap_future::<_, Self>(commit).map(move |result, act, _| {
                    if let Err(err) = result {
                        warn!(%agent_id, cause = %err, "agent change not committed");
                    }
                    act.retire();
                }));
            }
            Err(err) => {
                warn!(%agent_id, cause = %err, "agent change refused");
                self.retire();
            }
        }
    }

    /// Takes the stdin pipe of a run that just started, if it has one.
    fn open_feed(&mut self, stdin: Option<tokio::net::unix::pipe::Sender>, ctx: &mut Context<Self>) {
        self.close_feed();
        if let Some(stdin) = stdin {
            self.feed = Some(feed::Feed::start(stdin, self.agent.id));
            self.engine.feeds.join(self.agent.session, self.agent.id, ctx.address().recipient());
        }
    }

    /// Lets go of the current run's stdin pipe (the run ended).
    fn close_feed(&mut self) {
        if self.feed.take().is_some() {
            self.engine.feeds.leave(self.agent.session, self.agent.id);
        }
    }

    fn retire(&mut self) {
        if !self.retiring {
            self.retiring = true;
            // The run is over, or the engine stops: a cgroup its processes
            // left goes (one that still holds a process stays, to be found).
            if let Some(dir) = &self.agent.cgroup {
                crate::process::AgentCgroup::at(dir).remove_if_empty();
            }
            self.parent.retire.do_send(Retire { actor: self.actor(), generation: self.generation });
        }
    }
}

/// Where agents' log files go.
pub(crate) fn logs_dir(engine: &Engine) -> std::path::PathBuf {
    engine.config.agents.logs_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("baton-agents"))
}

impl Actor for AgentActor {
    type Context = Context<Self>;

    /// A queued agent waits for [`Launch`]; any other picks up where its
    /// record says: a live process is adopted, a dead one gets its restart
    /// policy, a pending restart is run.
    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.agent.state != AgentState::Queued {
            self.resume(ctx);
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.close_feed();
    }
}

impl Handler<Launch> for AgentActor {
    type Result = ResponseFuture<Result<Agent, EngineError>>;

    fn handle(&mut self, _: Launch, ctx: &mut Context<Self>) -> Self::Result {
        self.engine.faults.maybe_panic(self.actor());
        let (answer, answered) = oneshot::channel();
        self.start_run(Some(answer), ctx);
        Box::pin(async move { answered.await.unwrap_or(Err(EngineError::ShuttingDown)) })
    }
}

impl Handler<StopRun> for AgentActor {
    type Result = ResponseFuture<Result<Agent, EngineError>>;

    fn handle(&mut self, StopRun { grace, reason }: StopRun, ctx: &mut Context<Self>) -> Self::Result {
        self.engine.faults.maybe_panic(self.actor());
        let (answer, answered) = oneshot::channel();
        self.stop(StopCause::Requested(reason), grace, Some(answer), ctx);
        Box::pin(async move { answered.await.unwrap_or(Err(EngineError::ShuttingDown)) })
    }
}

impl Handler<WatchdogTick> for AgentActor {
    type Result = ();

    fn handle(&mut self, WatchdogTick { now }: WatchdogTick, ctx: &mut Context<Self>) {
        self.engine.faults.maybe_panic(self.actor());
        self.check(now, ctx);
    }
}

impl Handler<HandoffDelivered> for AgentActor {
    type Result = ();

    fn handle(&mut self, HandoffDelivered(handoff): HandoffDelivered, _: &mut Context<Self>) {
        tracing::debug!(agent_id = %self.agent.id, handoff_id = %handoff.id, "handoff delivered");
        if let (Some(feed), Some(FeedLine(line))) = (&self.feed, FeedLine::handoff(&handoff)) {
            feed.push(line, self.agent.id);
        }
    }
}

impl Handler<FeedLine> for AgentActor {
    type Result = ();

    fn handle(&mut self, FeedLine(line): FeedLine, _: &mut Context<Self>) {
        if let Some(feed) = &self.feed {
            feed.push(line, self.agent.id);
        }
    }
}

impl Handler<Stop> for AgentActor {
    type Result = ();

    fn handle(&mut self, Stop { exit }: Stop, ctx: &mut Context<Self>) {
        self.notice.set_exit(exit);
        ctx.stop();
    }
}
