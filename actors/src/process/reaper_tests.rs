//! Becoming a subreaper lasts for the life of the process, and the reaper
//! test must see every child of its process, so it runs in a process of its
//! own: the outer test runs this test binary again, with only the inner test.

use std::process::Command;

use tokio::io::AsyncWriteExt;

use super::*;
use crate::process::Stdin;
use crate::process::test_support::{Agents, eventually, eventually_some, read, within, zombie_children};

/// Set for the inner test, in the process the outer test starts.
const IN_OWN_PROCESS: &str = "BATON_TEST_SUBREAPER_PROCESS";
/// The inner test's full name.
const INNER: &str = "process::reaper::tests::a_subreaper_reaps_its_orphans_and_leaves_its_own_children";

#[test]
fn orphans_are_reaped_by_a_subreaper() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([INNER, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(IN_OWN_PROCESS, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the inner test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("test result: ok. 1 passed"), "the inner test did not run:\n{stdout}\n{stderr}");
}

#[tokio::test]
#[ignore = "runs in a process of its own, started by `orphans_are_reaped_by_a_subreaper`"]
async fn a_subreaper_reaps_its_orphans_and_leaves_its_own_children() {
    if std::env::var_os(IN_OWN_PROCESS).is_none() {
        // Run with --include-ignored among the other tests: becoming a
        // subreaper here would hand it their orphans.
        return;
    }
    let me = std::process::id();
    assert!(!is_subreaper().unwrap());
    become_subreaper().unwrap();
    assert!(is_subreaper().unwrap());

    let mut agents = Agents::new();
    // The agent starts a grandchild that outlives it, and exits; the
    // grandchild waits for a line on the agent's stdin (kept as fd 3, since a
    // background job's stdin is /dev/null), then exits with 7.
    let script = "exec 3<&0; (read line <&3; exit 7) & echo $!";
    let spec = agents.spec(&["sh", "-c", script]).with_stdin(Stdin::Pipe);
    let mut agent = agents.spawn(&spec);
    let mut stdin = agent.stdin.take().unwrap();
    let status = within("the agent to exit", agent.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    let grandchild: u32 = eventually_some("the grandchild's pid", || read(&spec.stdout_log).trim().parse().ok()).await;
    eventually("the orphan to be handed to this process", || {
        all_stats().unwrap().iter().any(|stat| pid_of(stat.pid) == Some(grandchild) && pid_of(stat.ppid) == Some(me))
    })
    .await;

    // A child of this process's own that exited: the reaper must leave it.
    let mut own = agents.spawn(&agents.spec(&["sh", "-c", "exit 3"]));
    let own_pid = own.identity.pid;
    eventually("its own child to exit", || zombie_children().contains(&own_pid)).await;
    let spawned_here = |pid| pid == own_pid;
    assert_eq!(reap_orphans(spawned_here).unwrap(), [], "the orphan still runs");

    stdin.write_all(b"exit now\n").await.unwrap();
    let reaped = eventually_some("the orphan to be reaped", || {
        let reaped = reap_orphans(spawned_here).unwrap();
        (!reaped.is_empty()).then_some(reaped)
    })
    .await;
    assert_eq!(reaped, [ReapedOrphan { pid: grandchild, exit: ExitStatus::exited(7) }]);

    let status = within("its own child to be reaped", own.child.wait()).await.unwrap();
    assert_eq!(status.code(), Some(3), "its exit status was left for its waiter");
    assert_eq!(zombie_children(), Vec::<u32>::new());
    agents.finish().await;
}

#[test]
fn this_processs_children_are_listed_by_the_kernel() {
    let mut child = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let listed = own_children();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(listed.unwrap().contains(&child.id()), "a child of this process is not listed");
}
