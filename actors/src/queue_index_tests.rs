use chrono::Duration;
use serde_json::json;

use super::*;
use crate::model::{NewObservation, SessionId};

/// A queue holding one pending observation of each kind given, numbered from 1.
fn queue_of(kinds: &[ObservationKind], now: DateTime<Utc>) -> (QueueIndex, Vec<Observation>) {
    let session = SessionId::new();
    let records: Vec<Observation> = (1..)
        .zip(kinds)
        .map(|(seq, &kind)| Observation::new(session, seq, kind, json!({"n": seq}), Some(format!("k{seq}")), now))
        .collect();
    let mut queue = QueueIndex::load(StoredQueue::default());
    let ops = records.iter().cloned().map(QueueOp::Put).collect();
    queue.apply(&queue.write(ops));
    (queue, records)
}

fn change(queue: &mut QueueIndex, records: &mut [Observation], seq: u64, edit: impl FnOnce(&mut Observation)) {
    let record = &mut records[usize::try_from(seq - 1).unwrap()];
    edit(record);
    let write = queue.write(vec![QueueOp::Put(record.clone())]);
    queue.apply(&write);
}

use ObservationKind::{Summarize, ToolUse};

#[test]
fn claims_take_the_oldest_available_in_order() {
    let now = Utc::now();
    let (mut queue, mut records) = queue_of(&[ToolUse, ToolUse, ToolUse, ToolUse], now);
    assert_eq!(queue.claimable(2, now), vec![1, 2]);
    change(&mut queue, &mut records, 1, |o| drop(o.lease_to("c", now + Duration::seconds(30), now)));
    assert_eq!(queue.claimable(10, now), vec![2, 3, 4]);
    let stats = queue.stats();
    assert_eq!((stats.next_seq, stats.pending, stats.leased), (5, 3, 1));
}

#[test]
fn a_summarize_marker_ends_a_batch_and_waits_for_it() {
    let now = Utc::now();
    let until = now + Duration::seconds(30);
    let (mut queue, mut records) = queue_of(&[ToolUse, ToolUse, Summarize, ToolUse], now);
    // The batch and its marker may go together, never what follows the marker.
    assert_eq!(queue.claimable(10, now), vec![1, 2, 3]);
    assert_eq!(queue.claimable(2, now), vec![1, 2]);

    // While part of the batch is out, the marker waits.
    change(&mut queue, &mut records, 1, |o| drop(o.lease_to("a", until, now)));
    assert_eq!(queue.claimable(10, now), vec![2]);
    change(&mut queue, &mut records, 2, |o| drop(o.lease_to("b", until, now)));
    assert_eq!(queue.claimable(10, now), Vec::<u64>::new());

    // Once the batch is acked the marker goes, and only after its ack the rest.
    change(&mut queue, &mut records, 1, |o| drop(o.ack(now)));
    change(&mut queue, &mut records, 2, |o| drop(o.ack(now)));
    assert_eq!(queue.claimable(10, now), vec![3]);
    change(&mut queue, &mut records, 3, |o| drop(o.lease_to("a", until, now)));
    assert_eq!(queue.claimable(10, now), Vec::<u64>::new());
    change(&mut queue, &mut records, 3, |o| drop(o.ack(now)));
    assert_eq!(queue.claimable(10, now), vec![4]);
}

#[test]
fn dead_observations_neither_block_nor_get_claimed() {
    let now = Utc::now();
    let (mut queue, mut records) = queue_of(&[ToolUse, Summarize, ToolUse], now);
    change(&mut queue, &mut records, 1, |o| {
        o.lease_to("a", now, now).unwrap();
        o.bury(now, "max attempts").unwrap();
    });
    assert_eq!(queue.claimable(10, now), vec![2]);
    assert_eq!(queue.in_state(ObservationState::Dead), vec![(1, Some("k1".into()))]);
    assert_eq!(queue.stats().dead, 1);
}

