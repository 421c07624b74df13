//! Handoffs: their lifecycle, who may take each step, deadlines on a driven
//! clock, routing to roles (an idle agent first, else one spawned from the
//! role's template), transfer when an agent stops for good, inboxes, metrics
//! and persistence. Agents are real processes (`sleep`), stopped at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use baton::{
    AgentConfig, AgentId, AgentState, Backoff, Clock, CreateHandoff, EngineError, Error, EventKind, Handoff,
    HandoffAction, HandoffId, HandoffState, HandoffTarget, HandoffTransfer, Inbox, InboxClaim, Latency, ListHandoffs,
    MAX_PAYLOAD_DEPTH, NewObservation, ObservationKind, OpenSession, RestartIntensity, RestartPolicy, RestartSchedule,
    RoleTemplate, SessionId, SpawnAgent, UpdateHandoff,
};
use serde_json::json;

use crate::support::{TestEngine, eventually, nested};

const TICK: Duration = Duration::from_secs(1);

fn agent_config() -> AgentConfig {
    let mut config = AgentConfig::default();
    let mut source = BTreeMap::new();
    source.insert("PATH".to_owned(), std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    config.env_source = Some(source);
    config.stop_grace = Duration::from_secs(5);
    config.roles.insert("reviewer".into(), RoleTemplate::new(["sleep", "3600"]));
    config
}

fn engine_with(configure: impl FnOnce(&mut AgentConfig)) -> TestEngine {
    let mut config = agent_config();
    configure(&mut config);
    TestEngine::start_with(|builder| builder.watchdog_interval(TICK).agents(config))
}

fn engine() -> TestEngine {
    engine_with(|_| {})
}

async fn session(engine: &TestEngine) -> SessionId {
    engine.baton.open_session(OpenSession::named("handoffs")).await.unwrap().id
}

/// A running agent of `session` (with `role`, if any) that sleeps.
async fn agent(engine: &TestEngine, session: SessionId, role: Option<&str>) -> AgentId {
    let mut spawn = SpawnAgent::new(session, ["sleep", "3600"]);
    if let Some(role) = role {
        spawn = spawn.role(role);
    }
    let agent = engine.baton.spawn_agent(spawn).await.unwrap();
    assert_eq!(agent.state, AgentState::Running, "{agent:?}");
    agent.id
}

async fn step(
    engine: &TestEngine,
    id: HandoffId,
    action: HandoffAction,
    by: Option<AgentId>,
) -> Result<Handoff, Error> {
    let mut update = UpdateHandoff::new(id, action);
    update.by = by;
    engine.baton.update_handoff(update).await
}

/// Waits until handoff `id` satisfies `done`, moving the clock a tick at a
/// time when `drive` says so.
async fn until(
    engine: &TestEngine,
    id: HandoffId,
    drive: bool,
    what: &str,
    done: impl Fn(&Handoff) -> bool,
) -> Handoff {
    eventually(what, || async {
        if drive {
            engine.clock.advance(TICK);
        }
        let handoff = engine.baton.handoff(id).await.ok()?;
        done(&handoff).then_some(handoff)
    })
    .await
}

/// Cancels the open handoffs, stops every agent and shuts the engine down.
/// (An open handoff to a role moves on when its agent stops, and can spawn
/// a new agent of the role: cancelled first, none is left to spawn one.)
async fn finish(engine: TestEngine) {
    for handoff in engine.baton.handoffs(ListHandoffs::default()).await.unwrap() {
        if handoff.is_open() {
            step(&engine, handoff.id, HandoffAction::Cancel, None).await.unwrap();
        }
    }
    for agent in engine.baton.agents(None).await.unwrap() {
        let stopped = engine.baton.stop_agent(agent.id, Some(Duration::from_secs(2))).await.unwrap();
        assert!(stopped.state.is_ended(), "{stopped:?}");
    }
    engine.baton.shutdown().await.unwrap();
}

fn is_invalid_transition(err: &Error) -> bool {
    matches!(err, Error::Engine(EngineError::InvalidTransition(_)))
}

fn states(handoff: &Handoff) -> Vec<HandoffState> {
    handoff.history.iter().map(|step| step.state).collect()
}

/// The actions the lifecycle allows from `state`.
fn allowed(state: HandoffState) -> &'static [HandoffAction] {
    use HandoffAction::*;
    match state {
        HandoffState::Initiated => &[Acknowledge, Cancel],
        HandoffState::Acknowledged => &[Start, Fail, Cancel],
        HandoffState::InProgress => &[Complete, Fail, Cancel],
        _ => &[],
    }
}

