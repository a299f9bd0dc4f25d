//! loom models of the protocols that synchronise through atomics and custom parking.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p followup --lib --release loom_tests`
//! (`.ci/loom` does, with `LOOM_MAX_PREEMPTIONS=2`).
//!
//! - [`cell`]: the task cell state machine (`task::cell::Cell`) and the task that drives it
//!   (`task::core::Task`, `Promise`): completion racing continuation registration, blocked and
//!   async waiters, cancel racing claim / inline run / terminate, delivery racing cancel.
//! - [`tracker`]: task-group counting (`task::tracker::Tracker`), also through real tasks.
//! - [`lifecycle`]: the close/join quiescence counter (`engine::lifecycle::Lifecycle`).
//! - [`credit`]: a worker counting its jobs in and out of that counter locally, as credit it
//!   gives back before it idles (`engine::worker`).
//! - [`sleep`]: the worker sleep/wake protocol (`engine::sleep::Sleep`).
//!
//! `engine::lifecycle` and `engine::sleep` are private to `engine`, so their very source files
//! are compiled a second time here with `#[path]`: the models run the real code, not a copy.
//! What *is* a copy is the worker loop around `Sleep` (`engine::worker::run_worker`, which
//! needs crossbeam's deques); `sleep.rs` says how it maps onto the original.
//!
//! Under `--cfg loom`, `crate::sync` gives loom's atomics, mutexes and condvars (but std's
//! `Arc`: see there), so every synchronisation point of the modelled code is explored.

#[path = "../engine/lifecycle.rs"]
#[allow(dead_code, unreachable_pub)]
mod engine_lifecycle;
#[path = "../engine/sleep.rs"]
#[allow(dead_code, unreachable_pub)]
mod engine_sleep;

mod cell;
mod credit;
mod lifecycle;
mod sleep;
mod tracker;
mod wakers;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Runs `f` under loom with a preemption bound: `LOOM_MAX_PREEMPTIONS` if set, else 2.
pub(super) fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

/// Counts values created and dropped, to prove none is leaked and none dropped twice.
#[derive(Default)]
pub(super) struct Census {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl Census {
    pub(super) fn new() -> Arc<Census> {
        Arc::new(Census::default())
    }

    /// Values alive now.
    pub(super) fn live(&self) -> usize {
        self.created.load(SeqCst) - self.dropped.load(SeqCst)
    }

    pub(super) fn assert_balanced(&self, what: &str) {
        let (c, d) = (self.created.load(SeqCst), self.dropped.load(SeqCst));
        assert_eq!(c, d, "{what}: {c} values created, {d} dropped");
    }
}

/// A task value whose drops are counted.
pub(super) struct Tracked {
    census: Arc<Census>,
    pub(super) id: usize,
}

impl Tracked {
    pub(super) fn new(census: &Arc<Census>, id: usize) -> Tracked {
        census.created.fetch_add(1, SeqCst);
        Tracked {
            census: Arc::clone(census),
            id,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.census.dropped.fetch_add(1, SeqCst);
        assert!(
            before < self.census.created.load(SeqCst),
            "a value was dropped more often than created"
        );
    }
}

/// A plain counter shared with closures (not a modelled synchronisation point: only read after
/// the threads that write it were joined).
#[derive(Default, Clone)]
pub(super) struct Count(Arc<AtomicUsize>);

impl Count {
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, SeqCst);
    }
    pub(super) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}
