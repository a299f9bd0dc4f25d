//! The engine's unit of work: a type-erased, reference-counted job.
//!
//! The engine never sees results, callbacks or Python names: it runs [`JobRef`]s. The task layer
//! (`crate::task`) implements [`Job`] for its single per-task allocation, so one `Arc` is both
//! the queue entry and the result handle's target.

use crate::sync::{Arc, AtomicU8, Ordering};

/// Something the engine can run or, when the pool is terminated first, give up.
///
/// Both methods may be called on a job that was already claimed elsewhere (cancelled, or run
/// inline by a thread that waited for it); they must then do nothing.
///
/// # Safety
/// The implementing type must be `#[repr(C)]` with a [`Loan`] as its first field: the engine
/// reads a job's loan through the job pointer itself ([`loan_of`]), three times per job, where
/// a virtual call would cost ~7 instructions each.
pub(crate) unsafe trait Job: Send + Sync {
    /// Runs the job on the current thread; says how it ended, for the pool's statistics. A
    /// panic may escape: the engine then contains it and counts the job as panicked.
    fn run(self: Arc<Self>) -> Ran;
    /// The pool was terminated before the job started: resolve it without running it.
    fn abandon(self: Arc<Self>);
}

/// Whether `job` holds a unit of the outstanding counter (see [`Loan`]).
#[inline]
pub(crate) fn loan_of(job: &JobRef) -> &Loan {
    // SAFETY: every `Job` is `repr(C)` with its `Loan` first (the trait's contract), so the
    // job's data pointer points at that `Loan`, which lives as long as the job.
    unsafe { &*Arc::as_ptr(job).cast::<Loan>() }
}

/// How a run ended (`crate::stats`): the engine counts, the task layer knows which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    /// The closure ran and returned (its value may be an error of the user's own).
    Completed,
    /// The closure or one of its callbacks panicked.
    Panicked,
    /// Resolved without running: cancelled before it started (or its group was).
    Cancelled,
}

impl Ran {
    /// Classifies a task's outcome.
    pub(crate) fn of<T>(outcome: &crate::error::Result<T>) -> Ran {
        use crate::error::Error;
        match outcome {
            Err(Error::Panicked { .. } | Error::CallbackPanicked { .. }) => Ran::Panicked,
            Err(Error::Cancelled) => Ran::Cancelled,
            _ => Ran::Completed,
        }
    }
}

/// Whether a job holds its own unit of the outstanding counter, or borrows the unit of the
/// job that issued it (see the "Lending" section of `worker`).
///
/// `OWN` → the job holds a unit. `PENDING` → it borrows its issuer's unit, and the issuer is
/// still running. Whoever comes first wins the one CAS out of `PENDING`: the issuer, when it
/// finishes (`settle`: its unit passes to the job, `SETTLED`), or a thread about to run or
/// abandon the job (`claim`: it takes a fresh unit for it, `OWN`, and the issuer keeps and
/// later releases its own).
pub(crate) struct Loan(AtomicU8);

const OWN: u8 = 0;
const PENDING: u8 = 1;
const SETTLED: u8 = 2;

impl Loan {
    pub(crate) fn new() -> Loan {
        Loan(AtomicU8::new(OWN))
    }

    /// Back to holding its own unit, for a job reused for new work (by its only holder,
    /// before it is published).
    #[inline]
    pub(crate) fn reset(&self) {
        self.0.store(OWN, Ordering::Relaxed);
    }

    /// Marks the job as borrowing; before it is published to any queue.
    #[inline]
    pub(crate) fn lend(&self) {
        self.0.store(PENDING, Ordering::Relaxed);
    }

    /// True while the job borrows the unit of an issuer that has not finished.
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        self.0.load(Ordering::Acquire) == PENDING
    }

    /// Takes the loan over: true if this call turned it into an own unit (the caller must
    /// have counted that unit in *before*, so the counter cannot touch zero in between);
    /// false if the issuer settled first and the job already holds its unit.
    #[must_use]
    #[inline]
    pub(crate) fn claim(&self) -> bool {
        self.0
            .compare_exchange(PENDING, OWN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The issuer finished: true if its unit passed to the job (so the issuer must not count
    /// out); false if the job was claimed first and took its own.
    #[must_use]
    #[inline]
    pub(crate) fn settle(&self) -> bool {
        self.0
            .compare_exchange(PENDING, SETTLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// A queued job: one pointer plus vtable, cloned only by whoever also keeps a handle to it.
pub(crate) type JobRef = Arc<dyn Job>;
