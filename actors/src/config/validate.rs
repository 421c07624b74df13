//! Every tunable within its range, so a zero or a slip of the finger is
//! refused with its name rather than run with (issue 17: a zero
//! `watchdog_interval` spun a core).
//!
//! [`EngineConfig::validate`] names the first value out of range by its path
//! under `[engine]` (`agents.max_running`), so the config file's reader can
//! point at its line; the library refuses the same values at spawn.

use std::time::Duration;

use super::{AgentConfig, EngineConfig, RoleTemplate};
use crate::model::{AgentLimits, RestartSchedule};
use crate::queue_index::QueueConfig;
use crate::supervision::{Backoff, RestartIntensity, SupervisionStrategy};

/// A tunable out of its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: {expected}")]
#[non_exhaustive]
pub struct ConfigError {
    /// Its path under `[engine]`, dotted: `agents.max_running`.
    pub key: String,
    /// The value given, as written in the config file.
    pub value: String,
    /// What it must be.
    pub expected: String,
}

/// The shortest watchdog interval: shorter spins the engine's thread for nothing.
pub const MIN_WATCHDOG_INTERVAL: Duration = Duration::from_millis(10);
/// The longest watchdog interval: limits and deadlines are checked on ticks.
pub const MAX_WATCHDOG_INTERVAL: Duration = Duration::from_secs(3600);
/// The smallest log file that is rotated.
pub const MIN_LOG_MAX_BYTES: u64 = 1024;
/// The smallest store cache: sled needs room for a few pages.
pub const MIN_STORE_CACHE_BYTES: u64 = 1024 * 1024;
/// The longest key window: ten years, so a time minus it never overflows.
pub const MAX_KEY_WINDOW: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// The largest growth factor of a backoff.
pub const MAX_BACKOFF_FACTOR: f64 = 100.0;

/// Walks a config, keeping the path of where it is.
struct Check {
    prefix: String,
}

type Checked = Result<(), ConfigError>;

impl Check {
    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}.{name}", self.prefix) }
    }

    fn within(&self, name: &str) -> Self {
        Self { prefix: self.key(name) }
    }

    fn refuse(&self, name: &str, value: impl ToString, expected: impl Into<String>) -> Checked {
        Err(ConfigError { key: self.key(name), value: value.to_string(), expected: expected.into() })
    }

    fn at_least(&self, name: &str, value: u64, min: u64, unit: &str) -> Checked {
        if value < min { self.refuse(name, value, format!("must be at least {min}{unit}")) } else { Ok(()) }
    }

    fn count_at_least(&self, name: &str, value: usize, min: u64) -> Checked {
        self.at_least(name, u64::try_from(value).unwrap_or(u64::MAX), min, "")
    }

    fn millis(&self, name: &str, value: Duration, min: Duration, max: Option<Duration>) -> Checked {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        match max {
            Some(max) if value < min || value > max => {
                self.refuse(name, ms(value), format!("must be from {} to {} (milliseconds)", ms(min), ms(max)))
            }
            _ if value < min => self.refuse(name, ms(value), format!("must be at least {} (milliseconds)", ms(min))),
            _ => Ok(()),
        }
    }

    fn intensity(&self, intensity: &RestartIntensity) -> Checked {
        self.millis("within", intensity.within, Duration::from_millis(1), None)
    }

    fn backoff(&self, backoff: &Backoff) -> Checked {
        if !(1.0..=MAX_BACKOFF_FACTOR).contains(&backoff.factor) {
            return self.refuse("factor", backoff.factor, format!("must be from 1 to {MAX_BACKOFF_FACTOR}"));
        }
        if backoff.max < backoff.initial {
            let initial = backoff.initial.as_millis();
            return self.refuse(
                "max",
                backoff.max.as_millis(),
                format!("must be at least `initial` ({initial} milliseconds)"),
            );
        }
        Ok(())
    }

    fn strategy(&self, strategy: &SupervisionStrategy) -> Checked {
        self.within("intensity").intensity(&strategy.intensity)?;
        self.within("backoff").backoff(&strategy.backoff)
    }

    fn schedule(&self, schedule: &RestartSchedule) -> Checked {
        self.within("intensity").intensity(&schedule.intensity)?;
        self.within("backoff").backoff(&schedule.backoff)?;
        if !(0.0..=1.0).contains(&schedule.jitter) {
            return self.refuse("jitter", schedule.jitter, "must be from 0 to 1");
        }
        Ok(())
    }

    fn limits(&self, limits: &AgentLimits) -> Checked {
        let one_ms = Duration::from_millis(1);
        for (name, limit) in [
            ("max_runtime", limits.max_runtime),
            ("stale_after", limits.stale_after),
            ("max_cpu_time", limits.max_cpu_time),
        ] {
            if let Some(limit) = limit {
                self.millis(name, limit, one_ms, Some(crate::model::bounds::AGENT_TIME_LIMIT.max))?;
            }
        }
        match limits.max_rss_bytes {
            Some(bytes) => self.at_least("max_rss_bytes", bytes, 1, " (bytes)"),
            None => Ok(()),
        }
    }

    fn queue(&self, queue: &QueueConfig) -> Checked {
        self.at_least("max_attempts", u64::from(queue.max_attempts), 1, "")?;
        self.count_at_least("max_payload_bytes", queue.max_payload_bytes, 1)?;
        self.millis("key_window", queue.key_window, Duration::ZERO, Some(MAX_KEY_WINDOW))
    }

    fn role(&self, role: &RoleTemplate) -> Checked {
        if role.argv.first().is_none_or(String::is_empty) {
            return self.refuse("command", format!("{:?}", role.argv), "must name a program to run");
        }
        self.within("schedule").schedule(&role.schedule)?;
        self.within("limits").limits(&role.limits)
    }

    fn agents(&self, agents: &AgentConfig) -> Checked {
        self.count_at_least("max_running", agents.max_running, 1)?;
        self.count_at_least("max_running_per_session", agents.max_running_per_session, 1)?;
        self.at_least("log_max_bytes", agents.log_max_bytes, MIN_LOG_MAX_BYTES, " (bytes)")?;
        if let Some(budget) = agents.memory_budget_bytes {
            self.at_least("memory_budget_bytes", budget, 1, " (bytes)")?;
        }
        self.within("actor_restart").strategy(&agents.actor_restart)?;
        let roles = self.within("roles");
        for (name, role) in &agents.roles {
            roles.within(name).role(role)?;
        }
        Ok(())
    }
}

