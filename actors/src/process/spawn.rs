//! Starting an agent's process.
//!
//! The command runs as given, never through a shell: an argument is an
//! argument, whatever characters it holds. The child starts a new session
//! (`posix_spawn` with `POSIX_SPAWN_SETSID`), so it leads its own session and process
//! group, has no controlling terminal (a terminal's Ctrl-C or hangup never
//! reaches it), and everything it starts can be found by its session id. Its
//! environment is exactly the [`Environment`] it is given. Its stdout and
//! stderr are log files it writes itself, not pipes to the daemon: an agent
//! whose daemon dies goes on running and its output goes on landing. It holds
//! no other descriptor: every one from 3 up is closed in the child.

use std::ffi::{CString, OsStr, c_int};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use tokio::net::unix::pipe;

use super::cgroup::AgentCgroup;
use super::child::Child;
use super::env::Environment;
use super::identity::ProcessIdentity;
use super::logs::{LogPaths, open_for_append};

/// What an agent's standard input is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Stdin {
    /// `/dev/null`: the agent reads end-of-file at once, and never waits on a
    /// terminal that is not there.
    #[default]
    Null,
    /// A pipe the caller writes to (handed back in [`Spawned::stdin`]), for an
    /// agent fed its prompt on stdin. Closing it gives the agent end-of-file.
    Pipe,
}

/// Everything needed to start one agent process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program and its arguments, executed directly. A program without a
    /// `/` is looked up in the `PATH` of `env`.
    pub argv: Vec<String>,
    /// The directory it runs in; the daemon's own when none.
    pub cwd: Option<PathBuf>,
    /// Its whole environment: nothing else reaches it.
    pub env: Environment,
    /// What its standard input is.
    pub stdin: Stdin,
    /// The file its standard output is appended to, created (mode 0600) if missing.
    pub stdout_log: PathBuf,
    /// The file its standard error is appended to, created (mode 0600) if missing.
    pub stderr_log: PathBuf,
    /// The cgroup it runs in, with everything it starts; the spawner's own
    /// when none.
    pub cgroup: Option<AgentCgroup>,
}

impl ProcessSpec {
    /// Runs `argv` with an empty environment, stdin from `/dev/null`, output
    /// to `logs`, in the daemon's directory.
    pub fn new(argv: impl IntoIterator<Item = impl Into<String>>, logs: &LogPaths) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            env: Environment::new(),
            stdin: Stdin::Null,
            stdout_log: logs.stdout.clone(),
            stderr_log: logs.stderr.clone(),
            cgroup: None,
        }
    }

    /// Sets the directory it runs in.
    pub fn with_cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets its environment.
    pub fn with_env(mut self, env: Environment) -> Self {
        self.env = env;
        self
    }

    /// Sets what its standard input is.
    pub fn with_stdin(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }
}

/// A started agent process.
#[derive(Debug)]
pub struct Spawned {
    /// The child, to wait for its exit. Dropping it neither kills nor leaks
    /// the process: it is reaped in the background once it exits.
    pub child: Child,
    /// Who it is for good, to store in the agent's record.
    pub identity: ProcessIdentity,
    /// The write end of its stdin, when [`Stdin::Pipe`] was asked for.
    pub stdin: Option<pipe::Sender>,
    /// The cgroup it runs in, when the spec gave one.
    pub cgroup: Option<AgentCgroup>,
}

/// Why an agent's process could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The command has no program.
    #[error("nothing to run: the command is empty")]
    EmptyCommand,
    /// An environment variable cannot be passed to a program (its name is
    /// empty or holds `=`, or its name or value holds a NUL byte).
    #[error("environment variable {name:?} cannot be passed to a program")]
    InvalidVariable {
        /// The variable's name.
        name: String,
    },
    /// The working directory is missing or not a directory.
    #[error("cannot run in {}: {err}", cwd.display())]
    Cwd {
        /// The directory asked for.
        cwd: PathBuf,
        /// Why it cannot be used.
        err: io::Error,
    },
    /// A log file could not be opened (its directory is missing, or a
    /// permission is lacking).
    #[error("cannot open the log file {}: {err}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// What the system said.
        err: io::Error,
    },
    /// The program was not found in the `PATH` of its environment (or it is a
    /// script whose interpreter is missing).
    #[error("cannot start {program:?} in {}: command not found", cwd.display())]
    NotFound {
        /// The program, as given.
        program: String,
        /// The directory it was to run in.
        cwd: PathBuf,
    },
    /// The program could not be executed (not executable, not a program).
    #[error("cannot start {program:?} in {}: {err}", cwd.display())]
    Start {
        /// The program, as given.
        program: String,
        /// The directory it was to run in.
        cwd: PathBuf,
        /// What the system said.
        err: io::Error,
    },
    /// It started, but could not be moved into its cgroup (it was killed at
    /// once: it must not run where it cannot be tracked).
    #[error("started {program:?} as pid {pid} but cannot move it into its cgroup: {source}")]
    Cgroup {
        /// The program, as given.
        program: String,
        /// Its pid.
        pid: u32,
        /// What the cgroup file system said.
        source: io::Error,
    },
    /// It started, but its identity could not be read from `/proc` (it was
    /// killed at once; this does not happen on a sane system).
    #[error("started {program:?} as pid {pid} but cannot read its start time: {err}")]
    Identity {
        /// The program, as given.
        program: String,
        /// Its pid.
        pid: u32,
        /// What reading `/proc` said.
        err: io::Error,
    },
}

