//! Where baton keeps its files by default.

use std::path::PathBuf;

/// The default data dir: `$XDG_DATA_HOME/baton`, else `~/.local/share/baton`.
/// `None` when neither variable nor a home directory is known.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "baton").map(|dirs| dirs.data_dir().to_owned())
}
