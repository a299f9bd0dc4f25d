//! The engine's always-on statistics (see `crate::stats` for what they mean to a user).
//!
//! Each worker owns one cache-padded [`WorkerCounters`] and is its only writer, so a count is
//! a relaxed load and store: no read-modify-write, no shared cache line. Threads outside the
//! pool count their submissions on [`SharedCounters`] with a `fetch_add`, beside the injector
//! push they make anyway.

use crate::stats::{PoolStats, WorkerStats};
use crate::sync::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

/// One worker's counts. Written only by that worker.
pub(crate) struct WorkerCounters {
    pub(crate) submitted: Counter,
    pub(crate) started: Counter,
    pub(crate) completed: Counter,
    pub(crate) panicked: Counter,
    pub(crate) cancelled: Counter,
    pub(crate) steals: Counter,
    pub(crate) parks: Counter,
}

/// Counts made by threads outside the pool (any number of them).
pub(crate) struct SharedCounters {
    submitted: AtomicUsize,
    /// Jobs given up on a thread that is not a worker (`terminate`'s drain, say).
    cancelled: AtomicUsize,
}

/// A counter with a single writer.
pub(crate) struct Counter(AtomicUsize);

impl WorkerCounters {
    pub(crate) fn new() -> WorkerCounters {
        WorkerCounters {
            submitted: Counter::new(),
            started: Counter::new(),
            completed: Counter::new(),
            panicked: Counter::new(),
            cancelled: Counter::new(),
            steals: Counter::new(),
            parks: Counter::new(),
        }
    }
}

impl Counter {
    fn new() -> Counter {
        Counter(AtomicUsize::new(0))
    }

    /// Adds one. Only the owning worker calls this, so load-then-store loses nothing.
    #[inline]
    pub(crate) fn bump(&self) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed) as u64
    }
}

impl SharedCounters {
    pub(crate) fn new() -> SharedCounters {
        SharedCounters {
            submitted: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        }
    }

    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sums the counters into a snapshot.
pub(crate) fn snapshot(
    workers: &[CachePadded<WorkerCounters>],
    shared: &SharedCounters,
) -> PoolStats {
    let given_up_outside = shared.cancelled.load(Ordering::Relaxed) as u64;
    let mut s = PoolStats {
        submitted: shared.submitted.load(Ordering::Relaxed) as u64,
        cancelled: given_up_outside,
        ..PoolStats::default()
    };
    let (mut started, mut finished_on_workers) = (0, 0);
    for w in workers {
        let (completed, panicked, cancelled) =
            (w.completed.get(), w.panicked.get(), w.cancelled.get());
        s.submitted += w.submitted.get();
        s.completed += completed;
        s.panicked += panicked;
        s.cancelled += cancelled;
        started += w.started.get();
        finished_on_workers += completed + panicked + cancelled;
        s.workers.push(WorkerStats {
            executed: w.started.get(),
            steals: w.steals.get(),
            parks: w.parks.get(),
        });
    }
    // Each started job finishes on the worker that started it; the rest are queued, or were
    // given up elsewhere. Read one after another while work goes on: clamp at zero.
    s.running = started.saturating_sub(finished_on_workers);
    s.queued = s.submitted.saturating_sub(started + given_up_outside);
    s
}
