use std::time::Duration;

use super::*;
use crate::process::proc_table::{pid_of, tagged_scan_free_for_tests};
use crate::process::test_support::{Agents, eventually_some};
use crate::process::{ProcessIdentity, Signal, StopOutcome, stop_tree};

const GRACE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// A tree whose grandchild starts a session of its own: neither its session
/// nor its process group are the agent's any more.
const SETSID_TREE: &str = "setsid sleep 1299 & exec sleep 1300";

/// The agent id a spec's environment holds.
fn agent_of(spec: &crate::process::ProcessSpec) -> String {
    spec.env.get(crate::process::BATON_AGENT_ID).expect("an agent id").to_string_lossy().into_owned()
}

/// The tree's members once both sleeps run, one of them in a session of
/// its own.
async fn both_sleeping(tree: &AgentTree, sid: u32) -> Vec<ProcessIdentity> {
    eventually_some("the tree to be up, one process in a session of its own", || {
        let scan = tagged_scan_free_for_tests();
        let members = tree.members(&scan);
        let stats: Vec<_> =
            scan.stats.iter().filter(|stat| pid_of(stat.pid).is_some_and(|pid| members.contains(&pid))).collect();
        let up = stats.len() == 2
            && stats.iter().all(|stat| stat.comm == "sleep")
            && stats.iter().any(|stat| pid_of(stat.session) != Some(sid));
        up.then(|| {
            stats
                .iter()
                .map(|stat| ProcessIdentity { pid: pid_of(stat.pid).unwrap(), start_time: stat.starttime })
                .collect()
        })
    })
    .await
}

#[tokio::test]
async fn by_environment_a_stop_takes_a_grandchild_that_called_setsid() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sh", "-c", SETSID_TREE]);
    let mut spawned = agents.spawn(&spec);
    let sid = spawned.identity.pid;
    let tree = AgentTree { sid: Some(sid), agent: agent_of(&spec), cgroup: None };
    let members = both_sleeping(&tree, sid).await;
    assert!(AgentTree::of_sid(sid).pids().await.unwrap().len() < 2, "the session alone misses one");

    assert_eq!(stop_tree(&tree, Signal::SIGTERM, GRACE, POLL).await.unwrap(), StopOutcome::Exited);
    for identity in members {
        assert!(!identity.is_alive(), "{identity:?} survived the stop");
    }
    spawned.child.wait().await.unwrap();
    agents.finish().await;
}

#[tokio::test]
async fn by_environment_a_tree_whose_leader_is_gone_is_still_found() {
    let mut agents = Agents::new();
    let spec = agents.spec(&["sh", "-c", "setsid sleep 1298 & exit 0"]);
    let mut spawned = agents.spawn(&spec);
    spawned.child.wait().await.unwrap();
    // Its pid may be anyone's now: only the environment names the agent.
    let tree = AgentTree { sid: None, agent: agent_of(&spec), cgroup: None };
    let left = eventually_some("the orphan to run sleep", || {
        let scan = tagged_scan_free_for_tests();
        let members = tree.members(&scan);
        let sleeping = scan
            .stats
            .iter()
            .any(|stat| stat.comm == "sleep" && pid_of(stat.pid).is_some_and(|pid| members.contains(&pid)));
        sleeping.then_some(members)
    })
    .await;
    assert_eq!(left.len(), 1, "{left:?}");
    stop_tree(&tree, Signal::SIGKILL, GRACE, POLL).await.unwrap();
    assert!(tree.pids().await.unwrap().is_empty());
    agents.finish().await;
}

#[tokio::test]
async fn in_a_cgroup_a_stop_takes_a_grandchild_that_called_setsid_and_the_cgroup_goes() {
    let key = format!("test-{}", crate::model::AgentId::new());
    let root = match CgroupRoot::discover(&key) {
        Ok(root) => root,
        Err(err) => {
            println!("cannot test agents in cgroups here: {err}");
            return;
        }
    };
    let mut agents = Agents::new();
    let mut spec = agents.spec(&["sh", "-c", SETSID_TREE]);
    let agent = agent_of(&spec);
    let cgroup = root.agent_cgroup(&agent, None).unwrap();
    spec.cgroup = Some(cgroup.clone());
    let mut spawned = agents.spawn(&spec);
    let sid = spawned.identity.pid;
    // The agent's id is left out, so only the cgroup can find the grandchild.
    let tree = AgentTree { sid: Some(sid), agent: String::new(), cgroup: Some(cgroup.clone()) };
    let members = both_sleeping(&tree, sid).await;
    assert_eq!(cgroup.pids().len(), 2, "both are in the cgroup");
    assert!(cgroup.cpu_time().is_some(), "cpu.stat is read");

    // Ignoring SIGTERM, the tree is killed through cgroup.kill.
    let outcome = stop_tree(&tree, Signal::SIGSTOP, Duration::from_millis(50), POLL).await.unwrap();
    assert_eq!(outcome, StopOutcome::Killed);
    for identity in members {
        assert!(!identity.is_alive(), "{identity:?} survived the stop");
    }
    spawned.child.wait().await.unwrap();
    agents.finish().await;
    assert!(cgroup.remove_if_empty(), "an empty cgroup is removed");
    root.remove_empty();
    assert!(!root.dir().exists(), "the engine's directory of cgroups goes once empty");
}
