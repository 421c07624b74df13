//! The in-memory index of one session's observation queue, and its rules.
//!
//! The session actor keeps this index beside the stored records: the state,
//! lease and kind of every live observation, but not the payloads, which stay
//! in sled until a consumer claims them. The index answers the questions the
//! queue's rules ask (which observations a claim may take, whose lease has
//! lapsed, what an ack may evict) without reading the store, and turns a list
//! of record changes into a [`QueueWrite`] with the stats that follow from it.
//! It changes only by [`QueueIndex::apply`], after the store took the write, so it
//! never runs ahead of what is durable.
//!
//! How the store lays records out (observations enqueued together share a
//! record, for one) is the store's business: the index speaks of
//! observations, puts and removes.
//!
//! The batching rule: a summarize marker ends a batch. A claim returns
//! observations in order and never one past a summarize marker that is not yet
//! acked; the marker itself is handed out only once nothing before it is still
//! leased or held back, so a consumer sees a whole batch, then its summary.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Lease, Observation, ObservationKind, ObservationState, PendingObservation, QueueStats};
use crate::store::{QueueOp, QueueWrite, StoredQueue};

/// The queue's tunables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct QueueConfig {
    /// After this many claims without an ack, an observation is set aside as dead.
    pub max_attempts: u32,
    /// The largest payload accepted (an observation's, a handoff's, or a
    /// handoff's result), in bytes of its JSON text.
    pub max_payload_bytes: usize,
    /// How many acked observations each session keeps for inspection; older
    /// ones are compacted away, and their idempotency keys remembered apart.
    pub kept_acked: usize,
    /// How long an idempotency key is recognised after its observation was
    /// compacted away (at least; default a day, a long Claude Code session).
    #[serde(with = "crate::model::duration_ms")]
    pub key_window: std::time::Duration,
    /// How many such keys each session remembers at most, the oldest
    /// forgotten first (default 100,000).
    pub key_window_max: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_payload_bytes: 1024 * 1024,
            kept_acked: 100,
            key_window: std::time::Duration::from_secs(24 * 60 * 60),
            key_window_max: 100_000,
        }
    }
}

/// What the index knows of one live observation.
#[derive(Debug, Clone)]
struct Entry {
    kind: ObservationKind,
    state: ObservationState,
    key: Option<String>,
    lease: Option<Lease>,
    available_at: Option<DateTime<Utc>>,
}

impl Entry {
    fn of(observation: &Observation) -> Self {
        Self {
            kind: observation.kind,
            state: observation.state,
            key: observation.key.clone(),
            lease: observation.lease.clone(),
            available_at: observation.available_at,
        }
    }

    fn is_available(&self, now: DateTime<Utc>) -> bool {
        self.state == ObservationState::Pending && self.available_at.is_none_or(|at| at <= now)
    }
}

/// Where a sequence number stands in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Live, in this state, leased to this consumer if leased.
    Live(ObservationState, Option<String>),
    /// Handed out before and gone from the live ones: acked (or discarded).
    Settled,
    /// Never handed out.
    Unknown,
}

/// One session's queue index.
#[derive(Debug, Clone)]
pub(crate) struct QueueIndex {
    stats: QueueStats,
    /// Pending, leased and dead observations, by sequence number.
    live: BTreeMap<u64, Entry>,
    /// Acked observations kept for inspection, with their idempotency keys.
    kept: BTreeMap<u64, Option<String>>,
    /// The idempotency keys of the live and kept observations (each record
    /// carries its own key, so this is rebuilt from them at load) and of the
    /// remembered ones.
    keys: HashMap<String, u64>,
    /// Keys remembered after their observations were compacted away, by
    /// sequence number (so the oldest go first), with when they were set aside.
    remembered: BTreeMap<u64, (String, DateTime<Utc>)>,
}

