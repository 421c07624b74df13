//! File descriptors: as many as the system allows, and never all of them for
//! connections.
//!
//! Every connection holds a descriptor, and so do the store, the agents (a
//! pidfd each, the write end of a stdin pipe, their log files while they are
//! opened) and the daemon's own log. A flood of connections must not take
//! the descriptors the rest needs: when `accept` fails with `EMFILE`,
//! actix-server pauses its listener, and pausing a Unix listener unlinks its
//! socket file (`MioListener::deregister` in actix-server 2.6's `socket.rs`),
//! which leaves a daemon nobody can reach (issue 17). So the daemon raises its
//! soft limit to the hard one at start, and caps concurrent connections below
//! it with a reserve for everything else; [`super::instance::bind_socket`]
//! makes sure a pause can never unlink the socket all the same.

use std::io;
use std::os::fd::RawFd;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for the daemon itself, whatever the agents: standard
/// streams, the lock, the log file, the store's files, the runtime's epoll
/// and event descriptors, the hook spool.
pub const RESERVE_BASE: u64 = 64;

/// Descriptors kept for each agent that may run at once: its pidfd, its stdin
/// pipe, its two log files while it is started or its logs are read.
pub const RESERVE_PER_AGENT: u64 = 4;

/// The fewest connections served at once, however low the limit: a daemon
/// that serves none is no daemon.
pub const MIN_CONNECTIONS: u64 = 8;

/// How the descriptor limit is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorBudget {
    /// The soft limit in force (after raising it).
    pub limit: u64,
    /// Kept for everything but connections.
    pub reserve: u64,
    /// Connections served at once, over all workers.
    pub connections: u64,
    /// What the reserve should be for the agents that may run.
    pub wanted_reserve: u64,
}

impl DescriptorBudget {
    /// Shares `limit` out for a daemon that runs up to `max_agents` agents at
    /// once. When the limit is below what the reserve wants, a quarter of it
    /// (at least [`MIN_CONNECTIONS`]) still goes to connections.
    pub fn new(limit: u64, max_agents: usize) -> Self {
        let agents = u64::try_from(max_agents).unwrap_or(u64::MAX);
        let wanted = RESERVE_BASE.saturating_add(RESERVE_PER_AGENT.saturating_mul(agents));
        let connections = limit.saturating_sub(wanted).max(limit / 4).max(MIN_CONNECTIONS);
        Self { limit, reserve: limit.saturating_sub(connections), connections, wanted_reserve: wanted }
    }

    /// Whether the limit leaves less than the reserve asks for.
    pub fn is_short(&self) -> bool {
        self.reserve < self.wanted_reserve
    }

    /// The cap for each of `workers` workers (actix-web's `max_connections`
    /// is per worker), at least one.
    pub fn per_worker(&self, workers: usize) -> usize {
        let workers = u64::try_from(workers.max(1)).unwrap_or(u64::MAX);
        usize::try_from((self.connections / workers).max(1)).unwrap_or(usize::MAX)
    }
}

/// Raises the soft limit on open files to the hard limit; returns the soft
/// limit in force afterwards. An unlimited hard limit (which Linux does not
/// allow for open files) leaves the soft limit as it is.
pub fn raise_limit() -> u64 {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    if let Some(maximum) = maximum
        && current != Some(maximum)
    {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(maximum), maximum: Some(maximum) }) {
            Ok(()) => return maximum,
            Err(err) => tracing::warn!(cause = %err, "cannot raise the limit on open files"),
        }
    }
    current.unwrap_or(u64::MAX)
}

/// Closes every descriptor above standard error that the process inherited.
///
/// A daemon started from a shell or by a CLI that held descriptors without
/// close-on-exec (`exec 7>file; baton session list`) would otherwise hold
/// them for its whole life, and hand them to every agent it starts (issue
/// 17). `close_range(2)` (Linux 5.9) closes them in one call; on an older
/// kernel, each one listed in `/proc/self/fd` is closed.
///
/// Call it first thing in `baton serve`, before the process opens anything:
/// it closes whatever is open then.
pub fn close_inherited() -> io::Result<()> {
    // SAFETY: called before the daemon opens any descriptor, so none above 2
    // is owned by anything in this process; nix and rustix do not wrap
    // close_range.
    if unsafe { nix::libc::close_range(3, nix::libc::c_uint::MAX, 0) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(nix::libc::ENOSYS | nix::libc::EINVAL)) {
        return Err(err);
    }
    let inherited: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in inherited {
        // The directory listing's own descriptor is among them, closed
        // already: EBADF is expected.
        let _ = nix::unistd::close(fd);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_get_what_the_reserve_leaves() {
        let budget = DescriptorBudget::new(1024, 64);
        assert_eq!(budget.reserve, RESERVE_BASE + 64 * RESERVE_PER_AGENT);
        assert_eq!(budget.connections, 1024 - budget.reserve);
        assert_eq!(budget.per_worker(2), usize::try_from(budget.connections / 2).unwrap());
        assert!(!budget.is_short());
    }

    #[test]
    fn a_low_limit_still_serves_a_quarter_of_it() {
        let budget = DescriptorBudget::new(256, 64);
        assert_eq!((budget.connections, budget.reserve), (64, 192));
        assert!(budget.is_short());
        assert_eq!(DescriptorBudget::new(16, 64).connections, MIN_CONNECTIONS);
    }
}
