//! `AsyncResult`: the outcome of one `apply_async` or `map_async`, readable again and again.
//!
//! Life of a result: created pending by the submitting thread; resolved exactly once by
//! [`complete`](crate::completion::complete) (after its callbacks, so `ready()` and `get()`
//! see the callbacks' effects, as in Python); then read by any number of threads.
//!
//! Fields and who touches them:
//! - `slot` (mutex): the outcome, written once by the resolver, read by every `get`;
//!   `waiters` counts threads blocked on `changed`, so a resolver with nobody waiting makes
//!   no wake-up call.
//! - `done` (atomic): set after the outcome is stored; `ready()` reads it without locking.
//! - `callbacks` (mutex): taken once by whoever runs them (the callback lane or a worker).

use crate::errors;
use crate::gil;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How a task ended.
pub(crate) enum Outcome {
    /// It returned this value.
    Value(Py<PyAny>),
    /// It raised this exception (kept with its traceback).
    Error(PyErr),
    /// It never ran: the pool was terminated first. Materialised as `PoolTerminated` on first
    /// read, since the thread that drops such a task may not hold the GIL.
    Terminated,
}

impl Outcome {
    /// The outcome as a Python exception, materialising `Terminated`.
    pub(crate) fn into_result(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Outcome::Value(v) => Ok(v),
            Outcome::Error(e) => Err(e),
            Outcome::Terminated => Err(errors::terminated(py)),
        }
    }

    pub(crate) fn from_result(r: PyResult<Py<PyAny>>) -> Outcome {
        match r {
            Ok(v) => Outcome::Value(v),
            Err(e) => Outcome::Error(e),
        }
    }
}

/// Python's `callback` and `error_callback`.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) callback: Option<Py<PyAny>>,
    pub(crate) error_callback: Option<Py<PyAny>>,
}

impl Callbacks {
    pub(crate) fn new(callback: Option<Py<PyAny>>, error_callback: Option<Py<PyAny>>) -> Self {
        Callbacks {
            callback,
            error_callback,
        }
    }

    fn is_empty(&self) -> bool {
        self.callback.is_none() && self.error_callback.is_none()
    }

    /// Runs the callback that matches `outcome` and returns the job's final outcome.
    ///
    /// A callback that raises makes its exception the job's result (CPython's fix of
    /// gh-83371): `get()` raises it, and `join()` never hangs. When an error callback
    /// raises, the task's own exception stays reachable at the end of its `__context__` chain.
    pub(crate) fn run(self, py: Python<'_>, outcome: Outcome) -> Outcome {
        match outcome.into_result(py) {
            Ok(value) => match self.callback {
                Some(cb) => match cb.call1(py, (value.clone_ref(py),)) {
                    Ok(_) => Outcome::Value(value),
                    Err(e) => Outcome::Error(e),
                },
                None => Outcome::Value(value),
            },
            Err(err) => match self.error_callback {
                Some(ecb) => match ecb.call1(py, (err.value(py).clone(),)) {
                    Ok(_) => Outcome::Error(err),
                    Err(raised) => {
                        chain_context(py, &raised, &err);
                        Outcome::Error(raised)
                    }
                },
                None => Outcome::Error(err),
            },
        }
    }
}

/// Appends `original` at the end of `raised`'s `__context__` chain (unless already in it).
fn chain_context(py: Python<'_>, raised: &PyErr, original: &PyErr) {
    let original = original.value(py);
    let mut link = raised.value(py).clone();
    // A chain is short; the bound only guards against a cycle built by user code.
    for _ in 0..64 {
        if link.is(original) {
            return;
        }
        match link.getattr("__context__") {
            Ok(next) if !next.is_none() => link = next.cast_into().unwrap_or(link),
            _ => {
                let _ = link.setattr("__context__", original);
                return;
            }
        }
    }
}

struct Slot {
    outcome: Option<Outcome>,
    waiters: usize,
}

