//! `GET /metrics`: Prometheus text format.
//!
//! Gauges that describe stored state (sessions, agents and handoffs by state,
//! restarts, handoff metrics) are read from the engine at scrape time, so they
//! are never stale. Latencies are histograms fed as things happen: every HTTP
//! request (by method, route pattern and status) and every store flush.
//!
//! The handoff latencies come from the engine as a mean and a 95th percentile
//! over every handoff it keeps, not as observations to bucket, so they are
//! gauges labelled `stat="mean"` and `stat="p95"`; a figure with no samples
//! behind it (no handoff acknowledged yet, say) is `NaN`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use crate::api::ErrorCode;
use crate::{AgentState, Baton, HandoffState, Latency, SessionState};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatLabel {
    stat: &'static str,
}

/// A gauge of a fractional value.
type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The daemon's metrics registry.
pub struct Metrics {
    registry: Registry,
    sessions: Family<StateLabel, Gauge>,
    agents: Family<StateLabel, Gauge>,
    session_restarts: Gauge,
    observations: Family<StateLabel, Gauge>,
    acked: Gauge,
    handoffs: Family<StateLabel, Gauge>,
    handoff_ack_rate: FloatGauge,
    handoff_time_to_ack: Family<StatLabel, FloatGauge>,
    handoff_time_to_complete: Family<StatLabel, FloatGauge>,
    requests: Family<RequestLabels, Histogram>,
    flushes: Histogram,
    corrupt_records: Counter,
}

/// 50 µs to ~1.6 s, doubling: the same bounds as prometheus-client's
/// `exponential_buckets(0.000_05, 2.0, 16)`, without its `f64::powf`, whose
/// call was the binary's only use of libm: without it the daemon does not load
/// libm.so at all (about 0.5 MB less RSS, docs/benchmarks.md).
fn latency_buckets() -> impl Iterator<Item = f64> {
    (0..16).map(|doublings| 0.000_05 * f64::from(1_u32 << doublings))
}