impl QueueIndex {
    /// The index of a stored queue. The stored stats are as of the last batch
    /// write (an enqueue writes its record alone), so the counts and the next
    /// sequence number are taken from the records; the acked count, which
    /// only batches change, from the stats.
    pub(crate) fn load(stored: StoredQueue) -> Self {
        let mut stats = stored.stats.unwrap_or_else(QueueStats::empty);
        let live: BTreeMap<u64, Entry> =
            stored.live.iter().map(|observation| (observation.seq, Entry::of(observation))).collect();
        let kept: BTreeMap<u64, Option<String>> = stored.kept.into_iter().collect();
        let highest = live.keys().chain(kept.keys()).max().copied().unwrap_or(0);
        stats.next_seq = stats.next_seq.max(highest + 1);
        stats.pending = count(&live, ObservationState::Pending);
        stats.leased = count(&live, ObservationState::Leased);
        stats.dead = count(&live, ObservationState::Dead);
        let remembered: BTreeMap<u64, (String, DateTime<Utc>)> =
            stored.remembered.into_iter().map(|(seq, key, at)| (seq, (key, at))).collect();
        let live_keys = live.iter().filter_map(|(&seq, entry)| Some((entry.key.clone()?, seq)));
        let kept_keys = kept.iter().filter_map(|(&seq, key)| Some((key.clone()?, seq)));
        let remembered_keys = remembered.iter().map(|(&seq, (key, _))| (key.clone(), seq));
        let keys = remembered_keys.chain(live_keys).chain(kept_keys).collect();
        Self { stats, live, kept, keys, remembered }
    }

    /// The sequence number of the live or kept observation posted with `key`.
    pub(crate) fn seq_for_key(&self, key: &str) -> Option<u64> {
        self.keys.get(key).copied()
    }

    /// Takes in new pending observations the store accepted.
    pub(crate) fn enqueued(&mut self, batch: &[PendingObservation]) {
        for observation in batch {
            if let Some(key) = &observation.key {
                self.keys.insert(key.clone(), observation.seq);
            }
            let entry = Entry {
                kind: observation.kind,
                state: ObservationState::Pending,
                key: observation.key.clone(),
                lease: None,
                available_at: None,
            };
            self.live.insert(observation.seq, entry);
            self.stats.pending += 1;
            self.stats.next_seq = self.stats.next_seq.max(observation.seq + 1);
        }
    }

    /// The queue's counts and next sequence number.
    pub(crate) fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Where `seq` stands.
    pub(crate) fn standing(&self, seq: u64) -> Standing {
        match self.live.get(&seq) {
            Some(entry) => Standing::Live(entry.state, entry.lease.as_ref().map(|lease| lease.consumer.clone())),
            None if seq >= 1 && seq < self.stats.next_seq => Standing::Settled,
            None => Standing::Unknown,
        }
    }

    /// Up to `max` observations a claim may take at `now`, in order (see the
    /// module doc for the batching rule).
    pub(crate) fn claimable(&self, max: usize, now: DateTime<Utc>) -> Vec<u64> {
        let mut claim = Vec::new();
        // Whether something before the current position is still out with a
        // consumer or held back: a summarize marker waits for it.
        let mut unsettled_before = false;
        for (&seq, entry) in &self.live {
            if claim.len() >= max {
                break;
            }
            match entry.state {
                ObservationState::Dead | ObservationState::Acked => continue,
                ObservationState::Pending | ObservationState::Leased if entry.kind.is_summarize() => {
                    if !unsettled_before && entry.is_available(now) {
                        claim.push(seq);
                    }
                    break;
                }
                ObservationState::Leased => unsettled_before = true,
                ObservationState::Pending if entry.is_available(now) => claim.push(seq),
                ObservationState::Pending => unsettled_before = true,
            }
        }
        claim
    }

    /// Leased observations whose lease has run out at `now`.
    pub(crate) fn lapsed(&self, now: DateTime<Utc>) -> Vec<u64> {
        self.live
            .iter()
            .filter(|(_, entry)| entry.lease.as_ref().is_some_and(|lease| lease.expired(now)))
            .map(|(&seq, _)| seq)
            .collect()
    }

    /// Whether some pending observation is held back until a time that has come.
    pub(crate) fn has_available(&self, now: DateTime<Utc>) -> bool {
        !self.claimable(1, now).is_empty()
    }

    /// Every live observation in `state`, with its idempotency key.
    pub(crate) fn in_state(&self, state: ObservationState) -> Vec<(u64, Option<String>)> {
        self.live.iter().filter(|(_, entry)| entry.state == state).map(|(&seq, e)| (seq, e.key.clone())).collect()
    }

