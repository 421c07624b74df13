use std::path::Path;

use super::*;

fn command(path: &str) -> HookCommand {
    HookCommand::new(Path::new(path)).unwrap()
}

fn parse(text: &str) -> OrderedJson {
    serde_json::from_str(text).unwrap()
}

fn compact(document: &OrderedJson) -> String {
    serde_json::to_string(document).unwrap()
}

#[test]
fn tool_events_get_a_star_matcher_and_the_others_none() {
    let mut document = parse("{}");
    let events = [HookEventName::PostToolUse, HookEventName::Stop];
    let changes = install_into(&mut document, &command("/bin/baton"), 5, &events).unwrap();
    assert_eq!(changes, [(HookEventName::PostToolUse, EventChange::Added), (HookEventName::Stop, EventChange::Added)]);
    assert_eq!(
        compact(&document),
        r#"{"hooks":{"PostToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"/bin/baton hook","timeout":5}]}],"#
            .to_owned()
            + r#""Stop":[{"hooks":[{"type":"command","command":"/bin/baton hook","timeout":5}]}]}}"#
    );
}

#[test]
fn a_baton_entry_in_a_users_group_is_moved_out_into_its_own_group_in_that_place() {
    let mut document = parse(
        r#"{"hooks":{"Stop":[
            {"hooks":[{"type":"command","command":"first"}]},
            {"hooks":[{"type":"command","command":"notify-send done"},{"type":"command","command":"/old/baton hook","timeout":30}]}
        ]}}"#,
    );
    let changes = install_into(&mut document, &command("/new/baton"), 5, &[HookEventName::Stop]).unwrap();
    assert_eq!(changes, [(HookEventName::Stop, EventChange::Updated)]);
    assert_eq!(
        compact(&document),
        r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"first"}]},"#.to_owned()
            + r#"{"hooks":[{"type":"command","command":"/new/baton hook","timeout":5}]},"#
            + r#"{"hooks":[{"type":"command","command":"notify-send done"}]}]}}"#
    );
}

#[test]
fn duplicate_baton_entries_become_one() {
    let ours = r#"{"hooks":[{"type":"command","command":"/bin/baton hook","timeout":5}]}"#;
    let mut document = parse(&format!(r#"{{"hooks":{{"Stop":[{ours},{ours}]}}}}"#));
    let changes = install_into(&mut document, &command("/bin/baton"), 5, &[HookEventName::Stop]).unwrap();
    assert_eq!(changes, [(HookEventName::Stop, EventChange::Updated)]);
    assert_eq!(compact(&document), format!(r#"{{"hooks":{{"Stop":[{ours}]}}}}"#));
}

#[test]
fn the_same_entry_with_its_keys_in_another_order_is_unchanged() {
    let mut document = parse(
        r#"{"hooks":{"PostToolUse":[{"hooks":[{"timeout":5,"command":"/bin/baton hook","type":"command"}],"matcher":"*"}]}}"#,
    );
    let before = compact(&document);
    let changes = install_into(&mut document, &command("/bin/baton"), 5, &[HookEventName::PostToolUse]).unwrap();
    assert_eq!(changes, [(HookEventName::PostToolUse, EventChange::Unchanged)]);
    assert_eq!(compact(&document), before);
}

#[test]
fn a_baton_entry_under_a_narrower_matcher_is_updated() {
    let mut document = parse(
        r#"{"hooks":{"PostToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"/bin/baton hook","timeout":5}]}]}}"#,
    );
    let changes = install_into(&mut document, &command("/bin/baton"), 5, &[HookEventName::PostToolUse]).unwrap();
    assert_eq!(changes, [(HookEventName::PostToolUse, EventChange::Updated)]);
    assert!(compact(&document).contains(r#""matcher":"*""#), "{}", compact(&document));
}

#[test]
fn ill_shaped_settings_are_refused_with_where_and_what() {
    for (text, expected) in [
        ("[]", "the settings are an array, not an object"),
        (r#"{"hooks":[]}"#, r#""hooks" is an array, not an object"#),
        (r#"{"hooks":{"Stop":{}}}"#, r#""hooks"."Stop" is an object, not an array"#),
        (r#"{"hooks":{"Other":["x"]}}"#, r#""hooks"."Other"[0] is a string, not an object"#),
        (r#"{"hooks":{"Stop":[{"hooks":[]},{"hooks":null}]}}"#, r#""hooks"."Stop"[1]."hooks" is null, not an array"#),
    ] {
        let mut document = parse(text);
        let err = install_into(&mut document, &command("/bin/baton"), 5, &[HookEventName::Stop]).unwrap_err();
        assert_eq!(err, ShapeError(expected.to_owned()), "{text}");
        assert_eq!(compact(&document), compact(&parse(text)), "{text} was changed");
        assert_eq!(uninstall_from(&mut document).unwrap_err(), ShapeError(expected.to_owned()), "{text}");
    }
}

#[test]
fn uninstall_drops_emptied_groups_and_events_and_keeps_the_rest() {
    let mut document = parse(
        r#"{"a":1,"hooks":{
            "Stop":[{"hooks":[{"type":"command","command":"baton hook"}]}],
            "PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"guard"},{"type":"command","command":"baton hook"}]}],
            "Notification":[{"hooks":[]}]
        },"z":2}"#,
    );
    let changes = uninstall_from(&mut document).unwrap();
    assert_eq!(
        changes,
        [(HookEventName::Stop, EventChange::Removed), (HookEventName::PreToolUse, EventChange::Removed)]
    );
    assert_eq!(
        compact(&document),
        r#"{"a":1,"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"guard"}]}],"#
            .to_owned()
            + r#""Notification":[{"hooks":[]}]},"z":2}"#
    );
}

#[test]
fn uninstall_drops_hooks_only_when_it_emptied_it() {
    let mut document = parse(r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"baton hook"}]}]},"z":2}"#);
    uninstall_from(&mut document).unwrap();
    assert_eq!(compact(&document), r#"{"z":2}"#);

    let mut document = parse(r#"{"hooks":{},"z":2}"#);
    assert_eq!(uninstall_from(&mut document).unwrap(), []);
    assert_eq!(compact(&document), r#"{"hooks":{},"z":2}"#);
}

#[test]
fn entries_of_another_type_or_without_a_command_are_not_ours() {
    let mut document = parse(
        r#"{"hooks":{"Stop":[{"hooks":[{"type":"prompt","command":"baton hook"},{"type":"command"},"baton hook"]}]}}"#,
    );
    let before = compact(&document);
    assert_eq!(uninstall_from(&mut document).unwrap(), []);
    assert_eq!(compact(&document), before);
}
