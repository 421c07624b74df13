//! The directories that hold the data and the socket: made private when
//! baton makes them, checked (never changed) when they were there before.
//!
//! baton once made every such directory 0700, its own or not: `--socket
//! /tmp/baton.sock` run as root locked every other user out of `/tmp`
//! (issue 17). Now a directory baton creates, and each missing parent it
//! creates on the way, is made 0700; one that exists keeps its mode, and
//! baton refuses to use it when others could replace what baton puts there:
//! when it belongs to another user, or other users can write to it.
//!
//! One exception, for the socket only: a sticky directory that anyone may
//! write to, owned by the user or by root (`/tmp`). The sticky bit keeps other
//! users from removing or renaming the socket, the socket itself is 0600, and
//! the daemon answers only peers of its own uid. The data never goes in such
//! a directory: others could make the files baton means to create there.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

/// What a directory holds, which decides what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// The data dir: the store, the lock, the daemon's log, agents' logs.
    Data,
    /// The directory of the daemon's socket.
    Socket,
}

impl Holds {
    fn what(self) -> &'static str {
        match self {
            Holds::Data => "the data dir",
            Holds::Socket => "the socket's directory",
        }
    }
}

/// Why an existing directory is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It is not a directory.
    NotADirectory,
    /// It belongs to another user.
    OtherOwner {
        /// Its owner.
        uid: u32,
    },
    /// Other users may write to it.
    WritableByOthers {
        /// Its permission bits.
        mode: u32,
    },
}

/// Makes `dir` and its missing parents, each 0700, or checks the existing
/// `dir` without changing it. An error names the directory and says why.
pub fn prepare(dir: &Path, holds: Holds) -> anyhow::Result<()> {
    let created = create_missing(dir)
        .map_err(|err| anyhow::anyhow!("cannot create {} {}: {err}", holds.what(), dir.display()))?;
    if created {
        return Ok(());
    }
    let metadata =
        fs::metadata(dir).map_err(|err| anyhow::anyhow!("cannot read {} {}: {err}", holds.what(), dir.display()))?;
    let own = nix::unistd::geteuid().as_raw();
    judge(metadata.is_dir(), metadata.uid(), metadata.mode(), own, holds)
        .map_err(|refusal| anyhow::anyhow!(refusal.explain(dir, holds)))
}

impl Refusal {
    /// One line for the user: which directory, why, what to do.
    pub fn explain(self, dir: &Path, holds: Holds) -> String {
        let (what, dir) = (holds.what(), dir.display());
        match self {
            Refusal::NotADirectory => format!("{what} {dir} is not a directory"),
            Refusal::OtherOwner { uid } => {
                format!(
                    "{what} {dir} belongs to another user (uid {uid}); baton uses only its own directories: choose another"
                )
            }
            Refusal::WritableByOthers { mode } => format!(
                "{what} {dir} can be written by other users (mode {:04o}); make it private (chmod 700 {dir}) or choose another",
                mode & 0o7777
            ),
        }
    }
}

/// Creates `dir` and each missing parent with mode 0700 (whatever the
/// umask); returns whether `dir` itself was created. Existing directories are
/// left as they are, and so is one another process creates meanwhile.
pub fn create_missing(dir: &Path) -> io::Result<bool> {
    match fs::metadata(dir) {
        Ok(_) => return Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        create_missing(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            // The umask may have taken bits off; this one is ours.
            fs::set_permissions(dir, Permissions::from_mode(0o700))?;
            Ok(true)
        }
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether an existing directory (a directory or not, its owner, its mode)
/// may hold `holds` for the user `own`.
pub fn judge(is_dir: bool, uid: u32, mode: u32, own: u32, holds: Holds) -> Result<(), Refusal> {
    const WRITABLE_BY_OTHERS: u32 = 0o022;
    const STICKY: u32 = 0o1000;
    if !is_dir {
        return Err(Refusal::NotADirectory);
    }
    let sticky_shared = holds == Holds::Socket && mode & STICKY != 0 && (uid == own || uid == 0);
    if sticky_shared {
        return Ok(());
    }
    if uid != own {
        return Err(Refusal::OtherOwner { uid });
    }
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(Refusal::WritableByOthers { mode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;

    #[test]
    fn an_own_directory_not_writable_by_others_holds_anything() {
        for holds in [Holds::Data, Holds::Socket] {
            assert_eq!(judge(true, ME, 0o40700, ME, holds), Ok(()));
            assert_eq!(judge(true, ME, 0o40755, ME, holds), Ok(()));
        }
    }

    #[test]
    fn another_users_directory_is_refused() {
        for holds in [Holds::Data, Holds::Socket] {
            assert_eq!(judge(true, 1001, 0o40700, ME, holds), Err(Refusal::OtherOwner { uid: 1001 }));
            assert_eq!(judge(true, 0, 0o40755, ME, holds), Err(Refusal::OtherOwner { uid: 0 }));
        }
    }

    #[test]
    fn a_directory_others_may_write_is_refused() {
        for mode in [0o40777, 0o40770, 0o40702] {
            for holds in [Holds::Data, Holds::Socket] {
                assert_eq!(judge(true, ME, mode, ME, holds), Err(Refusal::WritableByOthers { mode }));
            }
        }
    }

    #[test]
    fn a_sticky_shared_directory_of_root_or_the_user_holds_a_socket_but_not_data() {
        assert_eq!(judge(true, 0, 0o41777, ME, Holds::Socket), Ok(()));
        assert_eq!(judge(true, ME, 0o41777, ME, Holds::Socket), Ok(()));
        assert_eq!(judge(true, 1001, 0o41777, ME, Holds::Socket), Err(Refusal::OtherOwner { uid: 1001 }));
        assert_eq!(judge(true, 0, 0o41777, ME, Holds::Data), Err(Refusal::OtherOwner { uid: 0 }));
        assert_eq!(judge(true, ME, 0o41777, ME, Holds::Data), Err(Refusal::WritableByOthers { mode: 0o41777 }));
    }

    #[test]
    fn a_file_is_not_a_directory() {
        assert_eq!(judge(false, ME, 0o100600, ME, Holds::Data), Err(Refusal::NotADirectory));
    }

    #[test]
    fn created_directories_are_private_and_existing_ones_are_left_alone() {
        let dir = tempfile::TempDir::new().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, Permissions::from_mode(0o755)).unwrap();
        let deep = shared.join("a/b");
        assert!(create_missing(&deep).unwrap());
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        assert_eq!((mode(&shared), mode(&shared.join("a")), mode(&deep)), (0o755, 0o700, 0o700));
        assert!(!create_missing(&deep).unwrap());
    }
}
