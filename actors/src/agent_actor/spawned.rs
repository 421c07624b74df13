//! The pids this process spawned as agents, so that reaping orphans never
//! takes one of them from tokio, which waits for its own children.
//!
//! It is one set for the whole process, not one per engine: reaping is
//! process-wide (any zombie child of the process), and a test binary runs
//! many engines side by side. A pid is registered under the same lock as the
//! spawn, and the reaper holds that lock while it reaps, so a child that
//! exits the moment it starts is never mistaken for an orphan.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::process::{ProcessSpec, ReapedOrphan, SpawnError, Spawned, spawn};

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

/// Reaps the zombie children of this process that no agent actor spawned
/// (orphaned grandchildren of agents, handed to a subreaper daemon).
pub(crate) fn reap_orphans() -> std::io::Result<Vec<ReapedOrphan>> {
    let spawned = lock();
    crate::process::reap_orphans(|pid| spawned.as_ref().is_some_and(|set| set.contains(&pid)))
}
