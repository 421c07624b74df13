//! Integers in request bodies, as JSON Schema counts them.
//!
//! In JSON Schema, and so in the OpenAPI document, `1592.0` is an integer:
//! a number whose fraction is zero. serde reads it as a float and refuses it
//! for a `u64`. The integer fields of request bodies are read through
//! [`integral`], which takes such a number as the integer it is; `1.5` is
//! still refused.

use serde::Deserialize as _;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Number, Value};

/// Reads `T` (an integer, an optional one, or a list of them) from a value
/// in which whole floats, such as `30.0`, stand for their integers.
pub(crate) fn integral<'de, D: Deserializer<'de>, T: DeserializeOwned>(deserializer: D) -> Result<T, D::Error> {
    let mut value = Value::deserialize(deserializer)?;
    whole_floats_to_integers(&mut value);
    serde_json::from_value(value).map_err(D::Error::custom)
}

/// `30.0` becomes `30`, in `value` and in the arrays it holds.
fn whole_floats_to_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|float| number.is_f64() && float.fract() == 0.0) {
                // Exact for every whole float in range of u64 or i64 (`as` saturates beyond, then refused).
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "checked to be whole and in range"
                )]
                let whole = if (0.0..18_446_744_073_709_551_616.0).contains(&float) {
                    Some(Number::from(float as u64))
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&float) {
                    Some(Number::from(float as i64))
                } else {
                    None
                };
                if let Some(whole) = whole {
                    *number = whole;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_to_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "integral")]
        wait_ms: Option<u64>,
        #[serde(default, deserialize_with = "integral")]
        seqs: Vec<u64>,
        #[serde(default, deserialize_with = "integral")]
        priority: Option<i32>,
    }

    fn read(text: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn whole_floats_are_the_integers_they_are_and_fractions_are_refused() {
        let body = read(r#"{"wait_ms": 1592.0, "seqs": [3.0, 4], "priority": -2.0}"#).unwrap();
        assert_eq!((body.wait_ms, body.seqs, body.priority), (Some(1592), vec![3, 4], Some(-2)));
        let body = read(r#"{"wait_ms": null}"#).unwrap();
        assert_eq!((body.wait_ms, body.seqs, body.priority), (None, vec![], None));
        let err = read(r#"{"wait_ms": 1.5}"#).unwrap_err().to_string();
        assert!(err.contains("invalid type: floating point `1.5`, expected u64"), "{err}");
        assert!(read(r#"{"wait_ms": -1.0}"#).is_err());
        assert!(read(r#"{"wait_ms": 1e300}"#).is_err());
        assert!(read(r#"{"priority": 3000000000.0}"#).is_err());
    }

    /// Found by schemathesis: serde_json's fast float parsing read
    /// `1992923808120651.0` as `1992923808120651.2`, a fraction, and refused it;
    /// with `float_roundtrip` every whole float below 2^53 reads exactly.
    #[test]
    fn large_whole_floats_read_exactly() {
        let body = read(r#"{"seqs": [1992923808120651.0, 9007199254740991.0, 4503599627370497.0]}"#).unwrap();
        assert_eq!(body.seqs, [1_992_923_808_120_651, 9_007_199_254_740_991, 4_503_599_627_370_497]);
    }
}
