//! `baton serve`: one per data dir, its socket, its shutdown.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;

use super::harness::{Home, request};

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

#[test]
fn a_live_socket_of_another_data_dir_is_not_removed() {
    let home = Home::new();
    let _daemon = home.serve();
    // Another daemon, another data dir, the same socket path.
    let other = home.command(&["serve", "--data-dir"]).arg(home.dir.path().join("other")).output().unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("already listening"), "{other:?}");
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
