//! What a payload (an observation's, a handoff's) may be: JSON that reads
//! back.
//!
//! The store keeps payloads inside records, and records are read back with
//! serde_json, which refuses what a `serde_json::Value` cannot hold: a lone
//! UTF-16 surrogate escape (`"\ud800"`), a number out of `f64`'s range
//! (`1e400`), or more than 127 levels of arrays and objects, the record's
//! own levels included. A payload taken as JSON text is checked as a value
//! would be parsed, so none of that is stored; its nesting is counted, and
//! the engine refuses one deeper than [`MAX_PAYLOAD_DEPTH`], whether it came
//! as text or as a value. Stored, such a payload would make every read of
//! its session's queue fail.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// How many levels of arrays and objects a payload may nest. A record holds
/// its payload a level or two down (a bundle, a record), and serde_json
/// reads 127 levels at most: this leaves room to spare.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// A payload's JSON text that could not be stored: it would not read back.
#[derive(Debug, thiserror::Error)]
#[error("the payload is not JSON that baton can store: {0}")]
pub struct InvalidPayload(#[from] serde_json::Error);

/// How many levels of arrays and objects `value` nests (`1` nests none,
/// `[1]` one), counted up to one past [`MAX_PAYLOAD_DEPTH`]: the walk goes
/// no deeper than that.
pub fn nesting(value: &Value) -> usize {
    nesting_up_to(value, MAX_PAYLOAD_DEPTH)
}

/// `value`'s nesting if it is at most `cap`, else `cap + 1`.
fn nesting_up_to(value: &Value, cap: usize) -> usize {
    let children: &mut dyn Iterator<Item = &Value> = match value {
        Value::Array(items) => &mut items.iter(),
        Value::Object(map) => &mut map.values(),
        _ => return 0,
    };
    match cap {
        0 => 1,
        _ => 1 + children.map(|child| nesting_up_to(child, cap - 1)).max().unwrap_or(0),
    }
}

/// Checks that `text` parses as a `serde_json::Value` would, without
/// building one, and returns its nesting (as [`nesting`] counts it).
pub fn check_json(text: &str) -> Result<usize, InvalidPayload> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let depth = Nesting.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(depth.min(MAX_PAYLOAD_DEPTH + 1))
}

/// Reads one JSON value as a `Value` would be read (every string decoded,
/// every number parsed), keeping nothing but how deeply it nests.
/// serde_json's own limit (127 levels) bounds the recursion.
struct Nesting;

impl<'de> DeserializeSeed<'de> for Nesting {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Nesting {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        while let Some(depth) = items.next_element_seed(Nesting)? {
            deepest = deepest.max(depth);
        }
        Ok(1 + deepest)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<usize, A::Error> {
        let mut deepest = 0;
        // Keys are read as values are, so each is decoded like any string.
        while let Some((_, depth)) = entries.next_entry_seed(Nesting, Nesting)? {
            deepest = deepest.max(depth);
        }
        Ok(1 + deepest)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_a_value_holds_passes_with_its_nesting() {
        let cases = [
            ("1", 0),
            (r#""a \"quoted\" \u00e9 \ud83d\ude00""#, 0),
            ("[]", 1),
            (r#"{"a": [1, {"b": null}], "c": -2.5e3}"#, 3),
            (" [[[true]]] ", 3),
            ("18446744073709551615", 0),
            ("-9223372036854775808", 0),
            ("1e308", 0),
        ];
        for (text, depth) in cases {
            assert_eq!(check_json(text).unwrap(), depth, "{text}");
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(nesting(&value), depth, "{text}");
        }
    }

    #[test]
    fn json_a_value_cannot_hold_is_refused() {
        let cases = [
            (r#""\ud800""#, "unexpected end of hex escape"),
            (r#"{"\udc00": 1}"#, "lone leading surrogate"),
            ("1e400", "number out of range"),
            ("[1,]", "trailing comma"),
            ("[1] [2]", "trailing characters"),
        ];
        for (text, cause) in cases {
            let err = check_json(text).unwrap_err().to_string();
            assert!(err.starts_with("the payload is not JSON that baton can store: "), "{text}: {err}");
            assert!(err.contains(cause), "{text}: {err}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "a value would not hold {text} either");
        }
    }

    #[test]
    fn nesting_is_counted_up_to_one_past_the_limit() {
        let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
        for depth in [MAX_PAYLOAD_DEPTH, MAX_PAYLOAD_DEPTH + 1, 127] {
            let counted = depth.min(MAX_PAYLOAD_DEPTH + 1);
            assert_eq!(check_json(&nested(depth)).unwrap(), counted, "{depth}");
            let value: Value = serde_json::from_str(&nested(depth)).unwrap();
            assert_eq!(nesting(&value), counted, "{depth}");
        }
        // Past serde_json's own limit the text does not parse at all.
        assert!(check_json(&nested(128)).unwrap_err().to_string().contains("recursion limit exceeded"));
        let mut deep = json!(1);
        for _ in 0..1000 {
            deep = json!([deep]);
        }
        assert_eq!(nesting(&deep), MAX_PAYLOAD_DEPTH + 1);
    }
}
