//! The exceptions the core raises: the ones Python users already catch
//! (`multiprocessing.TimeoutError`, `ValueError("Pool not running")`), plus
//! `followup.PoolTerminated` (a `concurrent.futures.CancelledError`) for work that never ran.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pyo3::import_exception!(multiprocessing, TimeoutError);
pyo3::import_exception!(followup._errors, PoolTerminated);
pyo3::import_exception!(concurrent.futures, CancelledError);

/// `get(timeout)` or `next(timeout)` gave up; the work goes on.
pub(crate) fn timeout() -> PyErr {
    TimeoutError::new_err(())
}

/// The task never ran because the pool was terminated first.
pub(crate) fn terminated() -> PyErr {
    PoolTerminated::new_err("the pool was terminated before this task started")
}

/// The task never ran because `cancel()` stopped it first.
pub(crate) fn cancelled() -> PyErr {
    CancelledError::new_err("the task was cancelled before it started")
}

/// A submission to a pool that is closed (from outside it) or terminated.
pub(crate) fn not_running() -> PyErr {
    PyValueError::new_err("Pool not running")
}

/// `join()` before `close()` or `terminate()`.
pub(crate) fn still_running() -> PyErr {
    PyValueError::new_err("Pool is still running")
}

/// `join()` from one of the pool's own threads would wait for itself.
pub(crate) fn join_from_inside() -> PyErr {
    PyRuntimeError::new_err(
        "cannot join a pool from one of its own threads (a task or a callback): it would wait for itself",
    )
}
