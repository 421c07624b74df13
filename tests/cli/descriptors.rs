//! File descriptors: a flood of connections cannot take the daemon down.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use rustix::process::{Resource, Rlimit, setrlimit};

use super::harness::{Daemon, Home, error_code};
use crate::support::{DEADLINE, eventually_blocking};

/// The daemon's limit on open files, soft and hard, so raising it cannot help.
const DAEMON_FD_LIMIT: u64 = 200;

/// Starts `baton serve` with at most [`DAEMON_FD_LIMIT`] open files.
fn serve_with_few_descriptors(home: &Home) -> Daemon {
    let mut command = home.command(&["serve"]);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let limit = Rlimit { current: Some(DAEMON_FD_LIMIT), maximum: Some(DAEMON_FD_LIMIT) };
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || setrlimit(Resource::Nofile, limit).map_err(std::io::Error::from));
    }
    let daemon = Daemon { child: command.spawn().unwrap(), socket: home.socket() };
    daemon.wait_until_healthy();
    daemon
}

/// A connection that sends a request head promising a large body, and one byte of it.
fn trickle(home: &Home) -> UnixStream {
    let mut stream = UnixStream::connect(home.socket()).expect("the socket accepts connections");
    let head = "POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

#[test]
fn a_flood_of_trickling_bodies_past_the_fd_limit_leaves_the_socket_and_every_command_answers_after() {
    let home = Home::new();
    let daemon = serve_with_few_descriptors(&home);

    let mut flood: Vec<UnixStream> = (0..2 * DAEMON_FD_LIMIT).map(|_| trickle(&home)).collect();

    // The first body never arrives in full: the daemon answers 408 and hangs up.
    let first = &mut flood[0];
    first.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut answer = String::new();
    first.read_to_string(&mut answer).expect("an answer, not a timeout of the test");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    assert_eq!(error_code(body), "request_timeout");

    assert!(home.socket().exists(), "the flood removed the socket");
    drop(flood);

    let status = eventually_blocking("baton status after the flood", || {
        let output = home.run(&["status"]);
        output.status.success().then_some(output)
    });
    assert!(String::from_utf8_lossy(&status.stdout).contains(&daemon.child.id().to_string()), "{status:?}");
    home.ok(&["session", "open", "--name", "after-the-flood"]);
    assert!(home.socket().exists());

    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
}
