//! Replacing a file so that a crash at any moment leaves either the old
//! content or the new, never a mix, and the new one on disk once it returns.
//!
//! The spool and the settings file are both rewritten this way: write a
//! temporary file beside the target, fsync it, rename it over the target, then
//! fsync the directory so the rename itself survives a power cut.

use std::fs::{File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// The permissions a replaced file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileMode {
    /// Exactly these mode bits, whatever the umask (to keep the mode a user's
    /// file had, or to keep a private file private).
    Exactly(u32),
    /// `0o666` less the umask, as any editor creates a new file.
    Default,
}

/// Replaces `path` with `bytes` atomically and durably. The directory must exist.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let create_mode = match mode {
        FileMode::Exactly(bits) => bits,
        FileMode::Default => 0o666,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(Permissions::from_mode(create_mode))
        .tempfile_in(dir)?;
    if let FileMode::Exactly(bits) = mode {
        // The umask narrowed the mode at creation; set it exactly.
        temp.as_file().set_permissions(Permissions::from_mode(bits))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    sync_dir(dir)
}

/// Flushes `dir`'s entries (a file created, renamed or removed in it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `err` with `path` named in its message, keeping its kind.
pub(crate) fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}
