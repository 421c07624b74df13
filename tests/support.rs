//! Helpers shared by the tests.

use std::future::Future;
use std::time::{Duration, Instant};

use baton::engine::process::{AgentCgroup, AgentTree, CgroupRoot, Signal, Tracking, stop_tree};
use baton::{
    ActorRef, AgentId, AgentState, Baton, BatonBuilder, EventKind, EventType, ExitStatus, HandoffId, HandoffState,
    HandoffTarget, ManualClock, SessionId, SessionState,
};
use strum::IntoEnumIterator as _;
use tempfile::TempDir;

/// A JSON value `depth` arrays deep around a string, to test the payload
/// nesting limit.
pub fn nested(depth: usize) -> serde_json::Value {
    (0..depth).fold(serde_json::json!("leaf"), |inner, _| serde_json::json!([inner]))
}

/// How long a test waits for something that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Kills what is left in the agents' cgroups of the engine that keeps its
/// agents' logs in `logs_dir`, and removes those cgroups. A daemon killed
/// with SIGKILL leaves them (its next start on the data dir removes them, but
/// a test's data dir has no next start), as it leaves agents that keep running.
pub fn clear_agent_cgroups(logs_dir: &std::path::Path) {
    let Ok(root) = CgroupRoot::discover(&Tracking::key_for(logs_dir)) else { return };
    let Ok(entries) = std::fs::read_dir(root.dir()) else { return };
    let cgroups: Vec<AgentCgroup> =
        entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()).map(AgentCgroup::at).collect();
    for cgroup in &cgroups {
        cgroup.kill();
    }
    let start = Instant::now();
    while cgroups.iter().any(|cgroup| !cgroup.pids().is_empty()) {
        assert!(start.elapsed() < DEADLINE, "the processes of {} outlived cgroup.kill", root.dir().display());
        std::thread::sleep(Duration::from_millis(5));
    }
    root.remove_empty();
}

/// Calls `probe` until it returns `Some`, failing the test with `what` at the
/// deadline. Between calls it yields briefly; it never sleeps a fixed time
/// and hopes.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// An engine in a fresh temporary data dir, on a clock the test moves.
pub struct TestEngine {
    pub baton: Baton,
    pub clock: ManualClock,
    /// Dropped after `leftovers`, which still needs the logs in it.
    pub leftovers: Leftovers,
    pub dir: TempDir,
}

impl TestEngine {
    /// An engine with default settings.
    pub fn start() -> Self {
        Self::start_with(|builder| builder)
    }

    /// An engine whose builder `configure` adjusts.
    pub fn start_with(configure: impl FnOnce(BatonBuilder) -> BatonBuilder) -> Self {
        let dir = TempDir::new().expect("a temporary directory");
        let clock = ManualClock::starting_now();
        let builder = Baton::builder().data_dir(dir.path()).clock(clock.clone());
        let baton = configure(builder).spawn().expect("the engine starts");
        Self { leftovers: Leftovers(Some(baton.clone())), baton, clock, dir }
    }

    /// An engine whose builder `configure` adjusts, or why it did not start.
    pub fn try_start_with(configure: impl FnOnce(BatonBuilder) -> BatonBuilder) -> Result<Self, baton::Error> {
        let dir = TempDir::new().expect("a temporary directory");
        let clock = ManualClock::starting_now();
        let builder = Baton::builder().data_dir(dir.path()).clock(clock.clone());
        let baton = configure(builder).spawn()?;
        Ok(Self { leftovers: Leftovers(Some(baton.clone())), baton, clock, dir })
    }

    /// Shuts the engine down and starts a new one on the same data dir and clock.
    pub async fn restart(self) -> Self {
        self.restart_with(|builder| builder).await
    }

    /// Shuts the engine down and starts a new one on the same data dir and
    /// clock, its builder adjusted by `configure`.
    pub async fn restart_with(self, configure: impl FnOnce(BatonBuilder) -> BatonBuilder) -> Self {
        self.baton.shutdown().await.expect("a clean shutdown");
        self.reopen_with(configure)
    }

    /// Starts a new engine on the data dir and clock of this one, which must
    /// have been shut down already.
    pub fn reopen_with(mut self, configure: impl FnOnce(BatonBuilder) -> BatonBuilder) -> Self {
        let builder = Baton::builder().data_dir(self.dir.path()).clock(self.clock.clone());
        let baton = configure(builder).spawn().expect("restart");
        // The agents of the engine before are this one's now.
        self.leftovers.0 = Some(baton.clone());
        Self { baton, ..self }
    }
}

