//! A cgroup v2 directory per agent: the one list of an agent's processes that
//! no process can leave by itself.
//!
//! A process can leave its process group (`setpgid`) and its session
//! (`setsid`), and it can clear its environment, but it cannot leave its
//! cgroup without write access to the hierarchy. So where the daemon may
//! write to a cgroup v2 hierarchy (its own delegated subtree under a systemd
//! unit with `Delegate=yes`, or the whole of it as root), every agent runs in
//! a cgroup of its own, `<daemon's cgroup>/baton-<key>/agent-<id>`, listed
//! through `cgroup.procs` and killed through `cgroup.kill` (Linux 5.14; on an
//! older kernel every listed pid gets SIGKILL until none is left).
//!
//! The names depend only on the engine's key (a hash of its logs directory)
//! and the agent's id, and the agent's record holds the path, so a daemon
//! restarted after `kill -9` finds its agents' cgroups again.
//!
//! Where the `memory` controller is available to the cgroup, an agent's
//! `max_rss_bytes` is also its `memory.max`, so the kernel enforces it
//! between watchdog ticks. CPU time is read from `cpu.stat`, which counts
//! processes that already exited too.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::AccessFlags;
use procfs::process::Process;

/// The cgroup v2 directory that holds one engine's agents' cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRoot {
    /// `<daemon's cgroup>/baton-<key>`.
    dir: PathBuf,
    /// Whether agents' cgroups get the `memory` controller (for `memory.max`).
    memory: bool,
}

impl CgroupRoot {
    /// Finds the cgroup v2 hierarchy (from `/proc/self/mountinfo`) and this
    /// process's cgroup in it (from `/proc/self/cgroup`), and checks that it
    /// can be written to. Fails where there is no cgroup v2 hierarchy or it
    /// cannot be written to. `baton-<key>` is made with the first agent's
    /// cgroup, and goes with the last; empty ones an engine before left are
    /// removed now.
    pub fn discover(key: &str) -> io::Result<Self> {
        let own = own_cgroup_dir()?;
        // Making a cgroup takes write access to its parent; moving a process
        // between two cgroups, to the `cgroup.procs` of their common
        // ancestor: the daemon's own.
        for (path, access) in
            [(own.clone(), AccessFlags::W_OK | AccessFlags::X_OK), (own.join("cgroup.procs"), AccessFlags::W_OK)]
        {
            if let Err(err) = nix::unistd::access(&path, access) {
                let err = io::Error::from(err);
                return Err(io::Error::new(err.kind(), format!("cannot write {}: {err}", path.display())));
            }
        }
        let memory = enable_controller(&own, "memory");
        let root = Self { dir: own.join(format!("baton-{key}")), memory };
        root.remove_empty();
        Ok(root)
    }

    /// The directory the agents' cgroups are made in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether agents' cgroups have the memory controller (`memory.max`).
    pub fn has_memory_controller(&self) -> bool {
        self.memory
    }

    /// The cgroup agent `agent` has in it, made or not.
    pub fn agent_cgroup_at(&self, agent: &str) -> AgentCgroup {
        AgentCgroup { dir: self.dir.join(format!("agent-{agent}")) }
    }

    /// Makes (or finds) the cgroup of agent `agent`, with `memory.max` set
    /// to `max_rss` where the memory controller is available.
    pub fn agent_cgroup(&self, agent: &str, max_rss: Option<u64>) -> io::Result<AgentCgroup> {
        if make_dir(&self.dir)? && self.memory {
            // The agents' cgroups get the controller from their parent.
            if let Err(err) = write(&self.dir.join("cgroup.subtree_control"), "+memory") {
                tracing::warn!(cause = %err, "cannot give agents' cgroups the memory controller");
            }
        }
        let cgroup = self.agent_cgroup_at(agent);
        make_dir(&cgroup.dir)?;
        if self.memory {
            let limit = max_rss.map_or_else(|| "max".to_owned(), |bytes| bytes.to_string());
            if let Err(err) = write(&cgroup.dir.join("memory.max"), &limit) {
                // The watchdog's polling still enforces the limit.
                tracing::warn!(cause = %err, "cannot set an agent's memory.max");
            }
        }
        Ok(cgroup)
    }

    /// Removes the agents' cgroups that are empty, then the directory itself
    /// if nothing is left in it; cgroups that still hold a process stay.
    pub fn remove_empty(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("agent-") {
                    // Fails (EBUSY) while a process is in it.
                    let _ = fs::remove_dir(entry.path());
                }
            }
        }
        let _ = fs::remove_dir(&self.dir);
    }
}

