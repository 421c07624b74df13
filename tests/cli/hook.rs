//! `baton hook` as Claude Code runs it: a realistic session replayed through
//! the real binary, the daemon down (spooled, then delivered once), malformed
//! input, and installing into settings files that hold other hooks.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

use super::harness::{Home, describe};
use crate::support::{DEADLINE, eventually_blocking};

const CLAUDE_SESSION: &str = "3f2c9a4e-claude-session";

/// Runs `baton hook` with `event` on stdin, as Claude Code does.
fn hook(home: &Home, event: &Value) -> Output {
    run_with_stdin(home.command(&["hook"]), &serde_json::to_vec(event).unwrap())
}

fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn event(name: &str, extra: Value) -> Value {
    let mut event = json!({
        "session_id": CLAUDE_SESSION,
        "transcript_path": "/home/dev/.claude/projects/app/3f2c9a4e.jsonl",
        "cwd": "/home/dev/app",
        "hook_event_name": name,
        "permission_mode": "default",
    });
    event.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    event
}

/// Every event kind of CLAUDE_CODE_HOOKS.md, a repeated tool use, an unknown
/// field and an unknown event, in the order a session sends them.
fn realistic_session() -> Vec<Value> {
    let read = json!({"tool_name": "Read", "tool_input": {"file_path": "src/main.rs"},
                      "tool_response": {"content": "fn main() {}"}, "tool_use_id": "toolu_01"});
    vec![
        event("SessionStart", json!({"source": "startup", "model": "claude-sonnet-4"})),
        event("UserPromptSubmit", json!({"prompt": "make the tests pass"})),
        event(
            "PreToolUse",
            json!({"tool_name": "Read", "tool_input": {"file_path": "src/main.rs"}, "tool_use_id": "toolu_01"}),
        ),
        event("PostToolUse", read.clone()),
        // Claude Code retried the same hook: one observation.
        event("PostToolUse", read),
        event(
            "PostToolUseFailure",
            json!({"tool_name": "Bash", "tool_input": {"command": "cargo test"},
                                            "tool_use_id": "toolu_02", "error": "exit 101", "is_interrupt": false}),
        ),
        event(
            "Notification",
            json!({"message": "Claude needs your permission", "title": "Permission",
                                     "notification_type": "permission_prompt", "new_field_from_2027": [1, 2]}),
        ),
        event("SubagentStart", json!({"agent_id": "sub-1", "agent_type": "explorer"})),
        event(
            "SubagentStop",
            json!({"agent_id": "sub-1", "agent_type": "explorer", "stop_hook_active": false,
                                     "agent_transcript_path": "/tmp/sub-1.jsonl", "last_assistant_message": "found it"}),
        ),
        event("PreCompact", json!({"trigger": "auto", "custom_instructions": ""})),
        event("Stop", json!({"stop_hook_active": false, "last_assistant_message": "done"})),
        event("TeleportRequested", json!({"destination": "mars"})),
        event("SessionEnd", json!({"reason": "prompt_input_exit"})),
    ]
}

fn session_of(home: &Home) -> Option<Value> {
    let sessions: Value = serde_json::from_str(&home.ok(&["session", "list", "--json"])).unwrap();
    // The newest holds the external id: an ended one may precede it.
    sessions.as_array().unwrap().iter().rev().find(|s| s["external_id"] == CLAUDE_SESSION).cloned()
}

fn observations(home: &Home, session: &str) -> Vec<Value> {
    let list = home.ok(&["queue", "list", "--session", session, "--limit", "1000", "--json"]);
    serde_json::from_str::<Value>(&list).unwrap().as_array().unwrap().clone()
}

/// (kind, hook event name, key) of each observation, in queue order.
fn summary(observations: &[Value]) -> Vec<(String, String, Option<String>)> {
    observations
        .iter()
        .map(|o| {
            let kind = o["kind"].as_str().unwrap().to_owned();
            let name = o["payload"]["hook_event_name"].as_str().unwrap().to_owned();
            (kind, name, o["key"].as_str().map(|key| key.split(':').next().unwrap().to_owned()))
        })
        .collect()
}