/// The live processes (pid and command line) whose environment names agent
/// `agent` (`BATON_AGENT_ID`): every process it started and that kept its
/// environment, `setsid` or not, wherever its parent went.
pub fn processes_of_agent(agent: &str) -> Vec<(i32, String)> {
    let Ok(processes) = procfs::process::all_processes() else { return Vec::new() };
    processes
        .flatten()
        .filter(|process| process.stat().is_ok_and(|stat| !matches!(stat.state, 'Z' | 'X')))
        .filter(|process| {
            process.environ().is_ok_and(|env| {
                env.get(std::ffi::OsStr::new("BATON_AGENT_ID"))
                    .is_some_and(|id| id.as_encoded_bytes() == agent.as_bytes())
            })
        })
        .map(|process| (process.pid, process.cmdline().unwrap_or_default().join(" ")))
        .collect()
}

/// What a test engine leaves when it is dropped: it is shut down, then every
/// process of every agent it ever ran (found by the log files of its agents,
/// named by their ids) is killed, whatever its policy, and the agents'
/// cgroups go. So no test leaves a process behind, whether it passed (an
/// agent spawned while the test stopped the others, by a handoff routed to
/// its role) or failed half-way.
pub struct Leftovers(Option<Baton>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        let Some(baton) = self.0.take() else { return };
        // On a thread of its own: the test's runtime may be the one dropping.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let _ = baton.shutdown().await;
                let tracking = baton.tracking();
                let ids = std::fs::read_dir(baton.logs_dir()).into_iter().flatten().flatten().filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    name.strip_suffix(".stdout.log").map(str::to_owned)
                });
                for agent in ids {
                    let cgroup = match tracking {
                        Tracking::Cgroup(root) => Some(root.agent_cgroup_at(&agent)),
                        Tracking::Environ => None,
                    };
                    let tree = AgentTree { sid: None, agent, cgroup };
                    let _ = stop_tree(&tree, Signal::SIGKILL, Duration::ZERO, Duration::from_millis(5)).await;
                }
                tracking.remove_empty();
            });
        });
        let _ = cleanup.join();
    }
}

/// The blocking twin of [`eventually`], for tests that drive processes:
/// calls `probe` until it returns `Some`, failing the test with `what` at
/// the deadline.
pub fn eventually_blocking<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One event kind of every [`EventType`], in the order of the type. Each is
/// built by a `match` over the type, which stops compiling when a type is
/// added, so a new one cannot be left out of the tests that use these.
pub fn one_event_kind_of_each_type() -> Vec<EventKind> {
    let (session, agent, handoff) = (SessionId::new(), AgentId::new(), HandoffId::new());
    EventType::iter()
        .map(|event_type| {
            let kind = match event_type {
                EventType::SessionOpened => {
                    EventKind::SessionOpened { name: Some("n".into()), external_id: Some("x".into()) }
                }
                EventType::SessionStateChanged => EventKind::SessionStateChanged {
                    from: SessionState::Active,
                    to: SessionState::Closing,
                    reason: Some("done".into()),
                },
                EventType::ActorRestarted => {
                    EventKind::ActorRestarted { actor: ActorRef::Session(session), restarts: 2, backoff_ms: 40 }
                }
                EventType::ObservationDead => {
                    EventKind::ObservationDead { observation_seq: 4, attempts: 5, reason: "nacked".into() }
                }
                EventType::AgentStateChanged => EventKind::AgentStateChanged {
                    agent,
                    from: AgentState::Running,
                    to: AgentState::Exited,
                    reason: Some("stopped".into()),
                },
                EventType::AgentSpawned => EventKind::AgentSpawned { agent, pid: 42, restarts: 1 },
                EventType::AgentExited => EventKind::AgentExited { agent, pid: 42, exit: Some(ExitStatus::exited(3)) },
                EventType::HandoffCreated => {
                    EventKind::HandoffCreated { handoff, from: Some(agent), to: HandoffTarget::Role("reviewer".into()) }
                }
                EventType::HandoffAssigned => EventKind::HandoffAssigned { handoff, agent, previous: None },
                EventType::HandoffStateChanged => EventKind::HandoffStateChanged {
                    handoff,
                    from: HandoffState::Initiated,
                    to: HandoffState::Acknowledged,
                    note: Some("on it".into()),
                },
                EventType::ActorFailed => {
                    EventKind::ActorFailed { actor: ActorRef::Agent(agent), reason: "too many".into() }
                }
            };
            assert_eq!(EventType::from(&kind), event_type, "the sample of {event_type:?} is of another type");
            kind
        })
        .collect()
}
