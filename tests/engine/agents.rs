//! Agents: real processes (`sleep`, `sh -c`) run, restarted, limited, stopped
//! and adopted by the engine, on a clock the tests move.
//!
//! Every test stops the agents it started: the library's shutdown leaves
//! agents running (the next engine adopts them), so a test that did not would
//! leak a process.

use std::collections::BTreeMap;
use std::time::Duration;

use baton::engine::process::ProcessIdentity;
use baton::{
    ActorRef, Agent, AgentConfig, AgentId, AgentLimits, AgentState, Backoff, BatonBuilder, Clock, EngineConfig,
    EventKind, OpenSession, RestartIntensity, RestartPolicy, RestartSchedule, SessionId, SessionState, SpawnAgent,
};

use crate::support::{TestEngine, eventually};

const TICK: Duration = Duration::from_secs(1);
const SECRET: &str = "sk-daemon-secret-do-not-leak";

fn agent_config() -> AgentConfig {
    let mut config = AgentConfig::default();
    let mut source = BTreeMap::new();
    source.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    source.insert("AWS_SECRET_ACCESS_KEY".to_owned(), SECRET.to_owned());
    config.env_source = Some(source);
    config.stop_grace = Duration::from_secs(5);
    config
}

fn engine_with(configure: impl FnOnce(&mut AgentConfig)) -> TestEngine {
    let mut config = agent_config();
    configure(&mut config);
    TestEngine::start_with(|builder| builder.watchdog_interval(TICK).agents(config))
}

/// The builder settings of these tests' engines, for an engine started again.
fn configure(builder: BatonBuilder) -> BatonBuilder {
    builder.watchdog_interval(TICK).agents(agent_config())
}

fn engine() -> TestEngine {
    engine_with(|_| {})
}

async fn session(engine: &TestEngine) -> SessionId {
    engine.baton.open_session(OpenSession::named("agents")).await.unwrap().id
}

/// Waits until the agent satisfies `done`, moving the clock a tick at a time
/// when `drive` says so.
async fn until(engine: &TestEngine, id: AgentId, drive: bool, what: &str, done: impl Fn(&Agent) -> bool) -> Agent {
    eventually(what, || async {
        if drive {
            engine.clock.advance(TICK);
        }
        let agent = engine.baton.agent(id).await.ok()?;
        done(&agent).then_some(agent)
    })
    .await
}

fn identity(agent: &Agent) -> ProcessIdentity {
    ProcessIdentity { pid: agent.pid.expect("a pid"), start_time: agent.pid_start_time.expect("a start time") }
}

/// Whether `pid` names a zombie (exited, not reaped).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// Stops every agent, checks none is left alive or a zombie, and shuts down.
async fn finish(engine: TestEngine) {
    let mut pids = Vec::new();
    for agent in engine.baton.agents(None).await.unwrap() {
        let stopped = engine.baton.stop_agent(agent.id, Some(Duration::from_secs(2))).await.unwrap();
        assert!(stopped.state.is_ended(), "{stopped:?}");
        if let Some(pid) = stopped.pid {
            assert!(!identity(&stopped).is_alive(), "agent {} still runs", agent.id);
            pids.push(pid);
        }
    }
    eventually("every agent's process to be reaped", || async {
        engine.clock.advance(TICK);
        pids.iter().all(|&pid| !is_zombie(pid)).then_some(())
    })
    .await;
    engine.baton.shutdown().await.unwrap();
}

