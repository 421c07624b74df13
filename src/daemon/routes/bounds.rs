//! The bounded numbers of requests: each duration a request carries, in
//! milliseconds, and each count, checked against its bound before anything
//! acts on it, with a 400 that names the field.
//!
//! The durations' bounds are the engine's (`baton_actors::model::bounds`),
//! which refuses them too, for library callers. The API document states each
//! bound as the field's `minimum` and `maximum`; a test sends every numeric
//! field of the document values on both sides of its bounds, so the two
//! cannot drift apart.

use std::time::Duration;

use baton_actors::model::bounds::{CountBound, DurationBound};

use crate::daemon::error::ApiError;

/// A sequence number a request starts after: up to 2^53 - 1, which every
/// JSON reader holds exactly (and no store reaches).
pub const SEQ: CountBound = CountBound { what: "a sequence number", min: 0, max: (1 << 53) - 1 };

/// How many records one list answer holds.
pub const LIST_LIMIT: CountBound = CountBound { what: "a list's limit", min: 1, max: 10_000 };

/// A duration field in milliseconds, within `bound`.
pub fn millis(field: &str, value: u64, bound: DurationBound) -> Result<Duration, ApiError> {
    let (min, max) = bound.millis();
    if (min..=max).contains(&value) {
        Ok(Duration::from_millis(value))
    } else {
        Err(ApiError::bad_request(format!("{field} must be from {min} to {max} (milliseconds), not {value}")))
    }
}

/// An optional duration field in milliseconds, within `bound` when it is there.
pub fn millis_some(field: &str, value: Option<u64>, bound: DurationBound) -> Result<Option<Duration>, ApiError> {
    value.map(|value| millis(field, value, bound)).transpose()
}

/// A count field, within `bound`.
pub fn count(field: &str, value: u64, bound: CountBound) -> Result<u64, ApiError> {
    if (bound.min..=bound.max).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!("{field} must be from {} to {}, not {value}", bound.min, bound.max)))
    }
}

/// A count field that sizes something in memory, within `bound`.
pub fn size(field: &str, value: usize, bound: CountBound) -> Result<usize, ApiError> {
    let value = count(field, u64::try_from(value).unwrap_or(u64::MAX), bound)?;
    Ok(usize::try_from(value).expect("a bound fits in memory"))
}
