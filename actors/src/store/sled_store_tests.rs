use chrono::Utc;
use tempfile::TempDir;

use super::*;
#[cfg(feature = "fault-injection")]
use crate::model::SessionState;
use crate::model::{EventKind, OpenSession};

fn open(dir: &TempDir) -> SledStore {
    SledStore::open(&dir.path().join("store"), StoreOptions::default()).unwrap()
}

fn opened_event(session: SessionId) -> NewEvent {
    NewEvent::session(session, Utc::now(), EventKind::SessionOpened { name: None, external_id: None })
}

#[tokio::test]
async fn committed_sessions_are_there_after_reopening() {
    let dir = TempDir::new().unwrap();
    let session = Session::open(OpenSession::named("refactor").with_external_id("claude-1"), Utc::now());
    {
        let store = open(&dir);
        store.save_session(&session, vec![]).unwrap();
        store.commit().await.unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.session(session.id).unwrap(), Some(session.clone()));
    assert_eq!(store.session_by_external_id("claude-1").unwrap(), Some(session.clone()));
    assert_eq!(store.sessions().unwrap(), vec![session]);
    assert_eq!(store.session_by_external_id("claude-2").unwrap(), None);
}

#[test]
fn sessions_are_listed_oldest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let sessions: Vec<Session> = (0..20).map(|_| Session::open(OpenSession::default(), Utc::now())).collect();
    for session in sessions.iter().rev() {
        store.save_session(session, vec![]).unwrap();
    }
    assert_eq!(store.sessions().unwrap(), sessions);
}

#[test]
fn a_store_with_a_newer_schema_is_refused_with_a_clear_message() {
    let dir = TempDir::new().unwrap();
    {
        let db = open_db(&dir.path().join("store"), 1 << 20).unwrap();
        db.open_tree("meta").unwrap().insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&dir.path().join("store"), StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1));
    let says = format!("newer than the {SCHEMA_VERSION} this baton supports");
    assert!(err.to_string().contains(&says), "{err}");
}

#[test]
fn a_store_marked_with_schema_0_is_refused_as_damaged() {
    let dir = TempDir::new().unwrap();
    {
        let db = open_db(&dir.path().join("store"), 1 << 20).unwrap();
        db.open_tree("meta").unwrap().insert(SCHEMA_KEY, &0u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&dir.path().join("store"), StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("schema version 0"), "{err}");
}

#[test]
fn a_new_store_records_the_current_schema_version() {
    let dir = TempDir::new().unwrap();
    drop(open(&dir));
    let db = open_db(&dir.path().join("store"), 1 << 20).unwrap();
    let version = db.open_tree("meta").unwrap().get(SCHEMA_KEY).unwrap().unwrap();
    assert_eq!(version.as_ref(), SCHEMA_VERSION.to_be_bytes());
}

#[test]
fn a_record_that_does_not_decode_is_reported_as_corrupt() {
    let dir = TempDir::new().unwrap();
    let id = SessionId::new();
    {
        let store = open(&dir);
        store.sessions.insert(id.to_bytes(), b"{not json".as_slice()).unwrap();
        store.flush().unwrap();
    }
    let err = open(&dir).session(id).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { tree: "sessions", .. }), "{err}");
}

#[tokio::test]
async fn events_are_published_in_sequence_only_once_committed() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let mut subscriber = store.subscribe();
    let session = SessionId::new();
    let record = Session::open(OpenSession::default(), Utc::now());
    let appended = store.save_session(&record, (0..3).map(|_| opened_event(session)).collect()).unwrap();
    assert_eq!(appended.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(subscriber.try_recv().is_err(), "published before the commit");

    store.commit().await.unwrap();
    for expected in &appended {
        assert_eq!(&subscriber.recv().await.unwrap(), expected);
    }
    assert_eq!(store.events_after(1, 10).unwrap(), appended[1..]);
}

