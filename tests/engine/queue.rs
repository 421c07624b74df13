//! The observation queue through the library handle: order, idempotency,
//! leases on a driven clock, nacks, dead letters, long-polls, summarize
//! batches, the size limit, closing with drain or discard, and restarts.

use std::time::Duration;

use baton::engine::EngineError;
use baton::engine::model::payload::RESERVED_KEY;
use baton::{
    Claim, Clock, CloseMode, EventKind, MAX_PAYLOAD_DEPTH, NewObservation, ObservationKind, ObservationState,
    OpenSession, QueueConfig, QueueStats, Selection, SessionId, SessionState,
};
use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::support::{TestEngine, eventually, nested};

const TICK: Duration = Duration::from_secs(1);

fn engine() -> TestEngine {
    TestEngine::start_with(|builder| builder.watchdog_interval(TICK))
}

/// [`engine`] with the queue's tunables changed by `configure`.
fn with_queue(configure: impl FnOnce(&mut QueueConfig)) -> TestEngine {
    let mut queue = QueueConfig::default();
    configure(&mut queue);
    TestEngine::start_with(|builder| builder.watchdog_interval(TICK).queue(queue))
}

async fn session(engine: &TestEngine) -> SessionId {
    engine.baton.open_session(OpenSession::named("queue")).await.unwrap().id
}

fn tool_use(n: u64) -> NewObservation {
    NewObservation::tool_use("Read", json!({"file": format!("src/{n}.rs")}), json!("..."))
}

async fn enqueue(engine: &TestEngine, id: SessionId, observations: impl IntoIterator<Item = NewObservation>) {
    for observation in observations {
        engine.baton.observe(id, observation).await.unwrap();
    }
}

async fn claim_seqs(engine: &TestEngine, id: SessionId, claim: Claim) -> Vec<u64> {
    engine.baton.claim(id, claim).await.unwrap().iter().map(|observation| observation.seq).collect()
}

fn engine_error(err: baton::Error) -> EngineError {
    err.engine().cloned().unwrap_or_else(|| panic!("expected an engine error, got {err}"))
}