fn stdout_log(engine: &TestEngine, id: AgentId) -> String {
    let path = engine.dir.path().join("agents").join(format!("{id}.stdout.log"));
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn a_spawned_agent_runs_with_a_live_pid_and_stops() {
    let engine = engine();
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    assert_eq!(agent.state, AgentState::Running);
    assert!(identity(&agent).is_alive());
    assert_eq!(engine.baton.agents(Some(session)).await.unwrap(), vec![agent.clone()]);

    let stopped = engine.baton.stop_agent(agent.id, None).await.unwrap();
    assert_eq!((stopped.state, stopped.reason.as_deref()), (AgentState::Stopped, Some("stopped on request")));
    assert!(!identity(&agent).is_alive());
    finish(engine).await;
}

#[tokio::test]
async fn an_exit_code_is_recorded_and_never_restarts() {
    let engine = engine();
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sh", "-c", "exit 3"])).await.unwrap();
    let exited = until(&engine, agent.id, false, "the agent to exit", |a| a.state == AgentState::Exited).await;
    assert_eq!(exited.last_exit.and_then(|exit| exit.code), Some(3));
    assert_eq!(exited.reason.as_deref(), Some("exit code 3"));
    assert_eq!(exited.restarts, 0);
    finish(engine).await;
}

#[tokio::test]
async fn a_failing_agent_restarts_with_growing_backoff_then_gives_up() {
    let engine = engine();
    let session = session(&engine).await;
    let schedule = RestartSchedule {
        intensity: RestartIntensity { max_restarts: 3, within: Duration::from_secs(3600) },
        backoff: Backoff { initial: Duration::from_secs(10), factor: 2.0, max: Duration::from_secs(60) },
        jitter: 0.0,
        stable_after: Duration::from_secs(3600),
    };
    let spawn = SpawnAgent::new(session, ["sh", "-c", "exit 1"]).restart(RestartPolicy::OnFailure).schedule(schedule);
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();

    // The first restart is immediate; the second waits 10 s of the clock.
    let waiting =
        until(&engine, agent.id, false, "the second backoff", |a| a.state == AgentState::Backoff && a.restarts == 1)
            .await;
    assert_eq!(waiting.reason.as_deref(), Some("exit code 1; restarting in 10s"));
    engine.clock.advance(Duration::from_secs(9));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(engine.baton.agent(agent.id).await.unwrap().restarts, 1, "restarted before its backoff ran out");
    engine.clock.advance(Duration::from_secs(1));
    let waiting =
        until(&engine, agent.id, false, "the third backoff", |a| a.state == AgentState::Backoff && a.restarts == 2)
            .await;
    assert_eq!(waiting.reason.as_deref(), Some("exit code 1; restarting in 20s"));

    engine.clock.advance(Duration::from_secs(20));
    let failed =
        until(&engine, agent.id, false, "the agent to be given up on", |a| a.state == AgentState::Failed).await;
    assert_eq!(failed.restarts, 3);
    assert_eq!(failed.reason.as_deref(), Some("gave up after 3 restarts within 3600s; last run: exit code 1"));
    finish(engine).await;
}

#[tokio::test]
async fn max_runtime_stops_the_agent_and_says_so() {
    let engine = engine();
    let session = session(&engine).await;
    let limits = AgentLimits { max_runtime: Some(Duration::from_secs(30)), ..AgentLimits::default() };
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"]).limits(limits)).await.unwrap();
    let timed_out = until(&engine, agent.id, true, "max runtime to fire", |a| a.state == AgentState::TimedOut).await;
    assert_eq!(timed_out.reason.as_deref(), Some("max runtime of 30s reached"));
    assert!(engine.clock.now() - agent.started_at.unwrap() >= chrono::Duration::seconds(30));
    assert!(!identity(&agent).is_alive());
    finish(engine).await;
}

#[tokio::test]
async fn an_agent_without_output_is_stale_and_restarted_by_its_policy() {
    let engine = engine();
    let session = session(&engine).await;
    let limits = AgentLimits { stale_after: Some(Duration::from_secs(10)), ..AgentLimits::default() };
    let spawn = SpawnAgent::new(session, ["sh", "-c", "echo started; exec sleep 3600"])
        .limits(limits)
        .restart(RestartPolicy::OnFailure);
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();
    let restarted = until(&engine, agent.id, true, "the stale agent to be restarted", |a| {
        a.restarts == 1 && a.state == AgentState::Running
    })
    .await;
    assert_ne!(restarted.pid, agent.pid);
    assert!(!identity(&agent).is_alive());
    let events = engine.baton.events_after(0, 1000).unwrap();
    assert!(
        events.iter().any(|event| matches!(&event.kind,
            EventKind::AgentStateChanged { to: AgentState::Backoff, reason: Some(reason), .. }
                if reason.starts_with("no output for 10s"))),
        "{events:?}"
    );
    finish(engine).await;
}

#[tokio::test]
async fn stop_kills_the_whole_tree_with_background_and_double_forked_grandchildren() {
    let engine = engine();
    let session = session(&engine).await;
    let dir = engine.dir.path().to_owned();
    let script = format!(
        "sleep 3600 & echo $! > {bg}; (sleep 3600 & echo $! > {df}); exec sleep 3600",
        bg = dir.join("bg.pid").display(),
        df = dir.join("df.pid").display()
    );
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sh", "-c", &script])).await.unwrap();
    let read_pid = |name: &str| {
        let path = dir.join(name);
        async move {
            let text = std::fs::read_to_string(&path).ok()?;
            let pid: u32 = text.trim().parse().ok()?;
            ProcessIdentity::of(pid).ok()
        }
    };
    let background = eventually("the background grandchild", || read_pid("bg.pid")).await;
    let double_forked = eventually("the double-forked grandchild", || read_pid("df.pid")).await;
    assert!(background.is_alive() && double_forked.is_alive());

    let stopped = engine.baton.stop_agent(agent.id, Some(Duration::from_secs(2))).await.unwrap();
    assert_eq!(stopped.state, AgentState::Stopped);
    assert!(!background.is_alive(), "the background grandchild survived");
    assert!(!double_forked.is_alive(), "the double-forked grandchild survived");
    finish(engine).await;
}

#[tokio::test]
async fn a_secret_in_the_daemons_environment_does_not_reach_an_agent() {
    let engine = engine();
    let session = session(&engine).await;
    let spawn = SpawnAgent::new(session, ["sh", "-c", "env"]).env("EXPLICIT", "given");
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();
    until(&engine, agent.id, false, "the agent to exit", |a| a.state == AgentState::Exited).await;
    let env = stdout_log(&engine, agent.id);
    assert!(env.contains(&format!("BATON_AGENT_ID={}", agent.id)), "{env}");
    assert!(env.contains(&format!("BATON_SESSION_ID={session}")), "{env}");
    assert!(env.contains("EXPLICIT=given"), "{env}");
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains(SECRET), "the secret leaked: {env}");
    finish(engine).await;
}

