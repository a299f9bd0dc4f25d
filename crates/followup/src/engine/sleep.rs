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

use crate::sync::{fence, lock, AtomicUsize, Mutex, Ordering};
use crossbeam_utils::sync::{Parker, Unparker};
use crossbeam_utils::CachePadded;

/// Who is asleep, and how to wake them.
pub(crate) struct Sleep {
    /// Number of workers registered as idle. Written under `idle`'s lock; read without it by
    /// submitters after their fence.
    sleepers: CachePadded<AtomicUsize>,
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
            idle: Mutex::new(IdleSet {
                stack: Vec::with_capacity(parkers.len()),
                member: vec![false; parkers.len()],
            }),
            unparkers: parkers.iter().map(|p| p.unparker().clone()).collect(),
        }
    }

    /// Wakes one idle worker, if any. Call after publishing work.
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut idle = lock(&self.idle);
        if let Some(i) = idle.stack.pop() {
            idle.member[i] = false;
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
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
            self.unparkers[i].unpark();
        }
    }

    /// Parks worker `index` unless `recheck` (run after registering) finds a reason to stay up.
    pub(crate) fn sleep(&self, index: usize, parker: &Parker, recheck: impl FnOnce() -> bool) {
        {
            let mut idle = lock(&self.idle);
            idle.stack.push(index);
            idle.member[index] = true;
            self.sleepers.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if !recheck() {
            parker.park();
        }
        self.leave(index);
    }

    /// Removes `index` from the idle set if a notifier has not already done so.
    fn leave(&self, index: usize) {
        let mut idle = lock(&self.idle);
        if idle.member[index] {
            idle.member[index] = false;
            idle.stack.retain(|&i| i != index);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