/// Tries every action the handoff's state does not allow: each is refused
/// and leaves the record as it was.
async fn refuse_the_rest(engine: &TestEngine, id: HandoffId) {
    let before = engine.baton.handoff(id).await.unwrap();
    for &action in HandoffAction::ALL.iter().filter(|action| !allowed(before.state).contains(action)) {
        let err = step(engine, id, action, None).await.unwrap_err();
        assert!(is_invalid_transition(&err), "{action:?} from {}: {err}", before.state);
        assert_eq!(engine.baton.handoff(id).await.unwrap(), before, "{action:?} changed it");
    }
}

#[tokio::test]
async fn every_step_is_durable_and_timestamped_and_every_invalid_one_changes_nothing() {
    use HandoffAction::*;
    let engine = engine();
    let session = session(&engine).await;
    let target = agent(&engine, session, None).await;
    let t0 = engine.clock.now();

    let create = CreateHandoff::new(session, HandoffTarget::Agent(target), "review the diff")
        .payload(json!({"files": ["a.rs"]}));
    let created = engine.baton.create_handoff(create).await.unwrap();
    assert_eq!((created.state, created.assigned, created.from), (HandoffState::Initiated, Some(target), None));
    assert_eq!(created.created_at, t0);

    refuse_the_rest(&engine, created.id).await;
    engine.clock.advance(Duration::from_millis(1500));
    let acked = step(&engine, created.id, Acknowledge, Some(target)).await.unwrap();
    refuse_the_rest(&engine, created.id).await;
    engine.clock.advance(Duration::from_millis(500));
    step(&engine, created.id, Start, Some(target)).await.unwrap();
    refuse_the_rest(&engine, created.id).await;
    engine.clock.advance(Duration::from_secs(3));
    let mut complete = UpdateHandoff::new(created.id, Complete).by(target).result(json!({"verdict": "ok"}));
    complete.note = Some("looks good".into());
    let completed = engine.baton.update_handoff(complete).await.unwrap();
    refuse_the_rest(&engine, created.id).await;

    assert_eq!(acked.acknowledged_at(), Some(t0 + chrono::Duration::milliseconds(1500)));
    assert_eq!(completed.state, HandoffState::Completed);
    assert_eq!(completed.result, Some(json!({"verdict": "ok"})));
    assert_eq!(completed.completed_at(), Some(t0 + chrono::Duration::seconds(5)));
    assert_eq!(
        states(&completed),
        [HandoffState::Initiated, HandoffState::Acknowledged, HandoffState::InProgress, HandoffState::Completed]
    );
    assert_eq!(completed.history.last().unwrap().note.as_deref(), Some("looks good"));

    // Failing and cancelling, each from where the lifecycle allows.
    let second = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "t2")).await;
    let second = second.unwrap().id;
    step(&engine, second, Acknowledge, Some(target)).await.unwrap();
    let failed = engine.baton.update_handoff(UpdateHandoff::new(second, Fail).result(json!("no access"))).await;
    assert_eq!(failed.unwrap().state, HandoffState::Failed);
    refuse_the_rest(&engine, second).await;
    let third = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "t3")).await;
    let cancelled = step(&engine, third.unwrap().id, Cancel, None).await.unwrap();
    assert_eq!(cancelled.state, HandoffState::Cancelled);

    // A result goes only with a completion or a failure.
    let fourth = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "t4")).await;
    let fourth = fourth.unwrap().id;
    let err = engine.baton.update_handoff(UpdateHandoff::new(fourth, Acknowledge).result(json!(1))).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::InvalidRequest(_))), "{err}");
    assert_eq!(engine.baton.handoff(fourth).await.unwrap().state, HandoffState::Initiated);

    // The events tell the whole story, in order.
    let kinds: Vec<String> = engine
        .baton
        .events_after(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|event| event.kind.name().starts_with("handoff"))
        .take(5)
        .map(|event| event.kind.name().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "handoff_created",
            "handoff_assigned",
            "handoff_state_changed",
            "handoff_state_changed",
            "handoff_state_changed"
        ]
    );
    finish(engine).await;
}

