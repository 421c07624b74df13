use std::os::unix::process::ExitStatusExt;

use procfs::process::Stat;

use super::*;
use crate::process::proc_table::{pid_of, sid_members, stat_of};
use crate::process::test_support::{Agents, eventually_some, within};

const GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// A tree with a background grandchild in the agent's group, and a
/// double-forked one that moved to a group of its own (perl's `setpgrp`) and
/// whose parent is gone: `kill(-pgid)` alone would miss it.
const TREE: &str = "sleep 1001 & (perl -e 'setpgrp(0, 0); exec qw(sleep 1002)' &); exec sleep 1003";

/// The live members of session `sid`, once there are `count` of them
/// running `sleep` (after their exec).
async fn sleepers(sid: u32, count: usize) -> Vec<Stat> {
    eventually_some("the tree to be up", || {
        let members = sid_members(sid).unwrap();
        (members.len() == count && members.iter().all(|stat| stat.comm == "sleep")).then_some(members)
    })
    .await
}

#[tokio::test]
async fn stopping_takes_the_whole_tree_even_a_grandchild_in_another_group() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sh", "-c", TREE]));
    let sid = spawned.identity.pid;
    let members = sleepers(sid, 3).await;
    let escaped = members.iter().find(|stat| pid_of(stat.pgrp) != Some(sid)).expect("one left the group");
    assert_eq!(pid_of(escaped.session), Some(sid), "it kept the session");
    assert_ne!(pid_of(escaped.ppid), Some(sid), "its parent is gone");
    assert!(sid_alive(sid));

    let started = Instant::now();
    let outcome = stop_sid(sid, Signal::SIGTERM, GRACE, POLL).await.unwrap();
    assert_eq!(outcome, StopOutcome::Exited);
    assert!(started.elapsed() < GRACE);
    assert!(!sid_alive(sid));
    for stat in &members {
        let pid = pid_of(stat.pid).unwrap();
        let identity = crate::process::ProcessIdentity { pid, start_time: stat.starttime };
        assert!(!identity.is_alive(), "{pid} ({}) survived", stat.comm);
    }
    let status = within("the leader to be reaped", spawned.child.wait()).await.unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
    agents.finish().await;
}

#[tokio::test]
async fn a_tree_that_ignores_term_is_killed_once_the_grace_is_over() {
    let mut agents = Agents::new();
    let script = format!("trap '' TERM; {TREE}");
    let mut spawned = agents.spawn(&agents.spec(&["sh", "-c", &script]));
    let sid = spawned.identity.pid;
    sleepers(sid, 3).await;

    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = stop_sid(sid, Signal::SIGTERM, grace, POLL).await.unwrap();
    assert_eq!(outcome, StopOutcome::Killed);
    assert!(started.elapsed() >= grace, "killed after {:?}", started.elapsed());
    assert!(!sid_alive(sid));
    let status = within("the leader to be reaped", spawned.child.wait()).await.unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
    agents.finish().await;
}

#[tokio::test]
async fn a_session_that_is_already_gone_is_no_error() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["true"]));
    let sid = spawned.identity.pid;
    within("true to exit", spawned.child.wait()).await.unwrap();
    assert!(!sid_alive(sid));
    signal_sid(sid, Signal::SIGTERM).unwrap();
    assert_eq!(stop_sid(sid, Signal::SIGTERM, GRACE, POLL).await.unwrap(), StopOutcome::Exited);
    agents.finish().await;
}

#[tokio::test]
async fn a_zombie_leader_does_not_keep_its_session_alive() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sleep", "1000"]));
    let sid = spawned.identity.pid;
    assert!(sid_alive(sid));
    // Not waited for while it stops: it stays a zombie child of this process.
    assert_eq!(stop_sid(sid, Signal::SIGTERM, GRACE, POLL).await.unwrap(), StopOutcome::Exited);
    assert_eq!(stat_of(sid).unwrap().state, 'Z');
    assert!(!sid_alive(sid));
    within("the leader to be reaped", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[test]
fn sessions_that_cannot_be_an_agents_are_refused() {
    let own_session = getsid(None).unwrap().as_raw().try_into().unwrap();
    let own_group = getpgrp().as_raw().try_into().unwrap();
    for sid in [0, 1, own_session, own_group, std::process::id(), u32::MAX] {
        let err = signal_sid(sid, Signal::SIGTERM).unwrap_err();
        assert!(matches!(err, StopError::NotAnAgentSid { sid: refused, .. } if refused == sid), "{err:?}");
    }
    assert_eq!(
        signal_sid(1, Signal::SIGKILL).unwrap_err().to_string(),
        "refusing to signal POSIX session 1: it would signal every process, or init"
    );
}