/// The handle to one `apply_async` or `map_async` (Python's `AsyncResult`, also known as
/// `ApplyResult` and `MapResult`).
///
/// `get()` returns the value, or raises the task's own exception object (the same object
/// each time, with its traceback, as passed to `error_callback`).
#[pyclass(frozen, weakref, module = "followup", name = "AsyncResult")]
pub(crate) struct AsyncResult {
    slot: Mutex<Slot>,
    changed: Condvar,
    done: AtomicBool,
    /// Fixed at creation: whether `callbacks` holds anything (read on every completion).
    has_callbacks: bool,
    callbacks: Mutex<Option<Callbacks>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AsyncResult {
    pub(crate) fn pending(callbacks: Callbacks) -> AsyncResult {
        AsyncResult {
            slot: Mutex::new(Slot {
                outcome: None,
                waiters: 0,
            }),
            changed: Condvar::new(),
            done: AtomicBool::new(false),
            has_callbacks: !callbacks.is_empty(),
            callbacks: Mutex::new((!callbacks.is_empty()).then_some(callbacks)),
        }
    }

    /// True if a callback or error callback is waiting to run.
    pub(crate) fn has_callbacks(&self) -> bool {
        self.has_callbacks
    }

    pub(crate) fn take_callbacks(&self) -> Callbacks {
        lock(&self.callbacks).take().unwrap_or_default()
    }

    /// Stores the final outcome and wakes the waiters. Called once, GIL or not.
    pub(crate) fn resolve(&self, outcome: Outcome) {
        let mut slot = lock(&self.slot);
        debug_assert!(slot.outcome.is_none(), "a result is resolved once");
        slot.outcome = Some(outcome);
        self.done.store(true, Ordering::Release);
        if slot.waiters > 0 {
            self.changed.notify_all();
        }
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Blocks (GIL released by the caller) for at most `limit`; true once resolved.
    fn block(&self, limit: Option<Duration>) -> bool {
        let mut slot = lock(&self.slot);
        if slot.outcome.is_some() {
            return true;
        }
        slot.waiters += 1;
        slot = match limit {
            None => self
                .changed
                .wait_while(slot, |s| s.outcome.is_none())
                .unwrap_or_else(PoisonError::into_inner),
            Some(t) => {
                self.changed
                    .wait_timeout_while(slot, t, |s| s.outcome.is_none())
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        slot.waiters -= 1;
        slot.outcome.is_some()
    }

    /// Waits for the outcome; false if `timeout` passed first.
    pub(crate) fn wait_for(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.is_done() {
            return Ok(true);
        }
        let until = gil::deadline(timeout)?;
        gil::wait_releasing(py, until, |limit| self.block(limit))
    }

    /// The outcome of a resolved result, materialised once so every read sees the same
    /// exception object.
    fn read(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut slot = lock(&self.slot);
        match slot.outcome.as_ref() {
            Some(Outcome::Value(v)) => Ok(v.clone_ref(py)),
            Some(Outcome::Error(e)) => Err(e.clone_ref(py)),
            Some(Outcome::Terminated) => {
                let e = errors::terminated(py);
                slot.outcome = Some(Outcome::Error(e.clone_ref(py)));
                Err(e)
            }
            None => unreachable!("read before the result was resolved"),
        }
    }

    pub(crate) fn get_value(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        if !self.wait_for(py, timeout)? {
            return Err(errors::timeout(py));
        }
        self.read(py)
    }
}

#[pymethods]
impl AsyncResult {
    /// True once the task has finished and its callback has run.
    fn ready(&self) -> bool {
        self.is_done()
    }

    /// Whether the task finished without raising; `ValueError` if it is not ready yet.
    fn successful(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let this = slf.get();
        if !this.is_done() {
            return Err(PyValueError::new_err(format!("{} not ready", slf.repr()?)));
        }
        Ok(matches!(lock(&this.slot).outcome, Some(Outcome::Value(_))))
    }

    /// Waits until the result is ready or `timeout` seconds pass. Returns None, as Python's.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        self.wait_for(py, timeout).map(|_| ())
    }

    /// The value, once ready. Raises the task's exception if it failed, and
    /// `multiprocessing.TimeoutError` if `timeout` seconds pass first (the task goes on).
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.get_value(py, timeout)
    }

    /// `AsyncResult[T]` in annotations.
    #[classmethod]
    fn __class_getitem__(
        cls: &Bound<'_, pyo3::types::PyType>,
        item: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let py = cls.py();
        let alias = py.import("types")?.getattr("GenericAlias")?;
        Ok(alias
            .call1(PyTuple::new(
                py,
                [cls.clone().into_any(), item.into_bound(py)],
            )?)?
            .unbind())
    }

    fn __repr__(&self) -> String {
        let state = if self.is_done() { "ready" } else { "pending" };
        format!("<followup.AsyncResult {state}>")
    }
}
