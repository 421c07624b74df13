//! Long-polls parked in the session's actor whose caller hung up.
//!
//! A parked claim or inbox read holds the sender of its answer; its caller's
//! reply future holds the receiver, and is dropped when the caller hangs up
//! ([`Awaited`](crate::awaited::Awaited)). The actor checks the sender before
//! it hands anything to a wait, so nothing is leased to a caller that is
//! gone; the [`HangUpGuard`] in the reply tells it at once too, so the wait
//! and its timer go without waiting for the next observation.

use actix::prelude::*;

/// A parked wait, by the id its list gave it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    /// A claim waiting for observations.
    Claim(u64),
    /// An agent waiting on its inbox.
    Inbox(u64),
}

/// The caller of a parked wait hung up: the actor drops the wait.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(super) struct HungUp(pub(super) Wait);

/// Held by the reply future of a parked wait: dropped before the wait was
/// answered, it sends [`HungUp`].
pub(super) struct HangUpGuard {
    /// Whom to tell; taken once the wait is answered.
    actor: Option<Recipient<HungUp>>,
    wait: Wait,
}

impl HangUpGuard {
    pub(super) fn new(actor: Recipient<HungUp>, wait: Wait) -> Self {
        Self { actor: Some(actor), wait }
    }

    /// The wait was answered: nothing to tell.
    pub(super) fn answered(mut self) {
        self.actor = None;
    }
}

impl Drop for HangUpGuard {
    fn drop(&mut self) {
        if let Some(actor) = self.actor.take() {
            actor.do_send(HungUp(self.wait));
        }
    }
}
