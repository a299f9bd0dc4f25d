//! The result cell: where a task's outcome lands and where waiters, a continuation or an async
//! waker pick it up.
//!
//! # State
//! `state` holds a phase in its low two bits plus a cancel-requested flag:
//!
//! | phase | meaning | who moves it on |
//! |---|---|---|
//! | `WAITING` | a continuation whose input has not arrived | the parent (`deliver`), or `cancel` |
//! | `QUEUED` | runnable, not started | whoever wins the `claim` CAS: a worker, an inline waiter, `cancel`, `terminate` |
//! | `CLAIMED` | running, or being resolved by its claimer | only the claimer, by `complete` |
//! | `DONE` | outcome published (or handed to the continuation) | nobody |
//!
//! Exactly one thread wins the claim, so the task's closure and input are touched by one
//! thread only, and every task is resolved exactly once. `DONE` is stored under the `inner`
//! lock together with the outcome, so a reader that sees `DONE` (Acquire) and then locks finds
//! the outcome there.
//!
//! # Fields
//! `inner` (the outcome, the one continuation, the async waker, the count of blocked waiters)
//! is only touched under its mutex; no user code ever runs while it is held.
//!
//! # Reading
//! A value is handed out once; later reads say [`Error::ResultTaken`]. An error is handed out
//! as a clone and stays, so every read of a failed cell reports the same error (Python
//! re-raises the same exception on every `get`).

use super::waiters::add_waker;
use crate::error::{Error, Result};
use crate::payload::drop_quietly;
use crate::sync::{lock, wait_while, AtomicU8, Condvar, Mutex, MutexGuard, Ordering};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::Instant;

pub(crate) const WAITING: u8 = 0;
pub(crate) const QUEUED: u8 = 1;
pub(crate) const CLAIMED: u8 = 2;
pub(crate) const DONE: u8 = 3;
const PHASE: u8 = 0b011;
pub(crate) const CANCEL_REQUESTED: u8 = 0b100;

/// What happens to an outcome when it arrives: a continuation takes it by value.
pub(crate) type Continuation<T> = Box<dyn FnOnce(Result<T>) + Send>;

pub(crate) struct Cell<T> {
    state: AtomicU8,
    inner: Mutex<Inner<T>>,
    ready: Condvar,
}

struct Inner<T> {
    outcome: Option<Result<T>>,
    /// Whether the task succeeded; kept after `outcome` is taken, for `successful()`.
    succeeded: Option<bool>,
    next: Option<Continuation<T>>,
    /// Wakers to wake on completion: an async task polling the handle, or a worker waiting
    /// for it while it helps (see `Engine::help_until`). Usually empty or one.
    wakers: Vec<Waker>,
    blocked: usize,
}

/// What `take` found.
pub(crate) enum Taken<T> {
    Ready(Result<T>),
    NotReady,
}

/// Hands out a published outcome: a value once (then `ResultTaken`), an error on every read.
fn take_outcome<T>(inner: &mut Inner<T>) -> Result<T> {
    match inner.outcome.take() {
        Some(Err(e)) => {
            inner.outcome = Some(Err(e.clone()));
            Err(e)
        }
        Some(Ok(v)) => Ok(v),
        None => Err(Error::ResultTaken),
    }
}

impl<T> Cell<T> {
    pub(crate) fn new(phase: u8) -> Cell<T> {
        Cell {
            state: AtomicU8::new(phase),
            inner: Mutex::new(Inner {
                outcome: None,
                succeeded: None,
                next: None,
                wakers: Vec::new(),
                blocked: 0,
            }),
            ready: Condvar::new(),
        }
    }

    fn phase(&self) -> u8 {
        self.state.load(Ordering::Acquire) & PHASE
    }

    pub(crate) fn is_done(&self) -> bool {
        self.phase() == DONE
    }

    pub(crate) fn is_queued(&self) -> bool {
        self.phase() == QUEUED
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCEL_REQUESTED != 0
    }

    /// Raw state word, for the running task's `is_cancelled` check.
    pub(crate) fn state_word(&self) -> &AtomicU8 {
        &self.state
    }

