//! Runs the real `baton` binary: daemons in temporary directories, CLI
//! calls against them, and raw HTTP requests for what the CLI never sends.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::DEADLINE;

/// The binary under test.
pub fn baton_bin() -> &'static str {
    env!("CARGO_BIN_EXE_baton")
}

/// A home for one test: data dir, socket and XDG dirs inside one temp dir.
pub struct Home {
    pub dir: TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self { dir: TempDir::new().unwrap() }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/baton/baton.sock")
    }

    /// The directory of its agents' logs, which names its agents' cgroups.
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir().join("agents")
    }

    /// `baton ARGS` with this home's paths in the environment; no autostart.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with(Path::new(baton_bin()), args)
    }

    /// The same, running the binary at `binary`.
    pub fn command_with(&self, binary: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(binary);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("BATON_DATA_DIR", self.data_dir())
            .env("BATON_SOCKET", self.socket())
            .env("BATON_NO_AUTOSTART", "1")
            .stdin(Stdio::null());
        command
    }

    /// Runs `baton ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `baton ARGS`, expects success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(output.status.success(), "baton {args:?} failed: {}", describe(&output));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `baton ARGS`, expects exit code `code`, returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args);
        assert_eq!(output.status.code(), Some(code), "baton {args:?}: {}", describe(&output));
        String::from_utf8(output.stderr).unwrap()
    }

    /// Starts `baton serve` and waits until it answers.
    pub fn serve(&self) -> Daemon {
        let daemon = self.spawn_serve();
        daemon.wait_until_healthy();
        daemon
    }

    /// Starts `baton serve` without waiting.
    pub fn spawn_serve(&self) -> Daemon {
        let child = self.command(&["serve"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        Daemon { child, socket: self.socket() }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // What a daemon killed before its agents ended left behind.
        crate::support::clear_agent_cgroups(&self.logs_dir());
    }
}

pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `baton serve`; killed when dropped, so a failing test leaks nothing.
pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap())
    }

    pub fn wait_until_healthy(&self) {
        let start = Instant::now();
        while request(&self.socket, "GET", "/v1/health", None).map(|(status, _)| status) != Some(200) {
            assert!(start.elapsed() < DEADLINE, "the daemon did not answer on {}", self.socket.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        (status.code(), stderr)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One raw HTTP/1.1 request on the socket: returns the status and body, or
/// `None` when nothing answers.
pub fn request(socket: &Path, method: &str, path: &str, body: Option<&[u8]>) -> Option<(u16, String)> {
    request_with_head(socket, method, path, body).map(|(status, _, body)| (status, body))
}

/// [`request`], with the answer's head (status line and headers) too.
pub fn request_with_head(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Option<(u16, String, String)> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    // The daemon may answer (413) before reading all of a large body.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_owned(), body.to_owned()))
}

/// The error code of an error answer's body.
pub fn error_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert!(value["error"]["message"].is_string(), "no message in {body}");
    value["error"]["code"].as_str().unwrap_or_else(|| panic!("no code in {body}")).to_owned()
}

/// The pids of `baton serve` processes whose command line names `data_dir`.
pub fn daemons_for(data_dir: &std::path::Path) -> Vec<i32> {
    let wanted = data_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> =
                cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            args.iter().any(|arg| arg == "serve") && args.contains(&wanted)
        })
        .collect()
}

/// Stops the daemons of a test, so none outlives it.
pub struct Reaper(pub std::path::PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in daemons_for(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Kills the process groups of agents a failed test left running.
pub struct Leftovers(pub Vec<u32>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        // Only after a failure: a test that passed stopped its agents, and
        // their pids may belong to other tests' agents by now (pids wrap
        // at 32768 here, and a test run starts thousands of processes).
        if !std::thread::panicking() {
            return;
        }
        for &pid in &self.0 {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
            let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Whether process `pid` holds a socket: a CLI call that has connected to the daemon.
pub fn holds_a_socket(pid: u32) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:")))
}

/// Kills a long-polling CLI call with SIGTERM once it is connected and its
/// request is in (a later request has been answered), and reaps it.
pub fn hang_up(home: &Home, mut call: Child) {
    let pid = call.id();
    crate::support::eventually_blocking("the call to connect", || holds_a_socket(pid).then_some(()));
    home.ok(&["status"]);
    assert!(call.try_wait().unwrap().is_none(), "the call answered before anything arrived");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let status = call.wait().unwrap();
    assert!(!status.success(), "killed, not answered: {status:?}");
}