#[tokio::test]
async fn spawns_over_the_cap_wait_queued_and_start_in_order() {
    let engine = engine_with(|config| config.max_running_per_session = 1);
    let session = session(&engine).await;
    let spawn = || SpawnAgent::new(session, ["sleep", "3600"]);
    let first = engine.baton.spawn_agent(spawn()).await.unwrap();
    let second = engine.baton.spawn_agent(spawn()).await.unwrap();
    let third = engine.baton.spawn_agent(spawn()).await.unwrap();
    assert_eq!((first.state, second.state, third.state), (AgentState::Running, AgentState::Queued, AgentState::Queued));
    // Another session has slots of its own.
    let other = engine.baton.open_session(OpenSession::named("other")).await.unwrap().id;
    assert_eq!(
        engine.baton.spawn_agent(SpawnAgent::new(other, ["sleep", "3600"])).await.unwrap().state,
        AgentState::Running
    );

    engine.baton.stop_agent(first.id, None).await.unwrap();
    until(&engine, second.id, false, "the second to start", |a| a.state == AgentState::Running).await;
    assert_eq!(engine.baton.agent(third.id).await.unwrap().state, AgentState::Queued);
    engine.baton.stop_agent(second.id, None).await.unwrap();
    until(&engine, third.id, false, "the third to start", |a| a.state == AgentState::Running).await;
    finish(engine).await;
}

