//! Adding baton's hook entries to a Claude Code settings document and taking
//! them out again, touching nothing else.
//!
//! A settings document's `hooks` maps an event name to a list of matcher
//! groups, each `{"matcher": ..., "hooks": [entries]}`, and an entry is
//! `{"type": "command", "command": ..., "timeout": ...}`. Baton's entries are
//! told apart by their command alone ([`is_baton_hook_command`]). Baton keeps
//! each of its entries in a group of its own, so that removing it never
//! changes a group of the user's; a user's group that also held a baton entry
//! loses just that entry.
//!
//! The shape is checked before anything changes: a document whose `hooks`, an
//! event's list, a group or a group's `hooks` is of another type is refused as
//! a whole, since editing around what baton cannot read could lose it.

use super::command::{HookCommand, is_baton_hook_command};
use super::event::HookEventName;
use super::ordered_json::{Members, OrderedJson};

/// What happened to baton's entry for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventChange {
    /// There was none; one was added.
    Added,
    /// There was one with another command, timeout or matcher (an older
    /// baton, say), or more than one; they were replaced by one current entry.
    Updated,
    /// The current entry was already there.
    Unchanged,
    /// Baton's entries were taken out.
    Removed,
}

/// Where a settings document is not shaped as Claude Code's settings are, as a
/// phrase for an error message (`"hooks"."Stop"[0] is a string, not an object`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeError(pub(crate) String);

/// Makes `events` run `command` (each with `timeout_secs`) and no other event
/// run baton's hook; everything else in `settings` stays as it was.
pub(crate) fn install_into(
    settings: &mut OrderedJson,
    command: &HookCommand,
    timeout_secs: u64,
    events: &[HookEventName],
) -> Result<Vec<(HookEventName, EventChange)>, ShapeError> {
    let root = root(settings)?;
    if let Some(hooks) = root.get("hooks") {
        check_hooks(hooks)?;
    } else {
        root.insert("hooks", OrderedJson::Object(Members::default()));
    }
    let Some(hooks) = root.get_mut("hooks").and_then(OrderedJson::as_object_mut) else {
        unreachable!("hooks was checked to be an object, or was just made one");
    };
    let mut changes = Vec::new();
    for event in events {
        let wanted = our_group(event, command, timeout_secs);
        let groups = match hooks.get_mut(event.as_str()) {
            Some(OrderedJson::Array(groups)) => groups,
            _ => {
                hooks.insert(event.as_str(), OrderedJson::Array(vec![wanted]));
                changes.push((event.clone(), EventChange::Added));
                continue;
            }
        };
        changes.push((event.clone(), ensure_group(groups, wanted)));
    }
    let stale: Vec<String> =
        hook_event_names(hooks).into_iter().filter(|name| !events.iter().any(|event| event.as_str() == name)).collect();
    for name in stale {
        if remove_ours(hooks, &name) {
            changes.push((HookEventName::parse(&name), EventChange::Removed));
        }
    }
    Ok(changes)
}

/// Takes every baton entry out of `settings`, dropping the groups and event
/// lists that become empty, and `hooks` itself if it does.
pub(crate) fn uninstall_from(settings: &mut OrderedJson) -> Result<Vec<(HookEventName, EventChange)>, ShapeError> {
    let root = root(settings)?;
    let Some(hooks) = root.get("hooks") else {
        return Ok(Vec::new());
    };
    check_hooks(hooks)?;
    let Some(hooks_members) = root.get_mut("hooks").and_then(OrderedJson::as_object_mut) else {
        unreachable!("hooks was checked to be an object");
    };
    let mut changes = Vec::new();
    for name in hook_event_names(hooks_members) {
        if remove_ours(hooks_members, &name) {
            changes.push((HookEventName::parse(&name), EventChange::Removed));
        }
    }
    if !changes.is_empty() && hooks_members.is_empty() {
        root.remove("hooks");
    }
    Ok(changes)
}

/// The settings object itself.
fn root(settings: &mut OrderedJson) -> Result<&mut Members, ShapeError> {
    let found = settings.describe();
    settings.as_object_mut().ok_or_else(|| ShapeError(format!("the settings are {found}, not an object")))
}