/// Moves the clock a tick at a time until `probe` holds.
async fn ticking_until<F, Fut>(engine: &TestEngine, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually(what, || {
        engine.clock.advance(TICK);
        let done = probe();
        async move { done.await.then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn observations_are_numbered_and_claimed_in_order() {
    let engine = engine();
    let id = session(&engine).await;
    for n in 1..=5 {
        let enqueued = engine.baton.observe(id, tool_use(n)).await.unwrap();
        assert_eq!((enqueued.seq, enqueued.duplicate), (n, false));
    }
    let first = engine.baton.claim(id, Claim::new("summarizer").max(3)).await.unwrap();
    assert_eq!(first.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(first[0].payload["tool_input"]["file"], "src/1.rs");
    assert!(first.iter().all(|o| o.state == ObservationState::Leased && o.attempts == 1));
    assert_eq!(claim_seqs(&engine, id, Claim::new("other")).await, [4, 5]);
    assert_eq!(claim_seqs(&engine, id, Claim::new("other")).await, Vec::<u64>::new());

    let report = engine.baton.ack(id, &[1, 2, 3, 4, 5], None).await.unwrap();
    assert_eq!(report.acked, [1, 2, 3, 4, 5]);
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.acked, stats.next_seq), (0, 0, 5, 6));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_sequence_number() {
    let engine = engine();
    let id = session(&engine).await;
    let first = engine.baton.observe(id, tool_use(1).with_key("toolu_01")).await.unwrap();
    engine.baton.observe(id, tool_use(2)).await.unwrap();
    let again = engine.baton.observe(id, tool_use(1).with_key("toolu_01")).await.unwrap();
    assert_eq!((first.seq, first.duplicate), (1, false));
    assert_eq!((again.seq, again.duplicate), (1, true));
    assert_eq!(engine.baton.queue_stats(id).await.unwrap().pending, 2);

    // Still a duplicate once the first was processed and acked.
    engine.baton.claim(id, Claim::new("c")).await.unwrap();
    engine.baton.ack(id, &[1, 2], Some("c")).await.unwrap();
    let late = engine.baton.observe(id, tool_use(1).with_key("toolu_01")).await.unwrap();
    assert_eq!((late.seq, late.duplicate), (1, true));
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.next_seq), (0, 3));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lapsed_lease_returns_the_observation_with_one_more_attempt() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1)]).await;
    let claim = Claim::new("crashy").lease(Duration::from_secs(30));
    assert_eq!(claim_seqs(&engine, id, claim.clone()).await, [1]);

    // Before the lease ends nothing is handed out again, however often the watchdog runs.
    for _ in 0..29 {
        engine.clock.advance(TICK);
    }
    assert_eq!(claim_seqs(&engine, id, Claim::new("other")).await, Vec::<u64>::new());

    ticking_until(&engine, "the lease to lapse", || async { engine.baton.queue_stats(id).await.unwrap().pending == 1 })
        .await;
    let again = engine.baton.claim(id, Claim::new("other")).await.unwrap();
    assert_eq!((again[0].seq, again[0].attempts), (1, 2));
    assert_eq!(again[0].lease.as_ref().unwrap().consumer, "other");

    // The first consumer's late ack is refused: the lease is someone else's now.
    let err = engine_error(engine.baton.ack(id, &[1], Some("crashy")).await.unwrap_err());
    assert_eq!(err.to_string(), "observation 1 is leased to \"other\", not \"crashy\"");
    engine.baton.ack(id, &[1], Some("other")).await.unwrap();
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_nack_with_a_delay_holds_the_observation_back_until_then() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1), tool_use(2)]).await;
    assert_eq!(claim_seqs(&engine, id, Claim::new("c").max(1)).await, [1]);
    let nacked = engine.baton.nack(id, &[1], Some("c"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(nacked[0].state, ObservationState::Pending);
    assert_eq!(nacked[0].available_at, Some(engine.clock.now() + chrono::Duration::seconds(10)));

    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, [2]);
    engine.clock.advance(Duration::from_secs(9));
    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, Vec::<u64>::new());
    engine.clock.advance(Duration::from_secs(1));
    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, [1]);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn after_max_attempts_an_observation_is_dead_until_requeued() {
    let engine = with_queue(|queue| queue.max_attempts = 3);
    let id = session(&engine).await;
    let mut events = engine.baton.subscribe();
    enqueue(&engine, id, [tool_use(1), tool_use(2)]).await;

    for attempt in 1..=3 {
        let claimed = engine.baton.claim(id, Claim::new("failing").max(1)).await.unwrap();
        assert_eq!((claimed[0].seq, claimed[0].attempts), (1, attempt));
        engine.baton.nack(id, &[1], None, Duration::ZERO).await.unwrap();
    }
    // Nothing retries forever: the next claim skips the dead one.
    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, [2]);
    let dead = engine.baton.observations(id, Some(ObservationState::Dead), 0, 100).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason.as_deref(), Some("nacked after 3 attempts (max 3)"));
    let event = loop {
        if let EventKind::ObservationDead { observation_seq, attempts, reason } = events.next().await.unwrap().kind {
            break (observation_seq, attempts, reason);
        }
    };
    assert_eq!(event, (1, 3, "nacked after 3 attempts (max 3)".to_owned()));
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.dead, stats.leased), (1, 1));

    let requeued = engine.baton.requeue(id, Selection::All).await.unwrap();
    assert_eq!((requeued[0].seq, requeued[0].attempts, requeued[0].state), (1, 0, ObservationState::Pending));
    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, [1]);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_waiting_claim_is_woken_by_an_enqueue_and_ends_empty_at_its_deadline() {
    let engine = engine();
    let id = session(&engine).await;
    let waiting = tokio::spawn({
        let baton = engine.baton.clone();
        async move { baton.claim(id, Claim::new("c").wait(Duration::from_secs(600))).await }
    });
    // The claim waits on the engine's clock, which does not move here: only
    // the enqueue can answer it. (The other sleep is the watchdog's.)
    eventually("the claim to wait", || async { (engine.clock.pending_sleeps() == 2).then_some(()) }).await;
    enqueue(&engine, id, [tool_use(1)]).await;
    let claimed = waiting.await.unwrap().unwrap();
    assert_eq!(claimed.iter().map(|o| o.seq).collect::<Vec<_>>(), [1]);

    let waiting = tokio::spawn({
        let baton = engine.baton.clone();
        async move { baton.claim(id, Claim::new("c").wait(Duration::from_secs(5))).await }
    });
    // The first claim's timer was cancelled when the enqueue answered it.
    eventually("the claim to wait", || async { (engine.clock.pending_sleeps() == 2).then_some(()) }).await;
    engine.clock.advance(Duration::from_secs(5));
    assert!(waiting.await.unwrap().unwrap().is_empty());
    engine.baton.shutdown().await.unwrap();
}