/// The cgroup v2 directory of this process: the hierarchy's mount point
/// joined with the path `/proc/self/cgroup` gives for it.
fn own_cgroup_dir() -> io::Result<PathBuf> {
    let myself = Process::myself().map_err(io::Error::other)?;
    let mounts = myself.mountinfo().map_err(io::Error::other)?;
    let mount = mounts
        .into_iter()
        .find(|mount| mount.fs_type == "cgroup2")
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no cgroup v2 hierarchy is mounted"))?;
    let groups = myself.cgroups().map_err(io::Error::other)?;
    let own = groups
        .into_iter()
        .find(|group| group.hierarchy == 0 && group.controllers.is_empty())
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "this process is in no cgroup v2"))?;
    // The path is relative to the hierarchy's root; the mount may show only
    // a subtree of it (its `root`).
    let relative = own.pathname.strip_prefix(mount.root.trim_end_matches('/')).unwrap_or(&own.pathname);
    Ok(mount.mount_point.join(relative.trim_start_matches('/')))
}

/// Whether `controller` can be given to the cgroups under `own`: `own` has
/// it, and it is (or could be made) enabled in `own`'s
/// `cgroup.subtree_control`. (It cannot be where `own` holds processes and
/// is not the root: cgroup v2 lets only leaves hold processes.)
fn enable_controller(own: &Path, controller: &str) -> bool {
    let listed = |file: &str| {
        fs::read_to_string(own.join(file)).is_ok_and(|list| list.split_whitespace().any(|name| name == controller))
    };
    listed("cgroup.controllers")
        && (listed("cgroup.subtree_control")
            || write(&own.join("cgroup.subtree_control"), &format!("+{controller}")).is_ok())
}

/// Makes directory `dir`; true when it made it, false when it was there.
fn make_dir(dir: &Path) -> io::Result<bool> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(with_path(dir, err)),
    }
}

/// One agent's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentCgroup {
    /// Its directory in the cgroup v2 hierarchy.
    dir: PathBuf,
}

impl AgentCgroup {
    /// The cgroup at `dir` (as an agent's record names it).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves process `pid` into it.
    pub fn add(&self, pid: u32) -> io::Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    /// Moves process `pid` and every process it started (that is still its
    /// descendant) into it: for an agent that forked in the moment between
    /// its spawn and its move.
    pub fn add_tree(&self, pid: u32) -> io::Result<()> {
        self.add(pid)?;
        let mut seen = HashSet::from([pid]);
        let mut next = vec![pid];
        while let Some(parent) = next.pop() {
            for child in children(parent) {
                if seen.insert(child) {
                    // One that exited meanwhile is not there to move.
                    let _ = self.add(child);
                    next.push(child);
                }
            }
        }
        Ok(())
    }

    /// The processes in it (none when it is gone).
    pub fn pids(&self) -> HashSet<u32> {
        let Ok(list) = fs::read_to_string(self.dir.join("cgroup.procs")) else { return HashSet::new() };
        list.split_whitespace().filter_map(|pid| pid.parse().ok()).collect()
    }

    /// Kills every process in it at once with `cgroup.kill`; false where the
    /// kernel has no `cgroup.kill` (before 5.14), and the caller signals the
    /// [`pids`](Self::pids) itself.
    pub fn kill(&self) -> bool {
        let path = self.dir.join("cgroup.kill");
        path.exists() && write(&path, "1").is_ok()
    }

    /// The CPU time its processes used, those that exited included (from
    /// `cpu.stat`, which every cgroup v2 has).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
        let usage = stat.lines().find_map(|line| line.strip_prefix("usage_usec "))?;
        usage.trim().parse().ok().map(Duration::from_micros)
    }

    /// Removes it if it holds no process, and its engine's directory of
    /// cgroups if it was the last there; true when it is gone.
    pub fn remove_if_empty(&self) -> bool {
        let gone = match fs::remove_dir(&self.dir) {
            Ok(()) => true,
            Err(err) => err.kind() == io::ErrorKind::NotFound,
        };
        if gone {
            if let Some(parent) = self.dir.parent() {
                // Fails while another agent's cgroup is in it.
                let _ = fs::remove_dir(parent);
            }
        }
        gone
    }
}

/// The children of process `pid`, from every thread's
/// `/proc/<pid>/task/<tid>/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(process) = i32::try_from(pid).map_err(drop).and_then(|pid| Process::new(pid).map_err(drop)) else {
        return Vec::new();
    };
    let Ok(tasks) = process.tasks() else { return Vec::new() };
    tasks.flatten().flat_map(|task| task.children().unwrap_or_default()).collect()
}

/// Writes `value` to a cgroup file in one `write`, as the kernel wants.
fn write(path: &Path, value: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).open(path).map_err(|err| with_path(path, err))?;
    file.write_all(value.as_bytes()).map_err(|err| with_path(path, err))
}

fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}