#[test]
fn sequence_numbers_continue_after_reopening_and_trimming_keeps_the_newest() {
    let dir = TempDir::new().unwrap();
    let session = SessionId::new();
    {
        let store = open(&dir);
        let record = Session::open(OpenSession::default(), Utc::now());
        store.save_session(&record, (0..5).map(|_| opened_event(session)).collect()).unwrap();
        store.flush().unwrap();
    }
    let store = open(&dir);
    let record = Session::open(OpenSession::default(), Utc::now());
    assert_eq!(store.save_session(&record, vec![opened_event(session)]).unwrap()[0].seq, 6);
    assert_eq!(store.trim_events(2).unwrap(), 4);
    let kept: Vec<u64> = store.events_after(0, 10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(kept, [5, 6]);
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn refused_writes_change_nothing_and_failed_flushes_reach_every_waiter() {
    let dir = TempDir::new().unwrap();
    let faults = Faults::default();
    let store =
        SledStore::open(&dir.path().join("store"), StoreOptions { faults: faults.clone(), ..StoreOptions::default() })
            .unwrap();
    let mut session = Session::open(OpenSession::default(), Utc::now());
    store.save_session(&session, vec![]).unwrap();
    store.commit().await.unwrap();

    faults.fail_store_writes(true);
    session.transition(SessionState::Idle, Utc::now(), None).unwrap();
    assert!(matches!(store.save_session(&session, vec![]), Err(StoreError::Backend(_))));
    assert!(matches!(store.commit().await, Err(StoreError::Backend(_))));
    assert_eq!(store.session(session.id).unwrap().unwrap().state, SessionState::Active);

    faults.fail_store_writes(false);
    store.save_session(&session, vec![]).unwrap();
    store.commit().await.unwrap();
    assert_eq!(store.session(session.id).unwrap().unwrap().state, SessionState::Idle);
}

#[tokio::test]
async fn committed_agents_and_their_events_are_there_after_reopening_oldest_first() {
    use crate::model::{Agent, AgentState};
    let dir = TempDir::new().unwrap();
    let session = SessionId::new();
    let agents: Vec<Agent> = (0..5).map(|n| Agent::queued(session, vec![format!("agent-{n}")], Utc::now())).collect();
    {
        let store = open(&dir);
        for agent in agents.iter().rev() {
            let event = NewEvent::session(
                session,
                Utc::now(),
                EventKind::AgentStateChanged {
                    agent: agent.id,
                    from: AgentState::Queued,
                    to: AgentState::Queued,
                    reason: None,
                },
            );
            store.save_agent(agent, vec![event]).unwrap();
        }
        store.commit().await.unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.agents().unwrap(), agents);
    assert_eq!(store.agent(agents[2].id).unwrap(), Some(agents[2].clone()));
    assert_eq!(store.agent(crate::model::AgentId::new()).unwrap(), None);
    let events = store.events_after(0, 10).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0].kind.name(), "agent_state_changed");
}

#[tokio::test]
async fn committed_handoffs_are_found_by_id_and_listed_by_session_after_reopening() {
    use crate::model::{Handoff, HandoffTarget};
    let dir = TempDir::new().unwrap();
    let (one, two) = (SessionId::new(), SessionId::new());
    let now = chrono::Utc::now();
    let first = Handoff::new(one, None, HandoffTarget::Role("reviewer".into()), "a", now);
    let second = Handoff::new(two, None, HandoffTarget::Role("reviewer".into()), "b", now);
    let third = Handoff::new(one, None, HandoffTarget::Role("tester".into()), "c", now);
    {
        let store = open(&dir);
        store.save_handoffs(&[first.clone(), second.clone()], vec![opened_event(one)]).unwrap();
        store.save_handoffs(std::slice::from_ref(&third), Vec::new()).unwrap();
        store.commit().await.unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.handoff(second.id).unwrap(), Some(second.clone()));
    assert_eq!(store.handoff(crate::model::HandoffId::new()).unwrap(), None);
    assert_eq!(store.handoffs(Some(one)).unwrap(), vec![first.clone(), third.clone()]);
    assert_eq!(store.handoffs(None).unwrap().len(), 3);
    assert_eq!(store.events_after(0, 10).unwrap().len(), 1);
    // The metrics come from summaries loaded at open and kept by every write.
    assert_eq!((store.handoff_stats(None).unwrap().total, store.handoff_stats(Some(one)).unwrap().total), (3, 2));
    let mut acked = second.clone();
    acked.transition(crate::model::HandoffState::Acknowledged, now + chrono::Duration::seconds(2), None).unwrap();
    store.save_handoffs(&[acked], Vec::new()).unwrap();
    let stats = store.handoff_stats(Some(two)).unwrap();
    assert_eq!((stats.total, stats.acknowledged, stats.time_to_ack.map(|l| l.mean_ms)), (1, 1, Some(2000.0)));
}