/// Issue 18: a waiting claim whose caller went away took the next
/// observation, leased to nobody for the lease time, and spent an attempt.
#[tokio::test]
async fn a_waiting_claim_dropped_by_its_caller_takes_nothing() {
    let engine = engine();
    let id = session(&engine).await;
    let waiting = tokio::spawn({
        let baton = engine.baton.clone();
        async move { baton.claim(id, Claim::new("gone").wait(Duration::from_secs(60))).await }
    });
    // Parked: its timer and the watchdog's.
    eventually("the claim to wait", || async { (engine.clock.pending_sleeps() == 2).then_some(()) }).await;
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    // The actor hears of the hang-up and drops the wait, timer and all.
    eventually("the wait to go", || async { (engine.clock.pending_sleeps() == 1).then_some(()) }).await;

    enqueue(&engine, id, [tool_use(1)]).await;
    let pending = engine.baton.observations(id, Some(ObservationState::Pending), 0, 10).await.unwrap();
    assert_eq!(pending.iter().map(|o| (o.seq, o.attempts)).collect::<Vec<_>>(), [(1, 0)]);
    let claimed = engine.baton.claim(id, Claim::new("here")).await.unwrap();
    assert_eq!(claimed.iter().map(|o| (o.seq, o.attempts)).collect::<Vec<_>>(), [(1, 1)]);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_claim_never_passes_a_summarize_marker_before_its_batch_is_acked() {
    let engine = engine();
    let id = session(&engine).await;
    let marker = NewObservation::summarize(json!({"reason": "stop"}));
    enqueue(&engine, id, [tool_use(1), tool_use(2), marker, tool_use(4)]).await;
    assert_eq!(claim_seqs(&engine, id, Claim::new("a").max(2)).await, [1, 2]);
    // The marker waits for its batch, and what follows waits for the marker.
    assert_eq!(claim_seqs(&engine, id, Claim::new("b")).await, Vec::<u64>::new());
    engine.baton.ack(id, &[1, 2], None).await.unwrap();
    let summary = engine.baton.claim(id, Claim::new("a")).await.unwrap();
    assert_eq!((summary.len(), summary[0].seq, summary[0].kind), (1, 3, ObservationKind::Summarize));
    assert_eq!(claim_seqs(&engine, id, Claim::new("b")).await, Vec::<u64>::new());
    engine.baton.ack(id, &[3], None).await.unwrap();
    assert_eq!(claim_seqs(&engine, id, Claim::new("b")).await, [4]);
    engine.baton.shutdown().await.unwrap();
}

/// An engine whose queue takes payloads of at most `bytes` bytes.
fn engine_with_payload_limit(bytes: usize) -> TestEngine {
    TestEngine::start_with(|builder| {
        let mut queue = QueueConfig::default();
        queue.max_payload_bytes = bytes;
        builder.queue(queue)
    })
}

/// `json` as payload text.
fn text(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

#[tokio::test]
async fn an_oversized_payload_is_refused_and_stores_nothing() {
    let engine = engine_with_payload_limit(1000);
    let id = session(&engine).await;
    let big = NewObservation::new(ObservationKind::Custom, json!("x".repeat(1000)));
    let err = engine_error(engine.baton.observe(id, big).await.unwrap_err());
    assert_eq!(err.to_string(), "the payload is 1002 bytes, over the limit of 1000 bytes");
    assert_eq!(engine.baton.queue_stats(id).await.unwrap(), QueueStats::empty());
    let fits = NewObservation::new(ObservationKind::Custom, json!("x".repeat(998)));
    assert_eq!(engine.baton.observe(id, fits).await.unwrap().seq, 1);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_payload_posted_as_json_text_is_measured_as_posted_and_reads_back_as_its_value() {
    let engine = engine_with_payload_limit(40);
    let id = session(&engine).await;
    // 41 bytes of text, though its value encodes in 29: the limit counts what is stored.
    let spaced =
        NewObservation::from_json(ObservationKind::Custom, text(r#"{ "file" :  "a.rs" ,   "lines": [1, 2]  }"#))
            .unwrap();
    let err = engine_error(engine.baton.observe(id, spaced).await.unwrap_err());
    assert_eq!(err.to_string(), "the payload is 41 bytes, over the limit of 40 bytes");
    assert_eq!(engine.baton.queue_stats(id).await.unwrap(), QueueStats::empty());
    let posted = r#"{"z": {"b": [2.5, null]}, "a": "é\n"}"#;
    let kept = NewObservation::from_json(ObservationKind::ToolUse, text(posted)).unwrap().with_key("toolu_raw");
    assert_eq!(engine.baton.observe(id, kept).await.unwrap().seq, 1);
    let claimed = engine.baton.claim(id, Claim::new("c")).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].payload, json!({"z": {"b": [2.5, null]}, "a": "é\n"}));
    assert_eq!((claimed[0].kind, claimed[0].key.as_deref()), (ObservationKind::ToolUse, Some("toolu_raw")));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_payload_that_would_not_read_back_is_refused_and_stores_nothing() {
    let engine = engine();
    let id = session(&engine).await;
    let reserved = Value::Object([(RESERVED_KEY.to_owned(), json!("[1]"))].into_iter().collect());
    let too_deep = "the payload nests more than 100 levels of arrays and objects";
    let reserved_key =
        "the payload has the object key \"$serde_json::private::RawValue\", which serde_json keeps for itself";
    // As text, it is refused before it reaches the engine...
    for (json, says) in [
        (r#"{"s": "\ud800"}"#.to_owned(), "the payload is not JSON that baton can store: unexpected end of hex escape"),
        (r#"{"n": 1e400}"#.to_owned(), "the payload is not JSON that baton can store: number out of range"),
        (nested(MAX_PAYLOAD_DEPTH + 1).to_string(), too_deep),
        (reserved.to_string(), reserved_key),
    ] {
        let err = NewObservation::from_json(ObservationKind::Custom, text(&json)).unwrap_err().to_string();
        assert!(err.starts_with(says), "{err}");
    }
    // ...and as a value, by the engine, for the same reasons.
    for (observation, says) in [
        (NewObservation::new(ObservationKind::Custom, nested(MAX_PAYLOAD_DEPTH + 1)), too_deep),
        (NewObservation::tool_use("Read", nested(MAX_PAYLOAD_DEPTH), json!("ok")), too_deep),
        (NewObservation::summarize(json!({"why": [reserved.clone()]})), reserved_key),
    ] {
        let err = engine_error(engine.baton.observe(id, observation).await.unwrap_err());
        assert_eq!(err.to_string(), says);
    }
    assert_eq!(engine.baton.queue_stats(id).await.unwrap(), QueueStats::empty());
    // At the limit, posted together (as under load, when they are written in a bundle, a level further
    // down), they read back, also after a restart.
    let deepest = nested(MAX_PAYLOAD_DEPTH);
    let posts = (0..8).map(|n| {
        let observation = NewObservation::new(ObservationKind::Custom, deepest.clone()).with_key(format!("deep{n}"));
        engine.baton.observe(id, observation)
    });
    for enqueued in futures_util::future::join_all(posts).await {
        enqueued.unwrap();
    }
    let engine = engine.restart().await;
    let listed = engine.baton.observations(id, None, 0, 100).await.unwrap();
    assert_eq!(listed.len(), 8);
    assert!(listed.iter().all(|observation| observation.payload == deepest));
    let claimed = engine.baton.claim(id, Claim::new("c").max(8)).await.unwrap();
    assert_eq!(claimed.len(), 8);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_acks_change_nothing() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1), tool_use(2)]).await;
    assert_eq!(claim_seqs(&engine, id, Claim::new("c").max(1)).await, [1]);

    let err = engine_error(engine.baton.ack(id, &[1, 2], None).await.unwrap_err());
    assert_eq!(err.to_string(), "observation 2 is pending, not leased");
    let err = engine_error(engine.baton.ack(id, &[1, 9], None).await.unwrap_err());
    assert!(matches!(err, EngineError::ObservationNotFound { seq: 9, .. }), "{err}");
    let err = engine_error(engine.baton.ack(id, &[], None).await.unwrap_err());
    assert!(matches!(err, EngineError::InvalidRequest(_)), "{err}");
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.acked), (1, 1, 0));

    // A repeated ack is not an error.
    engine.baton.ack(id, &[1], None).await.unwrap();
    let again = engine.baton.ack(id, &[1], None).await.unwrap();
    assert_eq!((again.acked, again.already_acked), (vec![], vec![1]));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn closing_drains_the_queue_before_the_session_closes() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1), tool_use(2)]).await;
    let closing = engine.baton.close_session(id).await.unwrap();
    assert_eq!(closing.state, SessionState::Closing);
    assert_eq!(closing.reason.as_deref(), Some("draining 2 observations"));

    let err = engine_error(engine.baton.observe(id, tool_use(3)).await.unwrap_err());
    assert_eq!(err.to_string(), format!("session {id} is closing; it takes no new observations"));
    assert_eq!(claim_seqs(&engine, id, Claim::new("c")).await, [1, 2]);
    engine.baton.ack(id, &[1, 2], None).await.unwrap();
    let closed = eventually("the drained session to close", || async {
        let session = engine.baton.session(id).await.ok()?;
        (session.state == SessionState::Closed).then_some(session)
    })
    .await;
    assert_eq!(closed.reason.as_deref(), Some("drained"));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn closing_with_discard_drops_the_queue_and_closes_at_once() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1), tool_use(2), tool_use(3)]).await;
    engine.baton.claim(id, Claim::new("c").max(1)).await.unwrap();
    let closed = engine.baton.close_session_with(id, CloseMode::Discard, None).await.unwrap();
    assert_eq!((closed.state, closed.reason.as_deref()), (SessionState::Closed, Some("discarded 3 observations")));
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.next_seq), (0, 0, 4));
    assert!(engine.baton.observations(id, None, 0, 100).await.unwrap().is_empty());
    let err = engine_error(engine.baton.claim(id, Claim::new("c")).await.unwrap_err());
    assert!(matches!(err, EngineError::SessionNotAccepting { state: SessionState::Closed, .. }), "{err}");
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_queue_and_its_leases_survive_a_restart() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1), tool_use(2).with_key("k2"), tool_use(3)]).await;
    engine.baton.claim(id, Claim::new("c").max(2).lease(Duration::from_secs(30))).await.unwrap();
    engine.baton.ack(id, &[1], None).await.unwrap();

    let engine = engine.restart().await;
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.acked, stats.next_seq), (1, 1, 1, 4));
    assert_eq!(engine.baton.observe(id, tool_use(2).with_key("k2")).await.unwrap().seq, 2);
    // The unacked claim is handed out again once its lease lapses: at least once.
    assert_eq!(claim_seqs(&engine, id, Claim::new("d")).await, [3]);
    ticking_until(&engine, "the old lease to lapse", || async {
        engine.baton.queue_stats(id).await.unwrap().pending == 1
    })
    .await;
    let again = engine.baton.claim(id, Claim::new("d")).await.unwrap();
    assert_eq!((again[0].seq, again[0].attempts), (2, 2));
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_with_work_in_its_queue_does_not_go_idle() {
    let engine = TestEngine::start_with(|builder| builder.watchdog_interval(TICK).idle_after(Duration::from_secs(5)));
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1)]).await;
    for _ in 0..20 {
        engine.clock.advance(TICK);
    }
    assert_eq!(engine.baton.session(id).await.unwrap().state, SessionState::Active);
    engine.baton.claim(id, Claim::new("c")).await.unwrap();
    engine.baton.ack(id, &[1], None).await.unwrap();
    ticking_until(&engine, "the session to go idle", || async {
        engine.baton.session(id).await.unwrap().state == SessionState::Idle
    })
    .await;
    // An enqueue wakes it.
    assert_eq!(engine.baton.observe(id, tool_use(2)).await.unwrap().seq, 2);
    assert_eq!(engine.baton.session(id).await.unwrap().state, SessionState::Active);
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn enqueues_after_the_last_batch_write_are_counted_and_their_keys_known_after_a_restart() {
    let engine = engine();
    let id = session(&engine).await;
    enqueue(&engine, id, [tool_use(1).with_key("k1")]).await;
    engine.baton.claim(id, Claim::new("c")).await.unwrap();
    engine.baton.ack(id, &[1], None).await.unwrap();
    // These write their records alone: the stored stats still say what the ack left.
    enqueue(&engine, id, [tool_use(2).with_key("k2"), tool_use(3)]).await;

    let engine = engine.restart().await;
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.acked, stats.next_seq), (2, 0, 1, 4));
    for (key, seq) in [("k1", 1), ("k2", 2)] {
        let again = engine.baton.observe(id, tool_use(9).with_key(key)).await.unwrap();
        assert_eq!((again.seq, again.duplicate), (seq, true), "{key}");
    }
    assert_eq!(engine.baton.observe(id, tool_use(4)).await.unwrap().seq, 4);
    assert_eq!(engine.baton.queue_totals().await.unwrap().pending, 3);
    engine.baton.shutdown().await.unwrap();
}