#[tokio::test]
async fn closing_a_session_stops_its_agents() {
    let engine = engine();
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    engine.baton.close_session(session).await.unwrap();
    let stopped = until(&engine, agent.id, false, "the agent to stop", |a| a.state == AgentState::Stopped).await;
    assert_eq!(stopped.reason.as_deref(), Some("its session closed"));
    assert!(!identity(&agent).is_alive());
    finish(engine).await;
}

#[tokio::test]
async fn a_restarted_engine_adopts_a_live_agent_and_never_runs_it_twice() {
    let engine = engine();
    let session = session(&engine).await;
    let spawn = SpawnAgent::new(session, ["sleep", "3600"]).restart(RestartPolicy::Always);
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();

    let engine = engine.restart_with(configure).await;
    assert!(identity(&agent).is_alive(), "shutdown stopped the agent");
    let adopted = engine.baton.agent(agent.id).await.unwrap();
    assert_eq!((adopted.state, adopted.pid, adopted.restarts), (AgentState::Running, agent.pid, 0));
    // Ticks watch it; nothing spawns a second one.
    for _ in 0..3 {
        engine.clock.advance(TICK);
    }
    let spawned = engine
        .baton
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|event| matches!(event.kind, EventKind::AgentSpawned { .. }))
        .count();
    assert_eq!(spawned, 1);
    assert_eq!(engine.baton.agent(agent.id).await.unwrap().pid, agent.pid);
    finish(engine).await;
}

#[tokio::test]
async fn a_crashed_agent_actor_reattaches_to_its_process() {
    let engine = engine();
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    // Its next watchdog tick panics inside the actor.
    engine.baton.faults().panic_in_handler(ActorRef::Agent(agent.id), 1);
    eventually("the agent actor to be rebuilt", || async {
        engine.clock.advance(TICK);
        let events = engine.baton.events_after(0, 1000).ok()?;
        events.iter().any(|event| matches!(event.kind, EventKind::ActorRestarted { .. })).then_some(())
    })
    .await;
    let current = engine.baton.agent(agent.id).await.unwrap();
    assert_eq!((current.state, current.pid, current.restarts), (AgentState::Running, agent.pid, 0));
    assert!(identity(&agent).is_alive());
    finish(engine).await;
}

#[tokio::test]
async fn an_agent_found_dead_by_a_restarted_engine_gets_its_restart_policy() {
    let engine = engine();
    let session = session(&engine).await;
    let spawn = SpawnAgent::new(session, ["sleep", "3600"]).restart(RestartPolicy::Always);
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();
    let once = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    engine.baton.shutdown().await.unwrap();
    // While no engine runs, both die.
    for dead in [&agent, &once] {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(dead.pid.unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        eventually("the process to die", || async { (!identity(dead).is_alive()).then_some(()) }).await;
    }

    let engine = engine.reopen_with(configure);
    let restarted = until(&engine, agent.id, false, "the agent to run again", |a| {
        a.state == AgentState::Running && a.restarts == 1
    })
    .await;
    assert_ne!(restarted.pid, agent.pid);
    assert!(identity(&restarted).is_alive());
    let ended = engine.baton.agent(once.id).await.unwrap();
    assert_eq!(ended.state, AgentState::Exited);
    assert_eq!(ended.reason.as_deref(), Some("ended while baton was away; exit status unknown"));
    finish(engine).await;
}

#[tokio::test]
async fn a_command_that_cannot_start_fails_with_the_reason_and_can_be_restarted_by_hand() {
    let engine = engine();
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["no-such-program-of-baton"])).await.unwrap();
    assert_eq!(agent.state, AgentState::Failed);
    assert!(agent.reason.as_deref().unwrap().contains("command not found"), "{:?}", agent.reason);

    let done = engine.baton.spawn_agent(SpawnAgent::new(session, ["true"])).await.unwrap();
    until(&engine, done.id, false, "the agent to exit", |a| a.state == AgentState::Exited).await;
    let again = engine.baton.restart_agent(done.id).await.unwrap();
    assert_eq!(again.state, AgentState::Running);
    assert_ne!(again.pid, done.pid);
    until(&engine, done.id, false, "the agent to exit again", |a| a.state == AgentState::Exited).await;
    finish(engine).await;
}

