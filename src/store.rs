//! The store as a whole, through the library handle: checking it, backing
//! it up, and setting a damaged one aside.
//!
//! A store that lost writes it had acknowledged is refused when it opens
//! ([`StoreError::Damaged`]); these are the ways out. A backup is a data dir
//! of its own: open it with `data_dir(backup)`, or put its `store` and
//! `store.commit` in place of the damaged ones.

use std::path::{Path, PathBuf};

use baton_actors::messages::{BackupStore, CheckStore};
use baton_actors::store::record_path;
pub use baton_actors::store::{CommitRecord, StoreCheck};

use baton_actors::EngineError;

use crate::Baton;
use crate::error::{Error, Result};

impl Baton {
    /// Reads every record of the store back and counts them against its
    /// commit record. The engine answers nothing else meanwhile.
    pub async fn check_store(&self) -> Result<StoreCheck> {
        self.ask(CheckStore).await
    }

    /// Copies the store into `dest`, a directory that must not exist yet or
    /// be empty, as a data dir of its own: it holds every record
    /// acknowledged before the call. The engine answers nothing else meanwhile.
    pub async fn backup(&self, dest: &Path) -> Result<CommitRecord> {
        let refuse = |why: String| Err(Error::Engine(EngineError::InvalidRequest(why)));
        if !dest.is_absolute() {
            return refuse(format!("the backup's directory {} is not an absolute path", dest.display()));
        }
        match std::fs::read_dir(dest).map(|mut entries| entries.next().is_some()) {
            Ok(true) => return Err(Error::Engine(EngineError::NotEmpty(dest.to_owned()))),
            Ok(false) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return refuse(format!("cannot read {}: {err}", dest.display())),
        }
        if let Err(err) = std::fs::create_dir_all(dest) {
            return refuse(format!("cannot create {}: {err}", dest.display()));
        }
        self.ask(BackupStore { dest: dest.join(STORE_DIR) }).await
    }
}

/// The store's directory within a data dir.
pub(crate) const STORE_DIR: &str = "store";

/// Moves the store of `data_dir` and its commit record aside, to
/// `store.damaged-<time>` and its record beside it, so that the next start
/// makes an empty store; nothing is deleted. Returns where it went. Only
/// with no engine running on that data dir: the daemon's lock says so.
pub fn set_store_aside(data_dir: &Path) -> std::io::Result<PathBuf> {
    let store = data_dir.join(STORE_DIR);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = data_dir.join(format!("{STORE_DIR}.damaged-{stamp}"));
    if aside.exists() || record_path(&aside).exists() {
        return Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("{} exists", aside.display())));
    }
    let record = record_path(&store);
    let found_store = store.exists();
    if found_store {
        std::fs::rename(&store, &aside)?;
    }
    if record.exists() {
        std::fs::rename(&record, record_path(&aside))?;
    } else if !found_store {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no store in {}: there is nothing to set aside", data_dir.display()),
        ));
    }
    Ok(aside)
}
