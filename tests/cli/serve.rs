//! `baton serve`: one per data dir, its socket, its shutdown.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;

use std::io::Read as _;

use super::harness::{Daemon, Home, request};
use crate::support::eventually_blocking;

#[test]
fn the_socket_is_private_to_its_user() {
    let home = Home::new();
    let _daemon = home.serve();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home.socket()), 0o600);
    assert_eq!(mode(home.socket().parent().unwrap()), 0o700);
    assert_eq!(mode(&home.data_dir()), 0o700);
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused_and_the_first_keeps_serving() {
    let home = Home::new();
    let daemon = home.serve();
    let second = home.command(&["serve"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&format!("another baton daemon (pid {}) is running", daemon.child.id())), "{stderr}");
    assert_eq!(request(&home.socket(), "GET", "/v1/health", None).unwrap().0, 200);
}

#[test]
fn a_stale_socket_is_replaced() {
    let home = Home::new();
    std::fs::create_dir_all(home.socket().parent().unwrap()).unwrap();
    // A socket file with nothing behind it, as a crashed daemon leaves.
    drop(UnixListener::bind(home.socket()).unwrap());
    assert!(home.socket().exists());
    let _daemon = home.serve();
    assert_eq!(request(&home.socket(), "GET", "/v1/health", None).unwrap().0, 200);
}

/// The socket's lock refuses it, and says whose it is (its file may already
/// be gone while its daemon stops: the lock holds until the daemon has ended).
#[test]
fn a_live_socket_of_another_data_dir_is_not_removed() {
    let home = Home::new();
    let _daemon = home.serve();
    // Another daemon, another data dir, the same socket path.
    let other_dir = home.dir.path().join("other");
    let other = home.command(&["serve", "--data-dir"]).arg(&other_dir).output().unwrap();
    assert_eq!(other.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&other.stderr);
    let owner = format!("of {}, not to the data dir {}", home.data_dir().display(), other_dir.display());
    assert!(stderr.contains(&owner), "{stderr}");
    assert_eq!(request(&home.socket(), "GET", "/v1/health", None).unwrap().0, 200);
}

#[test]
fn sigterm_leaves_a_flushed_store_and_no_socket() {
    let home = Home::new();
    let daemon = home.serve();
    let id = home.ok(&["session", "open", "--name", "kept"]).trim().to_owned();
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!home.socket().exists(), "the socket is still there");

    // The store opens (the lock is free) and holds the session.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let baton = baton::Baton::builder().data_dir(home.data_dir()).spawn().unwrap();
        let session = baton.session(id.parse().unwrap()).await.unwrap();
        assert_eq!(session.name.as_deref(), Some("kept"));
        baton.shutdown().await.unwrap();
    });
}

/// Issue 18: a cause was printed twice, as `IO error: Permission denied (os
/// error 13): IO error: Permission denied (os error 13)`.
#[test]
fn an_error_names_each_cause_once() {
    let home = Home::new();
    std::fs::create_dir_all(home.data_dir()).unwrap();
    // The store's directory is a regular file: sled cannot open it.
    std::fs::write(home.data_dir().join("store"), b"").unwrap();
    let not_a_dir = home.dir.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let under_a_file = not_a_dir.join("data");
    let missing_socket = home.dir.path().join("none.sock");
    let cases: [(Vec<&str>, i32, &str); 3] = [
        (vec!["serve"], 1, "cannot open the store at "),
        (vec!["serve", "--data-dir", under_a_file.to_str().unwrap()], 1, "cannot create the data dir "),
        (vec!["status", "--socket", missing_socket.to_str().unwrap()], 3, "cannot reach the baton daemon at "),
    ];
    for (args, code, what) in cases {
        let stderr = home.fails(&args, code);
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.contains(" INFO ")).collect();
        assert_eq!(lines.len(), 1, "baton {args:?}: {stderr}");
        let line = lines[0];
        assert!(line.starts_with("baton: ") && line.contains(what), "baton {args:?}: {line}");
        assert_eq!(line.matches("(os error").count(), 1, "baton {args:?}: {line}");
    }
}

/// The permission bits of `path`, the sticky bit among them.
fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A directory in the test's home with the mode `mode`.
fn dir_with_mode(home: &Home, name: &str, mode: u32) -> std::path::PathBuf {
    let dir = home.dir.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    dir
}

