//! A reply that is worked on only while its caller still waits for it.
//!
//! actix runs a handler's reply future to its end even when nobody waits for
//! the answer any more (the caller's future was dropped: an HTTP client that
//! hung up, a library caller that gave up). For a long-poll that is harm, not
//! waste: a claim parked in a session's actor would lease the next
//! observations to a consumer that is gone (issue 18). An [`Awaited`] reply
//! is dropped as soon as its caller hangs up, and with it whatever it holds,
//! so the hang-up travels on: the supervisor's reply holds the request it
//! forwarded to the session's actor, whose reply holds the waiter's answer
//! channel, which the actor finds closed before it hands anything out.

use std::future::Future;
use std::pin::{Pin, pin};

use actix::dev::{MessageResponse, OneshotSender};
use actix::{Actor, Message};
use futures_util::future::{Either, select};

/// A handler's reply future, dropped unawaited once its caller hangs up.
pub struct Awaited<T>(Pin<Box<dyn Future<Output = T>>>);

impl<T> Awaited<T> {
    /// The reply `future` computes.
    pub(crate) fn new(future: impl Future<Output = T> + 'static) -> Self {
        Self(Box::pin(future))
    }

    /// A reply ready now.
    pub(crate) fn ready(value: T) -> Self
    where
        T: 'static,
    {
        Self::new(std::future::ready(value))
    }
}

impl<A, M, T> MessageResponse<A, M> for Awaited<T>
where
    A: Actor,
    M: Message<Result = T>,
    T: 'static,
{
    fn handle(self, _: &mut A::Context, tx: Option<OneshotSender<T>>) {
        // Sent without waiting for an answer: nobody will read it.
        let Some(mut tx) = tx else { return };
        actix_rt::spawn(async move {
            let answer = match select(self.0, pin!(tx.closed())).await {
                Either::Left((answer, _)) => answer,
                Either::Right(((), _)) => return,
            };
            let _ = tx.send(answer);
        });
    }
}
