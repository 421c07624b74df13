//! Supervision of actors: how often a crashed child actor may come back, and
//! how soon. (An agent's own restart policy, which runs its process again,
//! shares the limit and the backoff: `RestartSchedule` in `model/agent.rs`.
//! `RerunAgent` is a person running an ended agent again.)
//!
//! As in Erlang/OTP, a child may restart at most `max_restarts` times within a
//! sliding window of `within`; one crash more and the supervisor gives up on it.
//! Between restarts it waits with exponential backoff: the first crash after a
//! quiet spell restarts at once, each further crash in the window waits longer,
//! up to a cap. A child that keeps crashing is thus slowed, then stopped, and
//! never spins.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::to_chrono;
use crate::model::duration_ms;

/// At most `max_restarts` restarts within `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartIntensity {
    /// How many restarts the window allows; the crash after them is fatal.
    pub max_restarts: u32,
    /// The length of the sliding window that restarts are counted in.
    #[serde(with = "duration_ms")]
    pub within: Duration,
}

impl Default for RestartIntensity {
    /// 5 restarts in 10 seconds.
    fn default() -> Self {
        Self { max_restarts: 5, within: Duration::from_secs(10) }
    }
}

/// Exponential backoff: `initial`, then times `factor` each step, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The wait before the second restart in a window (the first is immediate).
    #[serde(with = "duration_ms")]
    pub initial: Duration,
    /// How much each further wait grows.
    pub factor: f64,
    /// The longest wait.
    #[serde(with = "duration_ms")]
    pub max: Duration,
}

impl Default for Backoff {
    /// 100 ms, doubling, at most 5 s.
    fn default() -> Self {
        Self { initial: Duration::from_millis(100), factor: 2.0, max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// No waiting at all, for benchmarks and tests of the restart path itself.
    pub const NONE: Backoff = Backoff { initial: Duration::ZERO, factor: 1.0, max: Duration::ZERO };

    /// The wait before restart number `restart` (0-based) within a window:
    /// zero for the first, then `initial * factor^(restart - 1)`, capped at `max`.
    pub fn delay(&self, restart: u32) -> Duration {
        let Some(step) = restart.checked_sub(1) else {
            return Duration::ZERO;
        };
        let exponent = i32::try_from(step).unwrap_or(i32::MAX);
        let scaled = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        Duration::try_from_secs_f64(scaled).map_or(self.max, |delay| delay.min(self.max))
    }
}

/// The restart strategy of a kind of child: its intensity limit and its backoff.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SupervisionStrategy {
    /// How many restarts are allowed, and in what window.
    pub intensity: RestartIntensity,
    /// How long to wait between them.
    pub backoff: Backoff,
}

/// What the supervisor does about a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashDecision {
    /// Restart the child after waiting `after`.
    Restart {
        /// The restart's number within the window, counting from 1.
        attempt: u32,
        /// How long to wait first.
        after: Duration,
    },
    /// The child crashed too often: give up, and say why.
    GiveUp {
        /// Why, for the child's record and the event.
        reason: String,
    },
}

/// The crashes of one child within the current window.
#[derive(Debug, Clone, Default)]
pub struct CrashHistory {
    crashes: VecDeque<DateTime<Utc>>,
}

impl CrashHistory {
    /// Records a crash at `now` and decides what to do about it.
    pub fn record_crash(&mut self, now: DateTime<Utc>, strategy: &SupervisionStrategy) -> CrashDecision {
        let window_start = now - to_chrono(strategy.intensity.within);
        while self.crashes.front().is_some_and(|&crash| crash <= window_start) {
            self.crashes.pop_front();
        }
        self.crashes.push_back(now);
        let crashes = u32::try_from(self.crashes.len()).unwrap_or(u32::MAX);
        let RestartIntensity { max_restarts, within } = strategy.intensity;
        if crashes > max_restarts {
            CrashDecision::GiveUp {
                reason: format!(
                    "crashed {crashes} times within {within:?}, more than the {max_restarts} restarts allowed"
                ),
            }
        } else {
            CrashDecision::Restart { attempt: crashes, after: strategy.backoff.delay(crashes - 1) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_restarts_at_once_then_doubles_up_to_the_cap() {
        let backoff = Backoff { initial: ms(100), factor: 2.0, max: ms(500) };
        let delays: Vec<Duration> = (0..6).map(|n| backoff.delay(n)).collect();
        assert_eq!(delays, [ms(0), ms(100), ms(200), ms(400), ms(500), ms(500)]);
        assert_eq!(backoff.delay(u32::MAX), ms(500));
    }

    #[test]
    fn the_crash_after_max_restarts_within_the_window_gives_up() {
        let strategy = SupervisionStrategy::default();
        let mut history = CrashHistory::default();
        let t0 = Utc::now();
        let mut waits = Vec::new();
        for n in 0..5 {
            match history.record_crash(t0 + chrono::Duration::milliseconds(n), &strategy) {
                CrashDecision::Restart { attempt, after } => {
                    assert_eq!(attempt, u32::try_from(n).unwrap() + 1);
                    waits.push(after);
                }
                give_up => panic!("crash {n} gave up: {give_up:?}"),
            }
        }
        assert_eq!(waits, [ms(0), ms(100), ms(200), ms(400), ms(800)]);
        let CrashDecision::GiveUp { reason } = history.record_crash(t0 + chrono::Duration::seconds(1), &strategy)
        else {
            panic!("the sixth crash within 10 s must give up");
        };
        assert_eq!(reason, "crashed 6 times within 10s, more than the 5 restarts allowed");
    }

    #[test]
    fn crashes_older_than_the_window_are_forgotten() {
        let strategy = SupervisionStrategy::default();
        let mut history = CrashHistory::default();
        let t0 = Utc::now();
        for n in 0..5 {
            history.record_crash(t0 + chrono::Duration::milliseconds(n), &strategy);
        }
        let later = t0 + chrono::Duration::seconds(11);
        assert_eq!(
            history.record_crash(later, &strategy),
            CrashDecision::Restart { attempt: 1, after: Duration::ZERO }
        );
    }
}