/// Starts `spec`'s program in a new session, with exactly `spec`'s environment,
/// its output appended to the log files.
///
/// The child is started with `posix_spawn`, which glibc implements with
/// `clone(CLONE_VM | CLONE_VFORK)`: the daemon's memory is shared until the
/// exec rather than copied, so a spawn costs the same however large the
/// daemon has grown. Every signal starts at its default disposition and
/// unblocked (the daemon ignores `SIGPIPE`, as every Rust program does; an
/// agent must not inherit that).
///
/// Must be called within a tokio runtime: the child is reaped when it is
/// waited for, or in the background once dropped.
pub fn spawn(spec: &ProcessSpec) -> Result<Spawned, SpawnError> {
    let (program, _) = spec.argv.split_first().ok_or(SpawnError::EmptyCommand)?;
    if let Some(name) = spec.env.unpassable_variable() {
        return Err(SpawnError::InvalidVariable { name: name.to_string_lossy().into_owned() });
    }
    let cwd = match &spec.cwd {
        Some(cwd) => {
            check_dir(cwd).map_err(|err| SpawnError::Cwd { cwd: cwd.clone(), err })?;
            cwd.clone()
        }
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let not_found = || SpawnError::NotFound { program: program.clone(), cwd: cwd.clone() };
    let failed = |err: io::Error| SpawnError::Start { program: program.clone(), cwd: cwd.clone(), err };
    let path = executable(program, &spec.env, &cwd).ok_or_else(not_found)?;
    let argv = c_strings(spec.argv.iter().map(|arg| arg.as_bytes().to_vec())).map_err(failed)?;
    let envp = c_strings(spec.env.iter().map(|(name, value)| {
        let mut pair = name.as_bytes().to_vec();
        pair.push(b'=');
        pair.extend_from_slice(value.as_bytes());
        pair
    }))
    .map_err(failed)?;
    let stdout = open_log(&spec.stdout_log)?;
    let stderr = open_log(&spec.stderr_log)?;
    // The child's stdin, and the write end of its pipe when it has one.
    let (stdin, feed) = match spec.stdin {
        Stdin::Null => (OwnedFd::from(File::open("/dev/null").map_err(failed)?), None),
        Stdin::Pipe => {
            let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|errno| failed(errno.into()))?;
            (read, Some(write))
        }
    };

    let mut actions = PosixSpawnFileActions::init().map_err(|errno| failed(errno.into()))?;
    actions
        .add_dup2(stdin.as_raw_fd(), 0)
        .and_then(|()| actions.add_dup2(stdout.as_raw_fd(), 1))
        .and_then(|()| actions.add_dup2(stderr.as_raw_fd(), 2))
        .map_err(|errno| failed(errno.into()))?;
    add_chdir(&mut actions, &cwd).map_err(failed)?;
    add_close_from(&mut actions, 3).map_err(failed)?;
    let attributes = setsid_attributes().map_err(|errno| failed(errno.into()))?;

    let pid = posix_spawn(path.as_path(), &actions, &attributes, &argv, &envp).map_err(|errno| match errno {
        Errno::ENOENT => not_found(),
        errno => failed(errno.into()),
    })?;
    // Until it is reaped, the pid names the child, even if it exited.
    let child = Child::new(pid).map_err(|err| {
        // Without a pidfd it cannot be waited for: it must not run unwatched.
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        failed(err)
    })?;
    let identity = ProcessIdentity::of(child.id()).map_err(|err| {
        // Dropping `child` reaps it.
        let _ = kill(pid, Signal::SIGKILL);
        SpawnError::Identity { program: program.clone(), pid: child.id(), err }
    })?;
    if let Some(cgroup) = &spec.cgroup {
        // posix_spawn returns once the program runs, so whatever it forked in
        // the moment since is moved with it.
        cgroup.add_tree(identity.pid).map_err(|source| {
            let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
            let _ = cgroup.kill();
            SpawnError::Cgroup { program: program.clone(), pid: identity.pid, source }
        })?;
    }
    let stdin = feed.map(pipe::Sender::from_owned_fd).transpose().map_err(failed)?;
    Ok(Spawned { child, identity, stdin, cgroup: spec.cgroup.clone() })
}

