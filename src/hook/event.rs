//! One Claude Code hook event as read from stdin, and what it means for baton.
//!
//! Reading is lenient where it can afford to be: Claude Code adds fields in new
//! versions and new event names over time, and a hook that rejected them would
//! lose events for every user who upgraded the editor before baton. So the whole
//! object is kept as received (consumers may want fields baton does not know),
//! an unknown event name becomes a custom observation, and an optional field of
//! an unexpected type is treated as absent. Only what nothing can be done
//! without is required: a JSON object with a `session_id` (the session the
//! event belongs to) and a `hook_event_name` (what happened).
//!
//! Deciding what an event means ([`HookEvent::into_action`]) is a pure function,
//! so the hook that posts live and the one that delivers the spool later agree.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use baton_actors::model::{ObservationKind, OpenSession};
use serde_json::Value;

use super::JsonSize;

/// The events Claude Code runs hooks for, by their `hook_event_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookEventName {
    /// A session started, resumed, was cleared or was compacted.
    SessionStart,
    /// The user sent a prompt.
    UserPromptSubmit,
    /// A tool is about to run.
    PreToolUse,
    /// A tool ran.
    PostToolUse,
    /// A tool ran and failed, or was interrupted.
    PostToolUseFailure,
    /// The editor notified the user (a permission prompt, an idle reminder).
    Notification,
    /// The agent finished its turn.
    Stop,
    /// A subagent started.
    SubagentStart,
    /// A subagent finished.
    SubagentStop,
    /// The conversation is about to be compacted.
    PreCompact,
    /// The session ended.
    SessionEnd,
    /// A name this version of baton does not know, kept as given.
    Other(String),
}

impl HookEventName {
    /// Every name baton knows, in the order of a session's life.
    pub const KNOWN: &'static [HookEventName] = &[
        HookEventName::SessionStart,
        HookEventName::UserPromptSubmit,
        HookEventName::PreToolUse,
        HookEventName::PostToolUse,
        HookEventName::PostToolUseFailure,
        HookEventName::Notification,
        HookEventName::Stop,
        HookEventName::SubagentStart,
        HookEventName::SubagentStop,
        HookEventName::PreCompact,
        HookEventName::SessionEnd,
    ];

    /// The event named `name`; [`Other`](Self::Other) when baton does not know it.
    pub fn parse(name: &str) -> Self {
        Self::KNOWN.iter().find(|known| known.as_str() == name).cloned().unwrap_or_else(|| Self::Other(name.to_owned()))
    }

    /// The name as Claude Code spells it, in `hook_event_name` and in settings files.
    pub fn as_str(&self) -> &str {
        match self {
            HookEventName::SessionStart => "SessionStart",
            HookEventName::UserPromptSubmit => "UserPromptSubmit",
            HookEventName::PreToolUse => "PreToolUse",
            HookEventName::PostToolUse => "PostToolUse",
            HookEventName::PostToolUseFailure => "PostToolUseFailure",
            HookEventName::Notification => "Notification",
            HookEventName::Stop => "Stop",
            HookEventName::SubagentStart => "SubagentStart",
            HookEventName::SubagentStop => "SubagentStop",
            HookEventName::PreCompact => "PreCompact",
            HookEventName::SessionEnd => "SessionEnd",
            HookEventName::Other(name) => name,
        }
    }

    /// Whether `baton hook install` installs the hook for it: every known
    /// event but `PreToolUse`, which would run baton before every tool call
    /// and tell consumers nothing that `PostToolUse` does not.
    pub fn is_installed(&self) -> bool {
        !matches!(self, HookEventName::PreToolUse | HookEventName::Other(_))
    }

    /// Whether settings entries for this event filter by tool name with a `matcher`.
    pub fn takes_tool_matcher(&self) -> bool {
        matches!(self, HookEventName::PreToolUse | HookEventName::PostToolUse | HookEventName::PostToolUseFailure)
    }
}

impl fmt::Display for HookEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hook event: the object Claude Code wrote to the hook's stdin, every field
/// kept, with the fields every event carries read out.
///
/// Its `Debug` shows the object only by its size: it holds prompts, file
/// contents and command output.
#[derive(Clone, PartialEq)]
pub struct HookEvent {
    /// The object as received, unknown fields included: it becomes the
    /// observation's payload, and consumers may want what baton does not read.
    raw: Value,
    /// Claude Code's session id: baton's external id for the session, which
    /// every action needs because any event may be the first baton sees.
    session_id: String,
    /// What happened, which decides the action.
    name: HookEventName,
    /// The directory the session works in, for an (implicit) open.
    cwd: Option<PathBuf>,
    /// Where Claude Code writes the conversation, kept as session metadata.
    transcript_path: Option<PathBuf>,
}

