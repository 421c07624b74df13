//! `baton hook install` and `baton hook uninstall`: baton's entries in a
//! Claude Code settings file, as library calls the CLI prints the report of.
//!
//! The file is the user's, so an edit must be one they would make by hand:
//! - nothing changes unless baton's entries do; installing twice writes nothing
//!   the second time and reports every event unchanged;
//! - everything else stays, in its order (see `ordered_json.rs`); a changed
//!   file is written back with two-space indentation, as Claude Code writes it;
//! - a file that is not JSON, or not shaped like settings where baton must
//!   edit, is refused with the reason and left exactly as it was (an empty
//!   file counts as `{}`);
//! - before a change, the previous content is saved beside the file as
//!   `settings.json.baton.bak` (one backup, replaced by the next change; a
//!   name of baton's own, so a `settings.json.bak` the user made is never
//!   overwritten);
//! - the file is replaced atomically (temporary file, fsync, rename), keeping
//!   its mode; a symlink (a settings file kept in a dotfiles repository, say)
//!   stays a symlink and its target is what changes;
//! - the `.claude` directory is created when missing.
//!
//! Each entry's `timeout` is [`claude_timeout_secs`]`(`[`HOOK_BUDGET`]`)`: 5
//! seconds for the 2-second budget.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use super::command::HookCommand;
use super::durable::{FileMode, parent, write_atomically};
use super::event::HookEventName;
use super::ordered_json::{Members, OrderedJson};
use super::settings::{EventChange, ShapeError, install_into, uninstall_from};
use super::{HOOK_BUDGET, claude_timeout_secs};

/// The events baton's hook is installed for, in the order of a session's
/// life: the known ones [`HookEventName::is_installed`] picks.
pub static INSTALLED_EVENTS: LazyLock<Vec<HookEventName>> =
    LazyLock::new(|| HookEventName::KNOWN.iter().filter(|event| event.is_installed()).cloned().collect());

/// Which settings file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsScope {
    /// `<project dir>/.claude/settings.json`: this project only, shared with
    /// whoever checks the project out.
    Project(PathBuf),
    /// `~/.claude/settings.json`: every project of this user.
    User,
}

impl SettingsScope {
    /// The settings file of this scope.
    pub fn settings_file(&self) -> Result<PathBuf, InstallError> {
        let base = match self {
            SettingsScope::Project(dir) => dir.clone(),
            SettingsScope::User => {
                directories::BaseDirs::new().map(|dirs| dirs.home_dir().to_owned()).ok_or(InstallError::NoHome)?
            }
        };
        Ok(base.join(".claude").join("settings.json"))
    }
}

/// What an install or uninstall did, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsReport {
    /// The settings file, as given.
    pub settings: PathBuf,
    /// Where the previous content was saved; `None` when nothing was written
    /// or there was no previous file.
    pub backup: Option<PathBuf>,
    /// What happened to baton's entry for each event it touched, installed
    /// events first in [`INSTALLED_EVENTS`] order.
    pub events: Vec<(HookEventName, EventChange)>,
}

impl SettingsReport {
    /// Whether the file was changed; `false` means "already installed" after
    /// an install and "nothing to remove" after an uninstall.
    pub fn changed(&self) -> bool {
        self.events.iter().any(|(_, change)| *change != EventChange::Unchanged)
    }

    /// The events whose entry had `change`.
    pub fn events_with(&self, change: EventChange) -> impl Iterator<Item = &HookEventName> {
        self.events.iter().filter(move |(_, had)| *had == change).map(|(event, _)| event)
    }
}

