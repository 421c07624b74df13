//! The observation queues in sled: one key range per session in the
//! `observations` tree (the layout is in `sled_store.rs`).
//!
//! An enqueue, the hottest write, is plain `insert`s: an observation's
//! record carries its idempotency key, and the stats are not rewritten (the
//! queue's index recounts them from the records at load). sled's
//! `apply_batch` costs several times as much, as it seals its I/O buffer
//! around the batch. A batch of observations enqueued together goes in as
//! bundle records of up to [`BUNDLE_MAX`]: a sled insert costs about the
//! same for one observation as for eight, so bundles make enqueues under load
//! several times cheaper.
//!
//! Bundles are this file's business alone: the rest of the engine sees
//! observations, and changes them with puts and removes. An observation's own
//! record (`LIVE` or `KEPT`), once it has one, overrides its bundle entry; a
//! tombstone (`GONE`) marks one removed from a bundle that stays; and the
//! write after which none of a bundle's observations is left only in it
//! removes the bundle and its tombstones. To decide those without reading the
//! bundles back, the store keeps a [`BundleIndex`] of every session it has
//! written or loaded the queue of: which observations are still only in
//! their bundle.
//!
//! A bundle is stored LZ4-compressed. sled keeps values in its B-tree's
//! leaves and writes a leaf out again whole when it consolidates or splits
//! it, so each byte of a bundle reaches the disk about four times; a flush
//! takes about as long as the bytes it writes, and the next enqueues wait
//! for it. Tool uses of source text compress about 2.3x, and the bytes
//! written per enqueue fall about threefold (docs/benchmarks.md).
//! A compressed bundle starts with [`LZ4`], which no JSON text starts with;
//! a bundle that would not shrink is stored as its plain JSON.
//!
//! Any other change (claims, acks, nacks) is one `apply_batch` on that tree,
//! which sled applies atomically and which costs far less than a transaction,
//! with the stats. A change that reports events (an observation set aside as
//! dead) runs as a transaction over the queue and the events, like a session
//! checkpoint.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::sled_base::{
    Bundle, SessionBundles, SledStore, decode, encode, encode_sized, hex, insert_events, lock, storage_error,
};
use super::{Commit, Store};
use super::{QueueOp, QueueWrite, StoredQueue};
use crate::error::StoreError;
use crate::model::{Event, NewEvent, Observation, ObservationState, PendingObservation, QueueStats, SessionId};

const TREE: &str = "observations";
const STATS: u8 = 0x00;
const LIVE: u8 = 0x01;
const KEPT: u8 = 0x02;
const KEY: u8 = 0x03;
const BUNDLE: u8 = 0x04;
const GONE: u8 = 0x05;
/// The most observations one bundle record holds. A sled insert costs
/// about as much for eight observations as for one (docs/benchmarks.md), and
/// a bundle is rewritten by no one: its observations' later changes are
/// records of their own.
const BUNDLE_MAX: usize = 8;
/// A remembered key's value: its sequence number and when it was set aside
/// (milliseconds since the epoch), both big-endian.
const REMEMBERED_LEN: usize = 16;

/// The key prefix of one part of a session's queue.
fn prefix(session: SessionId, tag: u8) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + 1 + 8);
    key.extend_from_slice(&session.to_bytes());
    key.push(tag);
    key
}

/// The sequence number at the end of a `seq_key`.
fn seq_of(key: &[u8]) -> u64 {
    key.len().checked_sub(8).and_then(|at| key[at..].try_into().ok()).map_or(0, u64::from_be_bytes)
}

