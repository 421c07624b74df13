//! A crashed session actor comes back from its checkpoint; one that keeps
//! crashing is given up on; no other session notices.

use std::time::Duration;

use baton::{ActorRef, EngineError, Error, EventKind, OpenSession, Session, SessionState};
use futures_util::StreamExt;

use crate::support::{TestEngine, eventually};

async fn open_two(engine: &TestEngine) -> (Session, Session) {
    let a = engine.baton.open_session(OpenSession::named("a").with_meta("k", "v")).await.unwrap();
    let b = engine.baton.open_session(OpenSession::named("b")).await.unwrap();
    (a, b)
}

/// Makes the next request to `session` panic inside its actor and checks
/// that the caller gets an error, not a hang.
async fn crash(engine: &TestEngine, session: &Session) {
    engine.baton.faults().panic_in_handler(ActorRef::Session(session.id), 1);
    let err = engine.baton.session(session.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Engine(EngineError::ActorCrashed { actor }) if actor == ActorRef::Session(session.id)),
        "{err}"
    );
}

/// Waits until the session's actor has been restarted `restarts` times in all,
/// moving the clock on so backoffs run out.
async fn restarted(engine: &TestEngine, session: &Session, restarts: u32) -> Session {
    eventually("the session actor to restart", || async {
        engine.clock.advance(Duration::from_millis(20));
        let current = engine.baton.session(session.id).await.ok()?;
        (current.restarts == restarts).then_some(current)
    })
    .await
}

#[tokio::test]
async fn a_panicking_session_actor_restarts_from_its_checkpoint() {
    let engine = TestEngine::start();
    let (a, b) = open_two(&engine).await;
    let mut events = engine.baton.subscribe();

    crash(&engine, &a).await;
    assert_eq!(engine.baton.session(b.id).await.unwrap(), b, "another session was disturbed");

    let back = restarted(&engine, &a, 1).await;
    assert_eq!((back.name.as_deref(), back.meta.get("k").map(String::as_str)), (Some("a"), Some("v")));
    assert_eq!(back.state, SessionState::Active);
    // The restarted actor takes changes again.
    assert_eq!(engine.baton.close_session(a.id).await.unwrap().state, SessionState::Closed);

    let event = events.next().await.unwrap();
    assert_eq!(event.session, Some(a.id));
    assert!(matches!(event.kind, EventKind::ActorRestarted { restarts: 1, backoff_ms: 0, .. }), "{:?}", event.kind);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_crash_past_the_restart_limit_marks_the_session_failed() {
    let engine = TestEngine::start();
    let (a, b) = open_two(&engine).await;
    let mut events = engine.baton.subscribe();

    // The default limit allows 5 restarts in 10 s; backoffs add up to 1.5 s.
    for restarts in 1..=5 {
        crash(&engine, &a).await;
        restarted(&engine, &a, restarts).await;
    }
    crash(&engine, &a).await;

    let failed = eventually("the session to be marked failed", || async {
        let current = engine.baton.session(a.id).await.ok()?;
        (current.state == SessionState::Failed).then_some(current)
    })
    .await;
    let reason = failed.reason.unwrap();
    assert_eq!(reason, "crashed 6 times within 10s, more than the 5 restarts allowed");

    let backoffs: Vec<u64> = (&mut events)
        .filter_map(|event| async move {
            match event.kind {
                EventKind::ActorRestarted { backoff_ms, .. } => Some(backoff_ms),
                _ => None,
            }
        })
        .take(5)
        .collect()
        .await;
    assert_eq!(backoffs, [0, 100, 200, 400, 800]);
    let failure = events.next().await.unwrap();
    assert!(matches!(failure.kind, EventKind::ActorFailed { .. }), "{:?}", failure.kind);

    // The failed session refuses changes; the other one never noticed.
    let err = engine.baton.close_session(a.id).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::InvalidTransition(_))), "{err}");
    assert_eq!(engine.baton.session(b.id).await.unwrap().state, SessionState::Active);
    assert_eq!(engine.baton.close_session(b.id).await.unwrap().state, SessionState::Closed);

    // Failure is a durable state.
    let engine = engine.restart().await;
    assert_eq!(engine.baton.session(a.id).await.unwrap().state, SessionState::Failed);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_change_during_the_restart_backoff_is_refused_with_when_to_retry() {
    let engine = TestEngine::start();
    let (a, _) = open_two(&engine).await;
    crash(&engine, &a).await;
    restarted(&engine, &a, 1).await;
    crash(&engine, &a).await;

    // The second restart in the window waits 100 ms of the engine's clock.
    let err = eventually("the close to be refused as restarting", || async {
        match engine.baton.close_session(a.id).await {
            Err(Error::Engine(err @ EngineError::Restarting { .. })) => Some(err),
            _ => None,
        }
    })
    .await;
    let EngineError::Restarting { retry_after, .. } = err else { unreachable!() };
    assert_eq!(retry_after, Duration::from_millis(100));
    // Reads are answered from the checkpoint meanwhile.
    assert_eq!(engine.baton.session(a.id).await.unwrap().state, SessionState::Active);

    engine.clock.advance(Duration::from_millis(100));
    let closed =
        eventually("the close to succeed after the backoff", || async { engine.baton.close_session(a.id).await.ok() })
            .await;
    assert_eq!((closed.state, closed.restarts), (SessionState::Closed, 2));
    engine.baton.shutdown().await.unwrap();
}

/// An enqueue goes to a running session's actor without a reply through the
/// supervisor: a panic while it is taken still reaches its caller as a
/// crash, and the restarted actor has every durable enqueue and no other.
#[tokio::test]
async fn an_enqueue_whose_actor_panics_gets_a_crash_and_the_queue_comes_back() {
    let engine = TestEngine::start();
    let (a, _) = open_two(&engine).await;
    let observation = || baton::NewObservation::tool_use("Read", serde_json::json!({"file": "a.rs"}), "ok".into());
    assert_eq!(engine.baton.observe(a.id, observation()).await.unwrap().seq, 1);

    engine.baton.faults().panic_in_handler(ActorRef::Session(a.id), 1);
    let err = engine.baton.observe(a.id, observation()).await.unwrap_err();
    assert!(
        matches!(err, Error::Engine(EngineError::ActorCrashed { actor }) if actor == ActorRef::Session(a.id)),
        "{err}"
    );

    restarted(&engine, &a, 1).await;
    // The first enqueue was durable; the crashed one was never written, so its number is free.
    assert_eq!(engine.baton.queue_stats(a.id).await.unwrap().pending, 1);
    assert_eq!(engine.baton.observe(a.id, observation()).await.unwrap().seq, 2);
    engine.baton.shutdown().await.unwrap();
}
