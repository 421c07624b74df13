use super::*;
use crate::process::test_support::{Agents, eventually, eventually_some, read, within};
use crate::process::{Signal, signal_sid};

const MIB: u64 = 1024 * 1024;

/// A perl that fills a 64 MiB string, then sleeps.
const ALLOCATE_64_MIB: &str = "perl -e '$x = q(a) x (64 * 1024 * 1024); sleep 1000'";

#[tokio::test]
async fn memory_of_every_process_in_the_session_adds_up() {
    let mut agents = Agents::new();
    let script = format!("{ALLOCATE_64_MIB} & {ALLOCATE_64_MIB} & wait");
    let mut spawned = agents.spawn(&agents.spec(&["sh", "-c", &script]));
    let sid = spawned.identity.pid;

    let usage = eventually_some("both perls to fill their strings", || {
        let usage = TreeUsage::measure(sid).unwrap();
        (usage.rss_bytes >= 2 * 64 * MIB).then_some(usage)
    })
    .await;
    assert_eq!(usage.processes(), 3, "{usage:?}");
    assert!(usage.pids.contains(&sid), "{usage:?}");
    assert!(usage.pids.windows(2).all(|pair| pair[0] < pair[1]), "{usage:?}");
    assert!(usage.rss_bytes < 1024 * MIB, "{usage:?}");

    signal_sid(sid, Signal::SIGKILL).unwrap();
    within("sh to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn cpu_time_grows_while_a_process_is_busy() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sh", "-c", "while :; do :; done"]));
    let sid = spawned.identity.pid;

    let first = eventually_some("the loop to burn 200ms of CPU", || {
        let usage = TreeUsage::measure(sid).unwrap();
        (usage.cpu_time >= Duration::from_millis(200)).then_some(usage)
    })
    .await;
    let later = eventually_some("the loop to burn 200ms more", || {
        let usage = TreeUsage::measure(sid).unwrap();
        (usage.cpu_time >= first.cpu_time + Duration::from_millis(200)).then_some(usage)
    })
    .await;
    assert_eq!(later.pids, vec![sid]);

    signal_sid(sid, Signal::SIGKILL).unwrap();
    within("the loop to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

/// A parent in the session that waited for its busy child keeps its CPU time
/// (in `cutime`), so a max-CPU limit is not reset by every compiler that exits.
#[tokio::test]
async fn cpu_time_of_children_already_reaped_still_counts() {
    let mut agents = Agents::new();
    let script = "perl -e '1 while (times)[0] < 0.3'; echo done; exec sleep 1000";
    let spec = agents.spec(&["sh", "-c", script]);
    let mut spawned = agents.spawn(&spec);
    let sid = spawned.identity.pid;
    eventually("the busy child to be done", || read(&spec.stdout_log) == "done\n").await;

    let usage = TreeUsage::measure(sid).unwrap();
    assert_eq!(usage.pids, vec![sid], "only the sleeping parent is left");
    assert!(usage.cpu_time >= Duration::from_millis(300), "{usage:?}");

    signal_sid(sid, Signal::SIGKILL).unwrap();
    within("sleep to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn processes_that_come_and_go_during_a_scan_are_no_error() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["sh", "-c", "while :; do /bin/true; done"]));
    let sid = spawned.identity.pid;

    // Whether a scan, which must not fail, saw one of the loop's children.
    let scan_sees_a_child = || {
        let usage = TreeUsage::measure(sid).expect("a scan never fails for a vanished process");
        assert!(usage.pids.contains(&sid), "{usage:?}");
        usage.processes() > 1
    };
    let mut saw_a_child = false;
    for _ in 0..200 {
        saw_a_child |= scan_sees_a_child();
    }
    // On a busy machine the loop may not have run during those scans at all.
    if !saw_a_child {
        eventually("a scan to see one of the loop's children", scan_sees_a_child).await;
    }

    signal_sid(sid, Signal::SIGKILL).unwrap();
    within("the loop to die", spawned.child.wait()).await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn a_session_without_processes_uses_nothing() {
    let mut agents = Agents::new();
    let mut spawned = agents.spawn(&agents.spec(&["true"]));
    within("true to exit", spawned.child.wait()).await.unwrap();
    let usage = TreeUsage::measure(spawned.identity.pid).unwrap();
    assert_eq!(usage, TreeUsage::default());
    assert!(usage.is_empty());
    agents.finish().await;
}