#[test]
fn held_back_observations_wait_for_their_time_and_hold_back_a_marker() {
    let now = Utc::now();
    let later = now + Duration::seconds(10);
    let (mut queue, mut records) = queue_of(&[ToolUse, ToolUse, Summarize], now);
    change(&mut queue, &mut records, 1, |o| {
        o.lease_to("a", later, now).unwrap();
        o.release(now, Some(later)).unwrap();
    });
    assert_eq!(queue.claimable(10, now), vec![2]);
    assert!(queue.has_available(now));
    assert_eq!(queue.claimable(10, later), vec![1, 2, 3]);
}

#[test]
fn lapsed_leases_are_found_by_their_time() {
    let now = Utc::now();
    let (mut queue, mut records) = queue_of(&[ToolUse, ToolUse], now);
    change(&mut queue, &mut records, 1, |o| drop(o.lease_to("a", now + Duration::seconds(5), now)));
    change(&mut queue, &mut records, 2, |o| drop(o.lease_to("a", now + Duration::seconds(50), now)));
    assert_eq!(queue.lapsed(now), Vec::<u64>::new());
    assert_eq!(queue.lapsed(now + Duration::seconds(5)), vec![1]);
    assert_eq!(queue.lapsed(now + Duration::seconds(50)), vec![1, 2]);
}