#[tokio::test]
async fn only_the_target_moves_a_handoff_along_and_only_the_sender_cancels_it() {
    let engine = engine();
    let session = session(&engine).await;
    let (sender, target) = (agent(&engine, session, None).await, agent(&engine, session, None).await);
    let create = CreateHandoff::new(session, HandoffTarget::Agent(target), "fix the build").from(sender);
    let handoff = engine.baton.create_handoff(create).await.unwrap();
    assert_eq!(handoff.from, Some(sender));

    let err = step(&engine, handoff.id, HandoffAction::Acknowledge, Some(sender)).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::NotPermitted { party: "target", .. })), "{err}");
    assert!(err.to_string().contains("only its target (or an operator)"), "{err}");
    assert_eq!(engine.baton.handoff(handoff.id).await.unwrap(), handoff);

    step(&engine, handoff.id, HandoffAction::Acknowledge, Some(target)).await.unwrap();
    let err = step(&engine, handoff.id, HandoffAction::Cancel, Some(target)).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::NotPermitted { party: "sender", .. })), "{err}");
    let cancelled = step(&engine, handoff.id, HandoffAction::Cancel, Some(sender)).await.unwrap();
    assert_eq!(cancelled.state, HandoffState::Cancelled);

    // An operator (no agent) may take any step.
    let create = CreateHandoff::new(session, HandoffTarget::Agent(target), "again").from(sender);
    let again = engine.baton.create_handoff(create).await.unwrap();
    assert_eq!(
        step(&engine, again.id, HandoffAction::Acknowledge, None).await.unwrap().state,
        HandoffState::Acknowledged
    );
    finish(engine).await;
}

#[tokio::test]
async fn bad_handoffs_are_refused_and_store_nothing() {
    let engine = engine_with(|_| {});
    let session = session(&engine).await;
    let stopped = agent(&engine, session, None).await;
    engine.baton.stop_agent(stopped, None).await.unwrap();
    let other_session = engine.baton.open_session(OpenSession::named("other")).await.unwrap().id;
    let stranger = agent(&engine, other_session, None).await;
    let live = agent(&engine, session, None).await;

    let to = |agent| HandoffTarget::Agent(agent);
    let cases = [
        (CreateHandoff::new(session, to(AgentId::new()), "t"), "no agent"),
        (CreateHandoff::new(session, to(stopped), "t"), "it takes no handoffs"),
        (CreateHandoff::new(session, to(stranger), "t"), "belongs to session"),
        (CreateHandoff::new(session, to(live), "  "), "needs a task"),
        (CreateHandoff::new(session, HandoffTarget::Role(String::new()), "t"), "role must not be empty"),
        (CreateHandoff::new(session, to(live), "t").ack_within(Duration::ZERO), "deadline must be from 1ms"),
        (CreateHandoff::new(session, to(live), "t").from(AgentId::new()), "no agent"),
        (CreateHandoff::new(session, to(live), "t").payload(json!("x".repeat(2 * 1024 * 1024))), "over the limit"),
        (CreateHandoff::new(session, to(live), "t").payload(nested(MAX_PAYLOAD_DEPTH + 1)), "nests more than 100"),
        (CreateHandoff::new(SessionId::new(), to(live), "t"), "no session"),
    ];
    for (create, says) in cases {
        let err = engine.baton.create_handoff(create).await.unwrap_err();
        assert!(err.to_string().contains(says), "{err} does not say {says:?}");
    }
    assert_eq!(engine.baton.handoffs(ListHandoffs::default()).await.unwrap(), Vec::new());
    // A result is held to the same limits, and a refused one changes nothing.
    let handoff = engine.baton.create_handoff(CreateHandoff::new(session, to(live), "t")).await.unwrap();
    for (result, says) in
        [(json!("x".repeat(2 * 1024 * 1024)), "over the limit"), (nested(MAX_PAYLOAD_DEPTH + 1), "nests more than 100")]
    {
        let complete = UpdateHandoff::new(handoff.id, HandoffAction::Complete).result(result);
        let err = engine.baton.update_handoff(complete).await.unwrap_err();
        assert!(err.to_string().contains(says), "{err} does not say {says:?}");
    }
    assert_eq!(engine.baton.handoff(handoff.id).await.unwrap(), handoff);
    let unknown = HandoffId::new();
    let err = step(&engine, unknown, HandoffAction::Acknowledge, None).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::HandoffNotFound(id)) if id == unknown), "{err}");
    finish(engine).await;
}

#[tokio::test]
async fn deadlines_time_handoffs_out_on_the_driven_clock() {
    let engine = engine();
    let session = session(&engine).await;
    let target = agent(&engine, session, None).await;
    let to = HandoffTarget::Agent(target);

    let unacked = CreateHandoff::new(session, to.clone(), "ack me").ack_within(Duration::from_secs(30));
    let unacked = engine.baton.create_handoff(unacked).await.unwrap();
    let slow = CreateHandoff::new(session, to, "finish me").complete_within(Duration::from_secs(60));
    let slow = engine.baton.create_handoff(slow).await.unwrap();
    step(&engine, slow.id, HandoffAction::Acknowledge, Some(target)).await.unwrap();
    step(&engine, slow.id, HandoffAction::Start, Some(target)).await.unwrap();

    // Ticks before the deadline change nothing.
    for _ in 0..29 {
        engine.clock.advance(TICK);
    }
    assert_eq!(engine.baton.handoff(unacked.id).await.unwrap().state, HandoffState::Initiated);

    let timed_out = until(&engine, unacked.id, true, "the ack deadline", |h| h.state == HandoffState::TimedOut).await;
    assert_eq!(timed_out.history.last().unwrap().note.as_deref(), Some("not acknowledged before its deadline"));
    assert!(timed_out.updated_at >= unacked.ack_deadline.unwrap());
    assert_eq!(engine.baton.handoff(slow.id).await.unwrap().state, HandoffState::InProgress);

    let timed_out =
        until(&engine, slow.id, true, "the completion deadline", |h| h.state == HandoffState::TimedOut).await;
    assert_eq!(timed_out.history.last().unwrap().note.as_deref(), Some("not completed before its deadline"));
    assert!(timed_out.updated_at >= slow.complete_deadline.unwrap());
    finish(engine).await;
}

