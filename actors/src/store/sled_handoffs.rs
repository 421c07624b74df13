//! Handoffs in sled: each record under its session's id in the `handoffs`
//! tree, so one session's handoffs are contiguous and in creation order (ids
//! are UUIDv7), and an index from a handoff's id to its session, so a handoff
//! named by id alone is found without a scan.

use sled::Transactional;

use super::sled_store::{SledStore, decode, encode, hex, insert_events, storage_error};
use crate::error::StoreError;
use crate::model::{Event, Handoff, HandoffId, NewEvent, SessionId};

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
        let records = handoffs
            .iter()
            .map(|handoff| Ok((key(handoff.session, handoff.id), handoff.id.to_bytes(), encode(handoff)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut unpublished = self.unpublished();
        let (events, encoded_events) = self.sequence(events)?;
        (&self.handoffs, &self.handoff_sessions, &self.events)
            .transaction(|(tree, index, event_tree)| {
                for (key, id, value) in &records {
                    tree.insert(key, value.as_slice())?;
                    index.insert(id, &key[..16])?;
                }
                insert_events(event_tree, &encoded_events)
            })
            .map_err(storage_error)?;
        self.appended(&mut unpublished, &events);
        Ok(events)
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