fn expected_summary() -> Vec<(String, String, Option<String>)> {
    [
        ("prompt", "UserPromptSubmit", Some("spool")),
        ("custom", "PreToolUse", Some("pre")),
        ("tool_use", "PostToolUse", Some("toolu_01")),
        ("tool_use", "PostToolUseFailure", Some("failure")),
        ("notification", "Notification", Some("spool")),
        ("custom", "SubagentStart", Some("spool")),
        ("custom", "SubagentStop", Some("spool")),
        ("custom", "PreCompact", Some("spool")),
        ("summarize", "Stop", Some("spool")),
        ("custom", "TeleportRequested", Some("spool")),
    ]
    .into_iter()
    .map(|(kind, name, key)| (kind.to_owned(), name.to_owned(), key.map(str::to_owned)))
    .collect()
}

#[test]
fn a_replayed_claude_code_session_becomes_a_session_and_its_observations() {
    let home = Home::new();
    let _daemon = home.serve();
    for event in realistic_session() {
        let output = hook(&home, &event);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(output.stderr.is_empty(), "{}", describe(&output));
    }

    let session = session_of(&home).expect("the session was opened");
    assert_eq!(session["cwd"], "/home/dev/app");
    assert_eq!(session["meta"]["transcript_path"], "/home/dev/.claude/projects/app/3f2c9a4e.jsonl");
    assert_eq!(session["meta"]["model"], "claude-sonnet-4");
    // SessionEnd closes it, keeping its queue until consumers drain it.
    assert_eq!(session["state"], "closing");
    let id = session["id"].as_str().unwrap();

    let observations = observations(&home, id);
    assert_eq!(summary(&observations), expected_summary());
    let seqs: Vec<u64> = observations.iter().map(|o| o["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>(), "the repeated tool use was stored once");
    assert_eq!(observations[2]["key"], "toolu_01");
    assert_eq!(observations[2]["payload"]["tool_response"]["content"], "fn main() {}");
    assert_eq!(observations[4]["payload"]["new_field_from_2027"], json!([1, 2]), "unknown fields are kept");
    assert_eq!(observations[9]["payload"]["destination"], "mars", "unknown events are kept");
}

#[test]
fn with_the_daemon_down_events_are_spooled_and_delivered_once_when_it_is_back() {
    let home = Home::new();
    let events = realistic_session();
    let (first, rest) = events.split_at(7);
    for event in first {
        let started = Instant::now();
        let output = hook(&home, event);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(started.elapsed() < DEADLINE / 4, "the hook took {:?}", started.elapsed());
    }
    let spool = std::fs::read_to_string(home.data_dir().join("hook-spool.jsonl")).unwrap();
    assert_eq!(spool.lines().count(), 7, "{spool}");

    // The daemon delivers the spool when it starts; later hooks go live.
    let _daemon = home.serve();
    eventually_blocking("the daemon to deliver the spool", || {
        let session = session_of(&home)?;
        (observations(&home, session["id"].as_str().unwrap()).len() == 5).then_some(())
    });
    for event in rest {
        let output = hook(&home, event);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    }
    assert!(!home.data_dir().join("hook-spool.jsonl").exists(), "the spool is emptied");
    let session = session_of(&home).unwrap();
    assert_eq!(summary(&observations(&home, session["id"].as_str().unwrap())), expected_summary());
}

#[test]
fn malformed_input_exits_0_and_stores_nothing() {
    let home = Home::new();
    let _daemon = home.serve();
    for input in [&b"not json"[..], b"[1, 2]", b"{\"hook_event_name\": \"Stop\"}", b""] {
        let output = run_with_stdin(home.command(&["hook"]), input);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(String::from_utf8_lossy(&output.stderr).contains("ignoring input that is not a hook event"));
    }
    assert_eq!(home.ok(&["session", "list", "--json"]).trim(), "[]");
    assert!(!home.data_dir().join("hook-spool.jsonl").exists());
}

#[test]
fn a_tool_use_the_engine_refuses_is_dropped_with_a_warning_and_later_ones_still_land() {
    let home = Home::new();
    let _daemon = home.serve();
    assert!(hook(&home, &event("SessionStart", json!({"source": "startup"}))).status.success());
    let deep = crate::support::nested(101);
    let refused = json!({"tool_name": "Read", "tool_input": {"file_path": "a.rs"}, "tool_response": deep,
                         "tool_use_id": "toolu_deep"});
    let output = hook(&home, &event("PostToolUse", refused));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the daemon refused the event; dropping it"), "{stderr}");
    assert!(stderr.contains("nests more than 100 levels"), "{stderr}");
    let fine = json!({"tool_name": "Read", "tool_input": {"file_path": "b.rs"}, "tool_response": {"content": "b"},
                      "tool_use_id": "toolu_fine"});
    assert!(hook(&home, &event("PostToolUse", fine)).status.success());
    let session = session_of(&home).expect("a session");
    let keys: Vec<Value> =
        observations(&home, session["id"].as_str().unwrap()).iter().map(|o| o["key"].clone()).collect();
    assert_eq!(keys, [json!("toolu_fine")]);
    assert!(!home.data_dir().join("hook-spool.jsonl").exists(), "a refused event is not spooled");
}

#[test]
fn install_and_uninstall_keep_other_hooks_and_settings() {
    let home = Home::new();
    let project = home.dir.path().join("app");
    let settings_path = project.join(".claude/settings.json");
    std::fs::create_dir_all(settings_path.parent().unwrap()).unwrap();
    let theirs = json!({
        "model": "opus",
        "hooks": {
            "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "prettier --write", "timeout": 30}]}],
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "guard.sh"}]}]
        }
    });
    std::fs::write(&settings_path, serde_json::to_string_pretty(&theirs).unwrap()).unwrap();
    let project_arg = project.to_str().unwrap();

    let said = home.ok(&["hook", "install", "--project", project_arg]);
    assert!(said.contains("installed baton's hook") && said.contains("PostToolUse"), "{said}");
    let installed: Value = serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert_eq!(installed["model"], "opus");
    assert_eq!(installed["hooks"]["PreToolUse"], theirs["hooks"]["PreToolUse"]);
    let post = installed["hooks"]["PostToolUse"].as_array().unwrap();
    assert_eq!(post[0], theirs["hooks"]["PostToolUse"][0]);
    let ours = &post[1]["hooks"][0];
    assert!(ours["command"].as_str().unwrap().ends_with("baton hook"), "{ours}");
    assert_eq!(ours["timeout"], 5);
    for name in ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd", "Notification", "PreCompact"] {
        assert!(installed["hooks"][name].is_array(), "no {name} hook in {installed}");
    }
    assert!(project.join(".claude/settings.json.baton.bak").exists());

    // Twice changes nothing.
    let before = std::fs::read(&settings_path).unwrap();
    assert!(home.ok(&["hook", "install", "--project", project_arg]).contains("already installed"));
    assert_eq!(std::fs::read(&settings_path).unwrap(), before);

    let said = home.ok(&["hook", "uninstall", "--project", project_arg]);
    assert!(said.contains("removed baton's hook"), "{said}");
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert_eq!(after, theirs);

    // A file that is not JSON is refused and left alone.
    std::fs::write(&settings_path, "{oops").unwrap();
    let stderr = home.fails(&["hook", "install", "--project", project_arg], 1);
    assert!(stderr.contains("is not valid JSON") && stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&settings_path).unwrap(), "{oops");
}