#[tokio::test]
async fn an_unacknowledged_handoff_is_redelivered_to_another_agent_of_its_role_then_times_out() {
    let engine = engine();
    let session = session(&engine).await;
    let first = agent(&engine, session, Some("reviewer")).await;
    let second = agent(&engine, session, Some("reviewer")).await;
    let create = CreateHandoff::new(session, HandoffTarget::Role("reviewer".into()), "review")
        .ack_within(Duration::from_secs(10))
        .redeliver(true);
    let handoff = engine.baton.create_handoff(create).await.unwrap();
    assert_eq!(handoff.assigned, Some(first), "the oldest idle agent of the role gets it");

    let redelivered = until(&engine, handoff.id, true, "the redelivery", |h| h.assigned == Some(second)).await;
    assert_eq!(redelivered.state, HandoffState::Initiated);
    let note = redelivered.history.last().unwrap().note.clone().unwrap();
    assert!(note.contains("did not acknowledge it in time"), "{note}");
    assert!(redelivered.ack_deadline > handoff.ack_deadline, "the new agent gets a fresh deadline");

    let timed_out = until(&engine, handoff.id, true, "the final timeout", |h| h.state == HandoffState::TimedOut).await;
    let note = timed_out.history.last().unwrap().note.clone().unwrap();
    assert!(note.contains("no other agent of role reviewer"), "{note}");
    finish(engine).await;
}

#[tokio::test]
async fn a_role_handoff_goes_to_an_idle_agent_else_to_one_spawned_from_the_template() {
    let engine = engine_with(|config| config.max_running_per_session = 2);
    let session = session(&engine).await;
    let to_reviewer = || CreateHandoff::new(session, HandoffTarget::Role("reviewer".into()), "review");

    // No agent of the role: one is spawned from the template.
    let first = engine.baton.create_handoff(to_reviewer()).await.unwrap();
    let spawned = first.assigned.expect("routed to a spawned agent");
    let record = engine.baton.agent(spawned).await.unwrap();
    assert_eq!(
        (record.role.as_deref(), record.spec.argv.as_slice()),
        (Some("reviewer"), ["sleep".to_owned(), "3600".to_owned()].as_slice())
    );

    // That one is busy: a second is spawned.
    let second = engine.baton.create_handoff(to_reviewer()).await.unwrap();
    let other = second.assigned.expect("routed to a second spawned agent");
    assert_ne!(other, spawned);

    // At the per-session cap: the third waits, unassigned.
    let third = engine.baton.create_handoff(to_reviewer()).await.unwrap();
    assert_eq!((third.state, third.assigned), (HandoffState::Initiated, None));

    // The first agent finishes: the waiting handoff goes to it, warm.
    step(&engine, first.id, HandoffAction::Acknowledge, Some(spawned)).await.unwrap();
    step(&engine, first.id, HandoffAction::Start, Some(spawned)).await.unwrap();
    step(&engine, first.id, HandoffAction::Complete, Some(spawned)).await.unwrap();
    let routed = until(&engine, third.id, false, "the waiting handoff to be routed", |h| h.assigned.is_some()).await;
    assert_eq!(routed.assigned, Some(spawned));
    assert_eq!(engine.baton.agents(Some(session)).await.unwrap().len(), 2, "no agent spawned beyond the pool");

    // Once idle again, it is reused rather than a new one spawned.
    step(&engine, third.id, HandoffAction::Cancel, None).await.unwrap();
    let fourth = engine.baton.create_handoff(to_reviewer()).await.unwrap();
    assert_eq!(fourth.assigned, Some(spawned));
    assert_eq!(engine.baton.agents(Some(session)).await.unwrap().len(), 2);
    finish(engine).await;
}

