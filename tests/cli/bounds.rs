//! Every number a request carries has a bound, the API document states it,
//! and the daemon holds to exactly that: a value outside is a 400, a value
//! inside is never refused for its size, and no value takes an actor down
//! (issue: "numbers that overflow crash an actor"). The fields come from the
//! served document itself, so a new numeric field is tested the day it is added.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde_json::{Value, json};

use super::harness::{Home, request};

/// What each numeric field is sent: the issue's four values, then each side
/// of the field's own bounds.
const EXTREMES: [&str; 4] = ["18446744073709551615", "9223372036854775808", "-1", "0"];

/// A valid request for each operation with numeric fields in its body, by
/// method and path as the document names them.
fn base_body(method: &str, path: &str, session: &str) -> Option<Value> {
    Some(match (method, path) {
        ("post", "/v1/sessions") => json!({}),
        ("post", "/v1/sessions/{id}/queue/claim") => json!({"consumer": "bounds"}),
        ("post", "/v1/sessions/{id}/queue/nack") => json!({"seqs": [1]}),
        ("post", "/v1/agents") => json!({"session": session, "argv": ["true"]}),
        ("post", "/v1/agents/{id}/stop" | "/v1/sessions/{id}/agents/stop") => json!({}),
        ("post", "/v1/handoffs") => json!({"session": session, "to": {"kind": "role", "value": "none"}, "task": "t"}),
        _ => return None,
    })
}

/// One request to send: its path and query, its body, the field and value
/// it sets (`lease_ms=0`), and that field's bounds.
type Case = (String, Option<String>, String, Option<f64>, Option<f64>);

/// The integer properties of a schema, `$ref`s followed: name, minimum, maximum.
fn integer_fields(document: &Value, schema: &Value) -> Vec<(String, Option<f64>, Option<f64>)> {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &document["components"]["schemas"][name]
        }
        None => schema,
    };
    // A schema that says more than its fields (a spawn's) is the allOf of its fields and the rest.
    let parts = schema["allOf"].as_array().into_iter().flatten().flat_map(|part| integer_fields(document, part));
    let Some(properties) = schema["properties"].as_object() else { return parts.collect() };
    properties
        .iter()
        .filter(|(_, property)| is_integer(property))
        .map(|(name, property)| (name.clone(), property["minimum"].as_f64(), property["maximum"].as_f64()))
        .chain(parts)
        .collect()
}

fn is_integer(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(kind) => kind == "integer",
        Value::Array(kinds) => kinds.iter().any(|kind| kind == "integer"),
        _ => false,
    }
}

/// The status of one request, read no further than its head: an event
/// stream that is accepted never ends.
fn status_of(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    if path.starts_with("/v1/events?") {
        let mut stream = UnixStream::connect(socket).unwrap();
        stream.set_read_timeout(Some(crate::support::DEADLINE)).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut head = [0; 12];
        stream.read_exact(&mut head).unwrap();
        let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap();
        return (status, String::new());
    }
    request(socket, &method.to_uppercase(), path, body.map(str::as_bytes)).expect("the daemon answers")
}

