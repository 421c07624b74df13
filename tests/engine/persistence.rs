//! Sessions outlive the engine that opened them.

use baton::{OpenSession, SessionState};

use crate::support::TestEngine;

#[tokio::test]
async fn every_session_is_there_with_its_state_after_a_restart() {
    let engine = TestEngine::start();
    let mut opened = Vec::new();
    for n in 0..10 {
        let spec = OpenSession::named(format!("session {n}"))
            .with_external_id(format!("claude-{n}"))
            .with_cwd(format!("/work/project-{n}"))
            .with_meta("transcript", format!("/tmp/t{n}.jsonl"));
        opened.push(engine.baton.open_session(spec).await.unwrap());
    }
    for session in &opened[..4] {
        engine.baton.close_session(session.id).await.unwrap();
    }
    let before = engine.baton.sessions().await.unwrap();
    assert_eq!(before.len(), 10);

    let engine = engine.restart().await;

    let after = engine.baton.sessions().await.unwrap();
    assert_eq!(after, before, "the records changed across the restart");
    assert_eq!(engine.baton.sessions_in(SessionState::Closed).await.unwrap().len(), 4);
    assert_eq!(engine.baton.sessions_in(SessionState::Active).await.unwrap().len(), 6);
    let sixth = engine.baton.session(opened[6].id).await.unwrap();
    assert_eq!(sixth.name.as_deref(), Some("session 6"));
    assert_eq!(sixth.meta["transcript"], "/tmp/t6.jsonl");
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn opening_by_external_id_is_idempotent_across_restarts() {
    let engine = TestEngine::start();
    let first = engine.baton.open_session(OpenSession::external("claude-abc")).await.unwrap();
    let again = engine.baton.open_session(OpenSession::external("claude-abc")).await.unwrap();
    assert_eq!(again.id, first.id);

    let engine = engine.restart().await;
    let after_restart = engine.baton.open_session(OpenSession::external("claude-abc")).await.unwrap();
    assert_eq!(after_restart.id, first.id);
    assert_eq!(engine.baton.sessions().await.unwrap().len(), 1);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_opens_with_one_external_id_make_one_session() {
    let engine = TestEngine::start();
    let opens = (0..32).map(|_| engine.baton.open_session(OpenSession::external("claude-race")));
    let sessions = futures_util::future::try_join_all(opens).await.unwrap();
    assert!(sessions.iter().all(|session| session.id == sessions[0].id));
    assert_eq!(engine.baton.sessions().await.unwrap().len(), 1);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_is_idempotent_and_later_calls_say_the_engine_stopped() {
    let engine = TestEngine::start();
    let clone = engine.baton.clone();
    engine.baton.shutdown().await.unwrap();
    clone.shutdown().await.unwrap();
    let err = clone.open_session(OpenSession::default()).await.unwrap_err();
    assert!(matches!(err, baton::Error::Stopped), "{err}");
}

#[tokio::test]
async fn opening_an_external_id_whose_session_ended_starts_a_new_session() {
    let engine = TestEngine::start();
    let first = engine.baton.open_session(OpenSession::external("claude-resumed")).await.unwrap();
    engine.baton.close_session(first.id).await.unwrap();

    let second = engine.baton.open_session(OpenSession::external("claude-resumed")).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!((second.state, second.external_id.as_deref()), (SessionState::Active, Some("claude-resumed")));
    assert_eq!(engine.baton.session(first.id).await.unwrap().state, SessionState::Closed, "the old record stays");
    let found = engine.baton.session_by_external_id("claude-resumed").await.unwrap().unwrap();
    assert_eq!(found.id, second.id);
    // While it is open, opening again is idempotent, as before.
    assert_eq!(engine.baton.open_session(OpenSession::external("claude-resumed")).await.unwrap().id, second.id);
    engine.baton.shutdown().await.unwrap();
}
