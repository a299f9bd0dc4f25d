//! The job behind `apply_async`: one call on a worker, its result resolved through
//! [`complete`].

use crate::call::Call;
use crate::gil;
use crate::result::{AsyncResult, Outcome};
use crate::shared::{complete, Shared};
use pyo3::prelude::*;
use std::sync::Arc;

/// One `apply_async`. If the engine drops it without running it (terminate), `Drop`
/// resolves its result to `PoolTerminated`, so no result is ever left pending.
pub(crate) struct ApplyJob {
    call: Option<Call>,
    result: Option<Py<AsyncResult>>,
    pool: Arc<Shared>,
}

impl ApplyJob {
    pub(crate) fn new(call: Call, result: Py<AsyncResult>, pool: Arc<Shared>) -> ApplyJob {
        ApplyJob {
            call: Some(call),
            result: Some(result),
            pool,
        }
    }

    /// Runs on a worker.
    pub(crate) fn run(mut self) {
        let for_lane = gil::attach(|py| {
            let (Some(call), Some(result)) = (self.call.take(), self.result.take()) else {
                return None;
            };
            let outcome = Outcome::from_result(call.invoke(py));
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
        if let Some(result) = self.result.take() {
            complete(None, &self.pool, result, Outcome::Terminated);
        }
    }
}
