//! Group commit: many writers share one flush.
//!
//! A write is durable only once sled has flushed it, and a flush costs about as
//! much for one write as for a hundred. So a writer does not flush itself: it
//! asks the committer thread for a flush that covers its write, and waits.
//! While one flush runs, new requests gather; the next flush answers all of them
//! at once. Under load each flush covers many writes, so throughput grows with
//! the number of writers, while every acknowledged write is still on disk.
//!
//! A request is answered by completing its [`Commit`] future.
//!
//! [`CommitMode::PerWrite`] turns the batching off (one flush per request), to
//! measure what group commit buys.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tracing::error;

use crate::error::StoreError;

/// A future that completes once every write made before it was requested is durable.
pub type Commit = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'static>>;

/// How flush requests are served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommitMode {
    /// Every flush answers all the requests that arrived before it started.
    #[default]
    Group,
    /// Every request gets a flush of its own (the baseline group commit is measured against).
    PerWrite,
}

/// What runs on the committer's thread once a flush covers a request, with
/// the flush's result. It must be quick and must not block: the next flush
/// waits for it.
type AfterCommit = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// The committer: a thread that runs flushes for waiting writers.
pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    waiters: Vec<AfterCommit>,
    /// Whether the thread is waiting for work: only then does a request wake it,
    /// which spares a system call per request while it is busy flushing.
    idle: bool,
    closing: bool,
}

impl GroupCommit {
    /// Starts the committer thread; `flush` makes every earlier write durable.
    pub(crate) fn start(
        mode: CommitMode,
        flush: impl FnMut() -> Result<(), StoreError> + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared { queue: Mutex::default(), wake: Condvar::new() });
        let thread = std::thread::Builder::new().name("baton-commit".into()).spawn({
            let shared = Arc::clone(&shared);
            move || run(&shared, mode, flush)
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Asks for a flush covering every write made so far.
    pub(crate) fn request(&self) -> Commit {
        let (waiter, done) = oneshot::channel();
        self.request_then(Box::new(move |result| {
            let _ = waiter.send(result);
        }));
        Box::pin(async move { done.await.unwrap_or(Err(StoreError::Closed)) })
    }

    /// Asks for a flush covering every write made so far, and runs `then`
    /// on the committer's thread once it is over (at once, with
    /// [`StoreError::Closed`], if the committer is closing).
    fn request_then(&self, then: AfterCommit) {
        let wake = {
            let mut queue = self.shared.lock();
            if queue.closing {
                drop(queue);
                return then(Err(StoreError::Closed));
            }
            queue.waiters.push(then);
            queue.idle
        };
        if wake {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for GroupCommit {
    /// Answers every waiting request with a last flush, then stops the thread.
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue is a list and a flag, consistent after every write.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn run(shared: &Shared, mode: CommitMode, mut flush: impl FnMut() -> Result<(), StoreError>) {
    loop {
        let batch = {
            let mut queue = shared.lock();
            while queue.waiters.is_empty() && !queue.closing {
                queue.idle = true;
                queue = shared.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
                queue.idle = false;
            }
            if queue.waiters.is_empty() {
                return;
            }
            match mode {
                CommitMode::Group => std::mem::take(&mut queue.waiters),
                CommitMode::PerWrite => vec![queue.waiters.remove(0)],
            }
        };
        let result = flush();
        for then in batch {
            // A callback that panics must not take the committer down with it.
            if catch_unwind(AssertUnwindSafe(|| then(result.clone()))).is_err() {
                error!("a callback run after a commit panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_requests_share_flushes_in_group_mode() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&flushes);
        let committer = GroupCommit::start(CommitMode::Group, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            Ok(())
        })
        .unwrap();
        let commits: Vec<Commit> = (0..64).map(|_| committer.request()).collect();
        for commit in commits {
            commit.await.unwrap();
        }
        let used = flushes.load(Ordering::SeqCst);
        assert!((1..=2).contains(&used), "64 concurrent requests took {used} flushes");
    }

    /// A committer whose flushes do nothing but count themselves.
    fn counting(mode: CommitMode) -> (GroupCommit, Arc<AtomicUsize>) {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&flushes);
        let committer = GroupCommit::start(mode, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
        (committer, flushes)
    }

    #[tokio::test]
    async fn per_write_mode_flushes_once_per_request() {
        let (committer, flushes) = counting(CommitMode::PerWrite);
        let commits: Vec<Commit> = (0..16).map(|_| committer.request()).collect();
        for commit in commits {
            commit.await.unwrap();
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 16);
    }

    #[tokio::test]
    async fn a_failed_flush_answers_each_waiter_with_the_error() {
        let committer = GroupCommit::start(CommitMode::Group, || Err(StoreError::Closed)).unwrap();
        let commits: Vec<Commit> = (0..4).map(|_| committer.request()).collect();
        for commit in commits {
            assert!(matches!(commit.await, Err(StoreError::Closed)));
        }
    }

    #[test]
    fn a_callback_runs_on_the_committer_thread_after_its_flush() {
        let (committer, flushes) = counting(CommitMode::Group);
        let (tell, told) = std::sync::mpsc::channel();
        let seen = Arc::clone(&flushes);
        committer.request_then(Box::new(move |result| {
            let thread = std::thread::current().name().map(str::to_owned);
            tell.send((result, seen.load(Ordering::SeqCst), thread)).unwrap();
        }));
        let (result, flushed_before, thread) = told.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert!(result.is_ok());
        assert_eq!(flushed_before, 1, "the callback runs once its flush is over");
        assert_eq!(thread.as_deref(), Some("baton-commit"));
    }

    #[test]
    fn a_panicking_callback_leaves_the_committer_running() {
        let committer = GroupCommit::start(CommitMode::Group, || Ok(())).unwrap();
        committer.request_then(Box::new(|_| panic!("a callback that panics")));
        let (tell, told) = std::sync::mpsc::channel();
        committer.request_then(Box::new(move |result| tell.send(result).unwrap()));
        assert!(told.recv_timeout(std::time::Duration::from_secs(10)).unwrap().is_ok());
    }

    #[tokio::test]
    async fn requests_waiting_at_shutdown_still_get_their_flush() {
        let committer = GroupCommit::start(CommitMode::Group, || Ok(())).unwrap();
        let commit = committer.request();
        drop(committer);
        commit.await.unwrap();
    }
}
