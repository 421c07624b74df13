//! Seeing what happens: status, events, metrics, the API document, doctor,
//! completions.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Instant;

use super::harness::{Home, describe, request};
use crate::support::DEADLINE;

#[test]
fn status_shows_version_paths_and_counts() {
    let home = Home::new();
    let daemon = home.serve();
    let id = home.ok(&["session", "open"]).trim().to_owned();
    home.ok(&["observe", "--session", &id, "--data", "{}"]);
    let status = home.ok(&["status"]);
    assert!(status.contains(env!("CARGO_PKG_VERSION")), "{status}");
    assert!(status.contains(&format!("pid:      {}", daemon.child.id())), "{status}");
    assert!(status.contains(&home.data_dir().display().to_string()), "{status}");
    assert!(status.contains("1 active"), "{status}");
    assert!(status.contains("queue:    1 pending, 0 leased, 0 dead, 0 acked"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&home.ok(&["status", "--json"])).unwrap();
    assert_eq!(json["sessions"]["active"], 1);
}

#[test]
fn events_are_listed_and_followed_live() {
    let home = Home::new();
    let _daemon = home.serve();
    let first = home.ok(&["session", "open", "--name", "first"]).trim().to_owned();
    let listed = home.ok(&["events"]);
    assert!(listed.contains("session_opened") && listed.contains(&first), "{listed}");

    let mut follower = home.command(&["events", "--follow", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    // Lines are read on a thread of their own, so that a follower that has
    // not subscribed yet (and so never prints the first open) cannot block
    // the loop below; it opens sessions until the follower reports one.
    let lines_rx = lines_of(follower.stdout.take().unwrap());
    let start = Instant::now();
    let seen = 'found: loop {
        let id = home.ok(&["session", "open", "--name", "live"]).trim().to_owned();
        while let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_millis(200)) {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["session"] == id.as_str() {
                break 'found event;
            }
        }
        assert!(start.elapsed() < DEADLINE, "the follower never saw a new session");
    };
    assert_eq!(seen["type"], "session_opened");
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn metrics_are_served_in_prometheus_text_format() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = home.ok(&["session", "open"]).trim().to_owned();
    for n in 1..=3 {
        home.ok(&["observe", "--session", &id, "--data", &n.to_string()]);
    }
    home.ok(&["queue", "claim", "--session", &id, "--max", "1"]);
    let (status, text) = request(&home.socket(), "GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    assert!(text.contains("baton_sessions{state=\"active\"} 1"), "{text}");
    assert!(text.contains("baton_queue_observations{state=\"pending\"} 2"), "{text}");
    assert!(text.contains("baton_queue_observations{state=\"leased\"} 1"), "{text}");
    assert!(text.contains("baton_sessions{state=\"closed\"} 0"), "{text}");
    assert!(text.contains("baton_store_flush_duration_seconds_count"), "{text}");
    assert!(
        text.contains(
            "baton_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/sessions\",status=\"200\"} 1"
        ),
        "{text}"
    );
}

#[test]
fn the_openapi_document_in_docs_is_the_one_the_daemon_serves() {
    let home = Home::new();
    let _daemon = home.serve();
    let (status, served) = request(&home.socket(), "GET", "/v1/openapi.json", None).unwrap();
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_str(&served).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    if std::env::var_os("BATON_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&served).unwrap() + "\n").unwrap();
    }
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(kept == served, "docs/openapi.json is out of date: run BATON_UPDATE_OPENAPI=1 cargo test openapi");
    for route in [
        "/v1/health",
        "/v1/version",
        "/v1/status",
        "/v1/sessions",
        "/v1/sessions/{id}",
        "/v1/sessions/{id}/close",
        "/v1/events",
        "/v1/events/log",
        "/metrics",
        "/v1/openapi.json",
    ] {
        assert!(served["paths"].get(route).is_some(), "{route} is missing from the document");
    }
}

#[test]
fn doctor_reports_a_healthy_daemon_and_a_stale_socket() {
    let home = Home::new();
    let daemon = home.serve();
    let report = home.ok(&["doctor"]);
    assert!(report.lines().all(|line| line.starts_with("ok")), "{report}");
    assert!(report.contains("answers on"), "{report}");
    drop(daemon); // SIGKILL: the socket stays behind.
    let report = home.ok(&["doctor"]);
    assert!(report.contains("warn  daemon") && report.contains("stale socket"), "{report}");
}

#[test]
fn doctor_names_the_config_file_it_looked_for_and_reports_a_bad_one_among_its_other_checks() {
    let home = Home::new();
    let daemon = home.serve();
    let config = home.dir.path().join("config/baton/config.toml");
    let report = home.ok(&["doctor"]);
    let looked = format!("ok    config file  none at {}; defaults in use", config.display());
    assert!(report.lines().any(|line| line == looked), "{report}");

    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[engine]\nwatchdog_intervall = 5\n").unwrap();
    let doctor = home.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    let failed = format!(
        "FAIL  config file  invalid config file {}: line 2: unknown key `engine.watchdog_intervall`; the other checks use \
         the defaults",
        config.display()
    );
    assert!(report.lines().any(|line| line == failed), "{report}");
    // Every other check ran, the daemon's among them.
    for check in ["data dir", "daemon", "store"] {
        assert!(report.lines().any(|line| line[6..].starts_with(check)), "no {check} check: {report}");
    }
    assert!(report.contains("answers on"), "{report}");
    drop(daemon);
}

#[test]
fn completion_scripts_are_printed_for_each_shell() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = home.ok(&["completions", shell]);
        assert!(script.contains("baton") && script.contains("session"), "{shell}: {script}");
    }
    home.fails(&["completions", "tcsh"], 2);
}

