//! The single per-task allocation: the result cell, the closure, its input, its callbacks and
//! its group, in one `Arc` that is both the queued job and the handle's target.

use super::callbacks::Callbacks;
use super::cell::{Cell, QUEUED, WAITING};
use super::context::{self, Frame};
use super::tracker::Tracker;
use super::Completion;
use crate::engine::{Job, Ran};
use crate::error::{Error, Result};
use crate::payload::drop_contained;
use crate::sync::Arc;
use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A task computing `T` from an input `I` (unit for plain tasks; the parent's outcome for a
/// continuation) with the closure `F`.
///
/// # Safety argument for the `UnsafeCell`s
/// `input` is written once by the parent (`deliver`) *before* the WAITING -> QUEUED CAS
/// (AcqRel) that makes the task claimable, and read only by `execute`, after a claim from
/// QUEUED (so after that write); a cancel that claims from WAITING never touches it, and if it
/// wins, `deliver` takes its input back itself. `work` is taken only by the thread that won
/// `Cell::claim`/`request_cancel`/`claim_waiting` (an AcqRel CAS that succeeds for exactly one
/// thread). So no two threads ever touch either at once.
pub(crate) struct Task<I, T, F> {
    cell: Cell<T>,
    input: UnsafeCell<Option<I>>,
    work: UnsafeCell<Option<(F, Callbacks<T>)>>,
    tracker: Option<Arc<Tracker>>,
}

// SAFETY: the UnsafeCells are accessed by one thread at a time (see the type's docs); the
// values they hold are `Send`, so moving their use between threads is sound.
unsafe impl<I: Send, T: Send, F: Send> Sync for Task<I, T, F> {}

impl<I, T, F> Task<I, T, F>
where
    I: Send + 'static,
    T: Send + 'static,
    F: FnOnce(I) -> Result<T> + Send + 'static,
{
    fn build(
        phase: u8,
        input: Option<I>,
        f: F,
        callbacks: Callbacks<T>,
        tracker: Option<Arc<Tracker>>,
    ) -> Self {
        if let Some(t) = &tracker {
            t.enter();
        }
        Task {
            cell: Cell::new(phase),
            input: UnsafeCell::new(input),
            work: UnsafeCell::new(Some((f, callbacks))),
            tracker,
        }
    }

    /// A runnable task (it will be queued at once).
    pub(crate) fn runnable(
        input: I,
        f: F,
        callbacks: Callbacks<T>,
        tracker: Option<Arc<Tracker>>,
    ) -> Self {
        Self::build(QUEUED, Some(input), f, callbacks, tracker)
    }

    /// A continuation: runnable once `deliver` hands it its input.
    pub(crate) fn waiting(f: F, tracker: Option<Arc<Tracker>>) -> Self {
        Self::build(WAITING, None, f, Callbacks::new(), tracker)
    }

    /// Hands a continuation its input; true if it is now runnable and must be scheduled,
    /// false if it was cancelled meanwhile (the input is dropped).
    pub(crate) fn deliver(&self, input: I) -> bool {
        if self.cell.cancel_requested() || self.cell.is_done() {
            // The parent's outcome may hold a value whose `Drop` panics: contain it, so the
            // caller can still count this continuation out.
            drop_contained(input);
            return false;
        }
        // SAFETY: `input` is read only by `execute`, which runs after a claim from QUEUED,
        // i.e. after the CAS below; `give_up` (the path of a cancel that wins the claim from
        // WAITING meanwhile) never touches it, and there is one parent, so one `deliver`.
        unsafe { *self.input.get() = Some(input) };
        if self.cell.make_runnable() {
            return true;
        }
        // Cancelled meanwhile: nobody will ever read the input, so take it back and drop it.
        // SAFETY: as above; the failed CAS means no claim from QUEUED can ever happen.
        drop_contained(unsafe { (*self.input.get()).take() });
        false
    }

    /// Resolves a continuation that is still waiting with its parent's `error`, without
    /// running it (a success-only step whose parent failed).
    pub(crate) fn skip(&self, error: Error) {
        if self.cell.claim_waiting() {
            self.give_up(error);
        }
    }

    /// Runs the claimed task on this thread: closure, callbacks, then publication.
    fn execute(&self) -> Ran {
        // SAFETY: only the claimer gets here (see the type's docs).
        let (f, callbacks) = match unsafe { (*self.work.get()).take() } {
            Some(w) => w,
            None => return Ran::Cancelled,
        };
        // SAFETY: as above.
        let input = unsafe { (*self.input.get()).take() };
        let frame = Frame {
            state: self.cell.state_word(),
            id: self as *const Self as *const (),
            tracker: self.tracker.as_ref(),
        };
        let outcome = context::enter(&frame, || {
            let outcome = match input {
                _ if self.tracker.as_ref().is_some_and(|t| t.is_cancelled()) => {
                    // Not run: its closure and input are dropped unrun, which may panic.
                    drop_contained((f, input));
                    return callbacks.apply(Err(Error::Cancelled));
                }
                // The payload is kept in the error, not dropped here: its `Drop` may panic.
                Some(input) => catch_unwind(AssertUnwindSafe(move || f(input)))
                    .unwrap_or_else(|p| Err(Error::panicked(p))),
                None => {
                    drop_contained(f);
                    Err(Error::Cancelled)
                }
            };
            if callbacks.is_empty() {
                outcome
            } else {
                callbacks.apply(outcome)
            }
        });
        let ran = Ran::of(&outcome);
        self.resolve(outcome);
        ran
    }

    /// Resolves a claimed task without running it (cancelled, terminated).
    ///
    /// Runs on whichever thread cancelled or terminated, so nothing of the user's may unwind
    /// out of here: a closure whose `Drop` panics is contained (the handle still says `error`,
    /// since the closure never ran; the panic hook has reported the panic).
    fn give_up(&self, error: Error) {
        // SAFETY: only the claimer gets here. `input` is left alone: a `deliver` may be
        // writing it right now (see there); it is dropped with the task.
        let work = unsafe { (*self.work.get()).take() };
        let outcome = match work {
            Some((f, callbacks)) => {
                drop_contained(f);
                let frame = Frame {
                    state: self.cell.state_word(),
                    id: self as *const Self as *const (),
                    tracker: self.tracker.as_ref(),
                };
                context::enter(&frame, || callbacks.apply(Err(error)))
            }
            None => Err(error),
        };
        self.resolve(outcome);
    }

    /// Publishes the outcome, then leaves the group. `Cell::complete` never unwinds, so the
    /// group always hears of the task.
    fn resolve(&self, outcome: Result<T>) {
        let error = match (&self.tracker, &outcome) {
            (Some(_), Err(e)) => Some(e.clone()),
            _ => None,
        };
        self.cell.complete(outcome);
        if let Some(t) = &self.tracker {
            t.exit(error.as_ref());
        }
    }
}

impl<I, T, F> Job for Task<I, T, F>
where
    I: Send + 'static,
    T: Send + 'static,
    F: FnOnce(I) -> Result<T> + Send + 'static,
{
    fn run(self: Arc<Self>) -> Ran {
        if self.cell.claim() {
            self.execute()
        } else if self.cell.cancel_requested() {
            Ran::Cancelled
        } else {
            // Claimed by a waiter that ran it inline: it ran, on that thread.
            Ran::Completed
        }
    }

    fn abandon(self: Arc<Self>) {
        if self.cell.claim() || self.cell.claim_waiting() {
            self.give_up(Error::Terminated);
        }
    }
}

impl<I, T, F> Completion<T> for Task<I, T, F>
where
    I: Send + 'static,
    T: Send + 'static,
    F: FnOnce(I) -> Result<T> + Send + 'static,
{
    fn cell(&self) -> &Cell<T> {
        &self.cell
    }

    fn cancel(&self) -> bool {
        if self.cell.request_cancel() {
            self.give_up(Error::Cancelled);
            true
        } else {
            false
        }
    }

    fn run_inline(self: Arc<Self>) -> bool {
        if self.cell.claim() {
            self.execute();
            true
        } else {
            false
        }
    }

    fn tracker(&self) -> Option<Arc<Tracker>> {
        self.tracker.clone()
    }

    fn id(&self) -> *const () {
        self as *const Self as *const ()
    }
}

/// A result produced by other code than a single closure (a `map`'s assembled vector, a
/// fan-in, a deadline race): whoever fulfils it first wins.
pub(crate) struct Promise<T> {
    cell: Cell<T>,
    tracker: Option<Arc<Tracker>>,
}

impl<T: Send + 'static> Promise<T> {
    pub(crate) fn new(tracker: Option<Arc<Tracker>>) -> Promise<T> {
        Promise {
            cell: Cell::new(QUEUED),
            tracker,
        }
    }

    /// A promise that is already resolved.
    pub(crate) fn resolved(outcome: Result<T>) -> Promise<T> {
        let p = Promise::new(None);
        p.fulfil(outcome);
        p
    }

    /// Resolves the promise unless it was resolved (or cancelled) already; true if this call
    /// won.
    pub(crate) fn fulfil(&self, outcome: Result<T>) -> bool {
        self.decide(|| outcome)
    }

    /// Claims the promise and, only if this call won, runs `then` *before* publishing what it
    /// returns: for effects that must be visible to whoever the result wakes (a deadline that
    /// cancels its work, a fan-in that cancels its losers). Losers' outcomes arriving
    /// meanwhile find the promise claimed and are dropped.
    pub(crate) fn decide(&self, then: impl FnOnce() -> Result<T>) -> bool {
        if self.cell.claim() {
            self.cell.complete(then());
            true
        } else {
            false
        }
    }
}