#[test]
fn trimming_handoffs_removes_the_oldest_ended_ones_and_never_an_open_one() {
    use crate::model::{Handoff, HandoffState, HandoffTarget};
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let session = SessionId::new();
    let now = chrono::Utc::now();
    let make = |task: &str| Handoff::new(session, None, HandoffTarget::Role("r".into()), task, now);
    let open_one = make("oldest, still open");
    let mut ended: Vec<Handoff> = (0..3).map(|n| make(&format!("ended {n}"))).collect();
    for handoff in &mut ended {
        handoff.transition(HandoffState::Cancelled, now, None).unwrap();
    }
    store.save_handoffs(std::slice::from_ref(&open_one), Vec::new()).unwrap();
    store.save_handoffs(&ended, Vec::new()).unwrap();

    assert_eq!(store.trim_handoffs(5).unwrap(), 0);
    assert_eq!(store.trim_handoffs(1).unwrap(), 2);
    let left: Vec<_> = store.handoffs(Some(session)).unwrap().into_iter().map(|h| h.task).collect();
    assert_eq!(left, ["oldest, still open", "ended 2"]);
    assert_eq!(store.handoff(ended[0].id).unwrap(), None);
    assert_eq!(store.handoff_summary(ended[0].id), None);
    assert_eq!(store.handoff_stats(None).unwrap().total, 2);
    drop(store);
    assert_eq!(open(&dir).handoffs(None).unwrap().len(), 2, "the trim is durable at the next open");
}

#[test]
fn trimming_agents_removes_the_oldest_ended_ones_a_bounded_number_at_a_time_and_never_a_live_one() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let session = SessionId::new();
    let now = Utc::now();
    let mut agents: Vec<Agent> = (0..5).map(|n| Agent::queued(session, vec![format!("agent-{n}")], now)).collect();
    // The oldest stays queued (its run is not over); the other four end.
    for agent in &mut agents[1..] {
        agent.transition(crate::model::AgentState::Stopped, now, Some("stopped on request".into())).unwrap();
    }
    for agent in &agents {
        store.save_agent(agent, Vec::new()).unwrap();
    }
    let names = |store: &SledStore| -> Vec<String> {
        store.agents().unwrap().into_iter().map(|a| a.spec.argv[0].clone()).collect()
    };

    assert_eq!(store.trim_agents(4, 10).unwrap(), Vec::<AgentId>::new());
    assert_eq!(store.trim_agents(1, 2).unwrap(), vec![agents[1].id, agents[2].id], "at most the limit, oldest first");
    assert_eq!(names(&store), ["agent-0", "agent-3", "agent-4"]);
    assert_eq!(store.agent(agents[1].id).unwrap(), None);

    // A restarted agent's run is not over: it is not trimmed.
    let mut restarted = agents[3].clone();
    restarted.transition(crate::model::AgentState::Queued, now, Some("restarted on request".into())).unwrap();
    store.save_agent(&restarted, Vec::new()).unwrap();
    assert_eq!(store.trim_agents(0, 10).unwrap(), vec![agents[4].id]);
    assert_eq!(names(&store), ["agent-0", "agent-3"]);
    drop(store);

    // What is ended is known again at the next open.
    let store = open(&dir);
    assert_eq!(names(&store), ["agent-0", "agent-3"], "the trim is durable at the next open");
    let mut ended = restarted.clone();
    ended.transition(crate::model::AgentState::Stopped, now, None).unwrap();
    store.save_agent(&ended, Vec::new()).unwrap();
    drop(store);
    let store = open(&dir);
    assert_eq!(store.trim_agents(0, 10).unwrap(), vec![agents[3].id]);
    assert_eq!(names(&store), ["agent-0"]);
}