#[tokio::test]
async fn the_open_handoffs_of_a_stopped_agent_move_to_the_fallback_or_to_another_agent_of_the_role() {
    let engine = engine_with(|config| config.roles.clear());
    let session = session(&engine).await;
    let target = agent(&engine, session, Some("reviewer")).await;
    let peer = agent(&engine, session, Some("reviewer")).await;
    let fallback = agent(&engine, session, None).await;
    engine.baton.set_fallback(session, Some(HandoffTarget::Agent(fallback))).await.unwrap();

    let direct = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "a")).await;
    let direct = direct.unwrap();
    step(&engine, direct.id, HandoffAction::Acknowledge, Some(target)).await.unwrap();
    engine.baton.stop_agent(target, None).await.unwrap();

    let moved = until(&engine, direct.id, false, "the transfer", |h| h.assigned == Some(fallback)).await;
    assert_eq!((moved.state, moved.route_to.clone()), (HandoffState::Initiated, HandoffTarget::Agent(fallback)));
    assert_eq!(moved.to, HandoffTarget::Agent(target), "whom the sender addressed stays on record");
    let notes: Vec<String> = moved.history.iter().filter_map(|step| step.note.clone()).collect();
    assert!(notes.iter().any(|note| note.contains(&format!("agent {target} is stopped"))), "{notes:?}");
    assert!(notes.iter().any(|note| note.contains("transferred to the session's fallback")), "{notes:?}");

    // Without a fallback, a role's handoff goes to another agent of the role.
    engine.baton.set_fallback(session, None).await.unwrap();
    let by_role = CreateHandoff::new(session, HandoffTarget::Role("reviewer".into()), "b");
    let by_role = engine.baton.create_handoff(by_role).await.unwrap();
    assert_eq!(by_role.assigned, Some(peer), "the only idle reviewer left");
    step(&engine, by_role.id, HandoffAction::Acknowledge, Some(peer)).await.unwrap();
    step(&engine, by_role.id, HandoffAction::Start, Some(peer)).await.unwrap();
    let replacement = agent(&engine, session, Some("reviewer")).await;
    engine.baton.stop_agent(peer, None).await.unwrap();
    let moved = until(&engine, by_role.id, false, "the re-routing", |h| h.assigned == Some(replacement)).await;
    assert_eq!(
        states(&moved),
        [
            HandoffState::Initiated, // created
            HandoffState::Initiated, // routed to the peer
            HandoffState::Acknowledged,
            HandoffState::InProgress,
            HandoffState::Initiated, // its agent stopped: back to be routed
            HandoffState::Initiated, // routed to the replacement
        ]
    );
    finish(engine).await;
}

#[tokio::test]
async fn the_open_handoffs_of_an_agent_out_of_restarts_move_to_the_fallback() {
    let engine = engine();
    let session = session(&engine).await;
    let fallback = agent(&engine, session, None).await;
    engine.baton.set_fallback(session, Some(HandoffTarget::Agent(fallback))).await.unwrap();
    let schedule = RestartSchedule {
        intensity: RestartIntensity { max_restarts: 1, within: Duration::from_secs(3600) },
        backoff: Backoff { initial: Duration::from_secs(10), factor: 2.0, max: Duration::from_secs(60) },
        jitter: 0.0,
        stable_after: Duration::from_secs(3600),
    };
    let crashing = SpawnAgent::new(session, ["sh", "-c", "sleep 0.2; exit 1"]).restart(RestartPolicy::OnFailure);
    let crashing = engine.baton.spawn_agent(crashing.schedule(schedule)).await.unwrap().id;
    let handoff = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(crashing), "x")).await;
    let handoff = handoff.unwrap();
    assert_eq!(handoff.assigned, Some(crashing));

    let moved = until(&engine, handoff.id, true, "the transfer", |h| h.assigned == Some(fallback)).await;
    assert_eq!(engine.baton.agent(crashing).await.unwrap().state, AgentState::Failed);
    let note = moved.history.iter().rev().find_map(|step| step.note.clone()).unwrap();
    assert!(note.contains("routed to agent") || note.contains("is failed"), "{note}");
    assert!(moved.history.iter().any(|step| step.note.as_deref().is_some_and(|note| note.contains("is failed"))));
    finish(engine).await;
}

