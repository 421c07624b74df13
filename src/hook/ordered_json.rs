//! A JSON value whose objects keep their keys in the order of the file.
//!
//! `baton hook install` rewrites a file the user owns and reads; reordering its
//! keys alphabetically would make every install look like a rewrite in a diff.
//! serde_json keeps key order only with its `preserve_order` feature, which is
//! workspace-wide: it would change the key order of every JSON answer and CLI
//! output baton produces and make `Map::remove` reorder the keys that remain.
//! So the settings file gets this small type of its own instead.
//!
//! Numbers go through [`serde_json::Number`], as with [`serde_json::Value`]:
//! integers keep every digit up to 64 bits and other numbers are `f64`s.
//! A key given twice keeps its first place and its last value, as serde_json
//! keeps the last value.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OrderedJson {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<OrderedJson>),
    /// An object, its members in order.
    Object(Members),
}

impl OrderedJson {
    /// The members, when it is an object.
    pub(crate) fn as_object(&self) -> Option<&Members> {
        match self {
            OrderedJson::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The members, when it is an object, for changing them.
    pub(crate) fn as_object_mut(&mut self) -> Option<&mut Members> {
        match self {
            OrderedJson::Object(members) => Some(members),
            _ => None,
        }
    }

    /// The text, when it is a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            OrderedJson::String(text) => Some(text),
            _ => None,
        }
    }

    /// What kind of value it is, for error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            OrderedJson::Null => "null",
            OrderedJson::Bool(_) => "a boolean",
            OrderedJson::Number(_) => "a number",
            OrderedJson::String(_) => "a string",
            OrderedJson::Array(_) => "an array",
            OrderedJson::Object(_) => "an object",
        }
    }
}

/// The members of an object, in order; each key at most once.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Members(Vec<(String, OrderedJson)>);

impl Members {
    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&OrderedJson> {
        self.0.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }

    /// The value of `key`, for changing it.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut OrderedJson> {
        self.0.iter_mut().find(|(name, _)| name == key).map(|(_, value)| value)
    }

    /// Sets `key` to `value`: in its place when it is there, else last.
    pub(crate) fn insert(&mut self, key: impl Into<String>, value: OrderedJson) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, keeping the order of the others.
    pub(crate) fn remove(&mut self, key: &str) -> Option<OrderedJson> {
        let index = self.0.iter().position(|(name, _)| name == key)?;
        Some(self.0.remove(index).1)
    }

    /// Every member, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &OrderedJson)> {
        self.0.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// Whether there are no members.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>> FromIterator<(K, OrderedJson)> for Members {
    fn from_iter<I: IntoIterator<Item = (K, OrderedJson)>>(iter: I) -> Self {
        let mut members = Members::default();
        for (key, value) in iter {
            members.insert(key, value);
        }
        members
    }
}

impl Serialize for OrderedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OrderedJson::Null => serializer.serialize_unit(),
            OrderedJson::Bool(value) => serializer.serialize_bool(*value),
            OrderedJson::Number(number) => number.serialize(serializer),
            OrderedJson::String(text) => serializer.serialize_str(text),
            OrderedJson::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OrderedJson::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.0.len()))?;
                for (key, value) in &members.0 {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedJsonVisitor)
    }
}

/// Builds an [`OrderedJson`] from whatever the parser meets.
struct OrderedJsonVisitor;

impl<'de> Visitor<'de> for OrderedJsonVisitor {
    type Value = OrderedJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<OrderedJson, E> {
        Ok(OrderedJson::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<OrderedJson, E> {
        serde_json::Number::from_f64(value)
            .map(OrderedJson::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, value: &str) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<OrderedJson, E> {
        Ok(OrderedJson::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(OrderedJson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
        let mut members = Members::default();
        while let Some((key, value)) = map.next_entry::<String, OrderedJson>()? {
            members.insert(key, value);
        }
        Ok(OrderedJson::Object(members))
    }
}

#[cfg(test)]
#[path = "ordered_json_tests.rs"]
mod tests;
