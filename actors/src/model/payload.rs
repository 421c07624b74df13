//! What a payload (an observation's, a handoff's or its result) may be:
//! JSON that reads back.
//!
//! The store keeps payloads inside records, and reads records back with
//! serde_json into `serde_json::Value`s, which refuse some JSON: a lone
//! UTF-16 surrogate escape (`"\ud800"`), a number out of `f64`'s range
//! (`1e400`), more than 127 levels of arrays and objects (the record's own
//! levels included), and an object keyed [`RESERVED_KEY`], which serde_json
//! reads as a value of its own. Stored, such a payload would make every read
//! of its session's queue fail. So a payload is checked before it is taken:
//! JSON text as a `Value` would be parsed (without building one), a `Value`
//! for its nesting and keys.

use std::cell::Cell;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// How many levels of arrays and objects a payload may nest. A record holds
/// its payload a level or two down (a bundle, a record), and serde_json
/// reads 127 levels at most: this leaves room to spare.
pub const MAX_PAYLOAD_DEPTH: usize = 100;

/// The object key that serde_json (with its `raw_value` feature, which baton
/// uses) reads as the marker of a raw value rather than as a key: an object
/// that has it does not read back as the object it was.
pub const RESERVED_KEY: &str = "$serde_json::private::RawValue";

/// Why a payload is refused: stored, it would not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPayload {
    /// JSON text that a `Value` cannot hold, with serde_json's reason
    /// (its line and column are the payload's own).
    #[error("the payload is not JSON that baton can store: {0}")]
    NotStorable(String),
    /// Arrays and objects nested more than [`MAX_PAYLOAD_DEPTH`] levels.
    #[error("the payload nests more than {MAX_PAYLOAD_DEPTH} levels of arrays and objects")]
    TooDeep,
    /// An object key that serde_json keeps for itself ([`RESERVED_KEY`]).
    #[error("the payload has the object key {RESERVED_KEY:?}, which serde_json keeps for itself")]
    ReservedKey,
}

/// Checks a payload held as a value: its nesting and its keys. The walk
/// goes no deeper than one past [`MAX_PAYLOAD_DEPTH`].
pub fn check_value(value: &Value) -> Result<(), InvalidPayload> {
    check_value_within(value, MAX_PAYLOAD_DEPTH)
}

/// [`check_value`] for a value with `levels` levels of arrays and objects
/// left to nest (a part of a payload built around it).
pub(crate) fn check_value_within(value: &Value, levels: usize) -> Result<(), InvalidPayload> {
    match value {
        Value::Array(items) => check_children(items.iter(), levels),
        Value::Object(map) if map.contains_key(RESERVED_KEY) => Err(InvalidPayload::ReservedKey),
        Value::Object(map) => check_children(map.values(), levels),
        _ => Ok(()),
    }
}

/// [`check_value`] for what an array or object holds, with `levels` left
/// for the array or object itself.
fn check_children<'a>(mut children: impl Iterator<Item = &'a Value>, levels: usize) -> Result<(), InvalidPayload> {
    let levels = levels.checked_sub(1).ok_or(InvalidPayload::TooDeep)?;
    children.try_for_each(|child| check_value_within(child, levels))
}

/// Checks a payload held as JSON text, as a `Value` would parse it (every
/// string decoded, every number parsed), without building one.
pub fn check_json(text: &str) -> Result<(), InvalidPayload> {
    let refused = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let checked = Check { levels: MAX_PAYLOAD_DEPTH, refused: &refused }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (checked, refused.take()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(refused)) => Err(refused),
        (Err(err), None) => Err(InvalidPayload::NotStorable(err.to_string())),
    }
}

/// Reads one JSON value as a `Value` would be read, keeping nothing; a
/// refusal of its own (too deep, a reserved key) is left in `refused`, as
/// serde_json only passes errors on as its own type.
#[derive(Clone, Copy)]
struct Check<'a> {
    /// Levels of arrays and objects left to nest.
    levels: usize,
    /// Where a refusal of its own goes.
    refused: &'a Cell<Option<InvalidPayload>>,
}