/// Checks that `hooks` is an object of lists of groups, each group an object
/// whose `hooks` (when present) is a list.
fn check_hooks(hooks: &OrderedJson) -> Result<(), ShapeError> {
    let not = |path: String, value: &OrderedJson, expected: &str| {
        ShapeError(format!("{path} is {}, not {expected}", value.describe()))
    };
    let Some(events) = hooks.as_object() else {
        return Err(not("\"hooks\"".to_owned(), hooks, "an object"));
    };
    for (event, groups) in events.iter() {
        let path = format!("\"hooks\".{event:?}");
        let OrderedJson::Array(groups) = groups else {
            return Err(not(path, groups, "an array"));
        };
        for (index, group) in groups.iter().enumerate() {
            let path = format!("{path}[{index}]");
            let Some(group) = group.as_object() else {
                return Err(not(path, group, "an object"));
            };
            match group.get("hooks") {
                None | Some(OrderedJson::Array(_)) => {}
                Some(entries) => return Err(not(format!("{path}.\"hooks\""), entries, "an array")),
            }
        }
    }
    Ok(())
}

/// The group baton wants for `event`: a `*` matcher where the event filters by
/// tool, none elsewhere (which matches everything), and one entry.
fn our_group(event: &HookEventName, command: &HookCommand, timeout_secs: u64) -> OrderedJson {
    let entry: Members = [
        ("type", OrderedJson::String("command".to_owned())),
        ("command", OrderedJson::String(command.as_str().to_owned())),
        ("timeout", OrderedJson::Number(timeout_secs.into())),
    ]
    .into_iter()
    .collect();
    let mut group = Members::default();
    if event.takes_tool_matcher() {
        group.insert("matcher", OrderedJson::String("*".to_owned()));
    }
    group.insert("hooks", OrderedJson::Array(vec![OrderedJson::Object(entry)]));
    OrderedJson::Object(group)
}

/// Makes `wanted` baton's only group in `groups`: unchanged when it already
/// is (compared as JSON, so key order does not matter), else every baton entry
/// is taken out and `wanted` goes where the first of them was, or last.
fn ensure_group(groups: &mut Vec<OrderedJson>, wanted: OrderedJson) -> EventChange {
    let holding_ours: Vec<usize> =
        groups.iter().enumerate().filter(|(_, group)| count_ours(group) > 0).map(|(index, _)| index).collect();
    let ours_total: usize = groups.iter().map(count_ours).sum();
    if matches!(holding_ours[..], [only] if ours_total == 1 && same_json(&groups[only], &wanted)) {
        return EventChange::Unchanged;
    }
    let first = holding_ours.first().copied();
    let mut kept = Vec::with_capacity(groups.len() + 1);
    let mut place = None;
    for (index, mut group) in groups.drain(..).enumerate() {
        if Some(index) == first {
            place = Some(kept.len());
        }
        if count_ours(&group) == 0 || !drop_ours(&mut group) {
            kept.push(group);
        }
    }
    kept.insert(place.unwrap_or(kept.len()), wanted);
    *groups = kept;
    if first.is_some() { EventChange::Updated } else { EventChange::Added }
}

/// Takes baton's entries out of the event `name`, dropping the groups they
/// leave empty and the event itself if its list does; whether any were there.
fn remove_ours(hooks: &mut Members, name: &str) -> bool {
    let Some(OrderedJson::Array(groups)) = hooks.get_mut(name) else {
        return false;
    };
    if groups.iter().all(|group| count_ours(group) == 0) {
        return false;
    }
    groups.retain_mut(|group| count_ours(group) == 0 || !drop_ours(group));
    if groups.is_empty() {
        hooks.remove(name);
    }
    true
}

/// How many of `group`'s entries are baton's.
fn count_ours(group: &OrderedJson) -> usize {
    match group.as_object().and_then(|group| group.get("hooks")) {
        Some(OrderedJson::Array(entries)) => entries.iter().filter(|entry| is_ours(entry)).count(),
        _ => 0,
    }
}

/// Takes baton's entries out of `group`; whether that left it without entries
/// (and so to be dropped).
fn drop_ours(group: &mut OrderedJson) -> bool {
    match group.as_object_mut().and_then(|group| group.get_mut("hooks")) {
        Some(OrderedJson::Array(entries)) => {
            entries.retain(|entry| !is_ours(entry));
            entries.is_empty()
        }
        _ => false,
    }
}

/// Whether a settings entry is baton's: a `command` entry whose command runs
/// baton's hook.
fn is_ours(entry: &OrderedJson) -> bool {
    let Some(entry) = entry.as_object() else {
        return false;
    };
    entry.get("type").and_then(OrderedJson::as_str) == Some("command")
        && entry.get("command").and_then(OrderedJson::as_str).is_some_and(is_baton_hook_command)
}

/// The event names in `hooks`, in order.
fn hook_event_names(hooks: &Members) -> Vec<String> {
    hooks.iter().map(|(name, _)| name.to_owned()).collect()
}

/// Whether two values are the same JSON, whatever their key order.
fn same_json(a: &OrderedJson, b: &OrderedJson) -> bool {
    matches!((serde_json::to_value(a), serde_json::to_value(b)), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
