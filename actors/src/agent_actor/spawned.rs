//! The pids this process spawned as agents, so that reaping orphans never
//! takes one of them from its `Child`, which waits for it.
//!
//! It is one set for the whole process, not one per engine: reaping is
//! process-wide (any zombie child of the process), and a test binary runs
//! many engines side by side. A pid is registered under the same lock as the
//! spawn, and the reaper holds that lock while it reaps, so a child that
//! exits the moment it starts is never mistaken for an orphan.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::process::{ProcessIdentity, ProcessSpec, ReapedOrphan, SpawnError, Spawned, spawn};

static SPAWNED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<HashSet<u32>>> {
    SPAWNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spawns `spec` and registers its pid, under one lock.
pub(super) fn spawn_registered(spec: &ProcessSpec) -> Result<Spawned, SpawnError> {
    let mut spawned = lock();
    let started = spawn(spec)?;
    spawned.get_or_insert_with(HashSet::new).insert(started.identity.pid);
    Ok(started)
}

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
/// The scan runs on the scanner thread; only the reaping holds the lock on
/// the spawned pids. A zombie seen in the scan that is one of ours is in the
/// set by then (registered at its spawn, forgotten only once reaped), and
/// reaping one that is not a zombie any more does nothing.
pub(crate) async fn reap_orphans() -> std::io::Result<Vec<ReapedOrphan>> {
    let zombies = crate::process::zombie_children_async().await?;
    let spawned = lock();
    let orphans = zombies.into_iter().filter(|pid| spawned.as_ref().is_none_or(|set| !set.contains(pid)));
    Ok(crate::process::reap_zombies(orphans))
}
