//! Spawning agents off the engine's thread, and the pids this process
//! spawned as agents, so that reaping orphans never takes one of them from
//! its `Child`, which waits for it.
//!
//! A spawn creates the agent's log files (the file system's inode allocation
//! costs as much as the spawn itself) and starts its process. It runs on one
//! spawner thread, so that the engine's thread goes on with checkpoints and
//! answers meanwhile; 100 agents started at once start one after another
//! there, in order.
//!
//! The spawned pids are one set for the whole process, not one per engine:
//! reaping is process-wide (any zombie child of the process), and a test binary runs
//! many engines side by side. A pid is registered under the same lock as the
//! spawn, and the reaper holds that lock while it reaps, so a child that
//! exits the moment it starts is never mistaken for an orphan.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError, mpsc};

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use tokio::sync::oneshot;

use crate::process::{LogPaths, ProcessIdentity, ProcessSpec, ReapedOrphan, SpawnError, Spawned, spawn};

static SPAWNED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<HashSet<u32>>> {
    SPAWNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns `spec` and registers its pid, under one lock.
fn spawn_registered(spec: &ProcessSpec) -> Result<Spawned, SpawnError> {
    let mut spawned = lock();
    let started = spawn(spec)?;
    spawned.get_or_insert_with(HashSet::new).insert(started.identity.pid);
    Ok(started)
}

/// Spawns `spec` on the spawner thread and registers its pid; the error is
/// said as a reason. A spawn whose caller stopped waiting (its actor is gone,
/// or the engine stopped) is undone: its process is killed and reaped, so
/// nothing runs that no record names.
///
/// Must be called within a tokio runtime, whose reactor the stdin pipe of
/// the spawned agent is registered with.
pub(super) async fn spawn_off_thread(spec: ProcessSpec) -> Result<Spawned, String> {
    let (reply, answer) = oneshot::channel();
    let runtime = tokio::runtime::Handle::current();
    let job: Job = Box::new(move || {
        let _entered = runtime.enter();
        let spawned = spawn_registered(&spec).map_err(|err| err.to_string());
        if let Err(Ok(unwanted)) = reply.send(spawned) {
            undo(unwanted);
        }
    });
    if SPAWNER.send(job).is_err() {
        return Err("cannot spawn: the spawner thread is gone".into());
    }
    answer.await.unwrap_or_else(|_| Err("cannot spawn: the spawn panicked (see the daemon's log)".into()))
}

/// Kills and reaps a process nobody waits for.
fn undo(mut unwanted: Spawned) {
    let pid = unwanted.identity.pid;
    tracing::warn!(pid, "an agent's spawn finished after its caller stopped waiting; killing it");
    if let Some(cgroup) = &unwanted.cgroup {
        cgroup.kill();
    }
    let _ = crate::process::signal_sid(pid, crate::process::Signal::SIGKILL);
    if let Err(err) = unwanted.child.wait_blocking() {
        tracing::warn!(pid, cause = %err, "cannot reap an unwanted agent process");
    }
    forget(pid);
}

/// Removes the log files of agents whose records are gone, `keep` rotated
/// copies of each included, on the spawner thread (where log files are
/// created), in the background.
pub(crate) fn remove_logs(logs: Vec<LogPaths>, keep: usize) {
    let job: Job = Box::new(move || {
        for paths in logs {
            if let Err(err) = paths.remove(keep) {
                tracing::warn!(path = %paths.stdout.display(), cause = %err, "cannot remove an agent's logs");
            }
        }
    });
    if SPAWNER.send(job).is_err() {
        tracing::warn!("cannot remove agents' logs: the spawner thread is gone");
    }
}

/// Work for the spawner thread.
type Job = Box<dyn FnOnce() + Send>;

/// The spawner thread's queue, started on first use; jobs run in order.
static SPAWNER: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let started = std::thread::Builder::new().name("baton-spawn".into()).spawn(move || {
        for job in queue {
            // A job that panics loses its own answer (its caller hears that
            // it panicked), not the thread: later spawns still run.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                tracing::error!("a job of the spawner thread panicked");
            }
        }
    });
    if let Err(err) = started {
        // Every spawn then fails, saying so.
        tracing::error!(cause = %err, "cannot start the thread that spawns agents");
    }
    jobs
});

