//! A snapshot of what a pool has done: [`PoolStats`], from [`ThreadPool::stats`].
//!
//! The counters are always on and cost the hot path no shared write: each worker counts what
//! it does in its own cache line, with a plain load and store (it is the only writer); only
//! work submitted from outside the pool, which already writes the shared queue, counts on a
//! shared line. A snapshot sums the lines without stopping anyone, so while work is in
//! flight its figures are each exact but may be a moment apart (`queued` and `running` are
//! derived, and never negative).
//!
//! [`ThreadPool::stats`]: crate::ThreadPool::stats

/// What a pool has done since it started; see [`ThreadPool::stats`](crate::ThreadPool::stats).
///
/// Every unit of work the engine runs counts: a task, a continuation step, a `map` chunk, a
/// streaming runner. `completed + panicked + cancelled` are the jobs finished;
/// `submitted - (finished + queued + running)` is zero once the pool is quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Jobs accepted, from inside the pool (follow-ups) or outside.
    pub submitted: u64,
    /// Jobs that ran and did not panic (a task's own error value counts here).
    pub completed: u64,
    /// Jobs whose closure or callback panicked.
    pub panicked: u64,
    /// Jobs resolved without running: cancelled before they started, or given up by
    /// `terminate`.
    pub cancelled: u64,
    /// Jobs accepted and not yet started.
    pub queued: u64,
    /// Jobs running now.
    pub running: u64,
    /// One entry per worker thread, in index order.
    pub workers: Vec<WorkerStats>,
}

/// What one worker thread has done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Jobs this worker started (from its own queue, the shared queue, or a sibling's).
    pub executed: u64,
    /// Jobs it took from a sibling's queue.
    pub steals: u64,
    /// Times it parked (slept) for want of work or while waiting.
    pub parks: u64,
}
