//! Lock files: the data dir's instance lock and the hook spool's locks are
//! `flock`s on files that are opened the same way.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Opens (creating, private to the user, never truncating: the instance lock
/// holds its holder's pid) the file a `flock` is taken on.
pub(crate) fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}
