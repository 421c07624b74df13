use std::collections::BTreeMap;
use std::path::Path;

use baton_actors::model::ObservationKind;
use serde_json::{Value, json};

use super::*;

const SESSION: &str = "7f3a2c1e-claude";

/// An event as Claude Code writes it: the common fields plus `extra`.
fn event(name: &str, extra: Value) -> Value {
    let mut event = json!({
        "session_id": SESSION,
        "transcript_path": "/home/u/.claude/projects/p/7f3a.jsonl",
        "cwd": "/home/u/project",
        "permission_mode": "default",
        "hook_event_name": name,
    });
    let object = event.as_object_mut().unwrap();
    for (key, value) in extra.as_object().unwrap() {
        object.insert(key.clone(), value.clone());
    }
    event
}

fn action(raw: &Value) -> HookAction {
    HookEvent::parse(&serde_json::to_vec(raw).unwrap()).unwrap().into_action()
}

/// The kind, key and payload of an observe action; fails the test for any other.
fn observed(action: HookAction) -> (ObservationKind, Option<String>, Value) {
    match action {
        HookAction::Observe { external_id, kind, key, payload } => {
            assert_eq!(external_id, SESSION);
            (kind, key, payload)
        }
        other => panic!("expected an observation, got {other:?}"),
    }
}

#[test]
fn the_common_fields_are_read_out() {
    let parsed = HookEvent::parse(event("Stop", json!({})).to_string().as_bytes()).unwrap();
    assert_eq!(parsed.session_id(), SESSION);
    assert_eq!(parsed.name(), &HookEventName::Stop);
    assert_eq!(parsed.cwd(), Some(Path::new("/home/u/project")));
    assert_eq!(parsed.transcript_path(), Some(Path::new("/home/u/.claude/projects/p/7f3a.jsonl")));
}

