//! What the process tests share: waiting for a condition until a deadline,
//! and a guard over the agents a test starts, which checks that none leaked.
//!
//! Tests run in parallel threads of one binary, so a check for zombies looks
//! only at the sessions its own test started: another test's child may be a
//! zombie for a moment, until that test waits for it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;
use tokio::time::{Instant, sleep};

use super::proc_table::{all_stats, pid_of};
use super::{AllowList, BatonContext, Environment, LogPaths, ProcessSpec, Signal, Spawned, signal_sid, spawn};
use crate::model::{AgentId, SessionId};

/// How long a test waits for something that should happen "soon" before it
/// fails: long enough for a loaded two-core machine.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// Waits until `check` is true, looking every few milliseconds; fails the
/// test, naming `what`, after [`PATIENCE`].
pub(super) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    eventually_some(what, || check().then_some(())).await
}

/// Waits until `check` returns something, and returns it; fails the test,
/// naming `what`, after [`PATIENCE`].
pub(super) async fn eventually_some<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out after {PATIENCE:?} waiting for {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `future` with a deadline of [`PATIENCE`], failing the test, naming
/// `what`, if it does not finish.
pub(super) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The agents one test starts, in a scratch directory for their logs.
///
/// [`finish`](Self::finish) checks that every session it started is empty and
/// left no zombie child behind; dropping it (a failed test) SIGKILLs whatever
/// is left, so a failing test leaks nothing either.
pub(super) struct Agents {
    /// Holds the log files; removed at the end.
    dir: TempDir,
    /// The session ids (pids of the leaders) of the agents started.
    sessions: Vec<u32>,
}

impl Agents {
    /// A fresh scratch directory and no agent yet.
    pub(super) fn new() -> Self {
        Self { dir: TempDir::new().expect("a scratch directory"), sessions: Vec::new() }
    }

    /// The scratch directory.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A spec for `argv` with fresh log files and the test's own `PATH`,
    /// `HOME`, ... (through the standard allow-list).
    pub(super) fn spec(&self, argv: &[&str]) -> ProcessSpec {
        let agent = AgentId::new();
        let baton = BatonContext::new(self.dir().join("baton.sock"), SessionId::new(), agent);
        let env = Environment::for_agent(std::env::vars_os(), &AllowList::standard(), &BTreeMap::new(), &baton);
        ProcessSpec::new(argv.iter().copied(), &LogPaths::in_dir(self.dir(), agent)).with_env(env)
    }

    /// Spawns `spec`, tracking its session.
    pub(super) fn spawn(&mut self, spec: &ProcessSpec) -> Spawned {
        let spawned = spawn(spec).unwrap_or_else(|err| panic!("cannot spawn {:?}: {err}", spec.argv));
        self.sessions.push(spawned.identity.pid);
        spawned
    }

    /// Checks that no session this test started has a live process, and that
    /// none left a zombie child of this process (each was waited for).
    pub(super) async fn finish(mut self) {
        let sessions = std::mem::take(&mut self.sessions);
        eventually("the test's sessions to be empty and reaped", || leftovers(&sessions).is_empty()).await;
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        // Only after a failure: a test that passed emptied its sessions, and
        // their ids may be other tests' agents' pids by now (pids wrap).
        if !std::thread::panicking() {
            return;
        }
        for &sid in &self.sessions {
            let _ = signal_sid(sid, Signal::SIGKILL);
        }
    }
}

/// The processes of `sessions` still there: live ones, and zombies that are
/// children of this process (nobody reaped them).
pub(super) fn leftovers(sessions: &[u32]) -> Vec<(u32, char)> {
    let me = std::process::id();
    all_stats()
        .expect("/proc can be listed")
        .iter()
        .filter(|stat| pid_of(stat.session).is_some_and(|sid| sessions.contains(&sid)))
        .filter(|stat| stat.state != 'Z' || pid_of(stat.ppid) == Some(me))
        .filter_map(|stat| Some((pid_of(stat.pid)?, stat.state)))
        .collect()
}

/// The zombie children of this process, in any session.
pub(super) fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    all_stats()
        .expect("/proc can be listed")
        .iter()
        .filter(|stat| stat.state == 'Z' && pid_of(stat.ppid) == Some(me))
        .filter_map(|stat| pid_of(stat.pid))
        .collect()
}

/// Reads `path` as text, or "" when it does not exist yet.
pub(super) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
