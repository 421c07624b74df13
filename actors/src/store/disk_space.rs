//! Room on the disk that holds the store, checked before every write.
//!
//! sled 0.34 turns a failed write of its log (`ENOSPC` included) into an
//! error it keeps for good: every later write fails too, until the process
//! opens the database again. So the store never lets sled run the disk
//! full. A write is refused, with [`StoreError::DiskFull`], while less than
//! a reserve is free (64 MiB unless configured, more than sled writes in one
//! flush), and goes through again as soon as space returns: no restart. What
//! was acknowledged stays, since only new writes are refused.
//!
//! Should sled fail a write all the same (the disk filled between a check
//! and the write, or an I/O error), the store says so from then on
//! ([`DiskSpace::degraded`]): that is for a restart to clear.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// The free space a write needs unless configured.
pub const DEFAULT_RESERVE_BYTES: u64 = 64 * 1024 * 1024;

/// How long a check that found room holds: `statvfs` is a system call, and a
/// busy store writes tens of thousands of times a second. A check that found
/// no room holds for no time, so writes resume with the first one after space
/// returns.
const RECHECK: Duration = Duration::from_millis(10);

/// The free space on the store's disk, against the reserve a write needs,
/// and whether sled ever failed a write.
#[derive(Debug)]
pub(super) struct DiskSpace {
    dir: PathBuf,
    reserve: u64,
    base: Instant,
    /// When a check last found room, in microseconds since `base` plus one
    /// (zero: never).
    room_seen_at: AtomicU64,
    /// Set by the first write sled failed: why, for [`Self::degraded`].
    failed: Mutex<Option<String>>,
}

impl DiskSpace {
    /// The space on the disk holding `dir`, of which writes leave `reserve` bytes free.
    pub(super) fn new(dir: &Path, reserve: u64) -> Self {
        Self {
            dir: dir.to_owned(),
            reserve,
            base: Instant::now(),
            room_seen_at: AtomicU64::new(0),
            failed: Mutex::new(None),
        }
    }

    /// `Ok` when a write may go ahead; [`StoreError::DiskFull`] while the
    /// disk has less than the reserve free.
    pub(super) fn ensure_room(&self) -> Result<(), StoreError> {
        let now = self.micros();
        let seen = self.room_seen_at.load(Ordering::Relaxed);
        if seen != 0 && now.saturating_sub(seen - 1) < micros(RECHECK) {
            return Ok(());
        }
        match self.available() {
            Ok(available) if available < self.reserve => {
                self.room_seen_at.store(0, Ordering::Relaxed);
                Err(self.full(Some(available)))
            }
            // A disk that cannot be measured is not refused for it.
            Ok(_) | Err(_) => {
                self.room_seen_at.store(now + 1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Notes that sled failed a write with `err`, and says what it means for
    /// the caller: a full disk in those words, else `err` as it is.
    pub(super) fn write_failed(&self, err: StoreError) -> StoreError {
        let err = if is_storage_full(&err) { self.full(None) } else { err };
        let mut failed = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failed.is_none() {
            tracing::error!(store = %self.dir.display(), cause = %err, "a write to the store failed; writes fail until baton restarts");
            *failed = Some(format!("a write to the store failed ({err}); writes fail until baton restarts"));
        }
        err
    }

    /// Why writes fail, if they do: the disk has less than the reserve free,
    /// or sled failed a write. `None` while writes go through.
    pub(super) fn degraded(&self) -> Option<String> {
        if let Some(why) = self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
            return Some(why);
        }
        match self.available() {
            Ok(available) if available < self.reserve => Some(self.full(Some(available)).to_string()),
            _ => None,
        }
    }

    fn full(&self, available: Option<u64>) -> StoreError {
        StoreError::DiskFull { dir: self.dir.clone(), available, reserve: self.reserve }
    }

    /// The bytes an unprivileged writer may still use on the store's disk.
    fn available(&self) -> io::Result<u64> {
        let stat = nix::sys::statvfs::statvfs(&self.dir)?;
        #[allow(clippy::useless_conversion, reason = "the field types differ between platforms")]
        let (blocks, size) = (u64::from(stat.blocks_available()), u64::from(stat.fragment_size()));
        Ok(blocks.saturating_mul(size))
    }

    fn micros(&self) -> u64 {
        micros(self.base.elapsed())
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Whether `err` is sled's report of a disk with no space left.
fn is_storage_full(err: &StoreError) -> bool {
    match err {
        StoreError::Backend(io) => io.kind() == io::ErrorKind::StorageFull || io.raw_os_error() == Some(28),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_larger_than_the_disk_refuses_every_write_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::new(dir.path(), u64::MAX);
        let err = space.ensure_room().unwrap_err().to_string();
        assert!(err.starts_with(&format!("the disk holding {} is full", dir.path().display())), "{err}");
        assert!(space.degraded().is_some_and(|why| why.contains("is full")));
        assert!(DiskSpace::new(dir.path(), 0).ensure_room().is_ok());
    }

    #[test]
    fn sleds_no_space_left_reads_as_a_full_disk_and_is_kept_until_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::new(dir.path(), 0);
        assert_eq!(space.degraded(), None);
        let enospc = StoreError::from(sled::Error::Io(io::Error::from_raw_os_error(28)));
        let err = space.write_failed(enospc).to_string();
        assert!(err.starts_with(&format!("the disk holding {} is full", dir.path().display())), "{err}");
        assert!(!err.contains("os error"), "{err}");
        let why = space.degraded().unwrap();
        assert!(why.contains("writes fail until baton restarts"), "{why}");
    }
}
