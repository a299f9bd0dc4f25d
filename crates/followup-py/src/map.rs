//! `map_async` / `starmap_async`: the input cut into chunks, one job per chunk, one result.
//!
//! Each chunk job calls the function on its items under one GIL acquisition and writes the
//! values straight into a list preallocated with `None`; the last chunk to finish resolves
//! the result. As in Python, `map` is not fail-fast (every chunk reports before the result is
//! ready) and a chunk stops at its first exception. Unlike Python (first error to *arrive*),
//! the error raised is that of the lowest failing index, so it is deterministic.

use crate::call::call_item;
use crate::gil;
use crate::result::{AsyncResult, Outcome};
use crate::shared::{complete, lock, Shared};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Python's default chunk size for `map`: `ceil(len / (4 * workers))`.
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}

/// One `map_async` in flight.
pub(crate) struct MapState {
    func: Py<PyAny>,
    star: bool,
    values: Py<PyList>,
    remaining: AtomicUsize,
    first_error: Mutex<Option<(usize, Outcome)>>,
    result: Mutex<Option<Py<AsyncResult>>>,
    pool: Arc<Shared>,
}

impl MapState {
    /// `values` must already hold one slot per item; `chunks` is how many jobs will report.
    pub(crate) fn new(
        func: Py<PyAny>,
        star: bool,
        values: Py<PyList>,
        chunks: usize,
        result: Py<AsyncResult>,
        pool: Arc<Shared>,
    ) -> MapState {
        MapState {
            func,
            star,
            values,
            remaining: AtomicUsize::new(chunks),
            first_error: Mutex::new(None),
            result: Mutex::new(Some(result)),
            pool,
        }
    }

    fn record_error(&self, index: usize, outcome: Outcome) {
        let mut first = lock(&self.first_error);
        if first.as_ref().is_none_or(|(i, _)| index < *i) {
            *first = Some((index, outcome));
        }
    }

    /// One chunk has reported; the last one resolves the result. `py` is `None` only for a
    /// chunk that never ran, which always records an error, so the value list is then never
    /// needed without the GIL.
    fn chunk_done(&self, py: Option<Python<'_>>) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let outcome = match (lock(&self.first_error).take(), py) {
            (Some((_, err)), _) => err,
            (None, Some(py)) => Outcome::Value(self.values.clone_ref(py).into_any()),
            (None, None) => Outcome::Terminated,
        };
        if let Some(result) = lock(&self.result).take() {
            complete(py, &self.pool, result, outcome);
        }
    }
}

/// One chunk of a `map_async`: items `start..start + items.len()`.
pub(crate) struct MapChunk {
    items: Vec<Py<PyAny>>,
    start: usize,
    state: Option<Arc<MapState>>,
}

impl MapChunk {
    pub(crate) fn new(items: Vec<Py<PyAny>>, start: usize, state: Arc<MapState>) -> MapChunk {
        MapChunk {
            items,
            start,
            state: Some(state),
        }
    }

    /// Runs on a worker.
    pub(crate) fn run(mut self) {
        gil::attach_worker(|py| {
            let Some(state) = self.state.take() else {
                return;
            };
            let func = state.func.bind(py);
            let values = state.values.bind(py);
            for (k, item) in std::mem::take(&mut self.items).into_iter().enumerate() {
                let index = self.start + k;
                match call_item(py, func, item, state.star) {
                    Ok(v) => {
                        if let Err(e) = values.set_item(index, v) {
                            state.record_error(index, Outcome::Error(e));
                            break;
                        }
                    }
                    Err(e) => {
                        state.record_error(index, Outcome::Error(e));
                        break;
                    }
                }
            }
            state.chunk_done(Some(py));
        });
    }
}

impl Drop for MapChunk {
    fn drop(&mut self) {
        // Never ran (terminate): its items fail with PoolTerminated.
        if let Some(state) = self.state.take() {
            state.record_error(self.start, Outcome::Terminated);
            state.chunk_done(None);
        }
    }
}
