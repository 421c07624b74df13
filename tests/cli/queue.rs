//! `baton observe` and `baton queue ...` end to end against the real daemon,
//! with bad input over raw HTTP that the CLI never sends.

use serde_json::{Value, json};

use std::process::Stdio;

use super::harness::{Home, error_code, hang_up, request};

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn open_session(home: &Home) -> String {
    home.ok(&["session", "open", "--name", "queue"]).trim().to_owned()
}

/// Issue 18: a `queue claim --wait` killed while it waited took the next
/// observation, leased to nobody for a minute, and spent one of its attempts.
#[test]
fn a_killed_waiting_claim_takes_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = open_session(&home);
    let call = home
        .command(&["queue", "claim", "--session", &id, "--consumer", "gone", "--wait", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    hang_up(&home, call);

    home.ok(&["observe", "--session", &id, "--data", "{}"]);
    let pending = json_of(&home.ok(&["queue", "list", "--session", &id, "--state", "pending", "--json"]));
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let claimed = json_of(&home.ok(&["queue", "claim", "--session", &id, "--consumer", "here", "--json"]));
    assert_eq!((claimed[0]["seq"].as_u64(), claimed[0]["attempts"].as_u64()), (Some(1), Some(1)), "{claimed}");
    assert_eq!(claimed[0]["lease"]["consumer"], "here", "{claimed}");
}

#[test]
fn observe_claim_and_ack_through_the_cli() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = open_session(&home);

    let seq = home.ok(&[
        "observe",
        "--session",
        &id,
        "--kind",
        "tool_use",
        "--key",
        "toolu_1",
        "--data",
        r#"{"tool":"Read"}"#,
    ]);
    assert_eq!(seq.trim(), "1");
    let again = home.ok(&["observe", "--session", &id, "--kind", "tool_use", "--key", "toolu_1", "--data", "{}"]);
    assert_eq!(again.trim(), "1 (already queued under this key)");
    // The payload from stdin.
    let mut command = home.command(&["observe", "--session", &id, "--kind", "prompt", "--json"]);
    command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), br#"{"prompt": "fix the tests"}"#).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(json_of(&String::from_utf8_lossy(&output.stdout)), json!({"seq": 2, "duplicate": false}));

    let table = home.ok(&["queue", "claim", "--session", &id, "--consumer", "summarizer", "--lease", "5m"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SEQ") && lines[0].contains("PAYLOAD"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[1].starts_with('1') && lines[1].contains("tool_use") && lines[1].contains("toolu_1"), "{table}");
    assert!(lines[2].contains("fix the tests"), "{table}");

    let stats = json_of(&home.ok(&["queue", "stats", "--session", &id, "--json"]));
    assert_eq!((stats["pending"].as_u64(), stats["leased"].as_u64()), (Some(0), Some(2)));

    assert_eq!(home.ok(&["queue", "ack", "--session", &id, "--consumer", "summarizer", "1", "2"]).trim(), "acked 2");
    assert_eq!(home.ok(&["queue", "ack", "--session", &id, "1"]).trim(), "acked 0; 1 was acked before");
    let acked = json_of(&home.ok(&["queue", "list", "--session", &id, "--state", "acked", "--json"]));
    assert_eq!(acked.as_array().unwrap().len(), 2);
    let stats = json_of(&home.ok(&["queue", "stats", "--session", &id, "--json"]));
    assert_eq!(
        (stats["leased"].as_u64(), stats["acked"].as_u64(), stats["next_seq"].as_u64()),
        (Some(0), Some(2), Some(3))
    );
}

#[test]
fn nacked_too_often_an_observation_is_dead_until_requeued() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = open_session(&home);
    home.ok(&["observe", "--session", &id, "--data", r#""flaky""#]);
    for _ in 0..5 {
        let claimed = json_of(&home.ok(&["queue", "claim", "--session", &id, "--json"]));
        assert_eq!(claimed[0]["seq"], 1);
        home.ok(&["queue", "nack", "--session", &id, "1"]);
    }
    let claimed = json_of(&home.ok(&["queue", "claim", "--session", &id, "--json"]));
    assert_eq!(claimed, json!([]), "a dead observation is not handed out");
    let dead = home.ok(&["queue", "dead", "--session", &id]);
    assert!(dead.contains("nacked after 5 attempts (max 5)"), "{dead}");
    assert_eq!(home.ok(&["queue", "requeue", "--session", &id, "--all"]).trim(), "requeued 1");
    let claimed = json_of(&home.ok(&["queue", "claim", "--session", &id, "--json"]));
    assert_eq!((claimed[0]["seq"].as_u64(), claimed[0]["attempts"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn closing_drains_or_discards_the_queue() {
    let home = Home::new();
    let _daemon = home.serve();
    let draining = open_session(&home);
    home.ok(&["observe", "--session", &draining, "--data", "1"]);
    let said = home.ok(&["session", "close", &draining, "--drain"]);
    assert_eq!(said.trim(), format!("closing {draining} (draining 1 observations)"));
    let stderr = home.fails(&["observe", "--session", &draining, "--data", "2"], 5);
    assert_eq!(stderr.trim(), format!("baton: session {draining} is closing; it takes no new observations"));
    home.ok(&["queue", "claim", "--session", &draining]);
    home.ok(&["queue", "ack", "--session", &draining, "1"]);
    let closed = json_of(&home.ok(&["session", "show", &draining, "--json"]));
    assert_eq!((closed["state"].as_str(), closed["reason"].as_str()), (Some("closed"), Some("drained")));

    let discarding = open_session(&home);
    home.ok(&["observe", "--session", &discarding, "--data", "1"]);
    assert_eq!(home.ok(&["session", "close", &discarding, "--discard"]).trim(), format!("closed {discarding}"));
    let stats = json_of(&home.ok(&["queue", "stats", "--session", &discarding, "--json"]));
    assert_eq!(stats["pending"], 0);
    home.fails(&["session", "close", &discarding, "--drain", "--discard"], 2);
}

#[test]
fn a_posted_payload_is_stored_as_its_json_says() {
    let home = Home::new();
    let daemon = home.serve();
    let id = open_session(&home);
    let observations = format!("/v1/sessions/{id}/observations");
    let body = br#"{"kind": "tool_use", "payload": { "tool_name" : "Edit",
        "tool_input": {"file_path": "a.rs", "old_string": "x\ty", "n": [1, -2.5e3, null, true]} }}"#;
    let (status, answer) = request(&daemon.socket, "POST", &observations, Some(body)).unwrap();
    assert_eq!((status, json_of(&answer)), (200, json!({"seq": 1, "duplicate": false})));
    // Without a payload, it is null.
    let (status, _) = request(&daemon.socket, "POST", &observations, Some(br#"{"key": "k"}"#)).unwrap();
    assert_eq!(status, 200);
    let listed = json_of(&home.ok(&["queue", "list", "--session", &id, "--json"]));
    let payloads: Vec<&Value> = listed.as_array().unwrap().iter().map(|o| &o["payload"]).collect();
    let edit = json!({"tool_name": "Edit", "tool_input": {"file_path": "a.rs", "old_string": "x\ty", "n": [1, -2500.0, null, true]}});
    assert_eq!(payloads, [&edit, &Value::Null]);
}

#[test]
fn bad_queue_input_gets_a_clear_error_and_changes_nothing() {
    let home = Home::new();
    let daemon = home.serve();
    let id = open_session(&home);
    let socket = &daemon.socket;
    let observations = format!("/v1/sessions/{id}/observations");

    let (status, body) = request(socket, "POST", &observations, Some(b"{not json")).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    let (status, body) = request(socket, "POST", &observations, Some(br#"{"kind": "gossip"}"#)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    let (status, body) = request(socket, "POST", &observations, Some(br#"{"payload": 1, "extra": 2}"#)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    // JSON that would not read back once stored: refused, each with its cause.
    let deep = format!(r#"{{"payload": {}1{}}}"#, "[".repeat(101), "]".repeat(101));
    for (body, says) in [
        (r#"{"payload": {"s": "\ud800"}}"#.to_owned(), "not JSON that baton can store"),
        (r#"{"payload": [1e400]}"#.to_owned(), "number out of range"),
        (deep, "the payload nests more than 100 levels of arrays and objects"),
    ] {
        let (status, answer) = request(socket, "POST", &observations, Some(body.as_bytes())).unwrap();
        assert_eq!((status, error_code(&answer).as_str()), (400, "bad_request"), "{body}");
        assert!(json_of(&answer)["error"]["message"].as_str().unwrap().contains(says), "{answer}");
    }
    let oversized = serde_json::to_vec(&json!({"payload": "x".repeat(1024 * 1024)})).unwrap();
    let (status, body) = request(socket, "POST", &observations, Some(&oversized)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (413, "payload_too_large"));
    let unknown = "/v1/sessions/01890000-0000-7000-8000-000000000000/observations";
    let (status, body) = request(socket, "POST", unknown, Some(b"{}")).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));

    let claim = format!("/v1/sessions/{id}/queue/claim");
    let (status, body) = request(socket, "POST", &claim, Some(br#"{"consumer": "c", "max": 0}"#)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    let (status, body) = request(socket, "POST", &claim, Some(br#"{"consumer": "c", "wait_ms": 3600000}"#)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (400, "bad_request"));
    let ack = format!("/v1/sessions/{id}/queue/ack");
    // An observation the queue does not hold is a conflict: a 404 would say the session is gone.
    let (status, body) = request(socket, "POST", &ack, Some(br#"{"seqs": [1]}"#)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (409, "conflict"));

    // None of it stored anything.
    let stats = json_of(&home.ok(&["queue", "stats", "--session", &id, "--json"]));
    assert_eq!((stats["pending"].as_u64(), stats["next_seq"].as_u64()), (Some(0), Some(1)));

    // The CLI's own checks: a payload that is not JSON is a usage error.
    home.fails(&["observe", "--session", &id, "--data", "{oops"], 2);
    let stderr = home.fails(&["observe", "--session", &id, "--data", r#"{"s": "\ud800"}"#], 2);
    assert!(stderr.contains("the payload is not JSON that baton can store"), "{stderr}");
    home.fails(&["observe", "--session", &id, "--kind", "gossip", "--data", "1"], 2);
    home.fails(&["queue", "requeue", "--session", &id], 2);
    let stderr = home.fails(&["queue", "ack", "--session", &id, "7"], 5);
    assert_eq!(stderr.trim(), format!("baton: session {id} has no observation 7"));
}

/// Issue 18: a drained session's record said `drained` where the close had
/// given a reason.
#[test]
fn the_reason_a_close_gives_is_kept_once_the_queue_drains() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = open_session(&home);
    home.ok(&["observe", "--session", &id, "--data", "1"]);
    let said = home.ok(&["session", "close", &id, "--reason", "done for today"]);
    assert_eq!(said.trim(), format!("closing {id} (done for today)"));
    home.ok(&["queue", "claim", "--session", &id]);
    home.ok(&["queue", "ack", "--session", &id, "1"]);
    let closed = json_of(&home.ok(&["session", "show", &id, "--json"]));
    assert_eq!((closed["state"].as_str(), closed["reason"].as_str()), (Some("closed"), Some("done for today")));
    let events = home.ok(&["events", "--session", &id]);
    let last = events.lines().last().unwrap();
    assert!(last.contains(r#""from":"closing","reason":"done for today","to":"closed""#), "{events}");
}