/// Concurrent enqueues are written together (as bundles): each is still
/// numbered once, in one order, claimed once each, and what was acked and
/// compacted away stays gone after a restart.
#[tokio::test]
async fn concurrent_enqueues_are_numbered_once_and_acked_ones_stay_gone_after_a_restart() {
    let engine = with_queue(|queue| queue.kept_acked = 2);
    let id = session(&engine).await;
    // 40 keys, each posted twice at once: one of the two is a duplicate.
    let posts = (0..80).map(|n| {
        let baton = engine.baton.clone();
        let observation = tool_use(n % 40).with_key(format!("k{}", n % 40));
        async move { (n % 40, baton.observe(id, observation).await.unwrap()) }
    });
    let answers = futures_util::future::join_all(posts).await;
    let mut seq_of_key = std::collections::HashMap::new();
    for (key, enqueued) in &answers {
        let first = *seq_of_key.entry(*key).or_insert(enqueued.seq);
        assert_eq!(enqueued.seq, first, "both posts of k{key} get one sequence number");
    }
    assert_eq!(answers.iter().filter(|(_, enqueued)| enqueued.duplicate).count(), 40);
    let mut seqs: Vec<u64> = seq_of_key.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());

    // Claim and ack the first five; with two acked kept, the last ack
    // compacts the first three away.
    let claimed = claim_seqs(&engine, id, Claim::new("c").max(5).lease(Duration::from_secs(60))).await;
    assert_eq!(claimed, [1, 2, 3, 4, 5]);
    engine.baton.ack(id, &claimed[..3], None).await.unwrap();
    engine.baton.ack(id, &claimed[3..], None).await.unwrap();

    let engine = engine.restart().await;
    let stats = engine.baton.queue_stats(id).await.unwrap();
    assert_eq!((stats.pending, stats.leased, stats.acked, stats.next_seq), (35, 0, 5, 41));
    let listed = engine.baton.observations(id, None, 0, 100).await.unwrap();
    let listed: Vec<(u64, ObservationState)> = listed.iter().map(|o| (o.seq, o.state)).collect();
    let expected: Vec<(u64, ObservationState)> = [(4, ObservationState::Acked), (5, ObservationState::Acked)]
        .into_iter()
        .chain((6..=40).map(|seq| (seq, ObservationState::Pending)))
        .collect();
    assert_eq!(listed, expected);
    // Each of the rest is handed out once, in order, with its own payload.
    let rest = engine.baton.claim(id, Claim::new("d").max(100)).await.unwrap();
    assert_eq!(rest.iter().map(|o| o.seq).collect::<Vec<_>>(), (6..=40).collect::<Vec<_>>());
    for observation in &rest {
        let key = observation.key.as_deref().unwrap();
        let n: u64 = key[1..].parse().unwrap();
        assert_eq!(seq_of_key[&n], observation.seq);
        let posted: serde_json::Value = serde_json::from_str(tool_use(n).payload().get()).unwrap();
        assert_eq!(observation.payload, posted, "{observation:?}");
    }
    assert!(engine.baton.claim(id, Claim::new("d")).await.unwrap().is_empty());
    engine.baton.shutdown().await.unwrap();
}