fn seq_key(session: SessionId, tag: u8, seq: u64) -> Vec<u8> {
    let mut key = prefix(session, tag);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

fn idempotency_key(session: SessionId, key: &str) -> Vec<u8> {
    let mut bytes = prefix(session, KEY);
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// The first byte of a compressed bundle: an LZ4 block, with its
/// uncompressed size before it (u32, little-endian), follows.
const LZ4: u8 = 0x01;
/// An LZ4 block decompresses to at most 255 times its size: a larger
/// stated size is corrupt.
const LZ4_MAX_RATIO: usize = 255;

/// A bundle's JSON, compressed when that makes it smaller.
fn pack(json: Vec<u8>) -> Vec<u8> {
    if u32::try_from(json.len()).is_err() {
        return json;
    }
    let mut packed = lz4_flex::block::compress_prepend_size(&json);
    if packed.len() + 1 >= json.len() {
        return json;
    }
    packed.insert(0, LZ4);
    packed
}

/// The observations of a stored bundle, compressed or not.
fn unpack(key: &[u8], value: &[u8]) -> Result<Vec<Observation>, StoreError> {
    let Some((&LZ4, packed)) = value.split_first() else {
        return decode(TREE, key, value);
    };
    let corrupt = |detail: String| StoreError::Corrupt { tree: TREE, key: hex(key), detail };
    let (size, block) =
        lz4_flex::block::uncompressed_size(packed).map_err(|err| corrupt(format!("a compressed bundle: {err}")))?;
    if size > block.len().saturating_mul(LZ4_MAX_RATIO) {
        return Err(corrupt(format!("a compressed bundle of {} bytes cannot hold {size}", block.len())));
    }
    let json =
        lz4_flex::block::decompress(block, size).map_err(|err| corrupt(format!("a compressed bundle: {err}")))?;
    decode(TREE, key, &json)
}

/// Decodes one record of the tree as its tag says, for a check of the whole
/// store: an error names what does not read.
pub(super) fn check_record(key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt { tree: TREE, key: hex(key), detail: detail.into() };
    match key.get(16) {
        Some(&STATS) => decode::<QueueStats>(TREE, key, value).map(drop),
        Some(&LIVE | &KEPT) => decode::<Observation>(TREE, key, value).map(drop),
        Some(&KEY) if value.len() == REMEMBERED_LEN => Ok(()),
        Some(&BUNDLE) => unpack(key, value).map(drop),
        Some(&GONE) if value.is_empty() => Ok(()),
        Some(&KEY | &GONE) => Err(corrupt("a value of the wrong size")),
        _ => Err(corrupt("a key of no known kind")),
    }
}

/// A write to the tree: a key and its new value, or `None` to remove it.
type Change = (Vec<u8>, Option<Vec<u8>>);

/// The key changes that `write` makes.
fn changes(session: SessionId, write: &QueueWrite) -> Result<Vec<Change>, StoreError> {
    let mut changes = vec![(prefix(session, STATS), Some(encode(&write.stats)?))];
    for op in &write.ops {
        match op {
            QueueOp::Put(observation) => {
                let value = Some(encode(observation)?);
                if observation.state == ObservationState::Acked {
                    changes.push((seq_key(session, LIVE, observation.seq), None));
                    changes.push((seq_key(session, KEPT, observation.seq), value));
                } else {
                    changes.push((seq_key(session, LIVE, observation.seq), value));
                }
            }
            QueueOp::Remove { seq, .. } => {
                changes.push((seq_key(session, LIVE, *seq), None));
                changes.push((seq_key(session, KEPT, *seq), None));
            }
            QueueOp::Remember { key, seq, at } => {
                let mut value = seq.to_be_bytes().to_vec();
                value.extend_from_slice(&at.timestamp_millis().to_be_bytes());
                changes.push((idempotency_key(session, key), Some(value)));
            }
            QueueOp::Forget { key } => changes.push((idempotency_key(session, key), None)),
        }
    }
    Ok(changes)
}

/// What a queue write does to a session's bundles.
#[derive(Default)]
struct BundlePlan {
    /// Key changes it adds to the write: tombstones, and removed bundles.
    changes: Vec<Change>,
    /// Per bundle touched (by its first sequence number): the observations
    /// that are no longer only in it, or `None` when it is removed.
    settled: Vec<(u64, Option<Vec<u64>>)>,
}

/// Plans what `ops` do to `bundles`: an observation that gets a record of
/// its own (or goes) is no longer only in its bundle; a removal within a
/// bundle that stays leaves a tombstone, so its bundle entry does not come
/// back; a bundle none of whose observations is left only in it goes, with
/// its tombstones. Each observation appears at most once in `ops`.
fn plan(session: SessionId, bundles: &SessionBundles, ops: &[QueueOp]) -> BundlePlan {
    // Per bundle touched: how many stay only in it, who left, who was removed.
    let mut touched: BTreeMap<u64, (usize, Vec<u64>, Vec<u64>)> = BTreeMap::new();
    for op in ops {
        let (seq, removed) = match op {
            QueueOp::Put(observation) => (observation.seq, false),
            QueueOp::Remove { seq, .. } => (*seq, true),
            QueueOp::Remember { .. } | QueueOp::Forget { .. } => continue,
        };
        let Some((&first, bundle)) = bundles.range(..=seq).next_back() else { continue };
        if seq >= first.saturating_add(bundle.len) {
            continue;
        }
        let (left, unbundled, gone) = touched.entry(first).or_insert_with(|| (bundle.only_here.len(), vec![], vec![]));
        if bundle.only_here.contains(&seq) {
            *left -= 1;
            unbundled.push(seq);
        }
        if removed {
            gone.push(seq);
        }
    }
    let mut plan = BundlePlan::default();
    for (first, (left, unbundled, gone)) in touched {
        if left == 0 {
            plan.changes.push((seq_key(session, BUNDLE, first), None));
            let len = bundles.get(&first).map_or(0, |bundle| bundle.len);
            plan.changes.extend((first..first.saturating_add(len)).map(|seq| (seq_key(session, GONE, seq), None)));
            plan.settled.push((first, None));
        } else {
            plan.changes.extend(gone.into_iter().map(|seq| (seq_key(session, GONE, seq), Some(Vec::new()))));
            plan.settled.push((first, Some(unbundled)));
        }
    }
    plan
}

impl BundlePlan {
    /// Takes a write the store made into the session's bundles.
    fn apply(self, bundles: &mut SessionBundles) {
        for (first, settled) in self.settled {
            match settled {
                None => {
                    bundles.remove(&first);
                }
                Some(seqs) => {
                    if let Some(bundle) = bundles.get_mut(&first) {
                        for seq in seqs {
                            bundle.only_here.remove(&seq);
                        }
                    }
                }
            }
        }
    }
}

impl SledStore {
    pub(super) fn read_queue(&self, session: SessionId) -> Result<StoredQueue, StoreError> {
        let stats = self.read_queue_stats(session)?;
        let mut live = self.scan(session, LIVE, 0, usize::MAX)?;
        let kept: Vec<(u64, Option<String>)> = self
            .scan(session, KEPT, 0, usize::MAX)?
            .into_iter()
            .map(|observation| (observation.seq, observation.key))
            .collect();
        let remembered = self.remembered(session)?;
        let own: BTreeSet<u64> =
            live.iter().map(|observation| observation.seq).chain(kept.iter().map(|(seq, _)| *seq)).collect();
        let (bundled, bundles) = self.read_bundles(session, &own)?;
        if !bundled.is_empty() {
            live.extend(bundled);
            live.sort_by_key(|observation| observation.seq);
        }
        // Kept as it is if the store already has it: every write since keeps it exact.
        lock(&self.bundles).entry(session).or_insert(bundles);
        Ok(StoredQueue { stats, live, kept, remembered })
    }

    /// A session's bundles as stored, with the observations that are only in
    /// them: those with no record of their own (`own`) and no tombstone.
    fn read_bundles(
        &self,
        session: SessionId,
        own: &BTreeSet<u64>,
    ) -> Result<(Vec<Observation>, SessionBundles), StoreError> {
        let mut bundled = Vec::new();
        let mut bundles = SessionBundles::new();
        let mut gone = None;
        for entries in self.bundles_from(session, 0)? {
            let entries = entries?;
            let (Some(first), Some(last)) = (entries.first(), entries.last()) else { continue };
            let gone = match &mut gone {
                Some(gone) => gone,
                None => gone.insert(self.tombstones(session)?),
            };
            let mut bundle = Bundle { len: last.seq.saturating_sub(first.seq) + 1, only_here: BTreeSet::new() };
            let first = first.seq;
            for observation in entries {
                if !own.contains(&observation.seq) && !gone.contains(&observation.seq) {
                    bundle.only_here.insert(observation.seq);
                    bundled.push(observation);
                }
            }
            bundles.insert(first, bundle);
        }
        Ok((bundled, bundles))
    }

    /// The session's entry in the [`BundleIndex`], read from the store if
    /// it has none yet.
    fn session_bundles<'a>(
        &self,
        index: &'a mut HashMap<SessionId, SessionBundles>,
        session: SessionId,
    ) -> Result<&'a mut SessionBundles, StoreError> {
        match index.entry(session) {
            std::collections::hash_map::Entry::Occupied(entry) => Ok(entry.into_mut()),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let mut own = BTreeSet::new();
                for tag in [LIVE, KEPT] {
                    for key in self.observations.range(prefix(session, tag)..prefix(session, tag + 1)).keys() {
                        own.insert(seq_of(&key?));
                    }
                }
                Ok(entry.insert(self.read_bundles(session, &own)?.1))
            }
        }
    }

    /// Forgets the bundles of sessions whose queues are removed.
    pub(super) fn forget_bundles(&self, sessions: &[SessionId]) {
        let mut index = lock(&self.bundles);
        for session in sessions {
            index.remove(session);
        }
    }

    /// A session's bundles from the one that covers `from` on, in order,
    /// each read when the iteration reaches it.
    fn bundles_from(
        &self,
        session: SessionId,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<Vec<Observation>, StoreError>> + '_, StoreError> {
        // The bundle that covers `from` starts at or before it.
        let start = match self.observations.range(prefix(session, BUNDLE)..=seq_key(session, BUNDLE, from)).next_back()
        {
            Some(entry) => entry?.0.to_vec(),
            None => seq_key(session, BUNDLE, from),
        };
        Ok(self.observations.range(start..prefix(session, BUNDLE + 1)).map(|entry| {
            let (key, value) = entry?;
            unpack(&key, &value)
        }))
    }

    /// The keys remembered past their observations (`0x03`).
    fn remembered(&self, session: SessionId) -> Result<Vec<(u64, String, DateTime<Utc>)>, StoreError> {
        let mut remembered = Vec::new();
        let start = prefix(session, KEY);
        for entry in self.observations.range(start.clone()..prefix(session, KEY + 1)) {
            let (key, value) = entry?;
            let corrupt = |detail: &str| StoreError::Corrupt { tree: TREE, key: hex(&key), detail: detail.into() };
            if value.len() != REMEMBERED_LEN {
                return Err(corrupt("a value of the wrong size"));
            }
            let name =
                String::from_utf8(key[start.len()..].to_vec()).map_err(|_| corrupt("a key that is not UTF-8"))?;
            let seq = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
            let millis = i64::from_be_bytes(value[8..].try_into().expect("8 bytes"));
            let at = DateTime::from_timestamp_millis(millis).ok_or_else(|| corrupt("a time out of range"))?;
            remembered.push((seq, name, at));
        }
        Ok(remembered)
    }

    fn tombstones(&self, session: SessionId) -> Result<BTreeSet<u64>, StoreError> {
        let mut gone = BTreeSet::new();
        for entry in self.observations.range(prefix(session, GONE)..prefix(session, GONE + 1)) {
            let (key, _) = entry?;
            gone.insert(seq_of(&key));
        }
        Ok(gone)
    }

    /// Whether `seq` has a record of its own or a tombstone, either of which
    /// overrides its bundle entry.
    fn overrides_bundle(&self, session: SessionId, seq: u64) -> Result<bool, StoreError> {
        for tag in [LIVE, KEPT, GONE] {
            if self.observations.contains_key(seq_key(session, tag, seq))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub(super) fn read_queue_stats(&self, session: SessionId) -> Result<Option<QueueStats>, StoreError> {
        let key = prefix(session, STATS);
        self.observations.get(&key)?.map(|bytes| decode(TREE, &key, &bytes)).transpose()
    }

    pub(super) fn read_observation(&self, session: SessionId, seq: u64) -> Result<Option<Observation>, StoreError> {
        Ok(self.read_observations_at(session, &[seq])?.pop().flatten())
    }

    pub(super) fn read_observations_at(
        &self,
        session: SessionId,
        seqs: &[u64],
    ) -> Result<Vec<Option<Observation>>, StoreError> {
        // The last bundle read: consecutive observations often share one.
        let mut bundle: Vec<Observation> = Vec::new();
        let mut found = Vec::with_capacity(seqs.len());
        'next: for &seq in seqs {
            for tag in [LIVE, KEPT] {
                let key = seq_key(session, tag, seq);
                if let Some(bytes) = self.observations.get(&key)? {
                    found.push(Some(decode(TREE, &key, &bytes)?));
                    continue 'next;
                }
            }
            if self.observations.contains_key(seq_key(session, GONE, seq))? {
                found.push(None);
                continue;
            }
            let covers = |bundle: &[Observation]| {
                bundle.first().is_some_and(|first| first.seq <= seq)
                    && bundle.last().is_some_and(|last| seq <= last.seq)
            };
            if !covers(&bundle) {
                bundle = self.bundles_from(session, seq)?.next().transpose()?.unwrap_or_default();
            }
            found.push(bundle.iter().find(|observation| observation.seq == seq).cloned());
        }
        Ok(found)
    }

    pub(super) fn read_observations(
        &self,
        session: SessionId,
        state: Option<ObservationState>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Observation>, StoreError> {
        let matches = |observation: &Observation| state.is_none_or(|state| observation.state == state);
        let mut found = match state {
            Some(ObservationState::Acked) => Vec::new(),
            _ => self.scan_where(session, LIVE, after, limit, matches)?,
        };
        if state.is_none_or(|state| state == ObservationState::Pending) {
            // Only pending observations are in bundles without a record of their own.
            let bundled = self.bundled_after(session, after, limit)?;
            if !bundled.is_empty() {
                found.extend(bundled);
                found.sort_by_key(|observation| observation.seq);
                found.truncate(limit);
            }
        }
        if state.is_none_or(|state| state == ObservationState::Acked) {
            found.extend(self.scan(session, KEPT, after, limit)?);
            found.sort_by_key(|observation| observation.seq);
            found.truncate(limit);
        }
        Ok(found)
    }

    /// Up to `limit` observations after `after` whose only record is in their bundle, in order.
    fn bundled_after(&self, session: SessionId, after: u64, limit: usize) -> Result<Vec<Observation>, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for entries in self.bundles_from(session, from)? {
            for observation in entries? {
                if found.len() >= limit {
                    return Ok(found);
                }
                if observation.seq >= from && !self.overrides_bundle(session, observation.seq)? {
                    found.push(observation);
                }
            }
        }
        Ok(found)
    }

    /// Writes a batch of new pending observations of one session, with
    /// consecutive sequence numbers: one alone as its own record, more as
    /// bundles of up to [`BUNDLE_MAX`]. All or nothing: should one record
    /// fail, those written before it are removed again.
    pub(super) fn enqueue_batch(&self, batch: &[PendingObservation]) -> Result<Commit, StoreError> {
        self.refuse_if_faulty()?;
        let Some(session) = batch.first().map(|observation| observation.session) else {
            return Ok(Store::commit(self));
        };
        let mut written = Vec::new();
        for chunk in batch.chunks(BUNDLE_MAX) {
            match self.insert_chunk(chunk) {
                Ok(key) => written.push(key),
                Err(err) => {
                    for key in written {
                        let _ = self.observations.remove(key);
                    }
                    return Err(err);
                }
            }
        }
        if let Some(bundles) = lock(&self.bundles).get_mut(&session) {
            for chunk in batch.chunks(BUNDLE_MAX).filter(|chunk| chunk.len() > 1) {
                let only_here: BTreeSet<u64> = chunk.iter().map(|observation| observation.seq).collect();
                let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
                bundles.insert(chunk[0].seq, Bundle { len, only_here });
            }
        }
        Ok(Store::commit(self))
    }

    /// Writes one observation as its record, or several as a bundle; returns the key written.
    fn insert_chunk(&self, chunk: &[PendingObservation]) -> Result<Vec<u8>, StoreError> {
        let (key, value) = match chunk {
            [one] => (seq_key(one.session, LIVE, one.seq), encode_sized(one, one.encoded_len_hint())?),
            _ => {
                let size = chunk.iter().map(PendingObservation::encoded_len_hint).sum();
                (seq_key(chunk[0].session, BUNDLE, chunk[0].seq), pack(encode_sized(&chunk, size)?))
            }
        };
        self.observations.insert(key.as_slice(), value)?;
        Ok(key)
    }

    pub(super) fn apply_queue_write(
        &self,
        session: SessionId,
        write: &QueueWrite,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Event>, StoreError> {
        self.refuse_if_faulty()?;
        let mut index = lock(&self.bundles);
        let bundles = self.session_bundles(&mut index, session)?;
        let mut changes = changes(session, write)?;
        let mut plan = plan(session, bundles, &write.ops);
        changes.append(&mut plan.changes);
        if events.is_empty() {
            let mut batch = sled::Batch::default();
            for (key, value) in changes {
                match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                }
            }
            self.observations.apply_batch(batch)?;
            plan.apply(bundles);
            return Ok(Vec::new());
        }
        let mut unpublished = self.unpublished();
        let (events, encoded_events) = self.sequence(events)?;
        (&self.observations, &self.events)
            .transaction(|(observations, event_tree)| {
                for (key, value) in &changes {
                    match value {
                        Some(value) => observations.insert(key.as_slice(), value.as_slice())?,
                        None => observations.remove(key.as_slice())?,
                    };
                }
                insert_events(event_tree, &encoded_events)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)?;
        plan.apply(bundles);
        self.appended(&mut unpublished, &events);
        Ok(events)
    }

    fn scan(&self, session: SessionId, tag: u8, after: u64, limit: usize) -> Result<Vec<Observation>, StoreError> {
        self.scan_where(session, tag, after, limit, |_| true)
    }

    /// Up to `limit` observations under `tag` after `after` that pass `keep`, in order.
    fn scan_where(
        &self,
        session: SessionId,
        tag: u8,
        after: u64,
        limit: usize,
        keep: impl Fn(&Observation) -> bool,
    ) -> Result<Vec<Observation>, StoreError> {
        let Some(start) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for entry in self.observations.range(seq_key(session, tag, start)..prefix(session, tag + 1)) {
            if found.len() >= limit {
                break;
            }
            let (key, value) = entry?;
            let observation: Observation = decode(TREE, &key, &value)?;
            if keep(&observation) {
                found.push(observation);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bundle_that_shrinks_is_compressed() {
        let short = br#"[{"seq":1}]"#.to_vec();
        assert_eq!(pack(short.clone()), short, "LZ4's framing would outweigh what it saves");
        let long = serde_json::to_vec(&vec!["the same line"; 100]).unwrap();
        let packed = pack(long.clone());
        assert_eq!(packed[0], LZ4);
        assert!(packed.len() < long.len() / 10, "{} bytes for {}", packed.len(), long.len());
    }
}