impl Metrics {
    /// A registry with every metric the daemon serves.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("baton");
        let sessions = Family::<StateLabel, Gauge>::default();
        registry.register("sessions", "Sessions by state", sessions.clone());
        let agents = Family::<StateLabel, Gauge>::default();
        registry.register("agents", "Agents by state", agents.clone());
        let session_restarts = Gauge::default();
        registry.register(
            "session_actor_restarts",
            "Restarts of session actors after crashes, over the life of every session",
            session_restarts.clone(),
        );
        let observations = Family::<StateLabel, Gauge>::default();
        registry.register(
            "queue_observations",
            "Observations in the queues of all sessions, by state (pending, leased, dead): the queue depth",
            observations.clone(),
        );
        let acked = Gauge::default();
        registry.register("queue_acked", "Observations acked over the life of every queue the store holds (ended sessions past `session_retention` go)", acked.clone());
        let handoffs = Family::<StateLabel, Gauge>::default();
        registry.register("handoffs", "Handoffs of all sessions, by state", handoffs.clone());
        let handoff_ack_rate = FloatGauge::default();
        registry.register(
            "handoff_ack_rate",
            "Of the handoffs whose acknowledgement is settled, the share acknowledged (NaN when none is)",
            handoff_ack_rate.clone(),
        );
        let handoff_time_to_ack = Family::<StatLabel, FloatGauge>::default();
        registry.register(
            "handoff_time_to_ack_seconds",
            "From creation to the first acknowledgement of a handoff: mean and 95th percentile (NaN without samples)",
            handoff_time_to_ack.clone(),
        );
        let handoff_time_to_complete = Family::<StatLabel, FloatGauge>::default();
        registry.register(
            "handoff_time_to_complete_seconds",
            "From creation to completion of a handoff: mean and 95th percentile (NaN without samples)",
            handoff_time_to_complete.clone(),
        );
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register("http_request_duration_seconds", "HTTP request latency", requests.clone());
        let flushes = Histogram::new(latency_buckets());
        registry.register("store_flush_duration_seconds", "Latency of store flushes (group commits)", flushes.clone());
        let corrupt_records = Counter::default();
        registry.register(
            "store_corrupt_records",
            "Stored records skipped because they do not decode (each is logged with its key)",
            corrupt_records.clone(),
        );
        Self {
            registry,
            sessions,
            agents,
            session_restarts,
            observations,
            acked,
            handoffs,
            handoff_ack_rate,
            handoff_time_to_ack,
            handoff_time_to_complete,
            requests,
            flushes,
            corrupt_records,
        }
    }

    /// Records one HTTP request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels { method: method.to_owned(), route: route.to_owned(), status };
        self.requests.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    /// A callback for the store that records each flush's latency.
    pub fn flush_observer(self: &Arc<Self>) -> Arc<dyn Fn(Duration) + Send + Sync> {
        let metrics = Arc::clone(self);
        Arc::new(move |elapsed| metrics.flushes.observe(elapsed.as_secs_f64()))
    }

    /// The metrics in Prometheus text format, state gauges read from `baton` now.
    pub async fn render(&self, baton: &Baton) -> Result<String, ApiError> {
        let sessions = baton.sessions().await?;
        for &state in SessionState::ALL {
            let count = sessions.iter().filter(|session| session.state == state).count();
            self.sessions.get_or_create(&StateLabel { state: state.as_str() }).set(gauge_value(count));
        }
        let restarts: u64 = sessions.iter().map(|session| u64::from(session.restarts)).sum();
        self.session_restarts.set(i64::try_from(restarts).unwrap_or(i64::MAX));
        let agents = baton.agents(None).await?;
        for &state in AgentState::ALL {
            let count = agents.iter().filter(|agent| agent.state == state).count();
            self.agents.get_or_create(&StateLabel { state: state.as_str() }).set(gauge_value(count));
        }
        let queue = baton.queue_totals().await?;
        for (state, count) in [("pending", queue.pending), ("leased", queue.leased), ("dead", queue.dead)] {
            self.observations.get_or_create(&StateLabel { state }).set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.acked.set(i64::try_from(queue.acked).unwrap_or(i64::MAX));
        let handoffs = baton.handoff_stats(None).await?;
        for &state in HandoffState::ALL {
            let count = handoffs.count(state);
            self.handoffs
                .get_or_create(&StateLabel { state: state.as_str() })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.handoff_ack_rate.set(handoffs.ack_rate.unwrap_or(f64::NAN));
        set_latency(&self.handoff_time_to_ack, handoffs.time_to_ack);
        set_latency(&self.handoff_time_to_complete, handoffs.time_to_complete);
        // The store counts; the counter catches up with it.
        let corrupt = baton.corrupt_records()?;
        self.corrupt_records.inc_by(corrupt.saturating_sub(self.corrupt_records.get()));
        let mut text = String::new();
        encode(&mut text, &self.registry)
            .map_err(|err| ApiError::new(ErrorCode::Internal, format!("cannot encode the metrics: {err}")))?;
        Ok(text)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Sets the `mean` and `p95` gauges of a latency, in seconds; `NaN` without samples.
fn set_latency(family: &Family<StatLabel, FloatGauge>, latency: Option<Latency>) {
    let (mean, p95) = latency.map_or((f64::NAN, f64::NAN), |latency| {
        (latency.mean_ms / 1000.0, Duration::from_millis(latency.p95_ms).as_secs_f64())
    });
    family.get_or_create(&StatLabel { stat: "mean" }).set(mean);
    family.get_or_create(&StatLabel { stat: "p95" }).set(p95);
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::histogram::exponential_buckets;

    #[test]
    fn latency_buckets_are_prometheus_exponential_buckets() {
        let ours: Vec<f64> = super::latency_buckets().collect();
        let theirs: Vec<f64> = exponential_buckets(0.000_05, 2.0, 16).collect();
        assert_eq!(ours, theirs);
    }
}