    /// Removals of kept acked observations, oldest first, so that
    /// `kept_acked` remain after `acking` more are added. The key of each
    /// one removed is remembered from `now`, and remembered keys past the
    /// key window, by age or by count, are forgotten.
    pub(crate) fn evictions(&self, config: &QueueConfig, acking: usize, now: DateTime<Utc>) -> Vec<QueueOp> {
        let excess = (self.kept.len() + acking).saturating_sub(config.kept_acked).min(self.kept.len());
        let mut ops = Vec::new();
        let mut remembering = 0;
        for (&seq, key) in self.kept.iter().take(excess) {
            ops.push(QueueOp::Remove { seq, key: None });
            if let Some(key) = key {
                ops.push(QueueOp::Remember { key: key.clone(), seq, at: now });
                remembering += 1;
            }
        }
        let window = chrono::TimeDelta::from_std(config.key_window).unwrap_or(chrono::TimeDelta::MAX);
        let over_count = (self.remembered.len() + remembering).saturating_sub(config.key_window_max);
        for (index, (key, at)) in self.remembered.values().enumerate() {
            let expired = now.signed_duration_since(*at) > window;
            if index < over_count || expired {
                ops.push(QueueOp::Forget { key: key.clone() });
            }
        }
        ops
    }

    /// The write that makes `ops`, with the stats that follow from them. Each
    /// observation appears at most once in `ops`.
    pub(crate) fn write(&self, ops: Vec<QueueOp>) -> QueueWrite {
        let mut stats = self.stats;
        for op in &ops {
            match op {
                QueueOp::Put(observation) => {
                    let before = self.live.get(&observation.seq).map(|entry| entry.state);
                    adjust(&mut stats, before, Some(observation.state));
                    stats.next_seq = stats.next_seq.max(observation.seq + 1);
                }
                QueueOp::Remove { seq, .. } => adjust(&mut stats, self.live.get(seq).map(|entry| entry.state), None),
                QueueOp::Remember { .. } | QueueOp::Forget { .. } => {}
            }
        }
        QueueWrite { stats, ops }
    }

    /// Takes in a write the store accepted.
    pub(crate) fn apply(&mut self, write: &QueueWrite) {
        self.stats = write.stats;
        for op in &write.ops {
            match op {
                QueueOp::Put(observation) if observation.state == ObservationState::Acked => {
                    self.live.remove(&observation.seq);
                    self.kept.insert(observation.seq, observation.key.clone());
                }
                QueueOp::Put(observation) => {
                    if let Some(key) = &observation.key {
                        self.keys.insert(key.clone(), observation.seq);
                    }
                    self.live.insert(observation.seq, Entry::of(observation));
                }
                QueueOp::Remove { seq, key } => {
                    self.live.remove(seq);
                    self.kept.remove(seq);
                    if let Some(key) = key {
                        self.keys.remove(key);
                    }
                }
                QueueOp::Remember { key, seq, at } => {
                    self.keys.insert(key.clone(), *seq);
                    self.remembered.insert(*seq, (key.clone(), *at));
                }
                QueueOp::Forget { key } => {
                    if let Some(seq) = self.keys.remove(key) {
                        self.remembered.remove(&seq);
                    }
                }
            }
        }
    }
}

fn count(live: &BTreeMap<u64, Entry>, state: ObservationState) -> u64 {
    let n = live.values().filter(|entry| entry.state == state).count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Moves one observation's count from `before` to `after` (`None`: not live).
fn adjust(stats: &mut QueueStats, before: Option<ObservationState>, after: Option<ObservationState>) {
    if before == after {
        return;
    }
    if let Some(state) = before {
        *counter(stats, state) = counter(stats, state).saturating_sub(1);
    }
    if let Some(state) = after {
        *counter(stats, state) += 1;
    }
}

fn counter(stats: &mut QueueStats, state: ObservationState) -> &mut u64 {
    match state {
        ObservationState::Pending => &mut stats.pending,
        ObservationState::Leased => &mut stats.leased,
        ObservationState::Dead => &mut stats.dead,
        ObservationState::Acked => &mut stats.acked,
    }
}

#[cfg(test)]
#[path = "queue_index_tests.rs"]
mod tests;
