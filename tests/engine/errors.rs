//! Bad requests get a typed error and change nothing.

use baton::{Baton, EngineError, Error, NewObservation, OpenSession, SessionId, SessionState, StoreError};
use serde_json::json;

use crate::support::TestEngine;

#[tokio::test]
async fn an_unknown_session_id_is_not_found() {
    let engine = TestEngine::start();
    let unknown = SessionId::new();
    for result in [engine.baton.session(unknown).await, engine.baton.close_session(unknown).await] {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::Engine(EngineError::SessionNotFound(id)) if id == unknown), "{err}");
        assert_eq!(err.to_string(), format!("no session {unknown}"));
    }
    assert!(engine.baton.sessions().await.unwrap().is_empty());
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn closing_a_closed_session_is_an_invalid_transition_that_changes_nothing() {
    let engine = TestEngine::start();
    let session = engine.baton.open_session(OpenSession::named("once")).await.unwrap();
    let closed = engine.baton.close_session_because(session.id, "done").await.unwrap();
    assert_eq!(closed.reason.as_deref(), Some("done"));

    let err = engine.baton.close_session_because(session.id, "again").await.unwrap_err();
    let Error::Engine(EngineError::InvalidTransition(refused)) = &err else { panic!("{err}") };
    assert_eq!((refused.from.as_str(), refused.to.as_str()), ("closed", "closing"));
    assert_eq!(err.to_string(), format!("session {} is already closed", session.id));
    assert_eq!(engine.baton.session(session.id).await.unwrap(), closed);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_store_that_refuses_writes_gives_errors_and_loses_nothing_acknowledged() {
    let engine = TestEngine::start();
    let kept = engine.baton.open_session(OpenSession::named("kept")).await.unwrap();

    engine.baton.faults().fail_store_writes(true);
    let err = engine.baton.open_session(OpenSession::named("refused")).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::Store(StoreError::Backend(_)))), "{err}");
    let err = engine.baton.close_session(kept.id).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::Store(_))), "{err}");
    // Nothing changed, and the engine still answers.
    assert_eq!(engine.baton.sessions().await.unwrap(), std::slice::from_ref(&kept));
    assert_eq!(engine.baton.session(kept.id).await.unwrap().state, SessionState::Active);

    engine.baton.faults().fail_store_writes(false);
    engine.baton.open_session(OpenSession::named("accepted")).await.unwrap();
    let engine = engine.restart().await;
    let names: Vec<_> = engine.baton.sessions().await.unwrap().into_iter().filter_map(|s| s.name).collect();
    assert_eq!(names, ["kept", "accepted"]);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_enqueue_the_store_refuses_gets_its_error_and_takes_no_place_in_the_queue() {
    let engine = TestEngine::start();
    let id = engine.baton.open_session(OpenSession::named("queue")).await.unwrap().id;
    let tool_use = |key: &str| NewObservation::tool_use("Read", json!({"file_path": key}), "ok".into()).with_key(key);
    let first = engine.baton.observe(id, tool_use("toolu_1")).await.unwrap();

    engine.baton.faults().fail_store_writes(true);
    let err = engine.baton.observe(id, tool_use("toolu_2")).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::Store(StoreError::Backend(_)))), "{err}");
    engine.baton.faults().fail_store_writes(false);

    // The refused one left no record and no gap; its key is free again.
    let second = engine.baton.observe(id, tool_use("toolu_2")).await.unwrap();
    assert_eq!((second.seq, second.duplicate), (first.seq + 1, false));
    let engine = engine.restart().await;
    let keys: Vec<_> = engine.baton.observations(id, None, 0, 100).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, [Some("toolu_1".to_owned()), Some("toolu_2".to_owned())]);
    assert_eq!(engine.baton.queue_stats(id).await.unwrap().pending, 2);
    engine.baton.shutdown().await.unwrap();
}

#[test]
fn a_data_dir_from_a_newer_baton_is_refused_with_a_clear_message() {
    let dir = tempfile::TempDir::new().unwrap();
    {
        let db = sled::open(dir.path().join("store")).unwrap();
        db.open_tree("meta").unwrap().insert("schema_version", &999u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Baton::builder().data_dir(dir.path()).spawn().unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::SchemaTooNew { found: 999, .. })), "{err}");
    assert!(err.to_string().contains("has schema version 999, newer than"), "{err}");
}

#[tokio::test]
async fn a_second_engine_on_a_data_dir_in_use_is_refused() {
    let engine = TestEngine::start();
    let err = Baton::builder().data_dir(engine.dir.path()).spawn().unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::Open { .. })), "{err}");
    // The first engine is untouched.
    engine.baton.open_session(OpenSession::default()).await.unwrap();
    engine.baton.shutdown().await.unwrap();
}

/// A duration too long to add to a time once took the session's actor down
/// (chrono's `DateTime + TimeDelta overflowed`); now it is refused, in words,
/// and the session goes on.
#[tokio::test]
async fn durations_past_their_bounds_are_refused_and_crash_nothing() {
    let engine = TestEngine::start();
    let id = engine.baton.open_session(OpenSession::default()).await.unwrap().id;
    engine.baton.observe(id, NewObservation::new(baton::ObservationKind::Custom, json!({"n": 1}))).await.unwrap();
    let huge = std::time::Duration::from_millis(u64::MAX);
    let err = engine.baton.claim(id, baton::Claim::new("c").lease(huge)).await.unwrap_err();
    assert!(matches!(err, Error::Engine(EngineError::InvalidRequest(_))), "{err}");
    assert!(err.to_string().starts_with("a lease must be from 1ms to 1day"), "{err}");
    let claimed = engine.baton.claim(id, baton::Claim::new("c")).await.unwrap();
    let err = engine.baton.nack(id, &[claimed[0].seq], None, huge).await.unwrap_err();
    assert!(err.to_string().starts_with("a nack's delay must be from"), "{err}");
    let err = engine.baton.open_session(OpenSession::default().with_max_lifetime(huge)).await.unwrap_err();
    assert!(err.to_string().starts_with("a session's lifetime must be from"), "{err}");
    let create = baton::CreateHandoff::new(id, baton::HandoffTarget::Role("r".into()), "t").ack_within(huge);
    assert!(engine.baton.create_handoff(create).await.unwrap_err().to_string().starts_with("a handoff's deadline"));
    // Nothing crashed: the observation is still leased to the consumer, as claimed.
    let leased = engine.baton.observations(id, Some(baton::ObservationState::Leased), 0, 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(engine.baton.session(id).await.unwrap().restarts, 0, "the session's actor never crashed");
    engine.baton.shutdown().await.unwrap();
}