impl HookEvent {
    /// Reads one event from the bytes of the hook's stdin.
    pub fn parse(input: &[u8]) -> Result<Self, HookInputError> {
        if input.iter().all(u8::is_ascii_whitespace) {
            return Err(HookInputError::Empty);
        }
        let raw: Value =
            serde_json::from_slice(input).map_err(|err| HookInputError::NotJson { reason: err.to_string() })?;
        Self::from_value(raw)
    }

    /// Reads one event from an already parsed value, such as a spooled one.
    pub fn from_value(raw: Value) -> Result<Self, HookInputError> {
        let Value::Object(object) = &raw else {
            return Err(HookInputError::NotAnObject { found: describe(&raw) });
        };
        let required = |field: &'static str| match object.get(field) {
            None => Err(HookInputError::MissingField { field }),
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(other) => Err(HookInputError::InvalidField { field, found: describe(other) }),
        };
        let session_id = required("session_id")?;
        let name = HookEventName::parse(&required("hook_event_name")?);
        let cwd = string_field(&raw, "cwd").map(PathBuf::from);
        let transcript_path = string_field(&raw, "transcript_path").map(PathBuf::from);
        Ok(Self { raw, session_id, name, cwd, transcript_path })
    }

    /// Claude Code's session id: baton's external id for the session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// What happened.
    pub fn name(&self) -> &HookEventName {
        &self.name
    }

    /// The session's working directory, when the event gave one.
    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The session's transcript file, when the event gave one.
    pub fn transcript_path(&self) -> Option<&Path> {
        self.transcript_path.as_deref()
    }

    /// The object as received.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The object as received, given up (to spool it, say).
    pub fn into_raw(self) -> Value {
        self.raw
    }

    /// What opening this event's session asks for: its external id, working
    /// directory and metadata. A `SessionStart` opens with it; any other event
    /// for a session baton has not seen yet opens it implicitly with it first.
    pub fn open_session(&self) -> OpenSession {
        let mut open = OpenSession::external(&self.session_id);
        open.cwd = self.cwd.clone();
        open.meta = self.meta();
        open
    }

    /// What baton does with this event. Pure: the same event always means the
    /// same action, whether it is posted at once or delivered from the spool.
    pub fn into_action(self) -> HookAction {
        let external_id = self.session_id.clone();
        let tool_use_id = string_field(&self.raw, "tool_use_id").map(str::to_owned);
        let observe = |kind, key, payload| HookAction::Observe { external_id: external_id.clone(), kind, key, payload };
        match self.name {
            HookEventName::SessionStart => {
                let meta = self.meta();
                HookAction::Open { external_id, cwd: self.cwd, meta }
            }
            HookEventName::UserPromptSubmit => observe(ObservationKind::Prompt, None, self.raw),
            HookEventName::PostToolUse => observe(ObservationKind::ToolUse, tool_use_id, self.raw),
            HookEventName::PostToolUseFailure => {
                observe(ObservationKind::ToolUse, tool_use_id.map(|id| format!("failure:{id}")), self.raw)
            }
            HookEventName::PreToolUse => {
                observe(ObservationKind::Custom, tool_use_id.map(|id| format!("pre:{id}")), self.raw)
            }
            HookEventName::Notification => observe(ObservationKind::Notification, None, self.raw),
            HookEventName::SubagentStart
            | HookEventName::SubagentStop
            | HookEventName::PreCompact
            | HookEventName::Other(_) => observe(ObservationKind::Custom, None, self.raw),
            HookEventName::Stop => HookAction::Summarize { external_id, payload: self.raw },
            HookEventName::SessionEnd => {
                let reason = string_field(&self.raw, "reason").map(str::to_owned);
                HookAction::Close { external_id, reason }
            }
        }
    }

    /// The session metadata this event carries: `transcript_path` always, and
    /// on a `SessionStart` its `source`, `model`, `permission_mode` and
    /// `agent_type`; each only where present as a string.
    fn meta(&self) -> BTreeMap<String, String> {
        let fields: &[&str] = match self.name {
            HookEventName::SessionStart => &["transcript_path", "source", "model", "permission_mode", "agent_type"],
            _ => &["transcript_path"],
        };
        fields
            .iter()
            .filter_map(|&field| string_field(&self.raw, field).map(|value| (field.to_owned(), value.to_owned())))
            .collect()
    }
}

