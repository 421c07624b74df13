//! Handoffs in sled: each record under its session's id in the `handoffs`
//! tree, so one session's handoffs are contiguous and in creation order (ids
//! are UUIDv7), and an index from a handoff's id to its session, so a handoff
//! named by id alone is found without a scan. The index entry is written once,
//! with the first record; a summary of every handoff stays in memory for the
//! metrics.

use std::collections::HashMap;

use sled::Transactional;

use super::sled_base::{SledStore, decode, encode, hex, insert_events, lock, storage_error};
use crate::error::StoreError;
use crate::model::{Event, Handoff, HandoffId, HandoffSummary, Lifecycle, NewEvent, SessionId};

const TREE: &str = "handoffs";

fn key(session: SessionId, id: HandoffId) -> [u8; 32] {
    let mut key = [0; 32];
    key[..16].copy_from_slice(&session.to_bytes());
    key[16..].copy_from_slice(&id.to_bytes());
    key
}

impl SledStore {
    pub(super) fn write_handoffs(&self, handoffs: &[Handoff], events: Vec<NewEvent>) -> Result<Vec<Event>, StoreError> {
        self.refuse_if_faulty()?;
        let known = lock(&self.handoff_summaries);
        let records = handoffs
            .iter()
            .map(|handoff| {
                let first = !known.contains_key(&handoff.id);
                Ok((key(handoff.session, handoff.id), first.then(|| handoff.id.to_bytes()), encode(handoff)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        drop(known);
        let mut unpublished = self.unpublished();
        let (events, encoded_events) = self.sequence(events)?;
        (&self.handoffs, &self.handoff_sessions, &self.events)
            .transaction(|(tree, index, event_tree)| {
                for (key, first, value) in &records {
                    tree.insert(key, value.as_slice())?;
                    if let Some(id) = first {
                        index.insert(id, &key[..16])?;
                    }
                }
                insert_events(event_tree, &encoded_events)
            })
            .map_err(storage_error)?;
        self.appended(&mut unpublished, &events);
        let mut summaries = lock(&self.handoff_summaries);
        for handoff in handoffs {
            summaries.insert(handoff.id, HandoffSummary::of(handoff));
        }
        self.count_handoffs(&summaries);
        Ok(events)
    }

    /// Removes the oldest ended handoffs (ids are UUIDv7: creation order)
    /// beyond `keep`, records and index entries together.
    pub(super) fn remove_old_handoffs(&self, keep: usize) -> Result<usize, StoreError> {
        let doomed: Vec<(HandoffId, SessionId)> = {
            let summaries = lock(&self.handoff_summaries);
            if summaries.len() <= keep {
                return Ok(0);
            }
            let mut ended: Vec<(HandoffId, SessionId)> = summaries
                .iter()
                .filter(|(_, summary)| summary.state.is_terminal())
                .map(|(id, summary)| (*id, summary.session))
                .collect();
            if ended.len() <= keep {
                return Ok(0);
            }
            ended.sort_unstable();
            ended.truncate(ended.len() - keep);
            ended
        };
        self.refuse_if_faulty()?;
        (&self.handoffs, &self.handoff_sessions)
            .transaction(|(tree, index)| {
                for (id, session) in &doomed {
                    tree.remove(&key(*session, *id)[..])?;
                    index.remove(&id.to_bytes()[..])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(storage_error)?;
        let removed: Vec<HandoffId> = doomed.iter().map(|(id, _)| *id).collect();
        self.forget_handoffs(&removed);
        Ok(removed.len())
    }

    /// Drops the summaries of handoffs whose records were removed.
    pub(super) fn forget_handoffs(&self, removed: &[HandoffId]) {
        let mut summaries = lock(&self.handoff_summaries);
        for id in removed {
            summaries.remove(id);
        }
        self.count_handoffs(&summaries);
    }

    /// The ids of `session`'s handoffs, with their records' keys.
    pub(super) fn handoff_keys_of(&self, session: SessionId) -> Result<Vec<(HandoffId, sled::IVec)>, StoreError> {
        let mut found = Vec::new();
        for entry in self.handoffs.scan_prefix(session.to_bytes()).keys() {
            let record = entry?;
            let id = <[u8; 16]>::try_from(&record[16..]).map_err(|_| StoreError::Corrupt {
                tree: TREE,
                key: hex(&record),
                detail: format!("a key of {} bytes", record.len()),
            })?;
            found.push((HandoffId::from_bytes(id), record));
        }
        Ok(found)
    }

    /// Keeps the commit record's handoff count: one summary a record.
    fn count_handoffs(&self, summaries: &HashMap<HandoffId, HandoffSummary>) {
        let count = u64::try_from(summaries.len()).unwrap_or(u64::MAX);
        self.sealing.counts.handoffs.store(count, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn read_handoff(&self, id: HandoffId) -> Result<Option<Handoff>, StoreError> {
        let Some(session) = self.handoff_sessions.get(id.to_bytes())? else {
            return Ok(None);
        };
        let session = <[u8; 16]>::try_from(session.as_ref()).map_err(|_| StoreError::Corrupt {
            tree: "handoff_sessions",
            key: hex(&id.to_bytes()),
            detail: format!("a session id of {} bytes", session.len()),
        })?;
        let key = key(SessionId::from_bytes(session), id);
        self.handoffs.get(key)?.map(|bytes| decode(TREE, &key, &bytes)).transpose()
    }

    pub(super) fn read_handoffs(&self, session: Option<SessionId>) -> Result<Vec<Handoff>, StoreError> {
        let entries = match session {
            Some(session) => self.handoffs.scan_prefix(session.to_bytes()),
            None => self.handoffs.iter(),
        };
        entries
            .map(|entry| {
                let (key, value) = entry?;
                decode(TREE, &key, &value)
            })
            .collect()
    }
}

impl SledStore {
    /// The summaries of every handoff in `tree`, read once when the store opens.
    pub(super) fn handoff_summaries_in(tree: &sled::Tree) -> Result<HashMap<HandoffId, HandoffSummary>, StoreError> {
        tree.iter()
            .map(|entry| {
                let (key, value) = entry?;
                let handoff: Handoff = decode(TREE, &key, &value)?;
                Ok((handoff.id, HandoffSummary::of(&handoff)))
            })
            .collect()
    }
}
