//! The job behind `apply_async`: one call on a worker, its result resolved through
//! [`complete`].

use crate::call::Call;
use crate::gil;
use crate::result::{AsyncResult, Callbacks, Kind, Outcome};
use crate::shared::{complete, Shared};
use pyo3::prelude::*;
use std::sync::Arc;

/// One `apply_async`. Its call waits in the result, so that whoever claims the result runs
/// it: the worker that picks the job up, or a task of the same pool that waits for it while
/// it is still queued (see [`run_inline`]). If the engine drops the job unclaimed
/// (terminate), `Drop` resolves the result to `PoolTerminated`, so no result is ever left
/// pending.
pub(crate) struct ApplyJob {
    result: Option<Py<AsyncResult>>,
    pool: Arc<Shared>,
}

/// Python's `apply_async` on `pool`: checks it accepts work from here, counts the job in and
/// issues it.
pub(crate) fn submit(
    py: Python<'_>,
    pool: &Arc<Shared>,
    call: Call,
    callbacks: Callbacks,
) -> PyResult<Py<AsyncResult>> {
    pool.check_running()?;
    let result = Py::new(py, AsyncResult::pending(Kind::Task, callbacks, pool))?;
    result.get().set_call(call);
    pool.start_one();
    let job = ApplyJob {
        result: Some(result.clone_ref(py)),
        pool: Arc::clone(pool),
    };
    // Refused (terminated meanwhile): the job is dropped unrun and resolves its result.
    pool.spawn(move || job.run())?;
    Ok(result)
}

/// Runs the call of a result this thread has claimed. Returns the outcome still to be
/// completed through the callback lane (after the caller released the GIL), if any.
fn run_claimed(
    py: Python<'_>,
    pool: &Arc<Shared>,
    result: Py<AsyncResult>,
) -> Option<(Py<AsyncResult>, Outcome)> {
    let outcome = match result.get().take_call() {
        Some(call) => {
            let outcome = {
                let _running = current::Running::enter(result.get().stop_flag());
                Outcome::from_result(call.invoke(py))
            };
            // Release the function and arguments now, under the GIL (Python's
            // test_release_task_refs: nothing of a finished task is kept alive).
            drop(call);
            outcome
        }
        None => Outcome::Terminated,
    };
    if result.get().has_callbacks() && !pool.parallel_callbacks {
        return Some((result, outcome));
    }
    complete(Some(py), pool, result, outcome);
    None
}

/// How deep tasks may run queued tasks inline on one worker's stack (each level costs
/// Python and Rust frames; beyond it a waiting task just blocks, as in Python).
const MAX_INLINE_DEPTH: usize = 32;

thread_local! {
    static INLINE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A task of this pool waits for `result`: if it is still queued, run it right here instead
/// of blocking the worker (with every worker waiting so, Python's pool deadlocks). True if it
/// ran here.
pub(crate) fn run_inline(
    py: Python<'_>,
    pool: &Arc<Shared>,
    result: &Bound<'_, AsyncResult>,
) -> bool {
    let depth = INLINE_DEPTH.with(|d| d.get());
    if depth >= MAX_INLINE_DEPTH || !pool.on_worker() || !result.get().claim() {
        return false;
    }
    INLINE_DEPTH.with(|d| d.set(depth + 1));
    let for_lane = run_claimed(py, pool, result.clone().unbind());
    INLINE_DEPTH.with(|d| d.set(depth));
    if let Some((result, outcome)) = for_lane {
        complete(None, pool, result, outcome);
    }
    true
}

impl ApplyJob {
    /// Runs on a worker.
    pub(crate) fn run(mut self) {
        let Some(result) = self.result.take() else {
            return;
        };
        if !result.get().claim() {
            // Cancelled, or run inline by a task waiting for it: resolved there.
            return;
        }
        let pool = Arc::clone(&self.pool);
        let mut result = Some(result);
        let for_lane =
            gil::attach_worker(|py| result.take().and_then(|r| run_claimed(py, &pool, r)));
        match (for_lane, result) {
            // Hand over to the callback lane after releasing the GIL, so the lane does not
            // wake only to wait for it.
            (Some(Some((result, outcome))), _) => complete(None, &pool, result, outcome),
            // The interpreter is gone: resolve without running it.
            (None, Some(result)) => {
                drop(result.get().take_call());
                complete(None, &pool, result, Outcome::Terminated);
            }
            _ => {}
        }
    }
}

impl Drop for ApplyJob {
    fn drop(&mut self) {
        // Dropped unrun (terminate): resolve it, unless cancel(), a worker or an inline
        // waiter claimed it first.
        if let Some(result) = self.result.take() {
            if result.get().claim() {
                drop(result.get().take_call());
                complete(None, &self.pool, result, Outcome::Terminated);
            }
        }
    }
}

/// Which task the current thread runs, for `followup.is_cancelled()`.
pub(crate) mod current {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};

    thread_local! {
        static STOP_FLAG: Cell<*const AtomicBool> = const { Cell::new(std::ptr::null()) };
    }

    /// Marks a task as running on this thread for as long as the guard lives.
    pub(crate) struct Running {
        previous: *const AtomicBool,
    }

    impl Running {
        pub(crate) fn enter(flag: &AtomicBool) -> Running {
            let previous = STOP_FLAG.with(|f| f.replace(flag));
            Running { previous }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            STOP_FLAG.with(|f| f.set(self.previous));
        }
    }

    /// True inside a task whose `cancel()` was called while it ran.
    pub(crate) fn is_cancelled() -> bool {
        let flag = STOP_FLAG.with(Cell::get);
        // SAFETY: a non-null pointer was stored by `Running::enter` from a flag inside the
        // `AsyncResult` of the task running on this thread; the job holds that result alive
        // until the guard is dropped, which restores the previous pointer (nested waits that
        // run other tasks inline restore theirs first, in LIFO order).
        !flag.is_null() && unsafe { (*flag).load(Ordering::Acquire) }
    }
}