#[tokio::test]
async fn trimming_sessions_removes_the_oldest_ended_ones_with_their_queues_and_handoffs() {
    use crate::model::{Handoff, HandoffState, HandoffTarget, NewObservation, ObservationKind, SessionState};
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let now = Utc::now();
    let sessions: Vec<Session> = (0..5)
        .map(|n| {
            let mut session =
                Session::open(OpenSession::named(format!("s{n}")).with_external_id(format!("ext-{n}")), now);
            // The oldest stays open; the other four close.
            if n > 0 {
                session.transition(SessionState::Closing, now, None).unwrap();
                session.transition(SessionState::Closed, now, None).unwrap();
            }
            session
        })
        .collect();
    let mut handoffs = Vec::new();
    for session in &sessions {
        store.save_session(session, vec![]).unwrap();
        let posted = NewObservation::new(ObservationKind::Custom, serde_json::json!({"n": 1}));
        drop(store.enqueue(&[PendingObservation::new(session.id, 1, posted, now)]).unwrap());
        let mut handoff = Handoff::new(session.id, None, HandoffTarget::Role("r".into()), "task", now);
        // Session 2's handoff is still open: it keeps its session.
        if session.name.as_deref() != Some("s2") {
            handoff.transition(HandoffState::Cancelled, now, None).unwrap();
        }
        store.save_handoffs(std::slice::from_ref(&handoff), Vec::new()).unwrap();
        handoffs.push(handoff);
    }
    let names = |store: &SledStore| -> Vec<String> {
        store.sessions().unwrap().into_iter().map(|session| session.name.unwrap()).collect()
    };

    assert_eq!(store.trim_sessions(4, 10).unwrap(), Vec::<SessionId>::new());
    assert_eq!(store.trim_sessions(2, 1).unwrap(), vec![sessions[1].id], "at most the limit, oldest first");
    assert_eq!(store.trim_sessions(1, 10).unwrap(), vec![sessions[3].id, sessions[4].id]);
    assert_eq!(names(&store), ["s0", "s2"], "the open one and the one with an open handoff stay");
    let gone = &sessions[3];
    assert_eq!(store.session(gone.id).unwrap(), None);
    assert_eq!(store.session_by_external_id("ext-3").unwrap(), None);
    assert_eq!(store.session_by_external_id("ext-2").unwrap().map(|s| s.id), Some(sessions[2].id));
    assert!(store.observations.scan_prefix(gone.id.to_bytes()).next().is_none(), "its queue went with it");
    assert_eq!(store.handoff(handoffs[3].id).unwrap(), None);
    assert_eq!(store.handoff_summary(handoffs[3].id), None);
    assert_eq!(store.handoff_stats(None).unwrap().total, 2);
    assert_eq!(store.queue(sessions[0].id).unwrap().live.len(), 1, "a kept session keeps its queue");
    store.commit().await.unwrap();
    drop(store);

    // The counts in the commit record agree at the next open, which knows the
    // ended sessions again.
    let store = open(&dir);
    assert_eq!(names(&store), ["s0", "s2"], "the trim is durable");
    assert_eq!(store.trim_sessions(0, 10).unwrap(), Vec::<SessionId>::new(), "s2 still holds an open handoff");
    let mut cancelled = handoffs[2].clone();
    cancelled.transition(HandoffState::Cancelled, now, None).unwrap();
    store.save_handoffs(&[cancelled], Vec::new()).unwrap();
    assert_eq!(store.trim_sessions(0, 10).unwrap(), vec![sessions[2].id]);
    assert_eq!(names(&store), ["s0"]);
}

/// The key of the bundle whose first observation is `first`.
fn bundle_key(session: SessionId, first: u64) -> Vec<u8> {
    [session.to_bytes().as_slice(), &[0x04], &first.to_be_bytes()].concat()
}

/// A queue's records in the tree, by kind: `(bundles, tombstones, own records)`.
fn record_kinds(store: &SledStore, session: SessionId) -> (usize, usize, usize) {
    let keys: Vec<_> = store.observations.scan_prefix(session.to_bytes()).keys().map(Result::unwrap).collect();
    let count = |tags: &[u8]| keys.iter().filter(|key| tags.contains(&key[16])).count();
    (count(&[0x04]), count(&[0x05]), count(&[0x01, 0x02]))
}

