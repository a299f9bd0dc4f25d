//! Room on the stack for work that nests: a worker that waits runs other jobs on top of the
//! waiting one, and a chain of tasks each waiting on the next nests as deep as the chain.
//!
//! Rather than cap the depth (which would deadlock once every worker waits) or trust a fixed
//! stack size, the stack grows on demand, as rustc does for deep recursion: when less than
//! [`RED_ZONE`] is left, the job runs on a fresh heap-allocated segment of [`SEGMENT`]
//! bytes, freed when it returns. If the system cannot give the memory, the `stacker` crate
//! panics inside the job, which the task layer turns into that task's error: never an abort.

/// Grow before less than this is left: enough for one job's frames and the waits between.
const RED_ZONE: usize = 256 * 1024;
/// Each new segment holds many nested jobs, so growing is rare (one allocation per few
/// hundred levels).
const SEGMENT: usize = 8 * 1024 * 1024;

/// Runs `f`, on a new stack segment if this one is nearly full.
pub(crate) fn with_room<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}