#[test]
fn every_numeric_field_of_the_document_is_held_to_its_stated_bounds() {
    let home = Home::new();
    let daemon = home.serve();
    let socket = home.socket();
    let (_, served) = request(&socket, "GET", "/v1/openapi.json", None).unwrap();
    let document: Value = serde_json::from_str(&served).unwrap();
    let session = home.ok(&["session", "open", "--name", "bounds"]).trim().to_owned();
    // An agent that exits at once: nothing is left running.
    let agent = home.ok(&["spawn", "--session", &session, "--", "true"]).trim().to_owned();

    let mut tested = 0;
    let mut fields_seen = std::collections::BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let concrete = path.replace("/v1/agents/{id}", &format!("/v1/agents/{agent}")).replace("{id}", &session);
            let mut cases: Vec<Case> = Vec::new();
            if let Some(schema) = operation["requestBody"]["content"]["application/json"].get("schema") {
                let fields = integer_fields(&document, schema);
                if !fields.is_empty() {
                    let base = base_body(method, path, &session)
                        .unwrap_or_else(|| panic!("no valid request known for {method} {path}: add one"));
                    for (field, min, max) in fields {
                        for value in values(min, max) {
                            let mut body = base.to_string();
                            body.insert_str(body.len() - 1, &format!("{}\"{field}\": {value}", sep(&base)));
                            cases.push((concrete.clone(), Some(body), format!("{field}={value}"), min, max));
                        }
                    }
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "query" || !is_integer(&parameter["schema"]) {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap();
                let (min, max) = (parameter["schema"]["minimum"].as_f64(), parameter["schema"]["maximum"].as_f64());
                // An inbox read's max and lease are for a read that claims.
                let claim = if path.ends_with("/inbox") { "claim=true&" } else { "" };
                for value in values(min, max) {
                    cases.push((
                        format!("{concrete}?{claim}{name}={value}"),
                        None,
                        format!("{name}={value}"),
                        min,
                        max,
                    ));
                }
            }
            for (target, body, case, min, max) in cases {
                // Something to claim, so that a claim or an inbox read with a
                // long wait in bounds answers at once.
                let observe = format!("/v1/sessions/{session}/observations");
                assert_eq!(request(&socket, "POST", &observe, Some(br#"{"payload": {}}"#)).unwrap().0, 200);
                let value: f64 = case.rsplit('=').next().unwrap().parse().unwrap();
                let outside = min.is_some_and(|min| value < min) || max.is_some_and(|max| value > max);
                let (status, answer) = status_of(&socket, method, &target, body.as_deref());
                assert!(status < 500, "{method} {path} with {case}: {status} {answer}");
                if outside {
                    assert_eq!(status, 400, "{method} {path} with {case} is outside its bounds: {answer}");
                } else {
                    let field = case.split('=').next().unwrap();
                    assert!(
                        status != 400 || !answer.contains(field),
                        "{method} {path} with {case} is inside its bounds, but refused: {answer}"
                    );
                }
                tested += 1;
                fields_seen.insert(format!("{method} {path} {}", case.split('=').next().unwrap()));
            }
        }
    }
    assert!(tested > 100, "only {tested} cases: the document's numeric fields were not found");
    for field in [
        "post /v1/agents max_runtime_ms",
        "post /v1/sessions/{id}/queue/nack delay_ms",
        "get /v1/agents/{id}/inbox wait_ms",
    ] {
        assert!(fields_seen.contains(field), "{field} was not found in the document: {fields_seen:?}");
    }
    // The daemon is whole: nothing crashed, every session still answers.
    assert_eq!(request(&socket, "GET", "/v1/health", None).unwrap().0, 200);
    home.ok(&["session", "show", &session]);
    // The agents the spawns made (`true`, each) have all ended; a daemon
    // stopped cleanly then leaves nothing of them behind.
    crate::support::eventually_blocking("every spawned agent to end", || {
        let agents: Value = serde_json::from_str(&home.ok(&["ps", "--json"])).ok()?;
        let live = agents.as_array()?.iter().any(|view| {
            let state = view["agent"]["state"].as_str().unwrap_or_default();
            matches!(state, "queued" | "starting" | "running" | "stopping")
        });
        (!live).then_some(())
    });
    let (code, stderr) = daemon.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// Every duration and count of the document states both of its bounds.
#[test]
fn every_duration_and_count_states_its_bounds() {
    let home = Home::new();
    let _daemon = home.serve();
    let (_, served) = request(&home.socket(), "GET", "/v1/openapi.json", None).unwrap();
    let document: Value = serde_json::from_str(&served).unwrap();
    let is_bounded_kind = |name: &str| {
        name.ends_with("_ms") || name.ends_with("_bytes") || name == "max" || name == "limit" || name == "lines"
    };
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let mut fields = Vec::new();
            if let Some(schema) = operation["requestBody"]["content"]["application/json"].get("schema") {
                fields.extend(integer_fields(&document, schema));
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if is_integer(&parameter["schema"]) {
                    let schema = &parameter["schema"];
                    fields.push((
                        parameter["name"].as_str().unwrap().to_owned(),
                        schema["minimum"].as_f64(),
                        schema["maximum"].as_f64(),
                    ));
                }
            }
            for (name, min, max) in fields {
                if is_bounded_kind(&name) {
                    assert!(min.is_some() && max.is_some(), "{method} {path}: {name} states no bounds");
                }
            }
        }
    }
}

/// The issue's four values, and the values on each side of the bounds.
fn values(min: Option<f64>, max: Option<f64>) -> Vec<String> {
    let mut values: Vec<String> = EXTREMES.iter().map(|value| (*value).to_owned()).collect();
    for bound in [min, max].into_iter().flatten() {
        let bound = bound as i128;
        values.extend([bound - 1, bound, bound + 1].map(|value| value.to_string()));
    }
    values.sort();
    values.dedup();
    values
}

fn sep(base: &Value) -> &'static str {
    if base.as_object().is_some_and(|fields| !fields.is_empty()) { ", " } else { "" }
}
