//! Fault injection, compiled in only with the `fault-injection` feature.
//!
//! Tests use it to prove what users rely on when things break: a panic inside
//! an actor's handler is survived and restarted from the checkpoint, and a store
//! that refuses writes gives callers a typed error and loses nothing. Without
//! the feature the checks are constant `false` and compile away.

#[cfg(feature = "fault-injection")]
use std::collections::HashMap;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "fault-injection")]
use std::sync::{Arc, Mutex, PoisonError};

use crate::model::ActorRef;

/// Switches for injected faults, shared by the engine's actors and its store.
#[derive(Clone, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    inner: Arc<Inner>,
}

#[cfg(feature = "fault-injection")]
#[derive(Default)]
struct Inner {
    /// Makes every store write and flush fail, as a full disk would.
    fail_store_writes: AtomicBool,
    /// How many more handled messages each actor panics in.
    panics: Mutex<HashMap<ActorRef, u32>>,
}

impl Faults {
    /// Panics if a test asked `actor` to panic in its next handler. Called at the
    /// top of every actor handler.
    pub(crate) fn maybe_panic(&self, actor: ActorRef) {
        #[cfg(feature = "fault-injection")]
        {
            let mut panics = self.inner.panics.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(left) = panics.get_mut(&actor).filter(|left| **left > 0) {
                *left -= 1;
                drop(panics);
                panic!("injected fault: {actor} panics in its handler");
            }
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = actor;
    }

    /// Whether store writes should fail now.
    pub(crate) fn store_writes_fail(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self.inner.fail_store_writes.load(Ordering::SeqCst);
        #[cfg(not(feature = "fault-injection"))]
        false
    }
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// Makes the next `times` messages handled by `actor` panic inside the handler.
    pub fn panic_in_handler(&self, actor: ActorRef, times: u32) {
        let mut panics = self.inner.panics.lock().unwrap_or_else(PoisonError::into_inner);
        *panics.entry(actor).or_default() += times;
    }

    /// Makes every store write and flush fail (`true`) or work again (`false`).
    pub fn fail_store_writes(&self, fail: bool) {
        self.inner.fail_store_writes.store(fail, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}
