//! The event stream: every durable change, in order, without gaps.

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
