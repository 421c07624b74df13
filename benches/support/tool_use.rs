//! The observation every queue benchmark enqueues: a Claude Code `Edit` tool
//! use of about 640 bytes of JSON, with a `tool_use_id`-like idempotency key
//! unique to its producer and number.
//!
//! The edit's lines are real source text, picked by producer and number, so
//! the payloads differ from one another as real ones do and compress about
//! as well: bundles are stored compressed, and a payload made of one repeated
//! line would flatter them. As in a real `Edit`, the old and new text appear
//! twice, in the input and in the patch. The text is this repository's queue
//! index (`actors/src/queue_index.rs`); the bench prints the payloads' mean size,
//! which moves a little as that file changes.
//!
//! `benches/queue.rs` (in-process and SQLite) and `examples/queue_load.rs`
//! (over HTTP) both include this file, so every figure is for the same payloads.

use std::sync::LazyLock;

use baton::NewObservation;
use serde_json::{Value, json};

/// The lines the edits take theirs from: the file's, blank ones aside.
static LINES: LazyLock<Vec<&str>> = LazyLock::new(|| {
    include_str!("../../actors/src/queue_index.rs").lines().filter(|line| !line.trim().is_empty()).collect()
});

/// How many lines the edit replaces...
const OLD_LINES: usize = 2;
/// ...and with how many.
const NEW_LINES: usize = 1;

/// The `n`th observation of `producer`, its payload encoded.
pub fn tool_use(producer: usize, n: usize) -> NewObservation {
    ToolUse::new(producer, n).into_observation()
}

/// The parts of a tool use as a program holds them before it builds the
/// observation: the tool's input and response as `serde_json::Value`s.
pub struct ToolUse {
    input: Value,
    response: Value,
    key: String,
}

impl ToolUse {
    /// The parts of the `n`th observation of `producer`.
    pub fn new(producer: usize, n: usize) -> Self {
        let lines = &*LINES;
        // A fixed mix of the two numbers: the same payloads in every run.
        let mix =
            (producer as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let at = |salt: u64| {
            usize::try_from((mix ^ salt).wrapping_mul(0x94D0_49BB_1331_11EB) >> 33).unwrap() % (lines.len() - OLD_LINES)
        };
        let (old_start, new_start) = (at(0), at(0x5555));
        let old_lines = &lines[old_start..old_start + OLD_LINES];
        let new_lines = &lines[new_start..new_start + NEW_LINES];
        let file_path = format!("/home/dev/work/baton/src/daemon/routes/queue_{producer}.rs");
        let input = json!({
            "file_path": file_path,
            "old_string": old_lines.join("\n"),
            "new_string": new_lines.join("\n"),
            "replace_all": false,
        });
        let patch: Vec<String> = old_lines
            .iter()
            .map(|line| format!("-{line}"))
            .chain(new_lines.iter().map(|line| format!("+{line}")))
            .collect();
        let response = json!({
            "filePath": file_path,
            "success": true,
            "userModified": false,
            "structuredPatch": [{
                "oldStart": old_start + 1, "oldLines": OLD_LINES, "newStart": old_start + 1, "newLines": NEW_LINES,
                "lines": patch,
            }],
        });
        Self { input, response, key: format!("toolu_01Bench{producer:03}n{n:08}") }
    }

    /// The observation, its payload encoded here.
    pub fn into_observation(self) -> NewObservation {
        NewObservation::tool_use("Edit", self.input, self.response).with_key(self.key)
    }
}