/// Issue 18: one handoff to a role whose agents exit at once spawned
/// hundreds of them, routed anew every few milliseconds without end.
#[tokio::test]
async fn a_handoff_whose_agents_keep_exiting_is_routed_again_after_a_backoff_and_fails_after_its_attempts() {
    const ATTEMPTS: usize = 4;
    let engine = TestEngine::start_with(|builder| {
        let mut config = agent_config();
        config.roles.insert("pwd".into(), RoleTemplate::new(["/bin/true"]));
        let transfer = HandoffTransfer::new(u32::try_from(ATTEMPTS).unwrap());
        builder.watchdog_interval(TICK).agents(config).handoff_transfer(transfer)
    });
    let session = session(&engine).await;
    let agents = || async { engine.baton.agents(Some(session)).await.unwrap().len() };
    let create = CreateHandoff::new(session, HandoffTarget::Role("pwd".into()), "x");
    let handoff = engine.baton.create_handoff(create).await.unwrap();
    assert!(handoff.assigned.is_some(), "{handoff:?}");

    // The first agent exits: the handoff goes to a second at once. That one
    // exits too, and the third attempt waits 100 ms on the engine's clock.
    let waiting = |transfers| move |h: &Handoff| h.transfers == transfers && h.assigned.is_none();
    let backing_off = until(&engine, handoff.id, false, "the second transfer", waiting(2)).await;
    assert_eq!(backing_off.route_after, Some(engine.clock.now() + chrono::Duration::milliseconds(100)));
    let note = backing_off.history.last().unwrap().note.clone().unwrap();
    assert!(note.ends_with("back to be routed anew after 100ms (attempt 3 of 4)"), "{note}");
    for _ in 0..20 {
        let still = engine.baton.handoff(handoff.id).await.unwrap();
        assert_eq!((still.state, still.assigned), (HandoffState::Initiated, None), "routed before its backoff");
    }
    engine.clock.advance(Duration::from_millis(99));
    assert_eq!(engine.baton.handoff(handoff.id).await.unwrap().assigned, None);
    assert_eq!(agents().await, 2);

    engine.clock.advance(Duration::from_millis(1));
    let backing_off = until(&engine, handoff.id, false, "the third transfer", waiting(3)).await;
    assert_eq!(backing_off.route_after, Some(engine.clock.now() + chrono::Duration::milliseconds(200)));
    assert_eq!(agents().await, 3);

    // The last attempt's agent exits too: the handoff fails, and says why.
    engine.clock.advance(Duration::from_millis(200));
    let failed = until(&engine, handoff.id, false, "the handoff to fail", |h| h.state == HandoffState::Failed).await;
    let reason = "its agents kept ending without acknowledging it (4 attempts, the most allowed)";
    let note = failed.history.last().unwrap().note.clone().unwrap();
    assert!(note.ends_with(reason), "{note}");
    assert_eq!(failed.transfers, 4);
    let events = engine.baton.events_after(0, usize::MAX).unwrap();
    assert!(
        events.iter().any(|event| matches!(&event.kind,
            EventKind::HandoffStateChanged { handoff: id, to: HandoffState::Failed, note: Some(note), .. }
                if *id == handoff.id && note.ends_with(reason))),
        "no event says it failed"
    );

    // No agent comes after: at most one an attempt.
    for _ in 0..5 {
        engine.clock.advance(TICK);
    }
    assert_eq!(engine.baton.handoff(handoff.id).await.unwrap().state, HandoffState::Failed);
    let spawned = engine.baton.agents(Some(session)).await.unwrap();
    assert_eq!(spawned.len(), ATTEMPTS, "{spawned:?}");
    assert!(spawned.iter().all(|agent| agent.role.as_deref() == Some("pwd") && agent.state.is_ended()));
    finish(engine).await;
}

/// Issue 18: a handoff to a role nothing can bring an agent of waited,
/// `initiated`, in silence.
#[tokio::test]
async fn a_handoff_to_a_role_with_no_agent_and_no_template_says_so_and_still_times_out() {
    let engine = engine();
    let session = session(&engine).await;
    let create =
        CreateHandoff::new(session, HandoffTarget::Role("nosuchrole".into()), "x").ack_within(Duration::from_secs(5));
    let created = engine.baton.create_handoff(create).await.unwrap();
    assert_eq!((created.state, created.assigned), (HandoffState::Initiated, None));
    let said = "waits for an agent of role nosuchrole that nothing can spawn: the session has none, and there is no \
                template of that role";
    assert_eq!(created.history.last().unwrap().note.as_deref(), Some(said), "{created:?}");
    assert_eq!(engine.baton.handoff(created.id).await.unwrap(), created, "its record says so too");

    // Routing passes on each tick do not say it again; its deadline still holds.
    let timed_out = until(&engine, created.id, true, "the ack deadline", |h| h.state == HandoffState::TimedOut).await;
    let notes: Vec<_> = timed_out.history.iter().filter_map(|step| step.note.as_deref()).collect();
    assert_eq!(notes, [said, "not acknowledged before its deadline"]);

    // A role with a template, or with an agent of its own, is not one of those.
    let busy = agent(&engine, session, Some("builder")).await;
    let to_builder = CreateHandoff::new(session, HandoffTarget::Role("builder".into()), "a");
    assert_eq!(engine.baton.create_handoff(to_builder.clone()).await.unwrap().assigned, Some(busy));
    let waits = engine.baton.create_handoff(to_builder).await.unwrap();
    assert_eq!((waits.assigned, waits.history[0].note.as_deref()), (None, None), "{waits:?}");
    let reviewer =
        engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Role("reviewer".into()), "b"));
    assert!(reviewer.await.unwrap().assigned.is_some());
    finish(engine).await;
}