#[tokio::test]
async fn max_cpu_time_and_max_rss_fire() {
    let engine = engine();
    let session = session(&engine).await;
    let cpu = AgentLimits { max_cpu_time: Some(Duration::from_millis(200)), ..AgentLimits::default() };
    let spinner = engine
        .baton
        .spawn_agent(SpawnAgent::new(session, ["sh", "-c", "while :; do :; done"]).limits(cpu))
        .await
        .unwrap();
    let rss = AgentLimits { max_rss_bytes: Some(20 * 1024 * 1024), ..AgentLimits::default() };
    let hog = "x=$(head -c 60000000 /dev/zero | tr '\\0' a); exec sleep 3600";
    let hog = engine.baton.spawn_agent(SpawnAgent::new(session, ["sh", "-c", hog]).limits(rss)).await.unwrap();

    // Issue 18: a resource limit's stop was shown as timed_out, as a time limit's.
    let spun = until(&engine, spinner.id, true, "max CPU time to fire", |a| a.state.is_ended()).await;
    assert_eq!(spun.state, AgentState::Killed);
    assert!(spun.reason.as_deref().unwrap().starts_with("CPU time of"), "{:?}", spun.reason);
    let hogged = until(&engine, hog.id, true, "max RSS to fire", |a| a.state.is_ended()).await;
    assert_eq!(hogged.state, AgentState::Killed);
    assert!(hogged.reason.as_deref().unwrap().starts_with("RSS of"), "{:?}", hogged.reason);
    finish(engine).await;
}

#[tokio::test]
async fn output_counts_as_activity_for_the_stale_limit() {
    let engine = engine();
    let session = session(&engine).await;
    let limits = AgentLimits { stale_after: Some(Duration::from_secs(3)), ..AgentLimits::default() };
    let chatty = SpawnAgent::new(session, ["sh", "-c", "while :; do echo tick; sleep 0.02; done"]).limits(limits);
    let agent = engine.baton.spawn_agent(chatty).await.unwrap();
    // Ten seconds of the clock, a tick each, with output between the ticks.
    for _ in 0..10 {
        let before = stdout_log(&engine, agent.id).len();
        eventually("more output", || async { (stdout_log(&engine, agent.id).len() > before).then_some(()) }).await;
        engine.clock.advance(TICK);
    }
    let current = engine.baton.agent(agent.id).await.unwrap();
    assert_eq!((current.state, current.restarts), (AgentState::Running, 0), "{:?}", current.reason);
    finish(engine).await;
}

#[tokio::test]
async fn a_session_with_an_agent_at_work_is_not_reaped_as_idle() {
    let engine = TestEngine::start_with(|builder| configure(builder).idle_after(Duration::from_secs(5)));
    let working = session(&engine).await;
    let quiet = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(working, ["sleep", "3600"])).await.unwrap();

    // The quiet session shows the watchdog ran past idle_after; the working one stays.
    eventually("the quiet session to go idle", || async {
        engine.clock.advance(TICK);
        (engine.baton.session(quiet).await.ok()?.state == SessionState::Idle).then_some(())
    })
    .await;
    assert_eq!(engine.baton.session(working).await.unwrap().state, SessionState::Active);

    engine.baton.stop_agent(agent.id, None).await.unwrap();
    eventually("the working session to go idle once its agent stopped", || async {
        engine.clock.advance(TICK);
        (engine.baton.session(working).await.ok()?.state == SessionState::Idle).then_some(())
    })
    .await;
    finish(engine).await;
}

#[tokio::test]
async fn spawning_into_an_idle_session_wakes_it() {
    let engine = TestEngine::start_with(|builder| configure(builder).idle_after(Duration::from_secs(5)));
    let id = session(&engine).await;
    eventually("the session to go idle", || async {
        engine.clock.advance(TICK);
        (engine.baton.session(id).await.ok()?.state == SessionState::Idle).then_some(())
    })
    .await;
    engine.baton.spawn_agent(SpawnAgent::new(id, ["sleep", "3600"])).await.unwrap();
    eventually("the session to wake", || async {
        (engine.baton.session(id).await.ok()?.state == SessionState::Active).then_some(())
    })
    .await;
    finish(engine).await;
}

