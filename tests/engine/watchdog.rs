//! Time-driven behaviour, on a clock the tests move: idle sessions are
//! reaped and woken, lifetimes end sessions.

use std::time::Duration;

use baton::{Clock, EventKind, OpenSession, Session, SessionId, SessionState};
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
