//! Handoff metrics: counts by state, how often handoffs are acknowledged, and
//! how long acknowledging and completing them takes.
//!
//! They are computed from the records themselves (each keeps the time of every
//! step), so they are the same after a restart and need no counters of their
//! own to keep in step. A store keeps a [`HandoffSummary`] of each in memory,
//! so computing them reads no record.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{Handoff, HandoffState, Lifecycle, SessionId};

/// Metrics over a set of handoffs (one session's, or all of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct HandoffStats {
    /// How many handoffs there are.
    pub total: u64,
    /// How many are in each state; every state is listed, zeros included.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, u64>))]
    pub by_state: BTreeMap<HandoffState, u64>,
    /// How many were acknowledged at some point.
    pub acknowledged: u64,
    /// Of the handoffs whose acknowledgement is settled (acknowledged, or ended
    /// without ever being), the share acknowledged; none when none is settled.
    pub ack_rate: Option<f64>,
    /// From creation to the first acknowledgement, over those acknowledged.
    pub time_to_ack: Option<Latency>,
    /// From creation to completion, over those completed.
    pub time_to_complete: Option<Latency>,
}

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Latency {
    /// How many samples.
    pub count: u64,
    /// Their mean.
    pub mean_ms: f64,
    /// Their 95th percentile, by nearest rank: the smallest sample that at
    /// least 95% of the samples do not exceed.
    pub p95_ms: u64,
}

impl Latency {
    /// The distribution of `samples` (milliseconds); none when there are none.
    pub fn of(mut samples: Vec<u64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let count = samples.len();
        let rank = (count * 95).div_ceil(100).max(1);
        let sum: u128 = samples.iter().map(|&ms| u128::from(ms)).sum();
        Some(Self { count: count as u64, mean_ms: sum as f64 / count as f64, p95_ms: samples[rank - 1] })
    }
}

/// What the metrics need of one handoff: a few fields, so that a store can
/// keep them for every handoff in memory and compute metrics without reading
/// the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffSummary {
    /// The session it happens in.
    pub session: SessionId,
    /// Where it is in its life.
    pub state: HandoffState,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was first acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
}

impl HandoffSummary {
    /// The summary of `handoff`.
    pub fn of(handoff: &Handoff) -> Self {
        Self {
            session: handoff.session,
            state: handoff.state,
            created_at: handoff.created_at,
            acknowledged_at: handoff.acknowledged_at(),
            completed_at: handoff.completed_at(),
        }
    }
}

impl HandoffStats {
    /// The metrics of `handoffs`.
    pub fn of<'a>(handoffs: impl IntoIterator<Item = &'a Handoff>) -> Self {
        Self::of_summaries(handoffs.into_iter().map(HandoffSummary::of))
    }

    /// The metrics of the handoffs these summarize.
    pub fn of_summaries(summaries: impl IntoIterator<Item = HandoffSummary>) -> Self {
        let mut by_state: BTreeMap<HandoffState, u64> = HandoffState::ALL.iter().map(|&state| (state, 0)).collect();
        let (mut total, mut acknowledged, mut unacknowledged_ends) = (0, 0, 0);
        let (mut to_ack, mut to_complete) = (Vec::new(), Vec::new());
        for handoff in summaries {
            total += 1;
            *by_state.entry(handoff.state).or_default() += 1;
            match handoff.acknowledged_at {
                Some(at) => {
                    acknowledged += 1;
                    to_ack.push(millis_between(handoff.created_at, at));
                }
                None if handoff.state.is_terminal() => unacknowledged_ends += 1,
                None => {}
            }
            if let Some(at) = handoff.completed_at {
                to_complete.push(millis_between(handoff.created_at, at));
            }
        }
        let settled = acknowledged + unacknowledged_ends;
        Self {
            total,
            by_state,
            acknowledged,
            ack_rate: (settled > 0).then(|| acknowledged as f64 / settled as f64),
            time_to_ack: Latency::of(to_ack),
            time_to_complete: Latency::of(to_complete),
        }
    }

    /// How many are in `state`.
    pub fn count(&self, state: HandoffState) -> u64 {
        self.by_state.get(&state).copied().unwrap_or(0)
    }
}

impl Default for HandoffStats {
    fn default() -> Self {
        Self::of([])
    }
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_milliseconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::model::{HandoffTarget, SessionId};
    use HandoffState::*;

    fn handoff(created: DateTime<Utc>, steps: &[(HandoffState, i64)]) -> Handoff {
        let mut handoff = Handoff::new(SessionId::new(), None, HandoffTarget::Role("r".into()), "t", created);
        for &(state, ms) in steps {
            handoff.transition(state, created + Duration::milliseconds(ms), None).unwrap();
        }
        handoff
    }

    #[test]
    fn figures_match_a_scenario_worked_by_hand() {
        let t0 = Utc::now();
        let handoffs = [
            // acked after 100 ms, completed after 1000 ms
            handoff(t0, &[(Acknowledged, 100), (InProgress, 200), (Completed, 1000)]),
            // acked after 300 ms, completed after 2000 ms
            handoff(t0, &[(Acknowledged, 300), (InProgress, 400), (Completed, 2000)]),
            // acked after 500 ms, then failed
            handoff(t0, &[(Acknowledged, 500), (Failed, 600)]),
            // timed out before any acknowledgement
            handoff(t0, &[(TimedOut, 5000)]),
            // still waiting: its acknowledgement is not settled
            handoff(t0, &[]),
        ];
        let stats = HandoffStats::of(&handoffs);
        assert_eq!(stats.total, 5);
        assert_eq!((stats.count(Completed), stats.count(Failed), stats.count(TimedOut)), (2, 1, 1));
        assert_eq!((stats.count(Initiated), stats.count(Cancelled)), (1, 0));
        assert_eq!(stats.acknowledged, 3);
        // 3 acknowledged of 4 settled.
        assert_eq!(stats.ack_rate, Some(0.75));
        // (100 + 300 + 500) / 3 = 300; nearest rank ceil(0.95 * 3) = 3rd = 500.
        assert_eq!(stats.time_to_ack, Some(Latency { count: 3, mean_ms: 300.0, p95_ms: 500 }));
        // (1000 + 2000) / 2 = 1500; ceil(0.95 * 2) = 2nd = 2000.
        assert_eq!(stats.time_to_complete, Some(Latency { count: 2, mean_ms: 1500.0, p95_ms: 2000 }));
    }

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(Latency::of(samples).unwrap().p95_ms, 95);
        assert_eq!(Latency::of((1..=20).collect()).unwrap().p95_ms, 19);
        assert_eq!(Latency::of(vec![7]).unwrap().p95_ms, 7);
        assert_eq!(Latency::of(Vec::new()), None);
    }

    #[test]
    fn no_handoffs_give_zeros_and_no_rates() {
        let stats = HandoffStats::default();
        assert_eq!(stats.total, 0);
        assert_eq!(stats.by_state.len(), HandoffState::ALL.len());
        assert_eq!((stats.ack_rate, stats.time_to_ack, stats.time_to_complete), (None, None, None));
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["by_state"]["in_progress"], 0);
    }
}
