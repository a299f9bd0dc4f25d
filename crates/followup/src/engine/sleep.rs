//! Parking idle workers and waking them cheaply.
//!
//! # Protocol (no lost wake-up)
//!
//! A worker that found no work:
//! 1. registers itself as idle under the lock and increments `sleepers` (SeqCst);
//! 2. issues a SeqCst fence and checks once more for work or a reason to exit;
//! 3. parks only if that check found nothing.
//!
//! A thread that makes work available:
//! 1. publishes the work (queue push);
//! 2. issues a SeqCst fence and reads `sleepers`;
//! 3. only if it is non-zero, takes the lock, pops one idle worker and unparks it.
//!
//! The two fences order "register as sleeper" against "publish work": either the worker's
//! re-check sees the new work, or the submitter sees `sleepers > 0` and unparks someone (any
//! idle worker will do, since every queue can be stolen from). `Parker` keeps an unpark token,
//! so an unpark that lands between the re-check and `park` is not lost either. When nobody
//! sleeps, submitting costs one fence and one load: no lock, no syscall.
//!
//! # Searching workers (fewer wake-ups)
//! A worker that ran out of work first *searches* for a short while before it sleeps, and is
//! counted in `searching` meanwhile; a worker woken by `notify_one` is counted as searching
//! on its behalf until it finds work or sleeps again. A submitter that sees a searcher skips
//! the wake-up: the searcher will find the work. That is safe because a searcher leaves
//! `searching` *before* it registers as a sleeper and re-checks the queues: if the submitter
//! read `searching > 0`, its push is ordered before that re-check. When the last searcher
//! finds work and more is queued, it wakes one more worker, so a burst still ramps up to all
//! workers (rayon's and tokio's scheme).

use crate::sync::{fence, lock, AtomicUsize, Mutex, Ordering, Parker, Unparker};
use crossbeam_utils::CachePadded;
use std::time::Duration;

/// Who is asleep, and how to wake them (`crate::sync::Parker`: crossbeam's, or loom's stand-in
/// in the models).
pub(crate) struct Sleep {
    /// Number of workers registered as idle. Written under `idle`'s lock; read without it by
    /// submitters after their fence.
    sleepers: CachePadded<AtomicUsize>,
    /// Workers awake and looking for work (see "Searching workers").
    searching: CachePadded<AtomicUsize>,
    /// Indices of idle workers (a stack: the most recently idle, warmest one is woken first),
    /// and a membership flag per worker.
    idle: Mutex<IdleSet>,
    unparkers: Box<[Unparker]>,
}

struct IdleSet {
    stack: Vec<usize>,
    member: Vec<bool>,
}

impl Sleep {
    /// Creates the sleep state for `parkers.len()` workers; each worker keeps its own `Parker`.
    pub(crate) fn new(parkers: &[Parker]) -> Sleep {
        Sleep {
            sleepers: CachePadded::new(AtomicUsize::new(0)),
            searching: CachePadded::new(AtomicUsize::new(0)),
            idle: Mutex::new(IdleSet {
                stack: Vec::with_capacity(parkers.len()),
                member: vec![false; parkers.len()],
            }),
            unparkers: parkers.iter().map(|p| p.unparker().clone()).collect(),
        }
    }

    /// Reads both counters once: their first access under loom (see `Engine::first_touch`).
    #[cfg(loom)]
    pub(crate) fn first_touch(&self) {
        self.sleepers.load(Ordering::Relaxed);
        self.searching.load(Ordering::Relaxed);
    }

    /// A cheap hint for local pushes: is some worker asleep while none is searching? The
    /// caller must issue a SeqCst fence after its push and before this (see `worker::push`).
    #[inline]
    pub(crate) fn could_wake(&self) -> bool {
        self.sleepers.load(Ordering::Relaxed) > 0 && self.searching.load(Ordering::Relaxed) == 0
    }

    /// A worker starts searching for work.
    pub(crate) fn start_searching(&self) {
        self.searching.fetch_add(1, Ordering::SeqCst);
    }

    /// A worker stops searching (found work, or is about to sleep); true if it was the last.
    pub(crate) fn stop_searching(&self) -> bool {
        self.searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Wakes one idle worker unless one is already searching. Call after publishing work.
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.searching.load(Ordering::SeqCst) > 0 || self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut idle = lock(&self.idle);
        if let Some(i) = idle.stack.pop() {
            idle.member[i] = false;
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            // Counted as searching on the woken worker's behalf until it finds work.
            self.searching.fetch_add(1, Ordering::SeqCst);
            drop(idle);
            self.unparkers[i].unpark();
        }
    }

    /// Wakes every idle worker (shutdown, quiescence).
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        let mut idle = lock(&self.idle);
        while let Some(i) = idle.stack.pop() {
            idle.member[i] = false;
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            self.searching.fetch_add(1, Ordering::SeqCst);
            self.unparkers[i].unpark();
        }
    }

    /// Parks worker `index` unless `recheck` (run after registering) finds a reason to stay up,
    /// for at most `timeout` if given (a helping wait's deadline). The caller must not be
    /// counted as searching; on return it is (by its waker, or here).
    pub(crate) fn sleep(
        &self,
        index: usize,
        parker: &Parker,
        timeout: Option<Duration>,
        recheck: impl FnOnce() -> bool,
    ) {
        {
            let mut idle = lock(&self.idle);
            idle.stack.push(index);
            idle.member[index] = true;
            self.sleepers.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if !recheck() {
            match timeout {
                Some(t) => parker.park_timeout(t),
                None => parker.park(),
            }
        }
        self.leave(index);
    }

    /// Removes `index` from the idle set if a notifier has not already done so, and makes
    /// sure it is counted as searching exactly once.
    fn leave(&self, index: usize) {
        let mut idle = lock(&self.idle);
        if idle.member[index] {
            idle.member[index] = false;
            idle.stack.retain(|&i| i != index);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            self.searching.fetch_add(1, Ordering::SeqCst);
        }
    }
}
