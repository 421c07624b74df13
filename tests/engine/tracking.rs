//! Stopping an agent stops every process it started, whatever those call
//! (issue 18, item 1): `setsid` takes a process out of the agent's session and
//! process group, not out of its cgroup, nor its id out of its environment.
//! Each test runs both ways an engine tracks agents: a cgroup v2 per agent
//! (where this machine lets the tests make one; else the test says so and
//! returns) and `BATON_AGENT_ID` in the environment.

use std::collections::BTreeMap;
use std::time::Duration;

use baton::engine::process::{Tracking, TrackingMode};
use baton::{Agent, AgentConfig, AgentState, OpenSession, SessionId, SpawnAgent};

use crate::support::{TestEngine, eventually, processes_of_agent};

const TICK: Duration = Duration::from_secs(1);

/// An agent whose grandchild calls `setsid`: it leaves the agent's session
/// and process group.
const SETSID_TREE: &[&str] = &["sh", "-c", "setsid sleep 299 & sleep 300"];

fn agent_config(tracking: TrackingMode) -> AgentConfig {
    let mut config = AgentConfig::default();
    let mut source = BTreeMap::new();
    source.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    config.env_source = Some(source);
    config.stop_grace = Duration::from_secs(5);
    config.tracking = tracking;
    config
}

/// An engine that tracks agents `tracking`'s way; None (said so) where this
/// machine has no cgroup v2 hierarchy the test may write to.
fn engine(tracking: TrackingMode) -> Option<TestEngine> {
    match TestEngine::try_start_with(|builder| builder.watchdog_interval(TICK).agents(agent_config(tracking))) {
        Ok(engine) => Some(engine),
        Err(err) if tracking == TrackingMode::Cgroup => {
            println!("cannot test agents in cgroups here: {err}");
            None
        }
        Err(err) => panic!("the engine starts: {err}"),
    }
}

async fn session(engine: &TestEngine) -> SessionId {
    engine.baton.open_session(OpenSession::named("tracking")).await.unwrap().id
}

/// Spawns [`SETSID_TREE`] and waits until both sleeps run, one of them in a
/// session of its own.
async fn setsid_tree(engine: &TestEngine, session: SessionId) -> Agent {
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, SETSID_TREE.iter().copied())).await.unwrap();
    assert_eq!(agent.state, AgentState::Running, "{agent:?}");
    let id = agent.id.to_string();
    eventually("both sleeps to run", || async {
        let found = processes_of_agent(&id);
        let sleeping = |cmdline: &str| found.iter().any(|(_, line)| line == cmdline);
        (sleeping("sleep 299") && sleeping("sleep 300")).then_some(())
    })
    .await;
    match engine.baton.tracking() {
        Tracking::Cgroup(root) => {
            let cgroup = agent.cgroup.as_ref().expect("the record names its cgroup");
            assert!(cgroup.starts_with(root.dir()), "{cgroup:?} under {:?}", root.dir());
            assert!(cgroup.exists());
        }
        Tracking::Environ => assert_eq!(agent.cgroup, None),
    }
    agent
}

/// Waits until no process of `agent` is left (and its cgroup is gone).
async fn nothing_left_of(agent: &Agent) {
    let id = agent.id.to_string();
    eventually("every process of the agent to be gone", || async { processes_of_agent(&id).is_empty().then_some(()) })
        .await;
    if let Some(cgroup) = &agent.cgroup {
        eventually("the agent's cgroup to go", || async { (!cgroup.exists()).then_some(()) }).await;
    }
}

/// Shuts the engine down; with cgroups, its directory of them goes too.
async fn finish(engine: TestEngine) {
    let root = match engine.baton.tracking() {
        Tracking::Cgroup(root) => Some(root.dir().to_path_buf()),
        Tracking::Environ => None,
    };
    engine.baton.shutdown().await.unwrap();
    if let Some(root) = root {
        assert!(!root.exists(), "{root:?} is left behind");
    }
}

async fn a_stop_takes_a_grandchild_that_called_setsid(tracking: TrackingMode) {
    let Some(engine) = engine(tracking) else { return };
    let session = session(&engine).await;
    let agent = setsid_tree(&engine, session).await;
    let stopped = engine.baton.stop_agent(agent.id, None).await.unwrap();
    assert_eq!(stopped.state, AgentState::Stopped, "{stopped:?}");
    nothing_left_of(&agent).await;
    finish(engine).await;
}

#[tokio::test]
async fn in_a_cgroup_a_stop_takes_a_grandchild_that_called_setsid() {
    a_stop_takes_a_grandchild_that_called_setsid(TrackingMode::Cgroup).await;
}

#[tokio::test]
async fn by_environment_a_stop_takes_a_grandchild_that_called_setsid() {
    a_stop_takes_a_grandchild_that_called_setsid(TrackingMode::Environ).await;
}

async fn closing_the_session_takes_a_grandchild_that_called_setsid(tracking: TrackingMode) {
    let Some(engine) = engine(tracking) else { return };
    let session = session(&engine).await;
    let agent = setsid_tree(&engine, session).await;
    engine.baton.close_session(session).await.unwrap();
    nothing_left_of(&agent).await;
    finish(engine).await;
}

#[tokio::test]
async fn in_a_cgroup_closing_the_session_takes_a_grandchild_that_called_setsid() {
    closing_the_session_takes_a_grandchild_that_called_setsid(TrackingMode::Cgroup).await;
}

#[tokio::test]
async fn by_environment_closing_the_session_takes_a_grandchild_that_called_setsid() {
    closing_the_session_takes_a_grandchild_that_called_setsid(TrackingMode::Environ).await;
}

async fn an_engine_started_again_stops_the_whole_tree_it_adopted(tracking: TrackingMode) {
    let Some(engine) = engine(tracking) else { return };
    let session = session(&engine).await;
    let agent = setsid_tree(&engine, session).await;
    let engine = engine.restart_with(|builder| builder.watchdog_interval(TICK).agents(agent_config(tracking))).await;
    let adopted = engine.baton.agent(agent.id).await.unwrap();
    assert_eq!((adopted.state, adopted.pid), (AgentState::Running, agent.pid), "adopted, not spawned again");
    let stopped = engine.baton.stop_agent(agent.id, None).await.unwrap();
    assert_eq!(stopped.state, AgentState::Stopped, "{stopped:?}");
    nothing_left_of(&agent).await;
    finish(engine).await;
}

#[tokio::test]
async fn in_a_cgroup_an_engine_started_again_stops_the_whole_tree_it_adopted() {
    an_engine_started_again_stops_the_whole_tree_it_adopted(TrackingMode::Cgroup).await;
}

#[tokio::test]
async fn by_environment_an_engine_started_again_stops_the_whole_tree_it_adopted() {
    an_engine_started_again_stops_the_whole_tree_it_adopted(TrackingMode::Environ).await;
}

/// Issue 18, item 14: a test whose engine is dropped with agents running
/// (it failed, or an agent was spawned after it stopped the others) leaves
/// no process behind.
#[tokio::test]
async fn a_test_engine_dropped_with_agents_running_leaves_no_process() {
    let engine = engine(TrackingMode::Auto).expect("an engine");
    let session = session(&engine).await;
    let agent = setsid_tree(&engine, session).await;
    drop(engine);
    assert_eq!(processes_of_agent(&agent.id.to_string()), Vec::new(), "left running");
}
