//! What a session's observation queue says about itself: the answer to an
//! enqueue, its counts, and the answer to an ack.
//!
//! [`QueueStats`] is kept beside the observations and written in the same
//! batch as every change to them, so counts and the next sequence number are
//! never out of step with the records, even after `kill -9`.

use serde::{Deserialize, Serialize};

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enqueued {
    /// The observation's sequence number in its session's queue.
    pub seq: u64,
    /// Whether it was already queued under the same idempotency key (this post
    /// stored nothing new).
    pub duplicate: bool,
}

/// The counts of one session's queue, and the sequence number the next
/// observation gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct QueueStats {
    /// The sequence number the next observation gets; sequence numbers are
    /// never reused, so an ack of an older one that is gone is known to be
    /// a repeat rather than a mistake.
    pub next_seq: u64,
    /// Waiting to be claimed.
    pub pending: u64,
    /// Claimed and not yet acked.
    pub leased: u64,
    /// Set aside after too many attempts.
    pub dead: u64,
    /// Acked over the queue's whole life.
    pub acked: u64,
}

impl QueueStats {
    /// The stats of a queue that never held anything.
    pub fn empty() -> Self {
        Self { next_seq: 1, ..Self::default() }
    }

    /// Observations still to be processed: pending or leased.
    pub fn outstanding(&self) -> u64 {
        self.pending + self.leased
    }

    /// Adds `other`'s counts to these (for totals over sessions).
    pub fn add(&mut self, other: &QueueStats) {
        self.pending += other.pending;
        self.leased += other.leased;
        self.dead += other.dead;
        self.acked += other.acked;
    }
}

/// The answer to an ack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckReport {
    /// The observations this ack settled.
    pub acked: Vec<u64>,
    /// Observations that were acked before (a repeated ack, say after a lost
    /// answer): not an error, and nothing changed for them.
    pub already_acked: Vec<u64>,
}
