//! The observation every queue benchmark enqueues: a Claude Code `Edit` tool
//! use of about 600 bytes of JSON, with a `tool_use_id`-like idempotency key
//! unique to its producer and number.
//!
//! `benches/queue.rs` (in-process and SQLite) and `examples/queue_load.rs`
//! (over HTTP) both include this file, so every figure is for the same payloads.

use baton::NewObservation;
use serde_json::json;

/// The `n`th observation of `producer`.
pub fn tool_use(producer: usize, n: usize) -> NewObservation {
    let file_path = format!("/home/dev/work/baton/src/daemon/routes/queue_{producer}.rs");
    let old_line = "    let limit = query.limit.unwrap_or(100).min(10_000);";
    let new_line = format!("    let limit = query.limit.unwrap_or({n}).min(MAX_LIST_LIMIT);");
    let input = json!({
        "file_path": file_path,
        "old_string": old_line,
        "new_string": new_line,
        "replace_all": false,
    });
    let response = json!({
        "filePath": file_path,
        "success": true,
        "userModified": false,
        "structuredPatch": [{
            "oldStart": 74, "oldLines": 1, "newStart": 74, "newLines": 1,
            "lines": [format!("-{old_line}"), format!("+{new_line}")],
        }],
    });
    NewObservation::tool_use("Edit", input, response).with_key(format!("toolu_01Bench{producer:03}n{n:08}"))
}