/// Starts `baton serve --socket SOCKET` and waits until it answers there.
fn serve_at(home: &Home, socket: &std::path::Path) -> Daemon {
    let child = home
        .command(&["serve", "--socket"])
        .arg(socket)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, socket: socket.to_owned() };
    daemon.wait_until_healthy();
    daemon
}

/// Runs `baton serve ARGS`, expecting it to refuse to start: returns its stderr.
fn serve_refused(home: &Home, args: &[&std::ffi::OsStr]) -> String {
    let child = home
        .command(&["serve"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon { child, socket: home.socket() };
    let status = eventually_blocking("baton serve to exit", || daemon.child.try_wait().unwrap());
    let mut stderr = String::new();
    daemon.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn an_existing_socket_directory_and_data_dir_keep_their_modes() {
    let home = Home::new();
    let run = dir_with_mode(&home, "run", 0o755);
    let data = dir_with_mode(&home, "data", 0o750);
    let socket = run.join("b.sock");
    let _daemon = serve_at(&home, &socket);
    assert_eq!((mode_of(&run), mode_of(&data), mode_of(&socket)), (0o755, 0o750, 0o600));
}

#[test]
fn a_sticky_directory_anyone_may_write_holds_the_socket_and_keeps_its_mode() {
    let home = Home::new();
    let shared = dir_with_mode(&home, "tmp", 0o1777);
    let socket = shared.join("baton.sock");
    let _daemon = serve_at(&home, &socket);
    assert_eq!((mode_of(&shared), mode_of(&socket)), (0o1777, 0o600));
}

#[test]
fn a_socket_directory_others_may_write_is_refused_and_left_as_it_is() {
    let home = Home::new();
    let open = dir_with_mode(&home, "open", 0o777);
    let socket = open.join("b.sock");
    let stderr = serve_refused(&home, &["--socket".as_ref(), socket.as_os_str()]);
    assert!(
        stderr
            .contains(&format!("the socket's directory {} can be written by other users (mode 0777)", open.display())),
        "{stderr}"
    );
    assert_eq!(mode_of(&open), 0o777);
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "a socket was made");

    // doctor says the same.
    let doctor = home.command(&["doctor", "--socket"]).arg(&socket).output().unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    let line = report.lines().find(|line| line.contains("socket dir")).unwrap_or_default();
    assert!(line.starts_with("FAIL") && line.contains("can be written by other users (mode 0777)"), "{report}");
}

#[test]
fn a_data_dir_others_may_write_is_refused_even_when_sticky() {
    for mode in [0o770, 0o1777] {
        let home = Home::new();
        let data = dir_with_mode(&home, "data", mode);
        let stderr = serve_refused(&home, &[]);
        assert!(stderr.contains(&format!("the data dir {} can be written by other users", data.display())), "{stderr}");
        assert_eq!(mode_of(&data), mode);
        assert!(!home.socket().exists());
    }
}

#[test]
fn a_data_dir_of_another_user_is_refused() {
    let home = Home::new();
    let data = dir_with_mode(&home, "data", 0o700);
    let nobody = nix::unistd::Uid::from_raw(65534);
    if let Err(err) = nix::unistd::chown(&data, Some(nobody), None) {
        // Only root can give a directory away; the rule itself is unit-tested.
        assert_eq!(err, nix::errno::Errno::EPERM);
        return;
    }
    let stderr = serve_refused(&home, &[]);
    assert!(
        stderr.contains(&format!("the data dir {} belongs to another user (uid 65534)", data.display())),
        "{stderr}"
    );
}

/// Issue 19: `baton version` shows the CLI's version and the daemon's, and
/// says when none runs (exit 3) without starting one.
#[test]
fn version_shows_the_client_and_the_daemon_and_starts_none() {
    let home = Home::new();
    let version = env!("CARGO_PKG_VERSION");
    let alone = home.command(&["version"]).env_remove("BATON_NO_AUTOSTART").output().unwrap();
    assert_eq!(alone.status.code(), Some(3), "{alone:?}");
    let text = String::from_utf8_lossy(&alone.stdout);
    assert!(text.contains(&format!("client: {version} (API 1)")) && text.contains("daemon: not running on"), "{text}");
    assert!(!home.socket().exists(), "version started a daemon");

    let _daemon = home.serve();
    assert_eq!(home.ok(&["version"]), format!("client: {version} (API 1)\ndaemon: {version} (API 1)\n"));
    let json: serde_json::Value = serde_json::from_str(&home.ok(&["version", "--json"])).unwrap();
    assert_eq!(json["daemon"]["version"], version);
    assert_eq!(json["client"]["api"], 1);
}
