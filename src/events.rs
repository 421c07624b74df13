//! A gapless stream of events.
//!
//! Live events arrive through a bounded broadcast channel. A subscriber that
//! falls behind loses its place in the channel, not the events: the channel
//! says how many it skipped, and the stream reads exactly those back from the
//! store before going on, so the subscriber still sees every event in order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, ready};

use baton_actors::Store;
use baton_actors::model::Event;
use futures_core::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tracing::warn;

/// Events as they become durable, in sequence order. Ends when the engine stops.
pub struct EventStream {
    live: BroadcastStream<Event>,
    /// The store, to read back what the channel skipped; weak, so a stream
    /// kept after shutdown does not hold the database open.
    store: Weak<dyn Store>,
    /// How many events the channel skipped since the last one received.
    skipped: u64,
    /// Events read back from the store, to yield before the live ones.
    backlog: VecDeque<Event>,
}

impl EventStream {
    pub(crate) fn new(store: Weak<dyn Store>) -> Self {
        let live = match store.upgrade() {
            Some(store) => BroadcastStream::new(store.subscribe()),
            // The engine is gone: a stream that ends at once.
            None => BroadcastStream::new(tokio::sync::broadcast::channel(1).1),
        };
        Self { live, store, skipped: 0, backlog: VecDeque::new() }
    }

    /// Queues the `skipped` events just before `next` from the store, then `next`.
    fn catch_up(&mut self, next: Event) {
        let skipped = std::mem::take(&mut self.skipped);
        if skipped > 0 {
            let after = next.seq.saturating_sub(skipped + 1);
            let limit = usize::try_from(skipped).unwrap_or(usize::MAX);
            match self.store.upgrade().map(|store| store.events_after(after, limit)) {
                Some(Ok(events)) => self.backlog.extend(events.into_iter().filter(|event| event.seq < next.seq)),
                Some(Err(err)) => warn!(skipped, cause = %err, "cannot read back skipped events"),
                None => {}
            }
        }
        self.backlog.push_back(next);
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                return Poll::Ready(Some(event));
            }
            match ready!(Pin::new(&mut self.live).poll_next(cx)) {
                Some(Ok(event)) => self.catch_up(event),
                Some(Err(BroadcastStreamRecvError::Lagged(skipped))) => self.skipped += skipped,
                None => return Poll::Ready(None),
            }
        }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("backlog", &self.backlog.len()).finish_non_exhaustive()
    }
}
