//! Flag values that clap checks as it parses, so that a value the daemon
//! would refuse is a usage error (exit 2) before any request is sent.

use std::time::Duration;

use baton_actors::model::bounds;

/// A duration within `bound`, the engine's own: a value the daemon would
/// refuse is a usage error here, in the units it was typed in. Zero, where
/// the bound starts above it, means nothing.
fn within(bound: &bounds::DurationBound, text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    if duration.is_zero() && !bound.min.is_zero() {
        return Err("it must be above zero".to_owned());
    }
    if duration < bound.min || duration > bound.max {
        return Err(format!("it must be from {} to {}", bounds::shown(bound.min), bounds::shown(bound.max)));
    }
    Ok(duration)
}

/// An agent's time limit (`--max-runtime`, `--stale-after`, `--max-cpu-time`): up to a year.
pub fn agent_time_limit(text: &str) -> Result<Duration, String> {
    within(&bounds::AGENT_TIME_LIMIT, text)
}

/// A lease: up to a day.
pub fn lease(text: &str) -> Result<Duration, String> {
    within(&bounds::LEASE, text)
}

/// A handoff's deadline (`--ack-within`, `--complete-within`): up to 30 days.
pub fn handoff_deadline(text: &str) -> Result<Duration, String> {
    within(&bounds::HANDOFF_DEADLINE, text)
}

/// A session's lifetime: up to ten years.
pub fn session_lifetime(text: &str) -> Result<Duration, String> {
    within(&bounds::SESSION_LIFETIME, text)
}

/// A stop's grace period: up to an hour.
pub fn stop_grace(text: &str) -> Result<Duration, String> {
    within(&bounds::STOP_GRACE, text)
}

/// How long a nacked observation is held back: up to a day.
pub fn nack_delay(text: &str) -> Result<Duration, String> {
    within(&bounds::NACK_DELAY, text)
}

/// How long a claim or an inbox read waits: at most what the daemon allows (10m).
pub fn wait_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    let most = bounds::WAIT.max;
    if duration > most {
        return Err(format!("it must be at most {}", bounds::shown(most)));
    }
    Ok(duration)
}

/// An agent's memory limit, a size with its unit as `ps` prints them
/// (`512M`, `1.5GiB`; units are powers of 1024, a bare number is bytes),
/// up to the engine's bound.
pub fn memory_limit(text: &str) -> Result<u64, String> {
    let bytes = parse_size::Config::new().with_binary().parse_size(text).map_err(|err| match err {
        parse_size::Error::Empty => "it needs a size, such as 512M or 2GiB".to_owned(),
        err => format!("{err}: a size such as 512M or 2GiB"),
    })?;
    let bound = bounds::AGENT_MAX_RSS;
    if bytes < bound.min {
        return Err("it must be above zero".to_owned());
    }
    if bytes > bound.max {
        return Err("it must be at most 1PiB".to_owned());
    }
    Ok(bytes)
}

/// A number above zero: a limit of zero bytes, or a claim of none, means nothing.
pub fn positive<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr + Default + PartialEq,
    T::Err: std::fmt::Display,
{
    match text.parse::<T>() {
        Ok(number) if number == T::default() => Err("it must be above zero".to_owned()),
        Ok(number) => Ok(number),
        Err(err) => Err(err.to_string()),
    }
}
