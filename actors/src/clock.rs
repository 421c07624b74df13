//! Time, as the engine sees it.
//!
//! Everything time-driven in baton (watchdog ticks, restart backoff, idle
//! reaping, lifetimes) reads the time and sleeps through a [`Clock`]. Production
//! uses [`SystemClock`]; tests use [`ManualClock`] and move time forward
//! themselves, so no test sleeps through a timeout and hopes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

/// A future that completes when a [`Clock`] has advanced by the requested time.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time and of timers.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// A future that completes once `duration` has passed on this clock.
    ///
    /// [`SystemClock`]'s timers need a tokio runtime with time enabled, which every
    /// actor of the engine runs on.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The wall clock, with tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to, for tests.
///
/// Clones share the same time, so a test keeps one clone and hands another to
/// the engine. Sleepers wake when [`advance`](Self::advance) moves the time to or
/// past their deadline.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

struct ManualInner {
    now: DateTime<Utc>,
    sleepers: Vec<(DateTime<Utc>, oneshot::Sender<()>)>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        let inner = ManualInner { now: start, sleepers: Vec::new() };
        Self { inner: Arc::new(Mutex::new(inner)) }
    }

    /// A clock stopped at the current wall-clock time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    /// Moves time forward by `by` and wakes every sleeper whose deadline has come.
    pub fn advance(&self, by: Duration) {
        let due = {
            let mut inner = self.lock();
            inner.now += to_chrono(by);
            let now = inner.now;
            let (due, waiting) =
                std::mem::take(&mut inner.sleepers).into_iter().partition(|(deadline, _)| *deadline <= now);
            inner.sleepers = waiting;
            due
        };
        for (_, waker) in due {
            let _ = waker.send(());
        }
    }

    /// How many sleeps are waiting for time to move, dropped ones included until
    /// the next advance; lets a test know a timer has been set.
    pub fn pending_sleeps(&self) -> usize {
        self.lock().sleepers.iter().filter(|(_, waker)| !waker.is_closed()).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualInner> {
        // The lock guards plain data that every writer leaves consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        if duration.is_zero() {
            return Box::pin(std::future::ready(()));
        }
        let (waker, woken) = oneshot::channel();
        {
            let mut inner = self.lock();
            let deadline = inner.now + to_chrono(duration);
            inner.sleepers.push((deadline, waker));
        }
        Box::pin(async move {
            // A dropped clock never wakes its sleepers: they wait forever, as time
            // that never moves would make them.
            if woken.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock").field("now", &self.now()).finish_non_exhaustive()
    }
}

/// A std duration as a chrono one, saturating at chrono's limit.
pub(crate) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleep_completes_only_when_time_reaches_its_deadline() {
        let clock = ManualClock::starting_now();
        let start = clock.now();
        let mut sleep = clock.sleep(Duration::from_secs(10));
        assert_eq!(clock.pending_sleeps(), 1);

        clock.advance(Duration::from_secs(9));
        assert!(futures_util::poll!(&mut sleep).is_pending());

        clock.advance(Duration::from_secs(1));
        sleep.await;
        assert_eq!(clock.now() - start, chrono::Duration::seconds(10));
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[tokio::test]
    async fn a_zero_sleep_is_ready_at_once() {
        ManualClock::starting_now().sleep(Duration::ZERO).await;
    }
}
