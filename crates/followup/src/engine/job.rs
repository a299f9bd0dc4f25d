//! The engine's unit of work: a type-erased, reference-counted job.
//!
//! The engine never sees results, callbacks or Python names: it runs [`JobRef`]s. The task layer
//! (`crate::task`) implements [`Job`] for its single per-task allocation, so one `Arc` is both
//! the queue entry and the result handle's target.

use crate::sync::Arc;

/// Something the engine can run or, when the pool is terminated first, give up.
///
/// Both methods may be called on a job that was already claimed elsewhere (cancelled, or run
/// inline by a thread that waited for it); they must then do nothing.
pub(crate) trait Job: Send + Sync {
    /// Runs the job on the current thread; says how it ended, for the pool's statistics. A
    /// panic may escape: the engine then contains it and counts the job as panicked.
    fn run(self: Arc<Self>) -> Ran;
    /// The pool was terminated before the job started: resolve it without running it.
    fn abandon(self: Arc<Self>);
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

/// A queued job: one pointer plus vtable, cloned only by whoever also keeps a handle to it.
pub(crate) type JobRef = Arc<dyn Job>;
