//! What makes an acknowledged write last, and what proves at open that it did.
//!
//! Two facts about sled 0.34 shape this file:
//! - Its flush ends with `sync_file_range`, which survives a killed process
//!   but not a power cut: the data can sit in the disk's cache, and the file's
//!   size in the kernel's. So every commit follows sled's flush with an
//!   `fdatasync` of its log and of any blob file it added.
//! - It recovers a damaged log by cutting it short at the first bad record,
//!   silently: a flipped byte or a truncated file opens as a smaller store.
//!
//! So every commit is numbered. The number is written into sled's `meta`
//! tree with the commit it counts, after every write that commit answers,
//! and once the commit is durable it goes into the commit record, a small
//! file beside the store, fsynced before any caller is answered. At open, a
//! store whose commit number (or last event) is behind its record has lost
//! writes that were acknowledged: it is refused, never served short.
//!
//! The record holds two slots, each with its own checksum, and a commit
//! writes the slot its number picks: a write torn by a power cut leaves the
//! other slot, one commit older, which the store still satisfies.

use std::fs::File;
use std::io::{ErrorKind, Read as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The size of one slot: a checksum, a length and the record's JSON.
const SLOT_SIZE: usize = 256;
/// The bytes before a slot's JSON: its CRC-32 and its length, both little-endian.
const SLOT_HEADER: usize = 8;

/// What the store held when a commit became durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommitRecord {
    /// The commit's number, also written in sled's `meta` tree by that commit.
    pub commit: u64,
    /// The sequence number of the last event made durable (0 for none yet).
    pub last_event_seq: u64,
    /// How many session records the store held.
    pub sessions: u64,
    /// How many agent records the store held.
    pub agents: u64,
    /// How many handoff records the store held.
    pub handoffs: u64,
}

/// Where the commit record of the store in `dir` lives: beside the
/// directory, not in it, so that a store directory removed whole is noticed too.
pub fn record_path(dir: &Path) -> PathBuf {
    let mut path = dir.as_os_str().to_owned();
    path.push(".commit");
    PathBuf::from(path)
}

impl CommitRecord {
    /// Reads the newest intact slot of the record at `path`: `Ok(None)` if
    /// there is no record (or only the empty file a first open made), an
    /// error if there is one and no slot reads.
    pub fn read(path: &Path) -> std::io::Result<Option<Self>> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut file) => file.read_to_end(&mut bytes)?,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        bytes
            .chunks(SLOT_SIZE)
            .filter_map(decode_slot)
            .max_by_key(|record| record.commit)
            .map(Some)
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidData, "neither of its two slots reads"))
    }

    fn encode_slot(&self) -> [u8; SLOT_SIZE] {
        let json = serde_json::to_vec(self).expect("a record of integers encodes");
        assert!(json.len() <= SLOT_SIZE - SLOT_HEADER, "a commit record fits its slot");
        let mut slot = [0; SLOT_SIZE];
        let len = u32::try_from(json.len()).expect("under 256 bytes");
        slot[4..8].copy_from_slice(&len.to_le_bytes());
        slot[SLOT_HEADER..SLOT_HEADER + json.len()].copy_from_slice(&json);
        let crc = crc32fast::hash(&slot[4..]);
        slot[..4].copy_from_slice(&crc.to_le_bytes());
        slot
    }
}

fn decode_slot(slot: &[u8]) -> Option<CommitRecord> {
    if slot.len() != SLOT_SIZE || crc32fast::hash(&slot[4..]).to_le_bytes() != slot[..4] {
        return None;
    }
    let len = usize::try_from(u32::from_le_bytes(slot[4..8].try_into().ok()?)).ok()?;
    serde_json::from_slice(slot.get(SLOT_HEADER..SLOT_HEADER.checked_add(len)?)?).ok()
}