#[test]
fn session_start_opens_the_session_with_its_metadata() {
    let raw = event("SessionStart", json!({"source": "resume", "model": "claude-opus-4", "agent_type": "plan"}));
    let expected_meta: BTreeMap<String, String> = [
        ("agent_type", "plan"),
        ("model", "claude-opus-4"),
        ("permission_mode", "default"),
        ("source", "resume"),
        ("transcript_path", "/home/u/.claude/projects/p/7f3a.jsonl"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(
        action(&raw),
        HookAction::Open {
            external_id: SESSION.to_owned(),
            cwd: Some("/home/u/project".into()),
            meta: expected_meta.clone()
        }
    );
    let open = HookEvent::from_value(raw).unwrap().open_session();
    assert_eq!(open.external_id.as_deref(), Some(SESSION));
    assert_eq!(open.cwd.as_deref(), Some(Path::new("/home/u/project")));
    assert_eq!(open.meta, expected_meta);
}

#[test]
fn session_start_without_optional_fields_opens_with_what_there_is() {
    let raw = json!({"session_id": SESSION, "hook_event_name": "SessionStart", "model": 4});
    assert_eq!(action(&raw), HookAction::Open { external_id: SESSION.to_owned(), cwd: None, meta: BTreeMap::new() });
}

#[test]
fn an_implicit_open_from_another_event_keeps_only_the_transcript_as_metadata() {
    let open = HookEvent::from_value(event("PostToolUse", json!({"model": "m"}))).unwrap().open_session();
    assert_eq!(open.meta.keys().collect::<Vec<_>>(), ["transcript_path"]);
    assert_eq!(open.cwd.as_deref(), Some(Path::new("/home/u/project")));
}

#[test]
fn a_prompt_is_a_prompt_observation_without_a_key() {
    let raw = event("UserPromptSubmit", json!({"prompt": "refactor the parser"}));
    assert_eq!(observed(action(&raw)), (ObservationKind::Prompt, None, raw));
}

#[test]
fn a_tool_use_is_keyed_by_its_tool_use_id() {
    let raw = event(
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_response": "a\nb", "tool_use_id": "toolu_01"}),
    );
    assert_eq!(observed(action(&raw)), (ObservationKind::ToolUse, Some("toolu_01".to_owned()), raw));
}

#[test]
fn a_tool_use_without_a_tool_use_id_has_no_key() {
    let raw = event("PostToolUse", json!({"tool_name": "Read", "tool_input": {}}));
    assert_eq!(observed(action(&raw)).1, None);
}

#[test]
fn a_failed_tool_use_is_a_tool_use_keyed_apart_from_the_success_key_space() {
    let raw = event(
        "PostToolUseFailure",
        json!({"tool_name": "Bash", "tool_input": {}, "tool_use_id": "toolu_01", "error": "exit 1", "is_interrupt": false}),
    );
    assert_eq!(observed(action(&raw)), (ObservationKind::ToolUse, Some("failure:toolu_01".to_owned()), raw));
}

#[test]
fn a_pre_tool_use_is_custom_and_keyed_apart_from_the_tool_use() {
    let raw = event("PreToolUse", json!({"tool_name": "Bash", "tool_input": {}, "tool_use_id": "toolu_01"}));
    assert_eq!(observed(action(&raw)), (ObservationKind::Custom, Some("pre:toolu_01".to_owned()), raw));
}

#[test]
fn a_notification_is_a_notification_observation() {
    let raw = event("Notification", json!({"message": "Claude needs permission", "notification_type": "permission"}));
    assert_eq!(observed(action(&raw)), (ObservationKind::Notification, None, raw));
}

#[test]
fn subagents_and_compaction_are_custom_observations() {
    for (name, extra) in [
        ("SubagentStart", json!({"agent_id": "a1", "agent_type": "Explore"})),
        ("SubagentStop", json!({"agent_id": "a1", "stop_hook_active": false, "last_assistant_message": "done"})),
        ("PreCompact", json!({"trigger": "auto", "custom_instructions": ""})),
    ] {
        let raw = event(name, extra);
        assert_eq!(observed(action(&raw)), (ObservationKind::Custom, None, raw), "{name}");
    }
}

#[test]
fn stop_is_a_summarize_marker_carrying_the_event() {
    let raw = event("Stop", json!({"stop_hook_active": false, "last_assistant_message": "All tests pass."}));
    assert_eq!(action(&raw), HookAction::Summarize { external_id: SESSION.to_owned(), payload: raw });
}

#[test]
fn session_end_closes_the_session_with_its_reason() {
    let raw = event("SessionEnd", json!({"reason": "prompt_input_exit"}));
    assert_eq!(
        action(&raw),
        HookAction::Close { external_id: SESSION.to_owned(), reason: Some("prompt_input_exit".to_owned()) }
    );
    let without = action(&event("SessionEnd", json!({})));
    assert_eq!(without, HookAction::Close { external_id: SESSION.to_owned(), reason: None });
}

#[test]
fn an_unknown_event_becomes_a_custom_observation_with_its_name_kept() {
    let raw = event("PermissionRequest", json!({"tool_name": "Bash"}));
    let parsed = HookEvent::from_value(raw.clone()).unwrap();
    assert_eq!(parsed.name(), &HookEventName::Other("PermissionRequest".to_owned()));
    let (kind, key, payload) = observed(parsed.into_action());
    assert_eq!((kind, key), (ObservationKind::Custom, None));
    assert_eq!(payload["hook_event_name"], "PermissionRequest");
}

#[test]
fn unknown_fields_are_kept_in_the_payload() {
    let raw = event("PostToolUse", json!({"tool_use_id": "t", "added_in_v3": {"nested": [1, 2]}}));
    let (_, _, payload) = observed(action(&raw));
    assert_eq!(payload["added_in_v3"], json!({"nested": [1, 2]}));
    assert_eq!(payload, raw);
}

#[test]
fn every_action_names_the_session() {
    for name in HookEventName::KNOWN {
        let parsed = HookEvent::from_value(event(name.as_str(), json!({}))).unwrap();
        assert_eq!(parsed.name(), name);
        assert_eq!(parsed.into_action().external_id(), SESSION, "{name}");
    }
}

#[test]
fn event_names_parse_back() {
    for name in HookEventName::KNOWN {
        assert_eq!(&HookEventName::parse(name.as_str()), name);
    }
    assert_eq!(HookEventName::parse("postToolUse"), HookEventName::Other("postToolUse".to_owned()));
    assert_eq!(HookEventName::Other("X".to_owned()).to_string(), "X");
}

#[test]
fn malformed_input_gets_a_clear_one_line_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "the hook input is empty: expected one JSON object on stdin"),
        (b" \n", "the hook input is empty: expected one JSON object on stdin"),
        (b"{\"session_id\": ", "the hook input is not JSON: EOF while parsing a value at line 1 column 15"),
        (b"{} {}", "the hook input is not JSON: trailing characters at line 1 column 4"),
        (b"[1, 2]", "the hook input is an array, not a JSON object"),
        (b"\"hi\"", "the hook input is a string, not a JSON object"),
        (b"{\"hook_event_name\": \"Stop\"}", "the hook input has no \"session_id\" field"),
        (b"{\"session_id\": \"s\"}", "the hook input has no \"hook_event_name\" field"),
        (
            b"{\"session_id\": 7, \"hook_event_name\": \"Stop\"}",
            "\"session_id\" in the hook input is a number, not a non-empty string",
        ),
        (
            b"{\"session_id\": \"\", \"hook_event_name\": \"Stop\"}",
            "\"session_id\" in the hook input is an empty string, not a non-empty string",
        ),
        (
            b"{\"session_id\": \"s\", \"hook_event_name\": null}",
            "\"hook_event_name\" in the hook input is null, not a non-empty string",
        ),
    ];
    for (input, expected) in cases {
        let err = HookEvent::parse(input).unwrap_err();
        assert_eq!(err.to_string(), *expected, "input {:?}", String::from_utf8_lossy(input));
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn an_optional_field_of_another_type_is_treated_as_absent() {
    let raw = json!({"session_id": "s", "hook_event_name": "Stop", "cwd": ["not", "a", "path"], "transcript_path": 3});
    let parsed = HookEvent::from_value(raw.clone()).unwrap();
    assert_eq!((parsed.cwd(), parsed.transcript_path()), (None, None));
    assert_eq!(parsed.into_raw(), raw);
}

#[test]
fn debug_shows_prompts_and_payloads_only_by_size() {
    let raw = event("UserPromptSubmit", json!({"prompt": "my password is hunter2"}));
    let size = serde_json::to_string(&raw).unwrap().len();
    let parsed = HookEvent::from_value(raw).unwrap();
    let shown = format!("{parsed:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&format!("<{size} bytes>")), "{shown}");
    assert!(shown.contains(SESSION), "{shown}");

    let shown = format!("{:?}", parsed.into_action());
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(&format!("<{size} bytes>")), "{shown}");
    let shown = format!("{:?}", action(&event("Stop", json!({"last_assistant_message": "token sk-123"}))));
    assert!(!shown.contains("sk-123") && shown.starts_with("Summarize"), "{shown}");
}