#[test]
fn a_claude_session_resumed_after_it_ended_is_recorded_in_a_new_session() {
    let home = Home::new();
    let _daemon = home.serve();
    for event in realistic_session() {
        assert_eq!(hook(&home, &event).status.code(), Some(0));
    }
    let ended = session_of(&home).expect("the first session");
    assert_eq!(ended["state"], "closing");

    // `claude --resume`: the same session id starts again, then works.
    let resumed = [
        event("SessionStart", json!({"source": "resume"})),
        event(
            "PostToolUse",
            json!({"tool_name": "Read", "tool_input": {"file_path": "src/lib.rs"},
                   "tool_response": {"content": "pub fn f() {}"}, "tool_use_id": "toolu_99"}),
        ),
    ];
    for event in &resumed {
        let output = hook(&home, event);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(output.stderr.is_empty(), "{}", describe(&output));
    }
    let session = session_of(&home).expect("the resumed session");
    assert_ne!(session["id"], ended["id"], "a new session takes the external id over");
    assert_eq!(session["state"], "active");
    let kept = observations(&home, session["id"].as_str().unwrap());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["key"], "toolu_99");
    // The ended one keeps its queue for its consumers.
    assert_eq!(observations(&home, ended["id"].as_str().unwrap()).len(), 10);
}
