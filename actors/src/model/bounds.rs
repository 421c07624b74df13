//! The bounds of every duration and count a request carries.
//!
//! Durations are added to times (a lease ends at `now + lease`), and chrono
//! panics when that overflows: a lease of `u64::MAX` milliseconds took the
//! session's actor down. So each duration and count is checked against its
//! bound here, before anything acts on it, and a value outside it is
//! refused as an invalid request. Each bound is far beyond real use and far
//! below any overflow. The HTTP API's document states the same bounds, in
//! milliseconds, and a test holds the two together.

use std::time::Duration;

use crate::error::EngineError;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The bounds of one duration, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationBound {
    /// What it is, as a message names it.
    pub what: &'static str,
    /// The shortest allowed.
    pub min: Duration,
    /// The longest allowed.
    pub max: Duration,
}

/// The bounds of one count, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountBound {
    /// What it counts, as a message names it.
    pub what: &'static str,
    /// The fewest allowed.
    pub min: u64,
    /// The most allowed.
    pub max: u64,
}

/// How long a claim's (or an inbox read's) lease lasts.
pub const LEASE: DurationBound = DurationBound { what: "a lease", min: Duration::from_millis(1), max: DAY };
/// How long a claim (or an inbox read) waits for something to arrive.
pub const WAIT: DurationBound = DurationBound { what: "a wait", min: Duration::ZERO, max: Duration::from_secs(600) };
/// How many observations one claim (or inbox read) takes.
pub const CLAIM_MAX: CountBound = CountBound { what: "a claim's maximum", min: 1, max: 10_000 };
/// How long a nacked observation is held back.
pub const NACK_DELAY: DurationBound = DurationBound { what: "a nack's delay", min: Duration::ZERO, max: DAY };
/// A handoff's deadlines, for its acknowledgement and its completion.
pub const HANDOFF_DEADLINE: DurationBound =
    DurationBound { what: "a handoff's deadline", min: Duration::from_millis(1), max: DAY.saturating_mul(30) };
/// An agent's time limits: its runtime, how long it may be silent, its CPU time.
pub const AGENT_TIME_LIMIT: DurationBound =
    DurationBound { what: "an agent's time limit", min: Duration::from_millis(1), max: DAY.saturating_mul(365) };
/// An agent's memory limit, in bytes: up to a pebibyte.
pub const AGENT_MAX_RSS: CountBound = CountBound { what: "an agent's memory limit", min: 1, max: 1 << 50 };
/// How long a stop waits for an agent to exit before it kills it.
pub const STOP_GRACE: DurationBound =
    DurationBound { what: "a stop's grace", min: Duration::ZERO, max: Duration::from_secs(60 * 60) };
/// A session's longest lifetime.
pub const SESSION_LIFETIME: DurationBound =
    DurationBound { what: "a session's lifetime", min: Duration::from_millis(1), max: DAY.saturating_mul(3650) };

/// A duration as a person reads it and humantime parses it back: whole
/// days as days (`365days`, where humantime alone would say
/// `11months 30days 3h 50m 24s`), `0s` for zero.
pub fn shown(duration: Duration) -> String {
    const DAY_SECS: u64 = 24 * 60 * 60;
    let secs = duration.as_secs();
    match (secs, duration.subsec_nanos()) {
        (0, 0) => "0s".to_owned(),
        (DAY_SECS, 0) => "1day".to_owned(),
        (secs, 0) if secs % DAY_SECS == 0 => format!("{}days", secs / DAY_SECS),
        _ => humantime::format_duration(duration).to_string(),
    }
}

/// A size as a person reads it and `--max-rss` takes it back: `512B`,
/// `3.2MiB`, in powers of 1024.
pub fn shown_bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count}B");
    }
    // In tenths of the unit, so no float is needed.
    let mut tenths = u128::from(count) * 10 / 1024;
    let mut unit = 0;
    while tenths >= 1024 * 10 && unit + 1 < UNITS.len() {
        tenths /= 1024;
        unit += 1;
    }
    format!("{}.{}{}", tenths / 10, tenths % 10, UNITS[unit])
}

impl DurationBound {
    /// `value`, or an invalid request saying what the bound is.
    pub fn check(&self, value: Duration) -> Result<Duration, EngineError> {
        if (self.min..=self.max).contains(&value) {
            return Ok(value);
        }
        Err(EngineError::InvalidRequest(format!(
            "{} must be from {} to {}, not {}",
            self.what,
            shown(self.min),
            shown(self.max),
            shown(value)
        )))
    }

    /// An optional `value`, checked when it is there.
    pub fn check_some(&self, value: Option<Duration>) -> Result<Option<Duration>, EngineError> {
        value.map(|value| self.check(value)).transpose()
    }

    /// The bounds in whole milliseconds, as the HTTP API states them.
    pub fn millis(&self) -> (u64, u64) {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        (ms(self.min), ms(self.max))
    }
}

impl CountBound {
    /// `value`, or an invalid request saying what the bound is.
    pub fn check(&self, value: u64) -> Result<u64, EngineError> {
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(EngineError::InvalidRequest(format!(
                "{} must be from {} to {}, not {value}",
                self.what, self.min, self.max
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(super::shown_bytes(512), "512B");
        assert_eq!(super::shown_bytes(1536), "1.5KiB");
        assert_eq!(super::shown_bytes(3 * 1024 * 1024 + 200 * 1024), "3.1MiB");
        assert_eq!(super::shown_bytes(5 * 1024 * 1024 * 1024), "5.0GiB");
    }

    use super::*;

    #[test]
    fn a_value_outside_its_bound_is_refused_in_words() {
        assert_eq!(LEASE.check(Duration::from_secs(60)).unwrap(), Duration::from_secs(60));
        let err = LEASE.check(Duration::from_millis(u64::MAX)).unwrap_err().to_string();
        assert!(err.starts_with("a lease must be from 1ms to 1day, not "), "{err}");
        let err = LEASE.check(Duration::ZERO).unwrap_err().to_string();
        assert_eq!(err, "a lease must be from 1ms to 1day, not 0s");
        assert_eq!(CLAIM_MAX.check(0).unwrap_err().to_string(), "a claim's maximum must be from 1 to 10000, not 0");
        assert_eq!(WAIT.millis(), (0, 600_000));
    }

    #[test]
    fn the_longest_of_each_bound_can_be_added_to_a_time() {
        let now = chrono::Utc::now();
        for bound in [LEASE, WAIT, NACK_DELAY, HANDOFF_DEADLINE, AGENT_TIME_LIMIT, STOP_GRACE, SESSION_LIFETIME] {
            let max = chrono::TimeDelta::from_std(bound.max).unwrap();
            assert!(now.checked_add_signed(max).is_some(), "{}", bound.what);
        }
    }
}