    /// WAITING -> QUEUED: the continuation's input has arrived. False if it was cancelled.
    #[must_use]
    pub(crate) fn make_runnable(&self) -> bool {
        self.state
            .compare_exchange(WAITING, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// QUEUED -> CLAIMED: the caller now owns running (or resolving) the task.
    #[must_use]
    pub(crate) fn claim(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Flags the task as cancelled and claims it if it has not started (WAITING or QUEUED).
    /// Returns true if the caller claimed it and must now resolve it with `Cancelled`.
    #[must_use]
    pub(crate) fn request_cancel(&self) -> bool {
        let mut cur = self.state.fetch_or(CANCEL_REQUESTED, Ordering::AcqRel) | CANCEL_REQUESTED;
        loop {
            let phase = cur & PHASE;
            if phase != WAITING && phase != QUEUED {
                return false;
            }
            match self.state.compare_exchange(
                cur,
                CLAIMED | CANCEL_REQUESTED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Claims a WAITING continuation for abandonment (its parent will never deliver).
    #[must_use]
    pub(crate) fn claim_waiting(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Publishes the outcome. Only the claimer calls this, once. A registered continuation
    /// receives the outcome instead of the cell; it is called after the lock is released.
    ///
    /// Never unwinds: the outcome is published before anything else runs, and a panic of the
    /// async waker or of the continuation (which may drop a value nobody wants) is contained,
    /// so the claimer can always go on to settle the task's group and unit.
    pub(crate) fn complete(&self, outcome: Result<T>) {
        let mut inner = lock(&self.inner);
        inner.succeeded = Some(outcome.is_ok());
        let next = inner.next.take();
        let wakers = std::mem::take(&mut inner.wakers);
        let to_next = match next {
            Some(next) => Some((next, outcome)),
            None => {
                inner.outcome = Some(outcome);
                None
            }
        };
        self.state.fetch_or(DONE, Ordering::AcqRel);
        if inner.blocked > 0 {
            self.ready.notify_all();
        }
        drop(inner);
        for w in wakers {
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || w.wake())) {
                drop_quietly(p);
            }
        }
        if let Some((next, outcome)) = to_next {
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || next(outcome))) {
                drop_quietly(p);
            }
        }
    }

    /// Registers the one continuation. If the outcome is already here, the continuation is
    /// called at once (on this thread; it only *schedules* work, never runs user code).
    pub(crate) fn set_next(&self, next: Continuation<T>) {
        let mut inner = lock(&self.inner);
        if self.phase() == DONE {
            let outcome = take_outcome(&mut inner);
            drop(inner);
            next(outcome);
        } else {
            inner.next = Some(next);
        }
    }

    /// Takes the outcome if it is here.
    pub(crate) fn take(&self) -> Taken<T> {
        let mut inner = lock(&self.inner);
        if self.phase() != DONE {
            return Taken::NotReady;
        }
        Taken::Ready(take_outcome(&mut inner))
    }

    /// `Some(true)` if the task succeeded, `Some(false)` if it failed, `None` if not done.
    pub(crate) fn succeeded(&self) -> Option<bool> {
        if self.phase() != DONE {
            return None;
        }
        lock(&self.inner).succeeded
    }

    /// Takes the outcome, or stores `waker` to be woken when it arrives.
    pub(crate) fn poll_take(&self, waker: &Waker) -> Taken<T> {
        let mut inner = lock(&self.inner);
        if self.phase() == DONE {
            return Taken::Ready(take_outcome(&mut inner));
        }
        add_waker(&mut inner.wakers, waker);
        Taken::NotReady
    }

    /// Stores `waker` to be woken when the outcome arrives, without taking it; true if it is
    /// here already (then nothing is stored).
    pub(crate) fn register_waker(&self, waker: &Waker) -> bool {
        let mut inner = lock(&self.inner);
        if self.phase() == DONE {
            return true;
        }
        add_waker(&mut inner.wakers, waker);
        false
    }

    /// Blocks this thread until done or until `until` (if given) passes.
    pub(crate) fn block(&self, until: Option<Instant>) {
        let mut inner: MutexGuard<'_, Inner<T>> = lock(&self.inner);
        inner.blocked += 1;
        let (mut inner, _) = wait_while(&self.ready, inner, until, |_| self.phase() != DONE);
        inner.blocked -= 1;
    }
}
