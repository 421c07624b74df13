//! Time-driven behaviour, on a clock the tests move: idle sessions are
//! reaped and woken, lifetimes end sessions.

use std::time::Duration;

use baton::{
    Clock, EngineConfig, EventKind, NewObservation, ObservationKind, OpenSession, Session, SessionId, SessionState,
};
use futures_util::StreamExt;

use crate::support::{TestEngine, eventually};

const TICK: Duration = Duration::from_secs(1);

fn engine() -> TestEngine {
    TestEngine::start_with(|builder| builder.watchdog_interval(TICK).idle_after(Duration::from_secs(60)))
}

/// Moves the clock a tick at a time until the session reaches `state`.
async fn until_state(engine: &TestEngine, id: SessionId, state: SessionState) -> Session {
    eventually(&format!("the session to become {state}"), || async {
        engine.clock.advance(TICK);
        let session = engine.baton.session(id).await.ok()?;
        (session.state == state).then_some(session)
    })
    .await
}

#[tokio::test]
async fn a_quiet_session_goes_idle_and_its_next_open_wakes_it() {
    let engine = engine();
    let opened = engine.baton.open_session(OpenSession::external("claude-quiet")).await.unwrap();
    let mut events = engine.baton.subscribe();

    let idle = until_state(&engine, opened.id, SessionState::Idle).await;
    assert!(engine.clock.now() - opened.created_at >= chrono::Duration::seconds(60));
    assert_eq!(idle.reason.as_deref(), Some("no activity for 60s"));

    let woken = engine.baton.open_session(OpenSession::external("claude-quiet")).await.unwrap();
    assert_eq!((woken.id, woken.state), (opened.id, SessionState::Active));
    let transitions: Vec<(SessionState, SessionState)> = (&mut events)
        .filter_map(|event| async move {
            match event.kind {
                EventKind::SessionStateChanged { from, to, .. } => Some((from, to)),
                _ => None,
            }
        })
        .take(2)
        .collect()
        .await;
    assert_eq!(transitions, [(SessionState::Active, SessionState::Idle), (SessionState::Idle, SessionState::Active)]);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_past_its_lifetime_is_closed() {
    let engine = engine();
    let spec = OpenSession::named("short").with_max_lifetime(Duration::from_secs(30));
    let opened = engine.baton.open_session(spec).await.unwrap();
    let closed = until_state(&engine, opened.id, SessionState::Closed).await;
    assert_eq!(closed.reason.as_deref(), Some("max lifetime reached"));
    assert!(closed.ended_at.unwrap() - opened.created_at >= chrono::Duration::seconds(30));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_session_is_still_closed_when_its_lifetime_runs_out() {
    let engine = engine();
    let spec = OpenSession::named("long").with_max_lifetime(Duration::from_secs(120));
    let opened = engine.baton.open_session(spec).await.unwrap();
    until_state(&engine, opened.id, SessionState::Idle).await;
    // Across a restart too: the new engine learns the deadline from the record.
    let engine = engine.restart().await;
    let closed = until_state(&engine, opened.id, SessionState::Closed).await;
    assert_eq!(closed.reason.as_deref(), Some("max lifetime reached"));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn past_the_retention_the_oldest_closed_sessions_go_with_their_queues_and_open_ones_stay() {
    let mut config = EngineConfig::default();
    config.session_retention = 2;
    let engine = TestEngine::start_with(|builder| builder.config(config).watchdog_interval(TICK));
    let open = engine.baton.open_session(OpenSession::named("open")).await.unwrap();
    let mut closed = Vec::new();
    for n in 0..4 {
        let spec = OpenSession::named(format!("closed-{n}")).with_external_id(format!("claude-{n}"));
        let session = engine.baton.open_session(spec).await.unwrap();
        let observation = NewObservation::new(ObservationKind::ToolUse, serde_json::json!({"tool_name": "Edit"}));
        engine.baton.observe(session.id, observation).await.unwrap();
        engine.baton.close_session_with(session.id, baton::CloseMode::Discard, None).await.unwrap();
        closed.push(session.id);
    }

    eventually("the two oldest closed sessions to go", || async {
        engine.clock.advance(TICK);
        let left: Vec<SessionId> = engine.baton.sessions().await.ok()?.iter().map(|session| session.id).collect();
        (left == [open.id, closed[2], closed[3]]).then_some(())
    })
    .await;
    let err = engine.baton.session(closed[0]).await.unwrap_err();
    assert!(err.to_string().contains(&closed[0].to_string()), "{err}");
    assert_eq!(engine.baton.session_by_external_id("claude-0").await.unwrap(), None);
    let again = engine.baton.open_session(OpenSession::external("claude-0")).await.unwrap();
    assert!(again.id != closed[0] && again.is_open(), "its external id names a new session");
    assert_eq!(engine.baton.session(closed[3]).await.unwrap().state, SessionState::Closed, "the newest are kept");
    engine.baton.shutdown().await.unwrap();
}