/// Why a settings file was not edited. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The user scope was asked for and no home directory is known.
    #[error("no home directory is known, so there is no user settings file; use --project")]
    NoHome,
    /// The file exists and could not be read.
    #[error("cannot read {}: {err}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        err: io::Error,
    },
    /// The file is not JSON.
    #[error("{} is not valid JSON ({reason}); nothing was changed", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// What the parser said, with the line and column.
        reason: String,
    },
    /// The file is JSON but not shaped like Claude Code settings where baton must edit.
    #[error("{} is not shaped like Claude Code settings: {problem}; nothing was changed", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is where, such as `"hooks" is an array, not an object`.
        problem: String,
    },
    /// The new file (or its backup) could not be written.
    #[error("cannot write {}: {err}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the system said.
        err: io::Error,
    },
}

/// Installs baton's hook in the settings file at `settings`: every event of
/// [`INSTALLED_EVENTS`] runs `command`, and no other event runs baton's hook
/// (entries an older baton added elsewhere are removed).
pub fn install(settings: &Path, command: &HookCommand) -> Result<SettingsReport, InstallError> {
    let timeout_secs = claude_timeout_secs(HOOK_BUDGET);
    edit(settings, |document| install_into(document, command, timeout_secs, &INSTALLED_EVENTS))
}

/// Removes every baton entry from the settings file at `settings` (the rule is
/// in [`is_baton_hook_command`](super::is_baton_hook_command)), with the groups
/// and event lists it leaves empty. A missing file is left missing.
pub fn uninstall(settings: &Path) -> Result<SettingsReport, InstallError> {
    edit(settings, uninstall_from)
}

/// Where the previous content of `settings` is saved before a change.
pub fn backup_path(settings: &Path) -> PathBuf {
    let mut name = settings.file_name().unwrap_or_default().to_owned();
    name.push(".baton.bak");
    settings.with_file_name(name)
}

/// Reads the file at `settings`, applies `change`, and writes the result back
/// (after a backup) only when `change` reports a change.
fn edit(
    settings: &Path,
    change: impl FnOnce(&mut OrderedJson) -> Result<Vec<(HookEventName, EventChange)>, ShapeError>,
) -> Result<SettingsReport, InstallError> {
    let target = follow_symlink(settings)?;
    let read_error = |err| InstallError::Read { path: settings.to_owned(), err };
    let existing = match fs::read(&target) {
        Ok(bytes) => Some((bytes, fs::metadata(&target).map_err(read_error)?.permissions().mode() & 0o7777)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(read_error(err)),
    };
    let mut document = match &existing {
        Some((bytes, _)) if !bytes.iter().all(u8::is_ascii_whitespace) => serde_json::from_slice(bytes)
            .map_err(|err| InstallError::NotJson { path: settings.to_owned(), reason: err.to_string() })?,
        _ => OrderedJson::Object(Members::default()),
    };
    let events = change(&mut document)
        .map_err(|ShapeError(problem)| InstallError::Shape { path: settings.to_owned(), problem })?;
    let mut report = SettingsReport { settings: settings.to_owned(), backup: None, events };
    if !report.changed() {
        return Ok(report);
    }

    let dir = parent(&target);
    fs::create_dir_all(dir).map_err(write_error(dir))?;
    let mode = match existing {
        Some((bytes, mode)) => {
            let backup = backup_path(&target);
            write_atomically(&backup, &bytes, FileMode::Exactly(mode)).map_err(write_error(&backup))?;
            report.backup = Some(backup);
            FileMode::Exactly(mode)
        }
        None => FileMode::Default,
    };
    let mut text = serde_json::to_vec_pretty(&document).map_err(|err| write_error(&target)(err.into()))?;
    text.push(b'\n');
    write_atomically(&target, &text, mode).map_err(write_error(&target))?;
    Ok(report)
}

/// A write to `path` that failed with what the system said.
fn write_error(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |err| InstallError::Write { path: path.to_owned(), err }
}

/// The file `settings` names: itself, or what it links to when it is a symlink,
/// so that replacing the file keeps the link.
fn follow_symlink(settings: &Path) -> Result<PathBuf, InstallError> {
    match fs::symlink_metadata(settings) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(settings).map_err(|err| InstallError::Read { path: settings.to_owned(), err })
        }
        _ => Ok(settings.to_owned()),
    }
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
