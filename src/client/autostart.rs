//! Starting the daemon on demand, so that the first `baton` command on a
//! machine just works instead of asking the user to run `baton serve` first.
//!
//! There is no lock on the client side: two CLIs that race may both start a
//! daemon, but the daemon locks its data directory, so the loser exits and
//! both CLIs keep polling `/v1/health` until the winner answers. The started
//! daemon runs in a session of its own, detached from our terminal, and is
//! never waited on: it outlives the CLI. We only reap it if it exits while we
//! poll, so that no zombie lingers and its exit status can go in the error.
//!
//! The started daemon does not depend on which client started it: it runs in
//! `/`, with only the variables [`Autostart::env`] lists, not in the project
//! directory and with the secrets of whichever hook or agent happened to be
//! first (its agents would inherit both).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use super::{Client, ClientError};
use crate::api::{ErrorCode, Health};

/// The first pause between two health probes after a start; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);

/// The longest pause between two health probes, so a slow start is noticed soon after it ends.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// How to start the daemon when none answers.
#[derive(Debug, Clone)]
pub struct Autostart {
    /// The baton executable (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// The arguments for it, e.g. `["serve", "--data-dir", D, "--socket", S]` (built by the CLI).
    pub args: Vec<OsString>,
    /// Its whole environment: nothing else of the client's is passed on.
    pub env: Vec<(OsString, OsString)>,
    /// Where the started daemon's stdout and stderr go (appended; parent dirs
    /// created), since it has no terminal to report a failed start on.
    pub log_file: PathBuf,
    /// How long to wait for `/v1/health` after starting it.
    pub wait: Duration,
}

impl Autostart {
    /// Starts the daemon in the background, in a session of its own.
    fn spawn(&self) -> io::Result<Child> {
        let log = self.open_log().map_err(|err| {
            io::Error::new(err.kind(), format!("cannot open the daemon log {}: {err}", self.log_file.display()))
        })?;
        let mut command = Command::new(&self.exe);
        command.args(&self.args).current_dir("/").env_clear().envs(self.env.iter().map(|(name, value)| (name, value)));
        command.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // SAFETY: the closure runs in the forked child before exec, where only
        // async-signal-safe calls are allowed; setsid(2) is one, and turning
        // its errno into an io::Error does not allocate.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                Ok(())
            });
        }
        command.spawn().map_err(|err| {
            io::Error::new(err.kind(), format!("cannot start the daemon ({}): {err}", self.exe.display()))
        })
    }

    /// Opens the log for appending, private to the user: it may quote session names and paths.
    fn open_log(&self) -> io::Result<File> {
        // The data dir: made private if the CLI is the first to need it.
        if let Some(parent) = self.log_file.parent() {
            crate::private_dir::create_missing(parent)?;
        }
        OpenOptions::new().create(true).append(true).mode(0o600).open(&self.log_file)
    }
}