/// A key posted, acked, and pushed out of the kept acked observations by
/// 150 more was once forgotten: posted again, it was queued anew
/// (`{"seq": 152, "duplicate": false}`). It is recognised for the key
/// window, across a restart, and forgotten after it, by age or by count.
#[tokio::test]
async fn a_key_is_recognised_for_its_window_however_many_acks_follow() {
    let engine = with_queue(|queue| queue.key_window_max = 1000);
    let id = session(&engine).await;
    let ack_one = |n: u64| {
        let engine = &engine;
        async move {
            let first = engine.baton.observe(id, tool_use(n).with_key(format!("toolu_{n}"))).await.unwrap();
            let claimed = claim_seqs(engine, id, Claim::new("c")).await;
            engine.baton.ack(id, &claimed, Some("c")).await.unwrap();
            first.seq
        }
    };
    let first = ack_one(0).await;
    for n in 1..=150 {
        ack_one(n).await;
    }
    let again = engine.baton.observe(id, tool_use(0).with_key("toolu_0")).await.unwrap();
    assert_eq!((again.seq, again.duplicate), (first, true), "the key is recognised after 150 later acks");

    let engine = engine.restart().await;
    let again = engine.baton.observe(id, tool_use(0).with_key("toolu_0")).await.unwrap();
    assert_eq!((again.seq, again.duplicate), (first, true), "and after a restart");

    // Past the window (a day by default), the next compaction forgets it.
    engine.clock.advance(std::time::Duration::from_secs(24 * 60 * 60 + 1));
    let next = engine.baton.observe(id, tool_use(200).with_key("toolu_200")).await.unwrap();
    let claimed = claim_seqs(&engine, id, Claim::new("c")).await;
    engine.baton.ack(id, &claimed, Some("c")).await.unwrap();
    assert_eq!(claimed, [next.seq]);
    let anew = engine.baton.observe(id, tool_use(0).with_key("toolu_0")).await.unwrap();
    assert!(!anew.duplicate && anew.seq > next.seq, "forgotten after the window: {anew:?}");
    engine.baton.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_remembers_at_most_its_count_of_keys() {
    let engine = with_queue(|queue| {
        queue.kept_acked = 1;
        queue.key_window_max = 3;
    });
    let id = session(&engine).await;
    let mut seqs = Vec::new();
    for n in 0..6 {
        seqs.push(engine.baton.observe(id, tool_use(n).with_key(format!("k{n}"))).await.unwrap().seq);
        let claimed = claim_seqs(&engine, id, Claim::new("c")).await;
        engine.baton.ack(id, &claimed, Some("c")).await.unwrap();
    }
    // One kept (k5), three remembered (k2 to k4); k0 and k1 were forgotten, oldest first.
    for (n, expected) in [(2, true), (3, true), (4, true), (5, true), (1, false), (0, false)] {
        let again = engine.baton.observe(id, tool_use(n).with_key(format!("k{n}"))).await.unwrap();
        assert_eq!(again.duplicate, expected, "k{n}: {again:?}");
        if expected {
            assert_eq!(again.seq, seqs[n as usize]);
        }
    }
    engine.baton.shutdown().await.unwrap();
}