/// Where `program` is: itself when it holds a `/` (relative to `cwd`, as the
/// child will see it), else the first executable of that name in the `PATH`
/// of `env` (or of a default path when `env` has none, as `execvp` does).
fn executable(program: &str, env: &Environment, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = env.get("PATH").unwrap_or_else(|| OsStr::new(DEFAULT_PATH));
    which::which_in(program, Some(path), cwd).ok()
}

/// The search path when an agent's environment has no `PATH` (glibc's
/// `execvp` uses the same).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Byte strings as the C strings `posix_spawn` takes; one holding a NUL
/// byte cannot be passed.
fn c_strings(strings: impl Iterator<Item = Vec<u8>>) -> io::Result<Vec<CString>> {
    strings
        .map(|string| CString::new(string).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "holds a NUL byte")))
        .collect()
}

/// Attributes that start the child as the leader of a new session, with
/// every signal at its default disposition and none blocked.
fn setsid_attributes() -> nix::Result<PosixSpawnAttr> {
    let mut attributes = PosixSpawnAttr::init()?;
    // glibc has `POSIX_SPAWN_SETSID` since 2.26; nix's flags do not name it.
    let new_session = PosixSpawnFlags::from_bits_retain(c_int::from(nix::libc::POSIX_SPAWN_SETSID));
    attributes
        .set_flags(new_session | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK)?;
    attributes.set_sigdefault(&SigSet::all())?;
    attributes.set_sigmask(&SigSet::empty())?;
    Ok(attributes)
}

/// Adds a change of directory to `cwd` to `actions`, run in the child before
/// the exec (glibc's `posix_spawn_file_actions_addchdir_np`, since 2.29; nix
/// does not wrap it).
fn add_chdir(actions: &mut PosixSpawnFileActions, cwd: &Path) -> io::Result<()> {
    let cwd = CString::new(cwd.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the directory holds a NUL byte"))?;
    // SAFETY: `PosixSpawnFileActions` is `repr(transparent)` over
    // `posix_spawn_file_actions_t`, initialised by `init`; glibc copies the
    // path, so `cwd` need not outlive the call.
    let result = unsafe {
        let raw = std::ptr::from_mut(actions).cast::<nix::libc::posix_spawn_file_actions_t>();
        nix::libc::posix_spawn_file_actions_addchdir_np(raw, cwd.as_ptr())
    };
    match result {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Adds a close of every descriptor from `first` up to `actions`, run in the
/// child after the `dup2`s to 0, 1 and 2: the agent holds only those, not the
/// descriptors its host left open without close-on-exec (issue 17). glibc's
/// `posix_spawn_file_actions_addclosefrom_np`, since 2.34; nix does not wrap it.
fn add_close_from(actions: &mut PosixSpawnFileActions, first: c_int) -> io::Result<()> {
    // SAFETY: as in `add_chdir`: `actions` is an initialised
    // `posix_spawn_file_actions_t` under a `repr(transparent)` wrapper.
    let result = unsafe {
        let raw = std::ptr::from_mut(actions).cast::<nix::libc::posix_spawn_file_actions_t>();
        nix::libc::posix_spawn_file_actions_addclosefrom_np(raw, first)
    };
    match result {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Whether `dir` exists and is a directory.
fn check_dir(dir: &Path) -> io::Result<()> {
    if std::fs::metadata(dir)?.is_dir() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"))
    }
}

/// Opens a log file for the child to append to.
fn open_log(path: &Path) -> Result<File, SpawnError> {
    open_for_append(path).map_err(|err| SpawnError::Log { path: path.to_path_buf(), err })
}

#[cfg(test)]
#[path = "spawn_tests.rs"]
mod tests;