/// A new pending observation of `session` whose payload is `{"n": seq}`.
fn numbered(session: SessionId, seq: u64, now: chrono::DateTime<Utc>) -> PendingObservation {
    let posted =
        crate::model::NewObservation::new(crate::model::ObservationKind::ToolUse, serde_json::json!({"n": seq}));
    PendingObservation::new(session, seq, posted, now)
}

/// Four observations enqueued together, and the store reopened once they are durable.
async fn four_in_one_bundle(dir: &TempDir) -> (SledStore, SessionId, Vec<Observation>) {
    let session = SessionId::new();
    let now = Utc::now();
    let pending: Vec<PendingObservation> = (1..=4).map(|seq| numbered(session, seq, now)).collect();
    let store = open(dir);
    store.enqueue(&pending).unwrap().await.unwrap();
    drop(store);
    (open(dir), session, pending.iter().map(PendingObservation::to_observation).collect())
}

#[tokio::test]
async fn a_bundles_observations_read_as_live_until_their_own_records_or_removals_override_them() {
    use crate::model::QueueStats;
    use crate::store::QueueOp;

    let dir = TempDir::new().unwrap();
    let (store, session, mut records) = four_in_one_bundle(&dir).await;
    let now = Utc::now();
    assert_eq!(record_kinds(&store, session), (1, 0, 0), "four observations enqueued together: one record");
    let stored = store.read_queue(session).unwrap();
    assert_eq!(stored.live.iter().map(|o| o.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(store.observation(session, 3).unwrap().unwrap().payload, serde_json::json!({"n": 3}));

    // 1 is leased (a record of its own), 2 is removed (the store leaves a
    // tombstone, as 3 and 4 keep the bundle).
    records[0].lease_to("c", now + chrono::Duration::seconds(30), now).unwrap();
    let stats = QueueStats { next_seq: 5, ..QueueStats::empty() };
    let ops = vec![QueueOp::Put(records[0].clone()), QueueOp::Remove { seq: 2, key: None }];
    store.write_queue(session, &QueueWrite { stats, ops }, Vec::new()).unwrap();
    assert_eq!(record_kinds(&store, session), (1, 1, 1));
    let live: Vec<_> = store.read_queue(session).unwrap().live.iter().map(|o| (o.seq, o.state)).collect();
    assert_eq!(live, [(1, ObservationState::Leased), (3, ObservationState::Pending), (4, ObservationState::Pending)]);
    assert!(store.observation(session, 2).unwrap().is_none(), "a removed observation is gone");
    let listed: Vec<_> = store.observations(session, None, 0, 10).unwrap().iter().map(|o| (o.seq, o.state)).collect();
    assert_eq!(listed, live);
    let pending: Vec<_> =
        store.observations(session, Some(ObservationState::Pending), 3, 10).unwrap().iter().map(|o| o.seq).collect();
    assert_eq!(pending, [4]);
    let at = store.observations_at(session, &[1, 2, 3, 4]).unwrap();
    assert_eq!(at.iter().map(|o| o.as_ref().map(|o| o.seq)).collect::<Vec<_>>(), [Some(1), None, Some(3), Some(4)]);

    // Removing 3 and 4, the last ones only in it, removes the bundle and its
    // tombstones: only 1's own record is left.
    let ops = vec![QueueOp::Remove { seq: 3, key: None }, QueueOp::Remove { seq: 4, key: None }];
    store.write_queue(session, &QueueWrite { stats, ops }, Vec::new()).unwrap();
    assert_eq!(record_kinds(&store, session), (0, 0, 1));
    assert_eq!(store.read_queue(session).unwrap().live.iter().map(|o| o.seq).collect::<Vec<_>>(), [1]);
}

#[tokio::test]
async fn a_store_that_has_not_read_a_queue_since_it_opened_still_keeps_removals_out_of_its_bundles() {
    use crate::model::QueueStats;
    use crate::store::QueueOp;

    let dir = TempDir::new().unwrap();
    let (store, session, mut records) = four_in_one_bundle(&dir).await;
    let now = Utc::now();
    // Written with no read of the queue first: the store finds its bundles itself.
    let stats = QueueStats { next_seq: 5, ..QueueStats::empty() };
    let remove_4 = QueueWrite { stats, ops: vec![QueueOp::Remove { seq: 4, key: None }] };
    store.write_queue(session, &remove_4, Vec::new()).unwrap();
    assert_eq!(record_kinds(&store, session), (1, 1, 0));
    store.commit().await.unwrap();
    drop(store);

    // Reopened: 4 stays gone, and giving 1 to 3 records of their own removes the bundle.
    let store = open(&dir);
    for record in &mut records[..3] {
        record.lease_to("c", now + chrono::Duration::seconds(30), now).unwrap();
    }
    let ops = records[..3].iter().cloned().map(QueueOp::Put).collect();
    store.write_queue(session, &QueueWrite { stats, ops }, Vec::new()).unwrap();
    assert_eq!(record_kinds(&store, session), (0, 0, 3));
    let live: Vec<_> = store.read_queue(session).unwrap().live.iter().map(|o| (o.seq, o.state)).collect();
    assert_eq!(live, [1, 2, 3].map(|seq| (seq, ObservationState::Leased)));
}

#[tokio::test]
async fn a_batch_is_stored_as_bundles_of_at_most_eight_and_one_alone_as_its_own_record() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let session = SessionId::new();
    let now = Utc::now();
    store.enqueue(&[numbered(session, 1, now)]).unwrap().await.unwrap();
    assert_eq!(record_kinds(&store, session), (0, 0, 1));
    let batch: Vec<_> = (2..=18).map(|seq| numbered(session, seq, now)).collect();
    store.enqueue(&batch).unwrap().await.unwrap();
    assert_eq!(record_kinds(&store, session), (2, 0, 2), "17: bundles of 8 and 8, and the last one alone");
    let seqs: Vec<u64> = store.read_queue(session).unwrap().live.iter().map(|o| o.seq).collect();
    assert_eq!(seqs, (1..=18).collect::<Vec<_>>());
}

#[tokio::test]
async fn bundles_are_stored_compressed_and_plain_ones_still_read() {
    use crate::model::NewObservation;

    let dir = TempDir::new().unwrap();
    let now = Utc::now();
    let (packed, plain) = (SessionId::new(), SessionId::new());
    let pending = |session, seq: u64| {
        let input = serde_json::json!({"file_path": "/src/lib.rs", "old_string": "    let limit = 100;\n".repeat(10)});
        let posted = NewObservation::tool_use("Edit", input, serde_json::json!({"success": true}));
        PendingObservation::new(session, seq, posted, now)
    };
    let bundle: Vec<_> = (1..=8).map(|seq| pending(packed, seq)).collect();
    {
        let store = open(&dir);
        store.enqueue(&bundle).unwrap().await.unwrap();
        // A bundle that compression would not shrink is stored as its JSON array.
        let plain_bundle: Vec<_> = (1..=2).map(|seq| pending(plain, seq)).collect();
        store.observations.insert(bundle_key(plain, 1), serde_json::to_vec(&plain_bundle).unwrap()).unwrap();
        store.commit().await.unwrap();
    }
    let store = open(&dir);
    let stored = store.observations.get(bundle_key(packed, 1)).unwrap().unwrap();
    let json = serde_json::to_vec(&bundle).unwrap();
    assert_eq!(stored[0], 0x01, "marked as compressed");
    // One line repeated compresses far better than real text: this only says compression was applied.
    assert!(stored.len() * 2 < json.len(), "{} bytes stored for {} bytes of JSON", stored.len(), json.len());
    for (session, count) in [(packed, 8), (plain, 2)] {
        let expected: Vec<Observation> = (1..=count).map(|seq| pending(session, seq).to_observation()).collect();
        assert_eq!(store.read_queue(session).unwrap().live, expected);
        assert_eq!(store.observations(session, None, 0, 10).unwrap(), expected);
        assert_eq!(store.observation(session, 2).unwrap().as_ref(), expected.get(1));
    }
}

#[tokio::test]
async fn a_bundle_of_payloads_nested_to_the_limit_reads_back() {
    use crate::model::{MAX_PAYLOAD_DEPTH, NewObservation, ObservationKind};

    let dir = TempDir::new().unwrap();
    let session = SessionId::new();
    let now = Utc::now();
    // As deep as a payload may nest: arrays around an object.
    let deepest = (1..MAX_PAYLOAD_DEPTH).fold(serde_json::json!({"leaf": 1}), |inner, _| serde_json::json!([inner]));
    assert_eq!(crate::model::payload::check_value(&deepest), Ok(()));
    let bundle: Vec<_> = (1..=8)
        .map(|seq| {
            PendingObservation::new(session, seq, NewObservation::new(ObservationKind::Custom, deepest.clone()), now)
        })
        .collect();
    {
        let store = open(&dir);
        store.enqueue(&bundle).unwrap().await.unwrap();
    }
    let store = open(&dir);
    assert!(store.observations.get(bundle_key(session, 1)).unwrap().is_some(), "stored as a bundle");
    let live = store.read_queue(session).unwrap().live;
    assert_eq!(live.len(), 8);
    assert!(live.iter().all(|observation| observation.payload == deepest));
    assert_eq!(store.observations(session, None, 0, 10).unwrap(), live);
}

#[test]
fn a_compressed_bundle_that_does_not_decompress_is_reported_as_corrupt() {
    let bad = [
        // Claims 2 GiB from one byte of LZ4: refused before any allocation.
        (vec![0x01, 0x00, 0x00, 0x00, 0x80, 0x10], "cannot hold 2147483648"),
        // Claims 64 bytes; the block ends in the middle of a literal run.
        (vec![0x01, 64, 0, 0, 0, 0xf0, b'{'], "a compressed bundle"),
        // Decompresses, but not to JSON.
        ([[0x01, 3, 0, 0, 0].as_slice(), &[0x30], b"abc"].concat(), "expected value"),
    ];
    for (value, detail) in bad {
        let dir = TempDir::new().unwrap();
        let session = SessionId::new();
        let store = open(&dir);
        store.observations.insert(bundle_key(session, 1), value.as_slice()).unwrap();
        let err = store.read_queue(session).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { tree: "observations", .. }), "{value:?}: {err}");
        assert!(err.to_string().contains(detail), "{value:?}: {err}");
    }
}