#[tokio::test]
async fn an_inbox_holds_routed_handoffs_and_claimed_observations_and_a_wait_ends_when_one_arrives() {
    let engine = engine();
    let session = session(&engine).await;
    let target = agent(&engine, session, None).await;
    let inbox = move |wait| Inbox::new(target).wait(wait);
    assert!(engine.baton.inbox(inbox(Duration::ZERO)).await.unwrap().is_empty());

    let waiting = tokio::spawn({
        let baton = engine.baton.clone();
        async move { baton.inbox(inbox(Duration::from_secs(600))).await }
    });
    // The wait is parked in the session's actor: the create wakes it.
    eventually("the inbox wait to be parked", || async { (engine.clock.pending_sleeps() > 0).then_some(()) }).await;
    let handoff = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "t")).await;
    let handoff = handoff.unwrap();
    let woken = waiting.await.unwrap().unwrap();
    assert_eq!(woken.handoffs.iter().map(|h| h.id).collect::<Vec<_>>(), [handoff.id]);

    // Observations of the session are claimed for the agent, by its id, by a
    // read that claims; a look takes none.
    for n in 0..3 {
        engine.baton.observe(session, NewObservation::new(ObservationKind::Custom, json!({"n": n}))).await.unwrap();
    }
    let look = engine.baton.inbox(inbox(Duration::ZERO)).await.unwrap();
    assert_eq!((look.handoffs.len(), look.observations.len()), (1, 0));
    let pending = engine.baton.queue_stats(session).await.unwrap().pending;
    assert_eq!(pending, 3, "a look leased observations");
    let claim = InboxClaim { max: 2, lease: Duration::from_secs(60) };
    let full = engine.baton.inbox(inbox(Duration::ZERO).claim(claim)).await.unwrap();
    assert_eq!(full.handoffs.len(), 1);
    assert_eq!(full.observations.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 2]);
    let holder = full.observations[0].lease.as_ref().map(|lease| lease.consumer.clone());
    assert_eq!(holder, Some(target.to_string()));

    // Once acknowledged, the handoff leaves the inbox.
    step(&engine, handoff.id, HandoffAction::Acknowledge, Some(target)).await.unwrap();
    assert!(engine.baton.inbox(inbox(Duration::ZERO)).await.unwrap().handoffs.is_empty());
    finish(engine).await;
}

#[tokio::test]
async fn metrics_of_a_scripted_scenario_match_figures_worked_by_hand() {
    let engine = engine();
    let session = session(&engine).await;
    let other = engine.baton.open_session(OpenSession::named("other")).await.unwrap().id;
    let target = agent(&engine, session, None).await;
    let elsewhere = agent(&engine, other, None).await;
    let create = |session, agent| CreateHandoff::new(session, HandoffTarget::Agent(agent), "t");
    let go = |id, action| step(&engine, id, action, None);

    // All created at t0.
    let a = engine.baton.create_handoff(create(session, target)).await.unwrap().id;
    let b = engine.baton.create_handoff(create(session, target)).await.unwrap().id;
    let c = engine.baton.create_handoff(create(session, target)).await.unwrap().id;
    let d = engine.baton.create_handoff(create(session, target)).await.unwrap().id;
    let e = engine.baton.create_handoff(create(other, elsewhere)).await.unwrap().id;
    let advance = |ms| engine.clock.advance(Duration::from_millis(ms));

    advance(1000); // t0 + 1 s: a acked
    go(a, HandoffAction::Acknowledge).await.unwrap();
    advance(2000); // t0 + 3 s: b acked, c cancelled unacked
    go(b, HandoffAction::Acknowledge).await.unwrap();
    go(c, HandoffAction::Cancel).await.unwrap();
    advance(1000); // t0 + 4 s: a started and e acked
    go(a, HandoffAction::Start).await.unwrap();
    go(e, HandoffAction::Acknowledge).await.unwrap();
    advance(6000); // t0 + 10 s: a completed; b failed; d still waits
    go(a, HandoffAction::Complete).await.unwrap();
    go(b, HandoffAction::Fail).await.unwrap();

    assert_eq!(engine.baton.handoff(d).await.unwrap().state, HandoffState::Initiated);
    let stats = engine.baton.handoff_stats(Some(session)).await.unwrap();
    assert_eq!(stats.total, 4);
    let counts: Vec<(HandoffState, u64)> =
        stats.by_state.iter().map(|(s, n)| (*s, *n)).filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        counts,
        [
            (HandoffState::Initiated, 1),
            (HandoffState::Completed, 1),
            (HandoffState::Failed, 1),
            (HandoffState::Cancelled, 1)
        ]
    );
    // Settled: a, b (acknowledged) and c (cancelled unacknowledged): 2 of 3.
    assert_eq!(stats.ack_rate, Some(2.0 / 3.0));
    // Acknowledged after 1 s and 3 s: mean 2 s, p95 the 2nd of 2 = 3 s.
    assert_eq!(stats.time_to_ack, Some(Latency { count: 2, mean_ms: 2000.0, p95_ms: 3000 }));
    assert_eq!(stats.time_to_complete, Some(Latency { count: 1, mean_ms: 10_000.0, p95_ms: 10_000 }));

    // Overall: e (acknowledged after 4 s) joins.
    let overall = engine.baton.handoff_stats(None).await.unwrap();
    assert_eq!((overall.total, overall.acknowledged), (5, 3));
    assert_eq!(overall.ack_rate, Some(3.0 / 4.0));
    assert_eq!(overall.time_to_ack, Some(Latency { count: 3, mean_ms: 8000.0 / 3.0, p95_ms: 4000 }));
    finish(engine).await;
}

