//! `baton session ...` end to end, in tables and in JSON, with its exit codes.

use super::harness::Home;

#[test]
fn open_list_show_and_close_a_session() {
    let home = Home::new();
    let _daemon = home.serve();
    let id = home
        .ok(&["session", "open", "--name", "refactor", "--external-id", "claude-1", "--meta", "k=v", "--cwd", "/src"])
        .trim()
        .to_owned();
    assert_eq!(id.len(), 36, "not a session id: {id}");

    // Idempotent by external id.
    assert_eq!(home.ok(&["session", "open", "--external-id", "claude-1"]).trim(), id);
    // Another name does not rename it, and the answer says so.
    let again = home.run(&["session", "open", "--external-id", "claude-1", "--name", "other"]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), id);
    let said = format!(
        "baton: session {id} already has external id \"claude-1\": it is returned as it is, and its name stays \"refactor\" (not \"other\")\n"
    );
    assert_eq!(String::from_utf8_lossy(&again.stderr), said);

    let table = home.ok(&["session", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATE"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[1].starts_with(&id) && lines[1].contains("active") && lines[1].contains("claude-1"), "{table}");

    let shown = home.ok(&["session", "show", &id]);
    assert!(shown.contains("refactor") && shown.contains("k=v") && shown.contains("/src"), "{shown}");

    assert_eq!(home.ok(&["session", "close", &id, "--reason", "done"]).trim(), format!("closed {id}"));
    let closed: serde_json::Value = serde_json::from_str(&home.ok(&["session", "show", &id, "--json"])).unwrap();
    assert_eq!((closed["state"].as_str(), closed["reason"].as_str()), (Some("closed"), Some("done")));
}

#[test]
fn json_output_parses_for_every_session_verb() {
    let home = Home::new();
    let _daemon = home.serve();
    let opened: serde_json::Value =
        serde_json::from_str(&home.ok(&["--json", "session", "open", "--name", "a"])).unwrap();
    let id = opened["id"].as_str().unwrap();
    let listed: serde_json::Value = serde_json::from_str(&home.ok(&["session", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let active: serde_json::Value =
        serde_json::from_str(&home.ok(&["session", "list", "--state", "active", "--json"])).unwrap();
    assert_eq!(active[0]["id"].as_str(), Some(id));
    let closed: serde_json::Value = serde_json::from_str(&home.ok(&["session", "close", id, "--json"])).unwrap();
    assert_eq!(closed["state"], "closed");
    let none: serde_json::Value =
        serde_json::from_str(&home.ok(&["session", "list", "--state", "active", "--json"])).unwrap();
    assert_eq!(none, serde_json::json!([]));
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let home = Home::new();
    // 3: no daemon, and autostart is off.
    let stderr = home.fails(&["session", "list"], 3);
    assert!(stderr.starts_with("baton: cannot reach the baton daemon"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let _daemon = home.serve();
    // 4: an unknown id.
    let unknown = "01890000-0000-7000-8000-000000000000";
    let stderr = home.fails(&["session", "show", unknown], 4);
    assert_eq!(stderr.trim(), format!("baton: no session {unknown}"));
    // 5: an invalid transition.
    let id = home.ok(&["session", "open"]).trim().to_owned();
    home.ok(&["session", "close", &id]);
    let stderr = home.fails(&["session", "close", &id], 5);
    assert_eq!(stderr.trim(), format!("baton: session {id} is already closed"));
    // 2: usage (a malformed id, an unknown state, a bad label).
    home.fails(&["session", "show", "not-an-id"], 2);
    let stderr = home.fails(&["session", "list", "--state", "sleeping"], 2);
    let says = "\"sleeping\" is not a session state (one of: active, idle, closing, closed, failed)";
    assert!(stderr.contains(says), "{stderr}");
    home.fails(&["session", "open", "--meta", "novalue"], 2);
}
