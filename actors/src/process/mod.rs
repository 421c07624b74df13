//! The OS-process layer of agent supervision: spawning an agent, knowing it
//! again, measuring it, stopping it with everything it started, reaping its
//! orphans, and keeping its output.
//!
//! It holds no actor and no state: an agent actor calls these functions and
//! keeps the record. It speaks Linux (`/proc`, sessions, `prctl`), because what
//! baton promises needs it: an agent must never leak, and a daemon that comes
//! back after a crash must know its agents again without being fooled by a
//! reused pid.
//!
//! In this module "session" is always the kernel's POSIX session (`setsid`,
//! named by its `sid`), never a baton session; functions and errors say `sid`
//! or "POSIX session".
//!
//! Every agent runs as the leader of a new *session* (`setsid`), so its session
//! id is its pid, it has no controlling terminal, and every process it starts
//! keeps that session id unless it calls `setsid` itself. A process group is
//! not enough: a grandchild can move to its own group (`setpgid`, as shells with
//! job control do) and would escape `kill(-pgid)`; its session id still names
//! the agent. So usage and stopping look for session members in `/proc`.
//! Only a process that calls `setsid` itself leaves the session; the agent's
//! cgroup, or its id in the environment, still names it ([`AgentTree`]).
//!
//! # Layout
//! - [`spawn`](spawn()): runs a [`ProcessSpec`] directly (never through a shell) in
//!   a new session, its output going straight to log files; the [`Child`] is
//!   waited for through a pidfd.
//! - [`Environment`]: what an agent's environment holds, and nothing else.
//! - [`ProcessIdentity`]: a pid and its start time, so pid reuse never fools us.
//! - [`TreeUsage`]: memory and CPU of every process of an agent's tree.
//! - [`Tracking`], [`AgentTree`], [`AgentCgroup`]: every process of an agent,
//!   by its cgroup v2 or by `BATON_AGENT_ID` in its environment.
//! - [`signal_tree`], [`stop_tree`]: signal, wait out a grace period, kill.
//! - [`become_subreaper`], [`reap_orphans`]: orphaned grandchildren come to the
//!   daemon, which reaps them without racing the reaping of its own children.
//! - [`LogPaths`], [`rotate_if_over`], [`tail_lines`], [`LogCursor`]: per-agent
//!   log files, rotated by copy-truncate, read from the end or followed.

mod cgroup;
mod child;
mod env;
mod identity;
mod kill;
mod log_cursor;
mod logs;
mod proc_table;
mod reaper;
mod spawn;
mod tree;
mod usage;

#[cfg(test)]
mod test_support;

pub use cgroup::{AgentCgroup, CgroupRoot};
pub use child::Child;
pub use env::{AllowList, BatonContext, Environment, STANDARD_ALLOW_LIST};
pub use env::{BATON_AGENT_ID, BATON_CONFIG, BATON_DATA_DIR, BATON_SESSION_ID, BATON_SOCKET};
pub use identity::ProcessIdentity;
pub use kill::{KILL_WAIT, StopError, StopOutcome, sid_alive, signal_sid, signal_tree, stop_sid, stop_tree};
pub use log_cursor::{LogChunk, LogCursor, LogLines, READ_LIMIT};
pub use logs::{LogPaths, OutputStream, rotate_if_over, tail_lines};
pub use nix::sys::signal::Signal;
pub use reaper::{ReapedOrphan, become_subreaper, is_subreaper, orphan_candidates, reap_orphans, reap_zombies};
pub use spawn::{ProcessSpec, SpawnError, Spawned, Stdin, spawn};
pub use tree::{AgentTree, Tracking, TrackingMode};
pub use usage::TreeUsage;
