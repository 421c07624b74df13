//! The library handle: the whole engine, in-process, behind a few async methods.
//!
//! [`BatonBuilder::spawn`] starts an actix system on a thread of its own and
//! returns a [`Baton`]: `Send + Sync + Clone`, and its futures run on any
//! executor (a plain tokio runtime, say), because they only wait on channels
//! into that thread. Callers never touch actix.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use actix::{Actor, Addr, MailboxError};
use baton_actors::messages::{CloseSession, FindSession, GetSession, ListSessions, Open, Shutdown};
use baton_actors::model::{CloseMode, Event, OpenSession, Session, SessionId, SessionState};
use baton_actors::process::Tracking;
use baton_actors::store::FlushObserver;
use baton_actors::{
    AgentConfig, Clock, CommitMode, Engine, EngineConfig, Faults, HandoffTransfer, QueueConfig, SledStore, Store,
    StoreOptions, SupervisionStrategy, Supervisor, SystemClock,
};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::events::EventStream;
use crate::paths::default_data_dir;

/// A running baton engine. Cheap to clone; every clone drives the same engine.
///
/// Call [`shutdown`](Self::shutdown) to stop it: that flushes the store and
/// releases the data dir. Dropping the last clone without it stops the engine
/// too, less politely (the store still flushes as it closes).
#[derive(Clone)]
pub struct Baton {
    inner: Arc<Inner>,
}

struct Inner {
    supervisor: Addr<Supervisor>,
    system: actix_rt::System,
    /// Weak, so that nothing outside the engine's thread keeps the database
    /// open once the engine has stopped.
    store: Weak<dyn Store>,
    data_dir: PathBuf,
    /// Where agents' log files are, for reading their output.
    logs_dir: PathBuf,
    /// How agents' processes are tracked, to say so.
    tracking: Arc<Tracking>,
    /// Completes when the engine's thread has ended and the store is closed.
    exited: Mutex<Option<oneshot::Receiver<()>>>,
    #[cfg(feature = "fault-injection")]
    faults: Faults,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.system.stop();
    }
}

impl Baton {
    /// Starts describing an engine to spawn.
    pub fn builder() -> BatonBuilder {
        BatonBuilder::default()
    }

    /// Opens a session, or returns the one already opened with the same
    /// external id (recording activity on it). Returns once it is durable.
    pub async fn open_session(&self, spec: OpenSession) -> Result<Session> {
        self.ask(Open(spec)).await
    }

    /// The session with this id.
    pub async fn session(&self, id: SessionId) -> Result<Session> {
        self.ask(GetSession(id)).await
    }

    /// The session with this external id, if there is one, as last
    /// checkpointed. Unlike a repeated open it records no activity and wakes no
    /// actor.
    pub async fn session_by_external_id(&self, external_id: impl Into<String>) -> Result<Option<Session>> {
        self.ask(FindSession { external_id: external_id.into() }).await
    }

    /// Every session, oldest first.
    pub async fn sessions(&self) -> Result<Vec<Session>> {
        self.ask(ListSessions { state: None }).await
    }

    /// The sessions in `state`, oldest first.
    pub async fn sessions_in(&self, state: SessionState) -> Result<Vec<Session>> {
        self.ask(ListSessions { state: Some(state) }).await
    }

    /// Closes a session, draining its queue: with observations still pending
    /// or leased it stays `closing` until consumers have acked them, then
    /// closes. Returns its record once the change is durable.
    pub async fn close_session(&self, id: SessionId) -> Result<Session> {
        self.close_session_with(id, CloseMode::Drain, None).await
    }

    /// Closes a session (draining its queue), recording why.
    pub async fn close_session_because(&self, id: SessionId, reason: impl Into<String>) -> Result<Session> {
        self.close_session_with(id, CloseMode::Drain, Some(reason.into())).await
    }

    /// Closes a session, doing with its queue what `mode` says, and recording
    /// why when a reason is given.
    pub async fn close_session_with(&self, id: SessionId, mode: CloseMode, reason: Option<String>) -> Result<Session> {
        self.ask(CloseSession { id, reason, mode }).await
    }