#[test]
fn acks_move_observations_to_the_kept_ones_and_evict_the_oldest() {
    let now = Utc::now();
    let (mut queue, mut records) = queue_of(&[ToolUse, ToolUse, ToolUse], now);
    for seq in 1..=3 {
        change(&mut queue, &mut records, seq, |o| {
            o.lease_to("a", now, now).unwrap();
            o.ack(now).unwrap();
        });
    }
    let stats = queue.stats();
    assert_eq!((stats.pending, stats.leased, stats.acked, stats.next_seq), (0, 0, 3, 4));
    assert_eq!(queue.standing(2), Standing::Settled);
    assert_eq!(queue.standing(4), Standing::Unknown);
    assert_eq!(queue.standing(0), Standing::Unknown);

    let config = crate::QueueConfig { kept_acked: 2, ..crate::QueueConfig::default() };
    let evictions = queue.evictions(&config, 1, now);
    let evicted: Vec<String> = evictions
        .iter()
        .map(|op| match op {
            QueueOp::Remove { seq, key: None } => format!("remove {seq}"),
            QueueOp::Remember { key, seq, .. } => format!("remember {key} as {seq}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(evicted, ["remove 1", "remember k1 as 1", "remove 2", "remember k2 as 2"]);
    queue.apply(&queue.write(evictions));
    assert_eq!(queue.stats().acked, 3, "evicting kept records does not change the count of acks");
    assert_eq!((queue.seq_for_key("k1"), queue.seq_for_key("k2")), (Some(1), Some(2)), "their keys are remembered");
    assert!(queue.evictions(&config, 0, now).is_empty());
}

#[test]
fn loading_recounts_from_the_records_and_never_reuses_a_sequence_number() {
    let now = Utc::now();
    let (queue, records) = queue_of(&[ToolUse, ToolUse], now);
    let stored = StoredQueue {
        stats: Some(QueueStats { next_seq: 9, acked: 4, ..queue.stats() }),
        live: records[..1].to_vec(),
        kept: vec![(2, None)],
        ..StoredQueue::default()
    };
    let loaded = QueueIndex::load(stored);
    let stats = loaded.stats();
    assert_eq!((stats.next_seq, stats.pending, stats.acked), (9, 1, 4));
    assert_eq!(loaded.standing(1), Standing::Live(ObservationState::Pending, None));
    assert_eq!(loaded.standing(5), Standing::Settled);

    let no_stats = QueueIndex::load(StoredQueue { stats: None, live: records, ..StoredQueue::default() });
    assert_eq!(no_stats.stats().next_seq, 3);
}

/// A queue holding `n` pending observations, numbered from 1, enqueued as one bundle.
fn bundled_queue(n: u64, now: DateTime<Utc>) -> (QueueIndex, Vec<Observation>) {
    let session = SessionId::new();
    let records: Vec<Observation> =
        (1..=n).map(|seq| Observation::new(session, seq, ToolUse, json!({"n": seq}), None, now)).collect();
    let mut queue = QueueIndex::load(StoredQueue::default());
    queue.enqueued_bundle(&records.iter().map(pending).collect::<Vec<_>>());
    (queue, records)
}

fn pending(observation: &Observation) -> PendingObservation {
    let posted = NewObservation::new(observation.kind, observation.payload.clone());
    PendingObservation::new(observation.session, observation.seq, posted, observation.created_at)
}

fn bundle_ops(write: &QueueWrite) -> Vec<String> {
    write
        .ops
        .iter()
        .filter_map(|op| match op {
            QueueOp::Bury { seq } => Some(format!("bury {seq}")),
            QueueOp::DropBundle { seqs } => Some(format!("drop {seqs:?}")),
            QueueOp::Put(_) | QueueOp::Remove { .. } | QueueOp::Remember { .. } | QueueOp::Forget { .. } => None,
        })
        .collect()
}

#[test]
fn a_bundle_is_dropped_by_the_write_that_gives_its_last_observation_a_record_of_its_own() {
    let now = Utc::now();
    let until = now + Duration::seconds(30);
    let (mut queue, mut records) = bundled_queue(3, now);
    assert_eq!(queue.stats().pending, 3);

    // Claiming two of three gives them records of their own; the bundle stays.
    for record in &mut records[..2] {
        record.lease_to("c", until, now).unwrap();
    }
    let write = queue.write(records[..2].iter().cloned().map(QueueOp::Put).collect());
    assert!(bundle_ops(&write).is_empty(), "{:?}", bundle_ops(&write));
    queue.apply(&write);

    // The third one's first change drops the bundle with it.
    records[2].lease_to("c", until, now).unwrap();
    let write = queue.write(vec![QueueOp::Put(records[2].clone())]);
    assert_eq!(bundle_ops(&write), ["drop 1..4"]);
    queue.apply(&write);
    assert_eq!(queue.stats().leased, 3);

    // Later changes have nothing more to do with bundles.
    let write = queue.write(vec![QueueOp::Remove { seq: 1, key: None }]);
    assert!(bundle_ops(&write).is_empty());
}

#[test]
fn a_removal_from_a_bundle_that_stays_leaves_a_tombstone() {
    let now = Utc::now();
    let (mut queue, _) = bundled_queue(3, now);
    // Discarding two of three: the third keeps the bundle, so the two are buried.
    let write = queue.write(vec![QueueOp::Remove { seq: 1, key: None }, QueueOp::Remove { seq: 2, key: None }]);
    assert_eq!(bundle_ops(&write), ["bury 1", "bury 2"]);
    queue.apply(&write);
    assert_eq!(queue.stats().pending, 1);
    // Removing the last one drops the bundle, tombstones included: nothing to bury.
    let write = queue.write(vec![QueueOp::Remove { seq: 3, key: None }]);
    assert_eq!(bundle_ops(&write), ["drop 1..4"]);
}

#[test]
fn loading_counts_the_observations_still_only_in_their_bundles() {
    let now = Utc::now();
    let (_, mut records) = bundled_queue(4, now);
    records[0].lease_to("c", now + Duration::seconds(30), now).unwrap();
    // Stored: 1 has its own (leased) record, 2 and 3 are only in the bundle, 4 is gone.
    let stored = StoredQueue {
        stats: None,
        live: records[..3].to_vec(),
        bundles: vec![(1, 4)],
        bundled: vec![2, 3],
        ..StoredQueue::default()
    };
    let loaded = QueueIndex::load(stored);
    assert_eq!((loaded.stats().pending, loaded.stats().leased, loaded.stats().next_seq), (2, 1, 4));
    // Changing 2 leaves 3 in the bundle; changing 3 then drops it.
    let write = loaded.write(vec![QueueOp::Remove { seq: 2, key: None }]);
    assert_eq!(bundle_ops(&write), ["bury 2"]);
    let write = loaded.write(vec![QueueOp::Remove { seq: 2, key: None }, QueueOp::Remove { seq: 3, key: None }]);
    assert_eq!(bundle_ops(&write), ["drop 1..5"]);
}