/// sled's flush ends with `sync_file_range`, which a power cut can undo: a
/// commit is answered only after its log is `fdatasync`ed and its commit
/// record written and synced.
#[tokio::test]
async fn a_commit_is_synced_and_recorded_before_it_is_answered() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let record = || CommitRecord::read(&record_path(&dir.path().join("store"))).unwrap().unwrap();
    let before = (store.syncs(), record().commit);
    let session = Session::open(OpenSession::named("durable"), Utc::now());
    store.save_session(&session, vec![opened_event(session.id)]).unwrap();
    store.commit().await.unwrap();
    let after = record();
    assert!(store.syncs() >= before.0 + 2, "the log and the record are synced: {} then {}", before.0, store.syncs());
    assert_eq!(after.commit, before.1 + 1, "the answered commit is in the record");
    assert_eq!((after.sessions, after.last_event_seq), (1, 1));
}

#[test]
fn an_event_that_does_not_decode_is_skipped_and_counted_once() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let session = SessionId::new();
    let record = Session::open(OpenSession::default(), Utc::now());
    store.save_session(&record, (0..3).map(|_| opened_event(session)).collect()).unwrap();
    store.events.insert(2_u64.to_be_bytes(), b"{not json".as_slice()).unwrap();

    for _ in 0..2 {
        let seqs: Vec<u64> = store.events_after(0, 10).unwrap().iter().map(|event| event.seq).collect();
        assert_eq!(seqs, [1, 3]);
    }
    // The limit counts the events returned, not the records read.
    assert_eq!(store.events_after(0, 2).unwrap().len(), 2);
    assert_eq!(store.corrupt_records(), 1);
}
