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
    /// Runs the job on the current thread.
    fn run(self: Arc<Self>);
    /// The pool was terminated before the job started: resolve it without running it.
    fn abandon(self: Arc<Self>);
}

/// A queued job: one pointer plus vtable, cloned only by whoever also keeps a handle to it.
pub(crate) type JobRef = Arc<dyn Job>;