/// Forgets `pid` once its exit has been waited for: it is free for reuse.
pub(super) fn forget(pid: u32) {
    if let Some(spawned) = lock().as_mut() {
        spawned.remove(&pid);
    }
}

/// Reaps an adopted agent process that has ended, if it is a zombie child of
/// this process that nobody waits for any more (its actor crashed, or the
/// engine that spawned it was restarted in place). Only that very process is
/// reaped: a pid with another start time is left alone.
pub(super) fn reap_adopted(identity: ProcessIdentity) {
    if ProcessIdentity::of(identity.pid).is_ok_and(|now| now == identity) && !identity.is_alive() {
        if let Ok(pid) = i32::try_from(identity.pid) {
            // Not a child of ours (adopted after a daemon restart): ECHILD, nothing to do.
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Reaps the zombie children of this process that no agent actor spawned
/// (orphaned grandchildren of agents, handed to a subreaper daemon).
///
/// Only for a process that is a subreaper for its agents (the daemon): in a
/// library host, other zombie children are the host's, and their exit
/// statuses are not ours to take.
///
/// The candidates come from [`orphan_candidates`](crate::process::orphan_candidates)
/// (no scan of `/proc` where the kernel lists children). Only the reaping
/// holds the lock on the spawned pids: a candidate that is one of ours is in
/// the set by then (registered at its spawn, forgotten only once reaped), and
/// reaping one that is not a zombie does nothing.
pub(crate) async fn reap_orphans() -> std::io::Result<Vec<ReapedOrphan>> {
    let candidates = crate::process::orphan_candidates().await?;
    let spawned = lock();
    let orphans = candidates.into_iter().filter(|pid| spawned.as_ref().is_none_or(|set| !set.contains(pid)));
    Ok(crate::process::reap_zombies(orphans))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::FutureExt as _;

    use super::*;
    use crate::model::AgentId;
    use crate::process::LogPaths;

    /// The pids of live processes whose command line is `argv`.
    fn running(argv: &[&str]) -> Vec<i32> {
        let wanted: Vec<String> = argv.iter().map(|arg| (*arg).to_owned()).collect();
        let processes = procfs::process::all_processes().expect("/proc can be listed");
        processes
            .flatten()
            .filter(|process| process.cmdline().is_ok_and(|cmdline| cmdline == wanted))
            .map(|p| p.pid)
            .collect()
    }

    #[tokio::test]
    async fn a_spawn_whose_caller_stopped_waiting_is_killed_and_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogPaths::in_dir(dir.path(), AgentId::new());
        let argv = ["/bin/sleep", "3617.5"];
        let spec = ProcessSpec::new(argv, &logs);

        // Jobs run in order: hold the spawner, queue the spawn, drop its
        // caller, then let it go and wait for a job queued after it.
        let (release, held) = mpsc::channel::<()>();
        SPAWNER.send(Box::new(move || held.recv().unwrap_or_default())).unwrap();
        assert!(spawn_off_thread(spec).now_or_never().is_none(), "the spawn waited for the spawner");
        let (done, finished) = mpsc::channel::<()>();
        SPAWNER.send(Box::new(move || done.send(()).unwrap_or_default())).unwrap();
        release.send(()).unwrap();
        finished.recv_timeout(Duration::from_secs(30)).expect("the spawner to get through its jobs");

        assert!(logs.stdout.exists(), "the spawn ran");
        assert_eq!(running(&argv), Vec::<i32>::new(), "nothing runs that nobody waits for");
    }
}