    /// Events from now on, as they become durable, without gaps.
    pub fn subscribe(&self) -> EventStream {
        EventStream::new(Weak::clone(&self.inner.store))
    }

    /// Up to `limit` stored events with a sequence number above `after`, oldest
    /// first: what happened before a subscriber came.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let store = self.inner.store.upgrade().ok_or(Error::Stopped)?;
        Ok(store.events_after(after, limit)?)
    }

    /// Why the store refuses writes, while it does: its disk is full (they
    /// go through again once space is freed), or a write failed in a way only
    /// a restart clears. `None` while writes go through.
    pub fn store_degraded(&self) -> Result<Option<String>> {
        let store = self.inner.store.upgrade().ok_or(Error::Stopped)?;
        Ok(store.degraded())
    }

    /// How many stored records listings have skipped because they do not
    /// decode, since the engine started; each is in the log with its key.
    pub fn corrupt_records(&self) -> Result<u64> {
        let store = self.inner.store.upgrade().ok_or(Error::Stopped)?;
        Ok(store.corrupt_records())
    }

    /// The data dir this engine keeps its files in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Where agents' log files are.
    pub fn logs_dir(&self) -> &Path {
        &self.inner.logs_dir
    }

    /// How the engine finds every process of an agent: a cgroup per agent,
    /// or their environments.
    pub fn tracking(&self) -> &Tracking {
        &self.inner.tracking
    }

    /// Stops every actor, flushes the store and ends the engine's thread;
    /// returns once the data dir is free for another engine. Calling it again,
    /// from any clone, returns at once.
    pub async fn shutdown(&self) -> Result<()> {
        let exited = self.inner.exited.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(exited) = exited else {
            return Ok(());
        };
        let flushed = self.ask(Shutdown).await;
        self.inner.system.stop();
        let _ = exited.await;
        flushed
    }

    /// Switches for injected faults (tests only).
    #[cfg(feature = "fault-injection")]
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub(crate) async fn ask<M, T>(&self, message: M) -> Result<T>
    where
        M: actix::Message<Result = std::result::Result<T, baton_actors::EngineError>> + Send + 'static,
        T: Send + 'static,
        Supervisor: actix::Handler<M>,
    {
        match self.inner.supervisor.send(message).await {
            Ok(reply) => Ok(reply?),
            Err(MailboxError::Closed | MailboxError::Timeout) => Err(Error::Stopped),
        }
    }
}

impl std::fmt::Debug for Baton {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Baton").field("data_dir", &self.inner.data_dir).finish_non_exhaustive()
    }
}

/// Describes an engine to spawn: where its data lives, its clock, its tunables.
pub struct BatonBuilder {
    data_dir: Option<PathBuf>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    commit_mode: CommitMode,
    flush_observer: Option<FlushObserver>,
    faults: Faults,
}

impl Default for BatonBuilder {
    fn default() -> Self {
        Self {
            data_dir: None,
            config: EngineConfig::default(),
            clock: Arc::new(SystemClock),
            commit_mode: CommitMode::default(),
            flush_observer: None,
            faults: Faults::default(),
        }
    }
}

impl BatonBuilder {
    /// Where the store and (later) logs live; created if missing. Default:
    /// `$XDG_DATA_HOME/baton`, else `~/.local/share/baton`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// All the engine's tunables at once.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock the engine reads and sleeps on; tests pass a [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How often the watchdog ticks.
    pub fn watchdog_interval(mut self, interval: Duration) -> Self {
        self.config.watchdog_interval = interval;
        self
    }

    /// How long a session may be quiet before it is marked idle and its actor stopped.
    pub fn idle_after(mut self, quiet: Duration) -> Self {
        self.config.idle_after = quiet;
        self
    }

