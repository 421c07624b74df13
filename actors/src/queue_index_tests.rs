use chrono::Duration;
use serde_json::json;

use super::*;
use crate::model::SessionId;

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
