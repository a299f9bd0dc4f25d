//! The job behind `apply_async`: one call on a worker, its result resolved through
//! [`complete`].

use crate::call::Call;
use crate::gil;
use crate::result::{AsyncResult, Callbacks, Kind, Outcome};
use crate::shared::{complete, Shared};
use pyo3::prelude::*;
use std::sync::Arc;

/// One `apply_async`. If the engine drops it without running it (terminate), `Drop`
/// resolves its result to `PoolTerminated`, so no result is ever left pending.
pub(crate) struct ApplyJob {
    call: Option<Call>,
    result: Option<Py<AsyncResult>>,
    pool: Arc<Shared>,
    /// Set once `run` has claimed the result: from then on this job must resolve it.
    claimed: bool,
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
    pool.start_one();
    let job = ApplyJob::new(call, result.clone_ref(py), Arc::clone(pool));
    // Refused (terminated meanwhile): the job is dropped unrun and resolves its result.
    pool.spawn(move || job.run())?;
    Ok(result)
}

impl ApplyJob {
    pub(crate) fn new(call: Call, result: Py<AsyncResult>, pool: Arc<Shared>) -> ApplyJob {
        ApplyJob {
            call: Some(call),
            result: Some(result),
            pool,
            claimed: false,
        }
    }

    /// Runs on a worker.
    pub(crate) fn run(mut self) {
        if !self.result.as_ref().is_some_and(|r| r.get().claim()) {
            // Cancelled before it started: `cancel()` resolved it and counted it out.
            self.result = None;
            return;
        }
        self.claimed = true;
        let for_lane = gil::attach(|py| {
            let (Some(call), Some(result)) = (self.call.take(), self.result.take()) else {
                return None;
            };
            let outcome = {
                let _running = current::Running::enter(result.get().stop_flag());
                Outcome::from_result(call.invoke(py))
            };
            // Release the function and arguments now, under the GIL (Python's
            // test_release_task_refs: nothing of a finished task is kept alive).
            drop(call);
            if result.get().has_callbacks() && !self.pool.parallel_callbacks {
                return Some((result, outcome));
            }
            complete(Some(py), &self.pool, result, outcome);
            None
        });
        // Hand over to the callback lane after releasing the GIL, so the lane does not wake
        // only to wait for it.
        if let Some((result, outcome)) = for_lane.flatten() {
            complete(None, &self.pool, result, outcome);
        }
    }
}

impl Drop for ApplyJob {
    fn drop(&mut self) {
        // Dropped unrun (terminate, or the interpreter is gone): resolve it, unless cancel()
        // or a worker claimed it first.
        if let Some(result) = self.result.take() {
            if self.claimed || result.get().claim() {
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