    /// The observation queues' limits: max attempts, payload size, acked
    /// observations kept for inspection.
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.config.queue = queue;
        self
    }

    /// The restart strategy of session actors.
    pub fn session_restart(mut self, strategy: SupervisionStrategy) -> Self {
        self.config.session_restart = strategy;
        self
    }

    /// How a handoff goes on when the agent holding it ends: the backoff
    /// before it is routed again, and how many agents it may lose before it fails.
    pub fn handoff_transfer(mut self, transfer: HandoffTransfer) -> Self {
        self.config.handoff_transfer = transfer;
        self
    }

    /// How agents are run: caps, logs, stop grace, the socket they are told about.
    pub fn agents(mut self, agents: AgentConfig) -> Self {
        self.config.agents = agents;
        self
    }

    /// Group commit (the default) or one flush per write, to measure the difference.
    pub fn commit_mode(mut self, mode: CommitMode) -> Self {
        self.commit_mode = mode;
        self
    }

    /// Calls `observer` with the duration of every store flush (for metrics).
    pub fn on_flush(mut self, observer: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.flush_observer = Some(Arc::new(observer));
        self
    }

    /// Starts the engine on a thread of its own and returns its handle once the
    /// store is open and every recorded session is accounted for.
    /// A config with a tunable out of its range is refused
    /// ([`Error::Config`]), as the daemon refuses it in a config file.
    pub fn spawn(self) -> Result<Baton> {
        self.config.validate()?;
        let data_dir = self.data_dir.or_else(default_data_dir).ok_or_else(|| Error::DataDir {
            path: PathBuf::from("~/.local/share/baton"),
            err: std::io::Error::other("no home directory is known; pass a data dir"),
        })?;
        std::fs::create_dir_all(&data_dir).map_err(|err| Error::DataDir { path: data_dir.clone(), err })?;

        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        let store_dir = data_dir.join(crate::store::STORE_DIR);
        let options = StoreOptions {
            commit_mode: self.commit_mode,
            faults: self.faults.clone(),
            flush_observer: self.flush_observer,
            cache_capacity: Some(self.config.store_cache_bytes),
            reserve_bytes: Some(self.config.store_reserve_bytes),
        };
        let mut config = self.config;
        let logs_dir = config.agents.logs_dir.get_or_insert_with(|| data_dir.join("agents")).clone();
        let tracking =
            Tracking::resolve(config.agents.tracking, &Tracking::key_for(&logs_dir)).map_err(Error::Tracking)?;
        let tracking = Arc::new(tracking);
        let engine_tracking = Arc::clone(&tracking);
        let (clock, config, faults) = (self.clock, Arc::new(config), self.faults.clone());
        std::thread::Builder::new()
            .name("baton-engine".into())
            .spawn(move || {
                let runner = actix_rt::System::new();
                let for_engine = Arc::clone(&engine_tracking);
                let started = runner.block_on(async move {
                    let store: Arc<dyn Store> = Arc::new(SledStore::open(&store_dir, options)?);
                    let weak = Arc::downgrade(&store);
                    let engine = Engine::new(store, clock, config, faults).with_tracking(for_engine);
                    let supervisor = Supervisor::new(engine)?.start();
                    Ok::<_, Error>((supervisor, weak, actix_rt::System::current()))
                });
                let ok = started.is_ok();
                let _ = started_tx.send(started);
                if ok {
                    if let Err(err) = runner.run() {
                        tracing::error!(cause = %err, "the engine's system stopped with an error");
                    }
                }
                // Agents' cgroups left empty go; those of agents still running stay.
                engine_tracking.remove_empty();
                let _ = exited_tx.send(());
            })
            .map_err(Error::Thread)?;

        let (supervisor, store, system) = started_rx
            .recv()
            .map_err(|_| Error::Thread(std::io::Error::other("the engine thread ended while starting")))??;
        Ok(Baton {
            inner: Arc::new(Inner {
                supervisor,
                system,
                store,
                data_dir,
                logs_dir,
                tracking,
                exited: Mutex::new(Some(exited_rx)),
                #[cfg(feature = "fault-injection")]
                faults: self.faults,
            }),
        })
    }
}

impl std::fmt::Debug for BatonBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatonBuilder")
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