#[test]
fn every_answer_names_the_daemon_version() {
    let home = Home::new();
    let _daemon = home.serve();
    let expected = format!("baton-version: {}", env!("CARGO_PKG_VERSION"));
    for path in ["/v1/health", "/v1/sessions/not-an-id", "/no/such/route"] {
        let (_, head, _) = super::harness::request_with_head(&home.socket(), "GET", path, None).unwrap();
        assert!(head.to_lowercase().contains(&expected), "{path}: {head}");
    }
    // Same version: no warning.
    let output = home.run(&["session", "list"]);
    assert!(output.status.success() && output.stderr.is_empty(), "{}", super::harness::describe(&output));
}

/// Writes into the store of `home`'s data dir, before its daemon starts, an
/// event of every type (sequence numbers 1 to N), a record that does not
/// decode (N + 1) and one more event (N + 2); returns the events and the
/// corrupt record's sequence number.
fn store_every_event_type_and_a_corrupt_record(home: &Home) -> (Vec<baton::Event>, u64) {
    use baton::engine::model::NewEvent;

    let db = sled::open(home.data_dir().join("store")).unwrap();
    let meta = db.open_tree("meta").unwrap();
    meta.insert("schema_version", &baton::engine::store::SCHEMA_VERSION.to_be_bytes()).unwrap();
    let tree = db.open_tree("events").unwrap();
    let session = baton::SessionId::new();
    let kinds = crate::support::one_event_kind_of_each_type();
    let corrupt = kinds.len() as u64 + 1;
    let last = baton::EventKind::SessionOpened { name: None, external_id: None };
    let seqs = (1..corrupt).chain([corrupt + 1]);
    let events: Vec<baton::Event> = seqs
        .zip(kinds.into_iter().chain([last]))
        .map(|(seq, kind)| NewEvent::session(session, chrono::Utc::now(), kind).sequenced(seq))
        .collect();
    for event in &events {
        tree.insert(event.seq.to_be_bytes(), serde_json::to_vec(event).unwrap()).unwrap();
    }
    tree.insert(corrupt.to_be_bytes(), b"{\"seq\":".as_slice()).unwrap();
    db.flush().unwrap();
    (events, corrupt)
}

/// Issue 18: one dead-lettered observation (its event held `seq` twice) broke
/// `baton events`, `--follow` and the log for good; a record that does not
/// decode is now skipped, logged, counted and reported.
#[test]
fn events_of_every_type_are_listed_and_streamed_past_a_corrupt_record() {
    let home = Home::new();
    let (events, corrupt) = store_every_event_type_and_a_corrupt_record(&home);
    let daemon = home.serve();

    let (status, body) = request(&home.socket(), "GET", "/v1/events/log?limit=1000", None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Vec<baton::Event>>(&body).unwrap(), events);
    let listed: Vec<baton::Event> = serde_json::from_str(&home.ok(&["events", "--json"])).unwrap();
    assert_eq!(listed, events);
    let table = home.ok(&["events"]);
    assert_eq!(table.lines().count(), events.len(), "{table}");
    assert!(table.contains("observation_dead") && table.contains("\"observation_seq\":4"), "{table}");

    let mut follower =
        home.command(&["events", "--follow", "--after", "0", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines_rx = lines_of(follower.stdout.take().unwrap());
    let mut streamed = Vec::new();
    while streamed.len() < events.len() {
        let line = lines_rx.recv_timeout(DEADLINE).expect("the follower stopped short of the last event");
        streamed.push(serde_json::from_str::<baton::Event>(&line).unwrap());
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(streamed, events);

    let (_, metrics) = request(&home.socket(), "GET", "/metrics", None).unwrap();
    assert!(metrics.contains("baton_store_corrupt_records_total 1\n"), "{metrics}");
    // doctor reads every record back: the damaged one fails the store's check, by its key.
    let key = format!("{corrupt:016x}");
    let doctor = home.command(&["doctor"]).output().unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("store records") && report.contains("1 skipped as undecodable"), "{report}");
    assert!(report.lines().any(|line| line.starts_with("FAIL  store") && line.contains(&key)), "{report}");
    let (_, log) = daemon.terminate();
    assert!(log.lines().any(|line| line.contains("WARN") && line.contains(&key)), "{log}");
}

/// Issue 18: `baton completions bash | head -1` panicked (exit 101), and
/// `baton ps --json | head` printed `baton: Broken pipe (os error 32)`.
#[test]
fn a_command_whose_stdout_is_closed_stops_quietly_with_success() {
    let home = Home::new();
    let _daemon = home.serve();
    home.ok(&["session", "open"]);
    let commands: [&[&str]; 7] = [
        &["completions", "bash"],
        &["ps", "--json"],
        &["ps"],
        &["session", "list", "--json"],
        &["session", "list"],
        &["events"],
        &["--help"],
    ];
    for args in commands {
        let mut child = home.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "baton {args:?}: {}", describe(&output));
        assert!(output.stderr.is_empty(), "baton {args:?}: {}", describe(&output));
    }
}

/// The lines `stdout` prints, read on a thread of their own so that a wait
/// for one never blocks on a process that prints nothing yet.
fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    lines_rx
}
