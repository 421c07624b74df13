//! One daemon per data dir, and a socket only it listens on.
//!
//! The guarantee comes from an exclusive `flock` on `<data dir>/baton.lock`,
//! taken before anything else; never from racing on the socket. Only the lock
//! holder may touch the socket path: it connects to what is there first, and
//! removes it only if nothing answers (a stale socket of a crashed daemon). A
//! socket with a live daemon behind it is never removed.
//!
//! The socket path has a lock of its own, `<socket>.lock`, which names the
//! data dir of the daemon that holds it. A daemon takes it after its data dir's
//! lock and keeps it until it has stopped, so that no daemon of another data
//! dir can take the socket over, not even in the moments of a shutdown when
//! the socket file is already gone (an agent's `baton` that starts a daemon
//! then would otherwise start one on the wrong data dir, issue 18).

use std::fs::{File, Permissions};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::lock_file::open_lock_file;
use crate::private_dir::{self, Holds};

/// The held lock on a data dir; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock, or explains who holds it.
    pub fn acquire(path: &Path) -> anyhow::Result<Self> {
        let file = open_lock_file(path).with_context(|| format!("cannot open the lock file {}", path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                bail!(
                    "another baton daemon{who} is running on the data dir {}; stop it first or use another --data-dir",
                    path.parent().unwrap_or(path).display()
                );
            }
            Err((_, errno)) => {
                return Err(errno).with_context(|| format!("cannot lock {}", path.display()));
            }
        };
        lock.set_len(0)?;
        writeln!(&*lock, "{}", std::process::id())?;
        Ok(Self { _lock: lock, path: path.to_owned() })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The held lock on a socket path; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct SocketLock {
    _lock: Flock<File>,
    socket: PathBuf,
}

impl SocketLock {
    /// Takes the lock on `socket` for the daemon of `data_dir`, its directory
    /// made 0700 if missing (an existing one checked, see
    /// [`crate::private_dir`]), or explains which data dir's daemon holds it.
    /// Take it only while holding that data dir's [`InstanceLock`].
    pub fn acquire(socket: &Path, data_dir: &Path) -> anyhow::Result<Self> {
        let dir = socket.parent().context("the socket path has no directory")?;
        private_dir::prepare(dir, Holds::Socket)?;
        let mut name = socket.file_name().context("the socket path has no file name")?.to_owned();
        name.push(".lock");
        let path = dir.join(name);
        let file = open_lock_file(&path).with_context(|| format!("cannot open the lock file {}", path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let (pid, holder_dir) = holder.trim_end().split_once(' ').unwrap_or(("?", "another data dir"));
                bail!(
                    "the socket {} belongs to the baton daemon (pid {pid}) of {holder_dir}, not to the data dir {}; \
                     stop that daemon first or give this one another --socket",
                    socket.display(),
                    data_dir.display()
                );
            }
            Err((_, errno)) => return Err(errno).with_context(|| format!("cannot lock {}", path.display())),
        };
        lock.set_len(0)?;
        writeln!(&*lock, "{} {}", std::process::id(), data_dir.display())?;
        Ok(Self { _lock: lock, socket: socket.to_owned() })
    }
}

/// Binds the daemon's socket, which `lock` holds: a stale socket file
/// replaced, a live one refused, the new socket made 0600 before it appears.
pub fn bind_socket(lock: &SocketLock) -> anyhow::Result<UnixListener> {
    let socket = lock.socket.as_path();
    let dir = socket.parent().context("the socket path has no directory")?;
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            bail!("a baton daemon is already listening on {}; it is not removed", socket.display());
        }
        tracing::info!(socket = %socket.display(), "removing a stale socket");
        std::fs::remove_file(socket).with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    // The listener is bound under a name of its own and then renamed into
    // place. actix-server unlinks the name a Unix listener was bound to
    // whenever it pauses accepting (after an `accept` error such as `EMFILE`,
    // and when it stops): that name is then the private one, long gone, and
    // the socket clients connect to stays for as long as the daemon runs
    // (issue 17). The daemon removes the socket itself when it stops.
    let bound = dir.join(format!(".{}.bind", std::process::id()));
    match std::fs::remove_file(&bound) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot remove {}", bound.display())),
    }
    let listener = UnixListener::bind(&bound).with_context(|| format!("cannot listen on {}", bound.display()))?;
    let placed = std::fs::set_permissions(&bound, Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make the socket {} private", bound.display()))
        .and_then(|()| {
            std::fs::rename(&bound, socket).with_context(|| format!("cannot move the socket into {}", socket.display()))
        });
    if let Err(err) = placed {
        let _ = std::fs::remove_file(&bound);
        return Err(err);
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_with_the_holders_pid() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("baton.lock");
        let held = InstanceLock::acquire(&path).unwrap();
        let err = InstanceLock::acquire(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("(pid {})", std::process::id())), "{err}");
        drop(held);
        InstanceLock::acquire(&path).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
        let dir = tempfile::TempDir::new().unwrap();
        let socket = dir.path().join("run/baton.sock");
        let lock = SocketLock::acquire(&socket, dir.path()).unwrap();
        let live = bind_socket(&lock).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&socket), mode(socket.parent().unwrap())), (0o600, 0o700));

        let err = bind_socket(&lock).unwrap_err().to_string();
        assert!(err.contains("already listening"), "{err}");
        assert!(socket.exists(), "a live socket was removed");

        drop(live);
        bind_socket(&lock).expect("a stale socket is replaced");
    }

    #[test]
    fn a_socket_another_data_dirs_daemon_holds_is_refused_even_once_its_file_is_gone() {
        let dir = tempfile::TempDir::new().unwrap();
        let socket = dir.path().join("baton.sock");
        let held = SocketLock::acquire(&socket, Path::new("/data/one")).unwrap();
        // The holder is stopping: its socket file is already removed.
        assert!(!socket.exists());
        let err = SocketLock::acquire(&socket, Path::new("/data/two")).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(err.contains(&format!("(pid {pid}) of /data/one, not to the data dir /data/two")), "{err}");
        drop(held);
        SocketLock::acquire(&socket, Path::new("/data/two")).expect("free once its holder has stopped");
    }

    #[test]
    fn unlinking_the_name_the_listener_was_bound_to_leaves_the_socket() {
        // What actix-server does when it pauses accepting (issue 17).
        let dir = tempfile::TempDir::new().unwrap();
        let socket = dir.path().join("baton.sock");
        let lock = SocketLock::acquire(&socket, dir.path()).unwrap();
        let listener = bind_socket(&lock).unwrap();
        let bound = listener.local_addr().unwrap().as_pathname().unwrap().to_owned();
        assert_ne!(bound, socket);
        let _ = std::fs::remove_file(&bound);
        assert!(socket.exists(), "the socket went with the name it was bound to");
        UnixStream::connect(&socket).expect("the socket still reaches the listener");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "a stray file is left: {names:?}");
    }
}