impl EngineConfig {
    /// Refuses the first tunable out of its range, by its path under `[engine]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = Check { prefix: String::new() };
        check.millis(
            "watchdog_interval",
            self.watchdog_interval,
            MIN_WATCHDOG_INTERVAL,
            Some(MAX_WATCHDOG_INTERVAL),
        )?;
        check.millis("idle_after", self.idle_after, Duration::from_millis(1), None)?;
        check.count_at_least("event_retention", self.event_retention, 1)?;
        check.count_at_least("handoff_retention", self.handoff_retention, 1)?;
        check.count_at_least("agent_retention", self.agent_retention, 1)?;
        check.count_at_least("session_retention", self.session_retention, 1)?;
        let transfer = check.within("handoff_transfer");
        transfer.at_least("max_attempts", u64::from(self.handoff_transfer.max_attempts), 1, "")?;
        transfer.within("backoff").backoff(&self.handoff_transfer.backoff)?;
        check.at_least("store_cache_bytes", self.store_cache_bytes, MIN_STORE_CACHE_BYTES, " (bytes)")?;
        check.within("session_restart").strategy(&self.session_restart)?;
        check.within("queue").queue(&self.queue)?;
        check.within("agents").agents(&self.agents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(change: impl FnOnce(&mut EngineConfig)) -> String {
        let mut config = EngineConfig::default();
        change(&mut config);
        config.validate().expect_err("out of range, yet accepted").to_string()
    }

    #[test]
    fn the_defaults_are_in_range() {
        EngineConfig::default().validate().unwrap();
    }

    #[test]
    fn each_value_out_of_range_is_named_with_what_it_must_be() {
        assert_eq!(
            refusal(|c| c.watchdog_interval = Duration::ZERO),
            "watchdog_interval = 0: must be from 10 to 3600000 (milliseconds)"
        );
        assert_eq!(refusal(|c| c.idle_after = Duration::ZERO), "idle_after = 0: must be at least 1 (milliseconds)");
        assert_eq!(refusal(|c| c.event_retention = 0), "event_retention = 0: must be at least 1");
        assert_eq!(refusal(|c| c.session_retention = 0), "session_retention = 0: must be at least 1");
        assert_eq!(refusal(|c| c.queue.max_attempts = 0), "queue.max_attempts = 0: must be at least 1");
        assert_eq!(
            refusal(|c| c.handoff_transfer.max_attempts = 0),
            "handoff_transfer.max_attempts = 0: must be at least 1"
        );
        assert_eq!(refusal(|c| c.agents.max_running = 0), "agents.max_running = 0: must be at least 1");
        assert_eq!(
            refusal(|c| c.agents.log_max_bytes = 10),
            "agents.log_max_bytes = 10: must be at least 1024 (bytes)"
        );
        assert_eq!(
            refusal(|c| c.session_restart.backoff.factor = 0.5),
            "session_restart.backoff.factor = 0.5: must be from 1 to 100"
        );
        assert_eq!(
            refusal(|c| c.agents.actor_restart.intensity.within = Duration::ZERO),
            "agents.actor_restart.intensity.within = 0: must be at least 1 (milliseconds)"
        );
        assert_eq!(
            refusal(|c| c.session_restart.backoff.max = Duration::from_millis(50)),
            "session_restart.backoff.max = 50: must be at least `initial` (100 milliseconds)"
        );
    }

    #[test]
    fn a_role_is_checked_under_its_name() {
        assert_eq!(
            refusal(|c| {
                c.agents.roles.insert("reviewer".into(), RoleTemplate::new(Vec::<String>::new()));
            }),
            "agents.roles.reviewer.command = []: must name a program to run"
        );
        assert_eq!(
            refusal(|c| {
                let mut role = RoleTemplate::new(["claude"]);
                role.limits.max_runtime = Some(Duration::ZERO);
                c.agents.roles.insert("reviewer".into(), role);
            }),
            "agents.roles.reviewer.limits.max_runtime = 0: must be from 1 to 31536000000 (milliseconds)"
        );
        assert_eq!(
            refusal(|c| {
                let mut role = RoleTemplate::new(["claude"]);
                role.schedule.jitter = 2.0;
                c.agents.roles.insert("reviewer".into(), role);
            }),
            "agents.roles.reviewer.schedule.jitter = 2: must be from 0 to 1"
        );
    }
}