#[tokio::test]
async fn handoffs_keep_their_state_and_deadlines_across_a_restart_and_closing_cancels_them() {
    let engine = engine();
    let session = session(&engine).await;
    let target = agent(&engine, session, None).await;
    let create = CreateHandoff::new(session, HandoffTarget::Agent(target), "survive")
        .ack_within(Duration::from_secs(30))
        .complete_within(Duration::from_secs(120));
    let handoff = engine.baton.create_handoff(create).await.unwrap();
    let pending = engine.baton.create_handoff(CreateHandoff::new(session, HandoffTarget::Agent(target), "p")).await;
    let pending = pending.unwrap();
    let acked = step(&engine, handoff.id, HandoffAction::Acknowledge, Some(target)).await.unwrap();

    let engine = engine.restart_with(|builder| builder.watchdog_interval(TICK).agents(agent_config())).await;
    assert_eq!(engine.baton.handoff(handoff.id).await.unwrap(), acked);
    assert_eq!(engine.baton.handoff(pending.id).await.unwrap(), pending);

    // The completion deadline still fires after the restart.
    let timed_out = until(&engine, handoff.id, true, "the deadline", |h| h.state == HandoffState::TimedOut).await;
    assert!(timed_out.updated_at >= acked.complete_deadline.unwrap());

    engine.baton.close_session(session).await.unwrap();
    let cancelled = engine.baton.handoff(pending.id).await.unwrap();
    assert_eq!(cancelled.state, HandoffState::Cancelled);
    assert_eq!(cancelled.history.last().unwrap().note.as_deref(), Some("the session closed"));
    let closed = engine.baton.handoffs(ListHandoffs { session: Some(session), ..ListHandoffs::default() }).await;
    assert!(closed.unwrap().iter().all(|h| !h.is_open()));
    finish(engine).await;
}

#[tokio::test]
async fn an_agent_with_a_stdin_pipe_reads_its_handoffs_and_its_sessions_observations_there() {
    let engine = engine();
    let session = session(&engine).await;
    // `cat` copies its stdin to its stdout log, where the test reads it.
    let reader = engine.baton.spawn_agent(SpawnAgent::new(session, ["cat"]).stdin_pipe(true)).await.unwrap();
    assert!(reader.spec.stdin_pipe);
    let handoff = CreateHandoff::new(session, HandoffTarget::Agent(reader.id), "read this");
    let handoff = engine.baton.create_handoff(handoff).await.unwrap();
    let enqueued = engine.baton.observe(session, NewObservation::new(ObservationKind::Custom, json!({"n": 1}))).await;
    let seq = enqueued.unwrap().seq;

    let log = engine.baton.agent_logs(reader.id).stdout;
    let lines: Vec<serde_json::Value> = eventually("both lines on the agent's stdin", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        (lines.len() >= 2).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let handoff_line = lines.iter().find(|line| line["type"] == "handoff").expect("a handoff line");
    assert_eq!(handoff_line["handoff"]["id"], json!(handoff.id.to_string()));
    assert_eq!(handoff_line["handoff"]["task"], "read this");
    let observation_line = lines.iter().find(|line| line["type"] == "observation").expect("an observation line");
    assert_eq!(observation_line["observation"]["seq"], json!(seq));
    finish(engine).await;
}