/// The files a commit makes durable, and the record it then writes.
pub(super) struct Durability {
    /// sled's log: every page it writes, but blobs, is in it.
    log: File,
    /// Where sled writes values too big for the log, a file each.
    blobs: PathBuf,
    /// The blob files already made durable, so a commit syncs only new ones.
    synced_blobs: std::collections::HashSet<std::ffi::OsString>,
    /// The commit record, written in place.
    record: File,
    /// How many `fdatasync`/`fsync` calls commits made: the tests' proof that
    /// a commit does not stop at sled's `sync_file_range`.
    pub(super) syncs: u64,
}

impl Durability {
    /// Opens the files of the store in `dir` for syncing.
    pub(super) fn open(dir: &Path) -> std::io::Result<Self> {
        let log = File::open(dir.join("db"))?;
        let record =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(record_path(dir))?;
        let blobs = dir.join("blobs");
        // Blobs already there were written before this open, and sled syncs
        // none: the first commit syncs them too.
        let mut durability = Self { log, blobs, synced_blobs: Default::default(), record, syncs: 0 };
        // The record's own directory entry, and the store's, must last too.
        durability.sync_dir(dir.parent().unwrap_or(Path::new("/")))?;
        durability.sync_dir(dir)?;
        Ok(durability)
    }

    /// Makes what sled flushed durable, then writes `record`: call after
    /// sled's flush, before answering anyone.
    pub(super) fn seal(&mut self, record: &CommitRecord) -> std::io::Result<()> {
        self.log.sync_data()?;
        self.syncs += 1;
        self.sync_new_blobs()?;
        let slot = usize::try_from(record.commit % 2).expect("0 or 1");
        self.record.write_all_at(&record.encode_slot(), u64::try_from(slot * SLOT_SIZE).expect("small"))?;
        self.record.sync_data()?;
        self.syncs += 1;
        Ok(())
    }

    fn sync_new_blobs(&mut self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut added = false;
        let mut present = std::collections::HashSet::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !self.synced_blobs.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    // sled removed it meanwhile: nothing to keep.
                    Err(err) if err.kind() == ErrorKind::NotFound => continue,
                    Err(err) => return Err(err),
                }
                self.syncs += 1;
                added = true;
            }
            present.insert(name);
        }
        self.synced_blobs = present;
        if added {
            let blobs = self.blobs.clone();
            self.sync_dir(&blobs)?;
        }
        Ok(())
    }

    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()?;
        self.syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(commit: u64) -> CommitRecord {
        CommitRecord { commit, last_event_seq: commit * 3, sessions: 1, agents: 2, handoffs: 3 }
    }

    #[test]
    fn the_newest_intact_slot_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        std::fs::write(store.join("db"), b"").unwrap();
        let mut durability = Durability::open(&store).unwrap();
        assert_eq!(CommitRecord::read(&record_path(&store)).unwrap(), None, "no commit yet");
        durability.seal(&record(7)).unwrap();
        durability.seal(&record(8)).unwrap();
        assert_eq!(CommitRecord::read(&record_path(&store)).unwrap(), Some(record(8)));

        // A torn write of the newest slot leaves the one before it.
        let path = record_path(&store);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(CommitRecord::read(&path).unwrap(), Some(record(7)));

        // Neither slot intact: an error, not an absent record.
        bytes[SLOT_SIZE + 10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(CommitRecord::read(&path).unwrap_err().kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn a_seal_syncs_the_log_and_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        std::fs::write(store.join("db"), b"").unwrap();
        let mut durability = Durability::open(&store).unwrap();
        let opened = durability.syncs;
        durability.seal(&record(1)).unwrap();
        assert_eq!(durability.syncs - opened, 2, "the log and the record");
        std::fs::write(store.join("blobs").join("17"), b"a blob").unwrap();
        durability.seal(&record(2)).unwrap();
        assert_eq!(durability.syncs - opened, 2 + 4, "the log, the new blob, its directory and the record");
        durability.seal(&record(3)).unwrap();
        assert_eq!(durability.syncs - opened, 2 + 4 + 2, "a blob already synced is not synced again");
    }
}