impl fmt::Debug for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookEvent")
            .field("session_id", &self.session_id)
            .field("name", &self.name)
            .field("cwd", &self.cwd)
            .field("transcript_path", &self.transcript_path)
            .field("raw", &JsonSize(&self.raw))
            .finish()
    }
}

/// What baton does with a hook event. Every action names the session by its
/// external id, because an event for a session baton has not seen opens it.
///
/// Its `Debug` shows payloads only by their size.
#[derive(Clone, PartialEq)]
pub enum HookAction {
    /// Open (or find again) the session: on `SessionStart`.
    Open {
        /// Claude Code's session id, which makes opening idempotent.
        external_id: String,
        /// The directory the session works in.
        cwd: Option<PathBuf>,
        /// Labels kept on the session: `transcript_path`, `source`, `model`,
        /// `permission_mode`, `agent_type`, where present.
        meta: BTreeMap<String, String>,
    },
    /// Queue an observation on the session: prompts, tool uses, notifications
    /// and everything else that is not a session's start, stop or end.
    Observe {
        /// The session's external id.
        external_id: String,
        /// What it reports, for consumers that handle only some kinds.
        kind: ObservationKind,
        /// The idempotency key, when the event has a natural one (from its
        /// `tool_use_id`): a retried post of the same event queues it once.
        key: Option<String>,
        /// The whole event as received.
        payload: Value,
    },
    /// Queue a summarize marker, the end of a batch for consumers: on `Stop`.
    Summarize {
        /// The session's external id.
        external_id: String,
        /// The whole event as received.
        payload: Value,
    },
    /// Close the session, keeping its queue until it is drained: on `SessionEnd`.
    Close {
        /// The session's external id.
        external_id: String,
        /// Why Claude Code ended it (`clear`, `logout`, `prompt_input_exit`, ...).
        reason: Option<String>,
    },
}

impl HookAction {
    /// The external id of the session it acts on.
    pub fn external_id(&self) -> &str {
        match self {
            HookAction::Open { external_id, .. }
            | HookAction::Observe { external_id, .. }
            | HookAction::Summarize { external_id, .. }
            | HookAction::Close { external_id, .. } => external_id,
        }
    }
}

impl fmt::Debug for HookAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookAction::Open { external_id, cwd, meta } => {
                f.debug_struct("Open").field("external_id", external_id).field("cwd", cwd).field("meta", meta).finish()
            }
            HookAction::Observe { external_id, kind, key, payload } => f
                .debug_struct("Observe")
                .field("external_id", external_id)
                .field("kind", kind)
                .field("key", key)
                .field("payload", &JsonSize(payload))
                .finish(),
            HookAction::Summarize { external_id, payload } => f
                .debug_struct("Summarize")
                .field("external_id", external_id)
                .field("payload", &JsonSize(payload))
                .finish(),
            HookAction::Close { external_id, reason } => {
                f.debug_struct("Close").field("external_id", external_id).field("reason", reason).finish()
            }
        }
    }
}

/// Hook input that is not an event baton can act on. The message is one line
/// and never quotes the input, which may hold a prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HookInputError {
    /// Nothing (or only whitespace) on stdin.
    #[error("the hook input is empty: expected one JSON object on stdin")]
    Empty,
    /// The bytes are not one JSON value.
    #[error("the hook input is not JSON: {reason}")]
    NotJson {
        /// What the parser said, with the line and column.
        reason: String,
    },
    /// The JSON is not an object.
    #[error("the hook input is {found}, not a JSON object")]
    NotAnObject {
        /// What it is instead, such as `an array`.
        found: &'static str,
    },
    /// A field every event carries is not there.
    #[error("the hook input has no {field:?} field")]
    MissingField {
        /// The field: `session_id` or `hook_event_name`.
        field: &'static str,
    },
    /// A field every event carries is not a non-empty string.
    #[error("{field:?} in the hook input is {found}, not a non-empty string")]
    InvalidField {
        /// The field: `session_id` or `hook_event_name`.
        field: &'static str,
        /// What it is instead, such as `a number`.
        found: &'static str,
    },
}

/// The field `name` of `object` when it is a string; absent otherwise.
fn string_field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// What kind of JSON value `value` is, for error messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(text) if text.is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