#[tokio::test]
async fn past_the_memory_budget_the_lowest_priority_agents_are_stopped_until_the_rest_fit() {
    const MB: u64 = 1024 * 1024;
    let engine = engine_with(|config| config.memory_budget_bytes = Some(40 * MB));
    let session = session(&engine).await;
    let spawn = |argv: &[&str], priority| SpawnAgent::new(session, argv.iter().copied()).priority(priority);
    let sleeper = ["sleep", "3600"];
    // A process holding about 50 MB, of middle priority.
    let hog = ["perl", "-e", "my $x = 'a' x (50 * 1024 * 1024); sleep 3600"];
    let important = engine.baton.spawn_agent(spawn(&sleeper, 10)).await.unwrap();
    let cheap = engine.baton.spawn_agent(spawn(&sleeper, 0)).await.unwrap();
    let hog = engine.baton.spawn_agent(spawn(&hog, 5)).await.unwrap();
    eventually("the hog to hold its memory", || async {
        let usage = baton::engine::process::TreeUsage::measure(hog.pid?).ok()?;
        (usage.rss_bytes > 45 * MB).then_some(())
    })
    .await;

    // Over by about 13 MB: the cheap one goes first, and is not enough; then the hog.
    let shed = until(&engine, hog.id, true, "the hog to be shed", |a| a.state == AgentState::Stopped).await;
    let cheap = until(&engine, cheap.id, true, "the cheap one to be shed", |a| a.state == AgentState::Stopped).await;
    for agent in [&shed, &cheap] {
        let reason = agent.reason.clone().unwrap_or_default();
        assert!(reason.starts_with("memory pressure: agents used"), "{reason}");
        assert!(reason.contains("over the budget of 41943040"), "{reason}");
    }
    assert_eq!(engine.baton.agent(important.id).await.unwrap().state, AgentState::Running);
    let events = engine.baton.events_after(0, 10_000).unwrap();
    let said_why = events.iter().any(|event| {
        matches!(&event.kind, EventKind::AgentStateChanged { agent, to: AgentState::Stopped, reason: Some(reason), .. }
            if *agent == shed.id && reason.contains("memory pressure"))
    });
    assert!(said_why, "an event says why the hog stopped");
    finish(engine).await;
}

#[tokio::test]
async fn a_clean_shutdown_stops_the_agents_whose_policy_says_so_and_leaves_the_others() {
    let engine = engine();
    let session = session(&engine).await;
    let sleeper = || SpawnAgent::new(session, ["sleep", "3600"]).restart(RestartPolicy::Always);
    let stopped = engine.baton.spawn_agent(sleeper().on_shutdown(baton::ShutdownPolicy::Stop)).await.unwrap();
    let kept = engine.baton.spawn_agent(sleeper()).await.unwrap();

    let engine = engine.restart_with(configure).await;
    assert!(!identity(&stopped).is_alive(), "its policy says stop");
    assert!(identity(&kept).is_alive(), "its policy says keep");
    let record = engine.baton.agent(stopped.id).await.unwrap();
    assert_eq!((record.state, record.reason.as_deref()), (AgentState::Stopped, Some("baton shut down")));
    assert_eq!(engine.baton.agent(kept.id).await.unwrap().state, AgentState::Running);
    finish(engine).await;
}

#[tokio::test]
async fn a_restarted_engine_runs_afresh_an_agent_whose_policy_says_so() {
    let engine = engine();
    let session = session(&engine).await;
    let spawn = SpawnAgent::new(session, ["sleep", "3600"]).on_adopt(baton::AdoptPolicy::Restart);
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();

    let engine = engine.restart_with(configure).await;
    let fresh =
        until(&engine, agent.id, false, "a fresh run", |a| a.state == AgentState::Running && a.pid != agent.pid).await;
    assert_eq!(fresh.restarts, 1);
    assert!(!identity(&agent).is_alive(), "the old process was stopped");
    assert!(identity(&fresh).is_alive());
    finish(engine).await;
}

