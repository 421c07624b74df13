//! Reading the whole store back, and copying it whole: what `baton doctor`
//! and `baton backup` run.
//!
//! Both begin with a commit, so they cover every write acknowledged before
//! them, and both must run where no write runs meanwhile (the engine's
//! thread, which makes every write), so that what they read is one moment of
//! the store and the counts they compare are exact.

use std::path::Path;

use super::commit_record::{CommitRecord, Durability, record_path};
use super::sled_base::{SledStore, decode, hex, lock};
use super::{StoreCheck, sled_observations};
use crate::error::StoreError;
use crate::model::{Agent, Event, Handoff, Session};

/// At most this many undecodable records are named in a check; the rest are counted.
const NAMED_AT_MOST: usize = 20;

impl SledStore {
    pub(super) fn check_all(&self) -> Result<StoreCheck, StoreError> {
        self.sealing.commit()?;
        let durability = lock(&self.sealing.durability);
        let committed = durability.1;
        let mut check = StoreCheck { commit: committed, ..StoreCheck::default() };
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let name = String::from_utf8_lossy(&name).into_owned();
            for entry in tree.iter() {
                let (key, value) = match entry {
                    Ok(entry) => entry,
                    Err(err) => {
                        // The rest of this tree cannot be reached past a damaged page.
                        check.undecodable += 1;
                        check.problems.push(format!("{name}: {}", StoreError::from(err)));
                        break;
                    }
                };
                check.records += 1;
                let read = match name.as_str() {
                    "sessions" => decode::<Session>("sessions", &key, &value).map(|_| check.sessions += 1),
                    "agents" => decode::<Agent>("agents", &key, &value).map(|_| check.agents += 1),
                    "handoffs" => decode::<Handoff>("handoffs", &key, &value).map(|_| check.handoffs += 1),
                    "events" => decode::<Event>("events", &key, &value).map(|_| check.events += 1),
                    "observations" => sled_observations::check_record(&key, &value),
                    "session_external_ids" | "handoff_sessions" if value.len() != 16 => Err(StoreError::Corrupt {
                        tree: "index",
                        key: hex(&key),
                        detail: format!("an id of {} bytes in {name}", value.len()),
                    }),
                    _ => Ok(()),
                };
                if let Err(err) = read {
                    check.undecodable += 1;
                    if check.problems.len() < NAMED_AT_MOST {
                        check.problems.push(format!("{name}: {err}"));
                    }
                }
            }
        }
        let path = record_path(&self.path);
        let recorded = match CommitRecord::read(&path) {
            Ok(Some(record)) if record.commit == committed => record,
            Ok(found) => {
                let found = found.map_or_else(|| "none".to_owned(), |record| format!("commit {}", record.commit));
                check
                    .problems
                    .push(format!("the commit record {} holds {found}, not commit {committed}", path.display()));
                return Ok(check);
            }
            Err(err) => {
                check.problems.push(format!("the commit record {} cannot be read: {err}", path.display()));
                return Ok(check);
            }
        };
        for (kind, counted, recorded) in [
            ("sessions", check.sessions, recorded.sessions),
            ("agents", check.agents, recorded.agents),
            ("handoffs", check.handoffs, recorded.handoffs),
        ] {
            if counted != recorded {
                check.problems.push(format!("the commit record counts {recorded} {kind}, the store holds {counted}"));
            }
        }
        Ok(check)
    }

    pub(super) fn copy_to(&self, dest: &Path) -> Result<CommitRecord, StoreError> {
        let io = |err: std::io::Error| StoreError::Backend(std::sync::Arc::new(err));
        self.sealing.commit()?;
        let durability = lock(&self.sealing.durability);
        let record = CommitRecord {
            commit: durability.1,
            last_event_seq: self.last_event_seq()?,
            sessions: self.sealing.counts.sessions.load(std::sync::atomic::Ordering::SeqCst),
            agents: self.sealing.counts.agents.load(std::sync::atomic::Ordering::SeqCst),
            handoffs: self.sealing.counts.handoffs.load(std::sync::atomic::Ordering::SeqCst),
        };
        let copy = sled::Config::new().path(dest).create_new(true).open()?;
        for name in self.db.tree_names() {
            let (from, to) = (self.db.open_tree(&name)?, copy.open_tree(&name)?);
            for entry in from.iter() {
                let (key, value) = entry?;
                to.insert(key, value)?;
            }
        }
        copy.flush()?;
        drop(copy);
        Durability::open(dest).and_then(|mut files| files.seal(&record)).map_err(io)?;
        Ok(record)
    }

    fn last_event_seq(&self) -> Result<u64, StoreError> {
        match self.events.last()? {
            Some((key, _)) => super::sled_base::decode_seq(&key),
            None => Ok(0),
        }
    }
}
