//! The observation queue, through the library handle.
//!
//! Each session has its own queue. Producers (editor hooks) [`observe`](Baton::observe);
//! consumers [`claim`](Baton::claim) observations under a lease, process them,
//! and [`ack`](Baton::ack) them, or [`nack`](Baton::nack) them back. Every
//! answer comes once its change is durable. Delivery is at least once: a
//! consumer that crashes holding a lease gets nothing acked, and the lease
//! lapses on a watchdog tick.

use std::time::Duration;

use baton_actors::messages::{
    AckObservations, ClaimObservations, GetQueueStats, ListObservations, NackObservations, Observe, QueueTotals,
    RequeueObservations,
};
use baton_actors::model::{AckReport, Enqueued, NewObservation, Observation, ObservationState, QueueStats, SessionId};
use baton_actors::requests::Selection;

use crate::Baton;
use crate::error::Result;

/// What a consumer asks for when it claims observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    consumer: String,
    max: usize,
    lease: Duration,
    wait: Duration,
}

impl Claim {
    /// How many observations a claim takes unless told otherwise.
    pub const DEFAULT_MAX: usize = 10;
    /// How long a lease lasts unless told otherwise.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

    /// A claim for `consumer`: up to 10 observations, leased for a minute,
    /// answered at once.
    pub fn new(consumer: impl Into<String>) -> Self {
        Self { consumer: consumer.into(), max: Self::DEFAULT_MAX, lease: Self::DEFAULT_LEASE, wait: Duration::ZERO }
    }

    /// Takes at most `max` observations.
    pub fn max(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Holds them for `lease`; unacked by then, they return to the queue.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// When none is available, waits up to `wait` for some to arrive.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

impl Baton {
    /// Queues an observation in a session; returns its sequence number once it
    /// is durable. A repeated idempotency key returns the first sequence number
    /// and stores nothing new.
    pub async fn observe(&self, session: SessionId, observation: NewObservation) -> Result<Enqueued> {
        self.ask(Observe { session, observation }).await
    }

    /// Claims the oldest available observations of a session, in order, under a lease.
    pub async fn claim(&self, session: SessionId, claim: Claim) -> Result<Vec<Observation>> {
        let Claim { consumer, max, lease, wait } = claim;
        self.ask(ClaimObservations { session, consumer, max, lease, wait }).await
    }

    /// Acks leased observations: processed, they leave the queue. All or none:
    /// one that is not leased (or, with a `consumer`, leased to another) fails
    /// the whole ack. Acking one again is not an error.
    pub async fn ack(&self, session: SessionId, seqs: &[u64], consumer: Option<&str>) -> Result<AckReport> {
        let consumer = consumer.map(str::to_owned);
        self.ask(AckObservations { session, seqs: seqs.to_vec(), consumer }).await
    }

    /// Gives leased observations back to the queue, held back for `delay`.
    /// One that has had its attempts is set aside as dead instead.
    pub async fn nack(
        &self,
        session: SessionId,
        seqs: &[u64],
        consumer: Option<&str>,
        delay: Duration,
    ) -> Result<Vec<Observation>> {
        let consumer = consumer.map(str::to_owned);
        self.ask(NackObservations { session, seqs: seqs.to_vec(), consumer, delay }).await
    }

    /// Puts dead observations back in the queue with fresh attempts.
    pub async fn requeue(&self, session: SessionId, seqs: Selection) -> Result<Vec<Observation>> {
        self.ask(RequeueObservations { session, seqs }).await
    }

    /// Up to `limit` observations of a session in `state` (any, if `None`) with
    /// a sequence number above `after`, in order. Acked ones are kept only a while.
    pub async fn observations(
        &self,
        session: SessionId,
        state: Option<ObservationState>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Observation>> {
        self.ask(ListObservations { session, state, after, limit }).await
    }

    /// A session's queue counts.
    pub async fn queue_stats(&self, session: SessionId) -> Result<QueueStats> {
        self.ask(GetQueueStats(session)).await
    }

    /// The queue counts of all sessions together.
    pub async fn queue_totals(&self) -> Result<QueueStats> {
        self.ask(QueueTotals).await
    }
}