impl Check<'_> {
    /// The check of what an array or object holds, or the refusal of one
    /// that nests too deeply.
    fn inside<E: de::Error>(self) -> Result<Self, E> {
        match self.levels.checked_sub(1) {
            Some(levels) => Ok(Check { levels, ..self }),
            None => Err(self.refuse(InvalidPayload::TooDeep)),
        }
    }

    /// Keeps `refused` for [`check_json`] and stops the parse with an error
    /// that says the same.
    fn refuse<E: de::Error>(self, refused: InvalidPayload) -> E {
        let err = E::custom(&refused);
        self.refused.set(Some(refused));
        err
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let inside = self.inside()?;
        while items.next_element_seed(inside)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let inside = self.inside()?;
        while let Some(reserved) = entries.next_key_seed(IsReserved)? {
            if reserved {
                return Err(self.refuse(InvalidPayload::ReservedKey));
            }
            entries.next_value_seed(inside)?;
        }
        Ok(())
    }
}

/// Reads an object key, decoded as any string is, and says whether it is
/// [`RESERVED_KEY`].
struct IsReserved;

impl<'de> DeserializeSeed<'de> for IsReserved {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsReserved {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == RESERVED_KEY)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `[[...["leaf"]...]]`, `depth` arrays deep.
    fn nested(depth: usize) -> String {
        format!("{}\"leaf\"{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn json_a_value_holds_passes() {
        let cases = [
            "1",
            r#""a \"quoted\" \u00e9 \ud83d\ude00""#,
            "[]",
            r#"{"a": [1, {"b": null}], "c": -2.5e3, "\u00e9": {}}"#,
            " [[[true]]] ",
            "18446744073709551615",
            "-9223372036854775808",
            "1e308",
            r#"{"$serde_json::private::RawValu": 1, "serde_json::private::RawValue": 2}"#,
            &nested(MAX_PAYLOAD_DEPTH),
        ];
        for text in cases {
            assert_eq!(check_json(text), Ok(()), "{text}");
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(check_value(&value), Ok(()), "{text}");
        }
    }

    #[test]
    fn json_a_value_cannot_hold_is_refused_with_its_reason() {
        let cases = [
            (r#""\ud800""#, "unexpected end of hex escape"),
            (r#"{"\udc00": 1}"#, "lone leading surrogate"),
            ("1e400", "number out of range"),
            ("[1,]", "trailing comma"),
            ("[1] [2]", "trailing characters"),
        ];
        for (text, cause) in cases {
            let err = check_json(text).unwrap_err();
            assert!(matches!(&err, InvalidPayload::NotStorable(why) if why.contains(cause)), "{text}: {err}");
            assert!(err.to_string().starts_with("the payload is not JSON that baton can store: "), "{err}");
            assert!(serde_json::from_str::<Value>(text).is_err(), "a value would not hold {text} either");
        }
    }

    #[test]
    fn the_reserved_key_is_refused_wherever_it_is() {
        for text in [
            r#"{"$serde_json::private::RawValue": 5}"#,
            r#"{"$serde_json::private::RawValue": "[1]"}"#,
            r#"[{"a": 1, "$serde_json::private::RawValue": "2"}]"#,
            r#"{"\u0024serde_json::private::RawValue": "1"}"#,
        ] {
            assert_eq!(check_json(text), Err(InvalidPayload::ReservedKey), "{text}");
        }
        let reserved = |value: Value| Value::Object([(RESERVED_KEY.to_owned(), value)].into_iter().collect());
        for value in [reserved(json!(5)), json!([{"a": 1, "b": reserved(json!("[1]"))}])] {
            assert_eq!(check_value(&value), Err(InvalidPayload::ReservedKey), "{value}");
        }
        // Why: a value with it does not read back as itself.
        let stored = serde_json::to_string(&reserved(json!(5))).unwrap();
        assert!(serde_json::from_str::<Value>(&stored).is_err(), "{stored}");
        let stored = serde_json::to_string(&reserved(json!("[1]"))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&stored).unwrap(), json!([1]));
    }

    #[test]
    fn nesting_past_the_limit_is_refused_however_deep() {
        for depth in [MAX_PAYLOAD_DEPTH + 1, 127, 128, 10_000] {
            assert_eq!(check_json(&nested(depth)), Err(InvalidPayload::TooDeep), "{depth}");
        }
        let deep = (0..1000).fold(json!("leaf"), |inner, _| json!([inner]));
        assert_eq!(check_value(&deep), Err(InvalidPayload::TooDeep));
        let deep_object = (0..=MAX_PAYLOAD_DEPTH).fold(json!(1), |inner, _| json!({"a": inner}));
        assert_eq!(check_value(&deep_object), Err(InvalidPayload::TooDeep));
        assert_eq!(check_json(&deep_object.to_string()), Err(InvalidPayload::TooDeep));
    }
}
