//! Bad input gets the one error shape and the right status, and changes nothing.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;

use super::harness::{Home, error_code, request};

/// A request that must be refused: method, path, body, expected status and code.
type Refusal = (&'static str, &'static str, Option<Vec<u8>>, u16, &'static str);

#[test]
fn malformed_oversized_and_unknown_requests_are_refused_and_the_daemon_keeps_serving() {
    let home = Home::new();
    let _daemon = home.serve();
    let socket = home.socket();

    let cases: [Refusal; 7] = [
        ("POST", "/v1/sessions", Some(b"{not json".to_vec()), 400, "bad_request"),
        ("POST", "/v1/sessions", Some(br#"{"name": 7}"#.to_vec()), 400, "bad_request"),
        ("POST", "/v1/sessions", Some(br#"{"nmae": "typo"}"#.to_vec()), 400, "bad_request"),
        ("POST", "/v1/sessions", Some(vec![b' '; 2 * 1024 * 1024]), 413, "payload_too_large"),
        ("GET", "/v1/sessions/not-a-uuid", None, 400, "bad_request"),
        ("GET", "/v1/sessions/01890000-0000-7000-8000-000000000000", None, 404, "not_found"),
        ("GET", "/v1/nothing-here", None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = request(&socket, method, path, body.as_deref()).expect("the daemon answers");
        assert_eq!((got, error_code(&answer).as_str()), (status, code), "{method} {path}: {answer}");
    }
    let (status, answer) = request(&socket, "GET", "/v1/sessions?state=sleeping", None).unwrap();
    assert_eq!((status, error_code(&answer).as_str()), (400, "bad_request"), "{answer}");

    // Nothing was stored, and the daemon still serves.
    assert_eq!(request(&socket, "GET", "/v1/sessions", None).unwrap(), (200, "[]".to_owned()));
}

#[test]
fn a_peer_with_another_uid_is_refused() {
    if !nix::unistd::getuid().is_root() {
        // Only root can make a process of another uid; the file-system fence
        // (socket 0600, directory 0700) is tested by the_socket_is_private_to_its_user.
        return;
    }
    let home = Home::new();
    let _daemon = home.serve();
    // Open the fences so that only the daemon's own check stands.
    for dir in [home.dir.path(), &home.dir.path().join("run"), home.socket().parent().unwrap()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(home.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();

    // The other user runs its own copy of the binary, so that where the
    // checkout lives (maybe below directories it cannot enter) does not matter.
    let binary = home.dir.path().join("baton");
    // Copied by `cp`, not by this process: a copy's write descriptor open here
    // would be inherited by whatever another test thread spawns meanwhile, and
    // executing the file while any process holds it open for writing fails
    // ("Text file busy").
    let copied = std::process::Command::new("cp").arg(super::harness::baton_bin()).arg(&binary).status().unwrap();
    assert!(copied.success());
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = home.command_with(&binary, &["status"]).uid(65534).gid(65534).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("baton only answers its own user"), "{stderr}");

    // Its own user is still served.
    assert!(home.ok(&["status"]).contains("version"));
}

#[test]
fn an_oversized_chunked_body_without_a_length_is_refused_too() {
    use std::io::{Read as _, Write as _};

    let home = Home::new();
    let _daemon = home.serve();
    let mut stream = std::os::unix::net::UnixStream::connect(home.socket()).unwrap();
    stream.set_read_timeout(Some(crate::support::DEADLINE)).unwrap();
    let head = "POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    // 3 MiB in 64 KiB chunks, with no length announced: the daemon must count.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..48 {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break; // The daemon answered and closed before reading it all.
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {answer}"));
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(error_code(body), "payload_too_large");
    assert_eq!(request(&home.socket(), "GET", "/v1/sessions", None).unwrap(), (200, "[]".to_owned()));
}

#[test]
fn optional_bodies_of_close_and_the_stops_are_refused_with_the_one_shape_when_malformed_or_too_large() {
    let home = Home::new();
    let _daemon = home.serve();
    let socket = home.socket();
    let session = home.ok(&["session", "open"]).trim().to_owned();
    let close = format!("/v1/sessions/{session}/close");
    let stop = "/v1/agents/01890000-0000-7000-8000-000000000000/stop";
    let stop_all = format!("/v1/sessions/{session}/agents/stop");
    let cases: [(&str, Vec<u8>, u16, &str); 7] = [
        (&close, b"{not json".to_vec(), 400, "bad_request"),
        (&close, vec![b' '; 2 * 1024 * 1024], 413, "payload_too_large"),
        (stop, br#"{"grace_ms": "soon"}"#.to_vec(), 400, "bad_request"),
        (stop, vec![b' '; 2 * 1024 * 1024], 413, "payload_too_large"),
        (&stop_all, br#"{"grace_ms": -1}"#.to_vec(), 400, "bad_request"),
        (&stop_all, vec![b' '; 2 * 1024 * 1024], 413, "payload_too_large"),
        ("/v1/sessions/not-an-id/agents/stop", Vec::new(), 400, "bad_request"),
    ];
    for (path, body, status, code) in cases {
        let (got, answer) = request(&socket, "POST", path, Some(&body)).expect("the daemon answers");
        assert_eq!((got, error_code(&answer).as_str()), (status, code), "POST {path}: {answer}");
    }
    // The session was not closed; an empty body still means the defaults.
    let shown = home.ok(&["session", "show", &session, "--json"]);
    assert!(shown.contains(r#""state":"active""#) || shown.contains(r#""state": "active""#), "{shown}");
    let (got, answer) = request(&socket, "POST", &close, None).unwrap();
    assert_eq!(got, 200, "{answer}");
}

/// Issue 18: values the daemon refuses exited 1 after a request; they are
/// usage errors, found before any request (no daemon runs here, and none may
/// be started: a request would be exit 3).
#[test]
fn zero_limits_long_waits_and_an_empty_task_are_usage_errors_before_any_request() {
    let home = Home::new();
    let session = "01890000-0000-7000-8000-000000000000";
    let agent = "01890000-0000-7000-8000-000000000001";
    let spawn =
        |flag: &'static str, value: &'static str| vec!["spawn", "--session", session, flag, value, "--", "true"];
    let cases: Vec<Vec<&str>> = vec![
        spawn("--max-runtime", "0s"),
        spawn("--stale-after", "0s"),
        spawn("--max-cpu-time", "0s"),
        spawn("--max-rss", "0"),
        vec!["queue", "claim", "--session", session, "--wait", "11m"],
        vec!["queue", "claim", "--session", session, "--lease", "0s"],
        vec!["queue", "claim", "--session", session, "--max", "0"],
        vec!["inbox", "--agent", agent, "--wait", "11m"],
        vec!["inbox", "--agent", agent, "--lease", "0s"],
        vec!["handoff", "create", "--session", session, "--role", "reviewer", "--task", ""],
        vec!["session", "open", "--max-lifetime", "0s"],
    ];
    for args in cases {
        let stderr = home.fails(&args, 2);
        // The flag is the one before the last value given (the command, for a spawn).
        let values = args.iter().rposition(|arg| arg.starts_with("--") && *arg != "--").unwrap();
        let flag = args[values];
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with("baton: ") && first.contains(&format!("'{flag} <")), "baton {args:?}: {stderr}");
        assert!(stderr.ends_with("For more information, try '--help'.\n"), "baton {args:?}: {stderr}");
    }
}

/// A value past the engine's bound is a usage error in the units it was
/// typed in, never the daemon's refusal in wire units (`max_runtime_ms ...
/// (milliseconds)`).
#[test]
fn values_past_their_bounds_are_usage_errors_in_the_units_typed() {
    let home = Home::new();
    let session = "01890000-0000-7000-8000-000000000000";
    let agent = "01890000-0000-7000-8000-000000000001";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["spawn", "--session", session, "--max-runtime", "400d", "--", "true"], "from 1ms to 365days"),
        (vec!["queue", "claim", "--session", session, "--lease", "3d"], "from 1ms to 1day"),
        (
            vec!["handoff", "create", "--session", session, "--role", "r", "--task", "t", "--ack-within", "40d"],
            "from 1ms to 30days",
        ),
        (vec!["stop", agent, "--grace", "5h"], "from 0s to 1h"),
        (vec!["queue", "nack", "--session", session, "1", "--delay", "2d"], "from 0s to 1day"),
        (vec!["session", "open", "--max-lifetime", "4000d"], "from 1ms to 3650days"),
        (vec!["spawn", "--session", session, "--max-rss", "2PiB", "--", "true"], "at most 1PiB"),
    ];
    for (args, says) in cases {
        let stderr = home.fails(&args, 2);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(&format!("it must be {says}")), "baton {args:?}: {stderr}");
        assert!(!stderr.contains("_ms") && !stderr.contains("milliseconds"), "baton {args:?}: {stderr}");
    }
}

/// Issue 18: clap's multi-line `error:` block became the contract's one line,
/// with the usage hint after it.
#[test]
fn a_usage_error_is_one_baton_line_then_the_usage_hint() {
    let home = Home::new();
    let stderr = home.fails(&["ps", "--bogus"], 2);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "baton: unexpected argument '--bogus' found",
            "Usage: baton ps [OPTIONS]",
            "For more information, try '--help'."
        ],
    );
    let stderr = home.fails(&["spawn"], 2);
    let first = stderr.lines().next().unwrap();
    assert_eq!(first, "baton: the following required arguments were not provided: --session <ID>, <CMD>...");
    assert!(stderr.lines().any(|line| line.starts_with("Usage: baton spawn")), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");

    for flag in ["--help", "--version"] {
        let output = home.run(&[flag]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert!(output.stderr.is_empty(), "{flag}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.contains("Usage: baton") || stdout.trim() == concat!("baton ", env!("CARGO_PKG_VERSION")),
            "{stdout}"
        );
    }
}