impl<T: Send + 'static> Completion<T> for Promise<T> {
    fn cell(&self) -> &Cell<T> {
        &self.cell
    }

    fn cancel(&self) -> bool {
        if self.cell.request_cancel() {
            self.cell.complete(Err(Error::Cancelled));
            true
        } else {
            false
        }
    }

    fn run_inline(self: Arc<Self>) -> bool {
        false
    }

    fn tracker(&self) -> Option<Arc<Tracker>> {
        self.tracker.clone()
    }

    fn id(&self) -> *const () {
        self as *const Self as *const ()
    }
}

/// A task nobody holds a handle to (`spawn`): no result cell and no claim. Half the size of a
/// [`Task`] and no lock on completion.
pub(crate) struct Detached<F> {
    f: UnsafeCell<Option<F>>,
    tracker: Option<Arc<Tracker>>,
}

// SAFETY: `f` is only touched by `run` or `abandon`, and the engine calls exactly one of them,
// once, for the one queue entry a detached job ever has (no handle exists that could run or
// cancel it elsewhere). So no two threads touch `f`, and `F: Send` is all moving it requires.
unsafe impl<F: Send> Sync for Detached<F> {}

/// The state word of a task that can never be cancelled.
static NEVER_CANCELLED: crate::sync::AtomicU8 = crate::sync::AtomicU8::new(0);

