//! Starting an agent's process.
//!
//! The command runs as given, never through a shell: an argument is an
//! argument, whatever characters it holds. The child starts a new session
//! (`setsid` between fork and exec), so it leads its own session and process
//! group, has no controlling terminal (a terminal's Ctrl-C or hangup never
//! reaches it), and everything it starts can be found by its session id. Its
//! environment is exactly the [`Environment`] it is given. Its stdout and
//! stderr are log files it writes itself, not pipes to the daemon: an agent
//! whose daemon dies goes on running and its output goes on landing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, ChildStdin, Command};

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
    /// the process: tokio reaps it in the background once it exits.
    pub child: Child,
    /// Who it is for good, to store in the agent's record.
    pub identity: ProcessIdentity,
    /// The write end of its stdin, when [`Stdin::Pipe`] was asked for.
    pub stdin: Option<ChildStdin>,
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
    #[error("cannot run in {}: {source}", cwd.display())]
    Cwd {
        /// The directory asked for.
        cwd: PathBuf,
        /// Why it cannot be used.
        source: io::Error,
    },
    /// A log file could not be opened (its directory is missing, or a
    /// permission is lacking).
    #[error("cannot open the log file {}: {source}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
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
    #[error("cannot start {program:?} in {}: {source}", cwd.display())]
    Start {
        /// The program, as given.
        program: String,
        /// The directory it was to run in.
        cwd: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// It started, but its identity could not be read from `/proc` (it was
    /// killed at once; this does not happen on a sane system).
    #[error("started {program:?} as pid {pid} but cannot read its start time: {source}")]
    Identity {
        /// The program, as given.
        program: String,
        /// Its pid.
        pid: u32,
        /// What reading `/proc` said.
        source: io::Error,
    },
}

/// Starts `spec`'s program in a new session, with exactly `spec`'s environment,
/// its output appended to the log files.
///
/// Must be called within a tokio runtime (which reaps the child when it is
/// waited for, or in the background once dropped).
pub fn spawn(spec: &ProcessSpec) -> Result<Spawned, SpawnError> {
    let (program, args) = spec.argv.split_first().ok_or(SpawnError::EmptyCommand)?;
    if let Some(name) = spec.env.unpassable_variable() {
        return Err(SpawnError::InvalidVariable { name: name.to_string_lossy().into_owned() });
    }
    let cwd = match &spec.cwd {
        Some(cwd) => {
            check_dir(cwd).map_err(|source| SpawnError::Cwd { cwd: cwd.clone(), source })?;
            cwd.clone()
        }
        None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    let stdout = open_log(&spec.stdout_log)?;
    let stderr = open_log(&spec.stderr_log)?;

    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(spec.env.iter())
        .current_dir(&cwd)
        .stdin(match spec.stdin {
            Stdin::Null => Stdio::null(),
            Stdin::Pipe => Stdio::piped(),
        })
        .stdout(stdout)
        .stderr(stderr)
        // The agent outlives this handle, and the daemon: stopping it is an
        // explicit act (`stop_session`), never a side effect of a drop.
        .kill_on_drop(false);
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: `setsid` is a plain system call, and
    // turning its errno into an `io::Error` does not allocate.
    unsafe {
        command.pre_exec(|| nix::unistd::setsid().map(drop).map_err(io::Error::from));
    }
    let mut child = command.spawn().map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound { program: program.clone(), cwd: cwd.clone() },
        _ => SpawnError::Start { program: program.clone(), cwd: cwd.clone(), source },
    })?;

    // The child cannot have been reaped yet (only waiting on `child` reaps it),
    // so its pid still names it, even if it already exited.
    let pid = child.id().unwrap_or_default();
    let identity = ProcessIdentity::of(pid).map_err(|source| {
        let _ = child.start_kill();
        SpawnError::Identity { program: program.clone(), pid, source }
    })?;
    let stdin = child.stdin.take();
    Ok(Spawned { child, identity, stdin })
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
    open_for_append(path).map_err(|source| SpawnError::Log { path: path.to_path_buf(), source })
}

#[cfg(test)]
#[path = "spawn_tests.rs"]
mod tests;