#[tokio::test]
async fn stopping_a_sessions_agents_stops_the_running_and_the_queued_and_no_other() {
    let engine = engine_with(|config| config.max_running_per_session = 2);
    let ours = session(&engine).await;
    let theirs = session(&engine).await;
    let mut spawned = Vec::new();
    for _ in 0..3 {
        let spawn = SpawnAgent::new(ours, ["sleep", "3600"]).restart(RestartPolicy::Always);
        spawned.push(engine.baton.spawn_agent(spawn).await.unwrap());
    }
    let states: Vec<AgentState> = spawned.iter().map(|agent| agent.state).collect();
    assert_eq!(states, [AgentState::Running, AgentState::Running, AgentState::Queued]);
    let other = engine.baton.spawn_agent(SpawnAgent::new(theirs, ["sleep", "3600"])).await.unwrap();

    let mut stopped = engine.baton.stop_session_agents(ours, Some(Duration::from_secs(2))).await.unwrap();
    stopped.sort_by_key(|agent| agent.id);
    spawned.sort_by_key(|agent| agent.id);
    assert_eq!(
        stopped.iter().map(|agent| agent.id).collect::<Vec<_>>(),
        spawned.iter().map(|agent| agent.id).collect::<Vec<_>>()
    );
    for agent in &stopped {
        assert_eq!(agent.state, AgentState::Stopped, "{agent:?}");
        if agent.pid.is_some() {
            assert!(!identity(agent).is_alive(), "{agent:?}");
        }
    }
    // The queued one never ran; nothing restarts; the other session is untouched.
    assert!(stopped.iter().any(|agent| agent.pid.is_none()));
    engine.clock.advance(TICK);
    for agent in engine.baton.agents(Some(ours)).await.unwrap() {
        assert_eq!(agent.state, AgentState::Stopped, "{agent:?}");
    }
    assert!(identity(&engine.baton.agent(other.id).await.unwrap()).is_alive());
    assert_eq!(engine.baton.session(ours).await.unwrap().state, SessionState::Active);

    assert_eq!(engine.baton.stop_session_agents(ours, None).await.unwrap(), Vec::new());
    let unknown = SessionId::new();
    let err = engine.baton.stop_session_agents(unknown, None).await.unwrap_err();
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    finish(engine).await;
}

#[tokio::test]
async fn past_the_retention_the_oldest_ended_agents_go_with_their_logs_and_live_ones_stay() {
    let mut config = EngineConfig::default();
    config.agent_retention = 2;
    let engine =
        TestEngine::start_with(|builder| builder.config(config).watchdog_interval(TICK).agents(agent_config()));
    let session = session(&engine).await;
    let live = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    let mut ended = Vec::new();
    for n in 0..4 {
        let spawn = SpawnAgent::new(session, ["sh", "-c", &format!("echo run {n}")]);
        let agent = engine.baton.spawn_agent(spawn).await.unwrap();
        ended.push(until(&engine, agent.id, false, "the agent to exit", |a| a.state == AgentState::Exited).await);
    }
    let logs: Vec<_> = ended.iter().map(|agent| engine.baton.agent_logs(agent.id)).collect();
    assert!(logs.iter().all(|paths| paths.stdout.exists()), "every run wrote its log");

    // A tick trims the two oldest ended agents, and their logs after them.
    eventually("the oldest ended agents and their logs to go", || async {
        engine.clock.advance(TICK);
        let left: Vec<AgentId> = engine.baton.agents(Some(session)).await.ok()?.iter().map(|a| a.id).collect();
        let logs_gone = !logs[0].stdout.exists() && !logs[0].stderr.exists() && !logs[1].stdout.exists();
        (left == [live.id, ended[2].id, ended[3].id] && logs_gone).then_some(())
    })
    .await;
    assert!(logs[2].stdout.exists() && logs[3].stdout.exists(), "the kept agents keep their logs");
    let err = engine.baton.agent(ended[0].id).await.unwrap_err();
    assert!(err.to_string().contains(&ended[0].id.to_string()), "{err}");
    assert!(identity(&engine.baton.agent(live.id).await.unwrap()).is_alive(), "a running agent is never trimmed");
    finish(engine).await;
}