impl<F: FnOnce() + Send + 'static> Detached<F> {
    /// The job for `f`: this thread's spare job of the same type refilled if there is one
    /// (see `spare`), a new allocation otherwise.
    #[inline]
    pub(crate) fn build(f: F, tracker: Option<Arc<Tracker>>) -> Arc<Self> {
        if let Some(t) = &tracker {
            t.enter();
        }
        // A kept job has no group (see `run`), so it only fits a job without one.
        if tracker.is_none() {
            if let Some(job) = super::spare::take::<Self>() {
                // SAFETY: `take` returns the only reference (see `spare`), not yet published.
                unsafe { *job.f.get() = Some(f) };
                return job;
            }
        }
        Arc::new(Detached {
            f: UnsafeCell::new(Some(f)),
            tracker,
        })
    }

    fn take(&self) -> Option<F> {
        // SAFETY: see the `Sync` impl: only the engine's single run/abandon call gets here.
        unsafe { (*self.f.get()).take() }
    }
}

impl<F: FnOnce() + Send + 'static> Job for Detached<F> {
    fn run(self: Arc<Self>) -> Ran {
        let Some(f) = self.take() else {
            return Ran::Cancelled;
        };
        let Some(tracker) = self.tracker.as_ref() else {
            // No group to tell: the task is invisible to `is_cancelled` and the group look-ups
            // (as if no task ran), and a panic is left to the engine's guard, which contains
            // it, payload and all, and counts it: one unwind guard, not two.
            context::enter_none(f);
            // Empty now, and without a group: this thread's next job of this type may reuse
            // the allocation, if nobody else holds it (`keep` checks).
            super::spare::keep(self);
            return Ran::Completed;
        };
        let tracker = Some(tracker);
        let frame = Frame {
            state: &NEVER_CANCELLED,
            id: std::ptr::null(),
            tracker,
        };
        let outcome = context::enter(&frame, || match tracker {
            Some(t) if t.is_cancelled() => {
                drop_contained(f);
                Err(Error::Cancelled)
            }
            // The payload goes into the error (kept by the group), not dropped here: its
            // `Drop` may panic, and the group must still hear of the task.
            _ => catch_unwind(AssertUnwindSafe(f)).map_err(Error::panicked),
        });
        let ran = Ran::of(&outcome);
        if let Some(t) = tracker {
            t.exit(outcome.err().as_ref());
        }
        ran
    }

    fn abandon(self: Arc<Self>) {
        let Some(f) = self.take() else { return };
        drop_contained(f);
        if let Some(t) = &self.tracker {
            t.exit(Some(&Error::Terminated));
        }
    }
}
