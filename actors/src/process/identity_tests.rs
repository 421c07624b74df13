use super::*;
use crate::process::proc_table::stat_of;
use crate::process::test_support::{Agents, eventually, within};
use crate::process::{Signal, sid_alive, signal_sid};

#[tokio::test]
async fn a_running_child_is_alive_and_a_reaped_one_is_not() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sleep", "1000"]));
    let identity = spawned.identity;
    assert!(identity.start_time > 0);
    assert_eq!(ProcessIdentity::of(identity.pid).unwrap(), identity);
    assert!(identity.is_alive());
    assert!(identity.sid_is_ours());

    signal_sid(identity.pid, Signal::SIGTERM).unwrap();
    let status = within("sleep to die", spawned.child.wait()).await.unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15));
    assert!(!identity.is_alive());
    assert_eq!(ProcessIdentity::of(identity.pid).unwrap_err().kind(), io::ErrorKind::NotFound);
    agents.finish().await;
}

#[tokio::test]
async fn an_exited_child_is_not_alive_even_before_it_is_reaped() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["true"]));
    let pid = spawned.identity.pid;
    eventually("true to exit", || stat_of(pid).is_ok_and(|stat| stat.state == 'Z')).await;
    assert!(!spawned.identity.is_alive());
    assert!(spawned.identity.sid_is_ours(), "a zombie leader still holds its session");
    within("true to be reaped", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn a_process_with_the_same_pid_but_another_start_time_is_a_stranger() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sleep", "1000"]));
    let real = spawned.identity;
    for start_time in [real.start_time - 1, real.start_time + 1, 0] {
        let stranger = ProcessIdentity { pid: real.pid, start_time };
        assert!(!stranger.is_alive(), "{stranger:?}");
        assert!(!stranger.sid_is_ours(), "{stranger:?}");
    }
    assert!(real.is_alive());

    signal_sid(real.pid, Signal::SIGKILL).unwrap();
    within("sleep to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn a_session_whose_leader_died_is_still_ours_while_members_remain() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sh", "-c", "sleep 1000 & echo started"]);
    let mut spawned = agents.spawn(&spec);
    let identity = spawned.identity;
    within("sh to exit", spawned.child.wait()).await.unwrap();
    assert!(sid_alive(identity.pid), "its background sleep lives on");
    assert!(!identity.is_alive());
    assert!(identity.sid_is_ours(), "nobody can hold the pid of a session that still has members");

    signal_sid(identity.pid, Signal::SIGKILL).unwrap();
    eventually("the sleep to die", || !sid_alive(identity.pid)).await;
    agents.finish().await;
}

#[test]
fn pids_that_no_process_can_have_are_not_found() {
    for pid in [0, u32::MAX, 1 << 30] {
        assert_eq!(ProcessIdentity::of(pid).unwrap_err().kind(), io::ErrorKind::NotFound, "{pid}");
        assert!(!ProcessIdentity { pid, start_time: 1 }.is_alive());
    }
}

#[test]
fn identities_serialize_as_pid_and_start_time() {
    let identity = ProcessIdentity { pid: 4242, start_time: 987_654 };
    let json = serde_json::to_value(identity).unwrap();
    assert_eq!(json, serde_json::json!({"pid": 4242, "start_time": 987_654}));
    assert_eq!(serde_json::from_value::<ProcessIdentity>(json).unwrap(), identity);
}

#[test]
fn this_process_knows_itself() {
    let me = ProcessIdentity::of(std::process::id()).unwrap();
    assert!(me.is_alive());
    assert_eq!(ProcessIdentity::of(std::process::id()).unwrap(), me);
}
