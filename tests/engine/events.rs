//! The event stream: every durable change, in order, without gaps.

use baton::engine::model::NewEvent;
use baton::{EventKind, OpenSession};
use futures_util::StreamExt;

use crate::support::TestEngine;

#[tokio::test]
async fn a_subscriber_that_falls_behind_still_sees_every_event_in_order() {
    let engine = TestEngine::start();
    let mut events = engine.baton.subscribe();
    // More events than the live channel holds, while nobody reads.
    const SESSIONS: usize = 6_000;
    for chunk in 0..SESSIONS / 500 {
        let opens = (0..500).map(|n| engine.baton.open_session(OpenSession::named(format!("s{}", chunk * 500 + n))));
        futures_util::future::try_join_all(opens).await.unwrap();
    }
    let received: Vec<_> = events.by_ref().take(SESSIONS).collect().await;
    let seqs: Vec<u64> = received.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=SESSIONS as u64).collect::<Vec<_>>());
    assert!(received.iter().all(|event| matches!(event.kind, EventKind::SessionOpened { .. })));

    // What came before a subscriber can be read from the store.
    let stored = engine.baton.events_after(SESSIONS as u64 - 10, 100).unwrap();
    assert_eq!(stored, received[SESSIONS - 10..]);
    engine.baton.shutdown().await.unwrap();
    assert!(events.next().await.is_none(), "the stream ends when the engine stops");
}

/// Issue 18: an `observation_dead` event held `seq` twice and broke every listing.
#[tokio::test]
async fn an_event_of_every_type_reads_back_from_the_store_as_it_was_saved() {
    use baton::engine::Store as _;
    use baton::engine::store::{SledStore, StoreOptions};

    let dir = tempfile::TempDir::new().unwrap();
    let store = SledStore::open(&dir.path().join("store"), StoreOptions::default()).unwrap();
    let session = baton::engine::model::Session::open(OpenSession::named("all"), chrono::Utc::now());
    let kinds = crate::support::one_event_kind_of_each_type();
    let events = kinds.iter().map(|kind| NewEvent::session(session.id, chrono::Utc::now(), kind.clone())).collect();
    let saved = store.save_session(&session, events).unwrap();
    store.commit().await.unwrap();

    let read = store.events_after(0, usize::MAX).unwrap();
    assert_eq!(read, saved);
    assert_eq!(read.into_iter().map(|event| event.kind).collect::<Vec<_>>(), kinds);
}
