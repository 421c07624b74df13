//! Flag values that clap checks as it parses, so that a value the daemon
//! would refuse is a usage error (exit 2) before any request is sent.

use std::time::Duration;

use baton_actors::model::bounds;

/// A duration above zero: a limit, a lease or a deadline of zero means nothing.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("it must be above zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(err) => Err(err.to_string()),
    }
}

/// How long a claim or an inbox read waits: at most what the daemon allows (10m).
pub fn wait_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| err.to_string())?;
    let most = bounds::WAIT.max;
    if duration > most {
        return Err(format!("it must be at most {}", humantime::format_duration(most)));
    }
    Ok(duration)
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