/// Checks `GET /v1/health`; if the daemon is unreachable and `autostart` is
/// `Some`, starts it in the background and polls `/v1/health` every few
/// milliseconds until it answers or `autostart.wait` runs out.
///
/// Returns `Ok(())` once health answers. When the daemon is unreachable and
/// `autostart` is `None`, returns the [`ClientError::Unreachable`] unchanged;
/// when the wait runs out, returns one whose message names the log file.
/// Other errors (the daemon answered, but with an error) are returned as they are.
pub async fn ensure_running(client: &Client, autostart: Option<&Autostart>) -> Result<(), ClientError> {
    let unreachable = match health(client).await {
        Err(err @ ClientError::Unreachable { .. }) => err,
        answered => return answered,
    };
    let Some(autostart) = autostart else {
        return Err(unreachable);
    };
    let unreachable_because = |err: io::Error| ClientError::Unreachable { socket: client.socket().to_owned(), err };
    let mut child = autostart.spawn().map_err(unreachable_because)?;
    tracing::info!(
        pid = child.id(),
        exe = %autostart.exe.display(),
        socket = %client.socket().display(),
        log_file = %autostart.log_file.display(),
        "started the daemon"
    );
    let deadline = Instant::now() + autostart.wait;
    let mut pause = FIRST_PAUSE;
    let mut exited = None;
    loop {
        reap(&mut child, &mut exited);
        match tokio::time::timeout_at(deadline, health(client)).await {
            Ok(Ok(())) => return Ok(()),
            // Not listening yet, or listening but not ready: keep polling.
            Ok(Err(ClientError::Unreachable { .. } | ClientError::Api { code: ErrorCode::Unavailable, .. })) => {}
            Ok(Err(err)) => return Err(err),
            Err(_elapsed) => break,
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep_until((now + pause).min(deadline)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
    reap(&mut child, &mut exited);
    let ended = exited.map(|status| format!(" (the process started for it ended with {status})")).unwrap_or_default();
    Err(unreachable_because(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the daemon did not come up within {:?}{ended}; see its log file {}",
            autostart.wait,
            autostart.log_file.display()
        ),
    )))
}

/// One health probe: did the daemon answer at all.
async fn health(client: &Client) -> Result<(), ClientError> {
    client.get::<Health>("/v1/health").await.map(drop)
}

/// Reaps the started process if it has exited (a racing CLI's daemon won, or
/// it failed to start), so that no zombie stays while we poll.
fn reap(child: &mut Child, exited: &mut Option<ExitStatus>) {
    if exited.is_some() {
        return;
    }
    match child.try_wait() {
        Ok(Some(status)) => {
            tracing::debug!(pid = child.id(), status = %status, "the started daemon process exited");
            *exited = Some(status);
        }
        Ok(None) => {}
        Err(err) => tracing::debug!(pid = child.id(), cause = %err, "cannot check on the started daemon process"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{Autostart, ensure_running};
    use crate::client::tests::{TestDaemon, poll_until};
    use crate::client::{Client, ClientError};

    fn failing_start(log_file: &Path, script: &str, wait: Duration) -> Autostart {
        Autostart {
            exe: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: Vec::new(),
            log_file: log_file.to_owned(),
            wait,
        }
    }

    #[tokio::test]
    async fn a_running_daemon_is_left_alone() {
        let daemon = TestDaemon::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let log_file = dir.path().join("daemon.log");
        let autostart = failing_start(&log_file, "exit 1", Duration::from_secs(5));
        ensure_running(&daemon.client(), Some(&autostart)).await.expect("healthy");
        assert!(!log_file.exists(), "nothing was started");
    }

    #[tokio::test]
    async fn without_autostart_a_dead_socket_is_unreachable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = Client::new(dir.path().join("nobody.sock"));
        let err = ensure_running(&client, None).await.expect_err("nothing listens");
        assert!(matches!(&err, ClientError::Unreachable { err, .. } if err.kind() == std::io::ErrorKind::NotFound));
        assert_eq!(err.exit_code(), 3);
    }

    #[tokio::test]
    async fn a_daemon_that_never_comes_up_is_unreachable_and_names_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log_file = dir.path().join("logs").join("daemon.log");
        let client = Client::new(dir.path().join("nobody.sock"));
        let autostart = failing_start(&log_file, "echo cannot-serve >&2; exit 1", Duration::from_millis(300));
        let err = ensure_running(&client, Some(&autostart)).await.expect_err("the start fails");
        assert_eq!(err.exit_code(), 3);
        let message = err.to_string();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{message}");
        assert!(message.contains("did not come up within 300ms"), "{message}");
        assert!(message.contains(&log_file.display().to_string()), "{message}");
        // The child was reaped while we polled: its exit status is known.
        assert!(message.contains("ended with exit status: 1"), "{message}");
        // The child's stderr went to the log.
        poll_until("the log holds the child's stderr", || {
            std::fs::read_to_string(&log_file).is_ok_and(|log| log.contains("cannot-serve"))
        });
    }

    #[tokio::test]
    async fn a_missing_executable_is_unreachable_and_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let client = Client::new(dir.path().join("nobody.sock"));
        let autostart = Autostart {
            exe: dir.path().join("no-such-baton"),
            args: Vec::new(),
            env: Vec::new(),
            log_file: dir.path().join("daemon.log"),
            wait: Duration::from_secs(5),
        };
        let err = ensure_running(&client, Some(&autostart)).await.expect_err("cannot start");
        assert!(err.to_string().contains("cannot start the daemon"), "{err}");
        assert_eq!(err.exit_code(), 3);
    }

    /// Two CLIs race: ours starts a daemon that loses (exits 1, as the data-dir
    /// lock makes it), and we keep polling until the winner answers.
    #[tokio::test]
    async fn a_lost_start_race_waits_for_the_winner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("baton.sock");
        let log_file = dir.path().join("daemon.log");
        let client = Client::new(&socket);
        let autostart = failing_start(&log_file, "exit 1", Duration::from_secs(10));
        // The winner comes up only once our start has happened (the log is opened just before).
        let winner = std::thread::spawn({
            let log_file = log_file.clone();
            move || {
                poll_until("our CLI started its daemon", || log_file.exists());
                TestDaemon::start_at(&socket)
            }
        });
        ensure_running(&client, Some(&autostart)).await.expect("the winner answers");
        let _winner = winner.join().expect("the winner started");
    }
}