/// Issue 18: a session closed by its max lifetime said closed while its
/// agent went on running; it stops them, as a close on request does.
#[tokio::test]
async fn a_session_closed_by_its_max_lifetime_stops_its_agents() {
    let engine = engine();
    let spec = OpenSession::named("short").with_max_lifetime(Duration::from_secs(2));
    let session = engine.baton.open_session(spec).await.unwrap().id;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    assert_eq!(agent.state, AgentState::Running);

    let stopped = until(&engine, agent.id, true, "the agent to stop", |a| a.state.is_ended()).await;
    assert_eq!(stopped.state, AgentState::Stopped);
    assert_eq!(stopped.reason.as_deref(), Some("its session closed"));
    assert!(!identity(&agent).is_alive());
    let closed = engine.baton.session(session).await.unwrap();
    assert_eq!((closed.state, closed.reason.as_deref()), (SessionState::Closed, Some("max lifetime reached")));
    finish(engine).await;
}

/// Issue 20: the engine refuses what the daemon refuses, so a library caller
/// cannot spawn what `POST /v1/agents` would not.
#[tokio::test]
async fn the_engine_refuses_a_spawn_it_cannot_run_as_asked_and_spawns_nothing() {
    let engine = engine();
    let session = session(&engine).await;
    let cases = [
        (SpawnAgent::new(session, ["sleep", "1"]).env("A=B", "1"), "environment variable's name"),
        (SpawnAgent::new(session, ["sleep", "1"]).env("A\0", "1"), "environment variable's name"),
        (SpawnAgent::new(session, ["sleep", "1"]).env("", "1"), "environment variable's name"),
        (SpawnAgent::new(session, [""]), "argv must name a command"),
        (SpawnAgent::new(session, ["sleep", "1"]).role(" "), "a role must not be empty"),
    ];
    for (spawn, says) in cases {
        let err = engine.baton.spawn_agent(spawn).await.unwrap_err();
        assert!(matches!(err, baton::Error::Engine(baton::EngineError::InvalidRequest(_))), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert_eq!(engine.baton.agents(Some(session)).await.unwrap(), Vec::new(), "nothing was spawned");
    finish(engine).await;
}

#[tokio::test]
async fn an_agent_actor_that_keeps_crashing_is_given_up_on_and_its_process_stopped() {
    let engine = engine_with(|config| {
        config.actor_restart.intensity.max_restarts = 1;
        config.actor_restart.intensity.within = Duration::from_secs(3600);
    });
    let session = session(&engine).await;
    let agent = engine.baton.spawn_agent(SpawnAgent::new(session, ["sleep", "3600"])).await.unwrap();
    // Its next two watchdog ticks panic inside the actor: one restart is
    // allowed, and the second crash is one too many.
    engine.baton.faults().panic_in_handler(ActorRef::Agent(agent.id), 2);
    let failed = until(&engine, agent.id, true, "the agent to be given up on", |a| a.state == AgentState::Failed).await;
    assert_eq!(failed.reason.as_deref(), Some("crashed 2 times within 3600s, more than the 1 restarts allowed"));
    eventually("its process to be stopped", || async { (!identity(&agent).is_alive()).then_some(()) }).await;
    let events = engine.baton.events_after(0, 1000).unwrap();
    let gave_up = |event: &&baton::engine::model::Event| matches!(&event.kind, EventKind::ActorFailed { actor: ActorRef::Agent(id), .. } if *id == agent.id);
    assert_eq!(events.iter().filter(gave_up).count(), 1);
    finish(engine).await;
}
