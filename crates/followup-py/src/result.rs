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
use crate::shared::{complete, Shared};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    /// It never ran: `cancel()` stopped it first (`concurrent.futures.CancelledError`).
    Cancelled,
}

impl Outcome {
    /// The outcome as a Python exception, materialising `Terminated`.
    pub(crate) fn into_result(self) -> PyResult<Py<PyAny>> {
        match self {
            Outcome::Value(v) => Ok(v),
            Outcome::Error(e) => Err(e),
            Outcome::Terminated => Err(errors::terminated()),
            Outcome::Cancelled => Err(errors::cancelled()),
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
        match outcome.into_result() {
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
    /// `add_done_callback` functions, run once the outcome is stored.
    done_callbacks: Vec<Py<PyAny>>,
}

/// What produces a result's outcome, which decides what `cancel()` can do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One `apply_async` task: cancellable until a worker claims it.
    Task,
    /// A `map_async`: many chunks; not cancellable.
    Map,
    /// Resolved by followup's Python layer (continuations, fan-in, deadlines): cancellable
    /// until resolved.
    Promise,
}

/// `stage` values: a task is claimed once, by the worker that runs it (QUEUED → RUNNING), by
/// `cancel()` (QUEUED → CANCELLED), or by the engine dropping it unrun; whoever claims it
/// resolves it, so a result is resolved exactly once.
const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;

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
    kind: Kind,
    /// A task's call, taken by whoever claims it (see `apply.rs`).
    call: Mutex<Option<crate::call::Call>>,
    stage: AtomicU8,
    /// Set by `cancel()` on running work: `followup.is_cancelled()` turns true inside it.
    stop_requested: AtomicBool,
    pool: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AsyncResult {
    /// Settles a promise once; false for a task, a map, or a promise already settled.
    fn settle_promise(slf: &Bound<'_, Self>, outcome: Outcome) -> bool {
        let this = slf.get();
        if this.kind != Kind::Promise || !this.claim() {
            return false;
        }
        complete(Some(slf.py()), &this.pool, slf.clone().unbind(), outcome);
        true
    }

    pub(crate) fn pending(kind: Kind, callbacks: Callbacks, pool: &Arc<Shared>) -> AsyncResult {
        AsyncResult {
            slot: Mutex::new(Slot {
                outcome: None,
                waiters: 0,
                done_callbacks: Vec::new(),
            }),
            changed: Condvar::new(),
            done: AtomicBool::new(false),
            has_callbacks: !callbacks.is_empty(),
            callbacks: Mutex::new((!callbacks.is_empty()).then_some(callbacks)),
            kind,
            call: Mutex::new(None),
            stage: AtomicU8::new(QUEUED),
            stop_requested: AtomicBool::new(false),
            pool: Arc::clone(pool),
        }
    }

    /// Claims a queued task for running (or for resolving it unrun); false if `cancel()`
    /// (or an earlier claim) got there first.
    pub(crate) fn claim(&self) -> bool {
        self.stage
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn set_call(&self, call: crate::call::Call) {
        *lock(&self.call) = Some(call);
    }

    pub(crate) fn take_call(&self) -> Option<crate::call::Call> {
        lock(&self.call).take()
    }

    /// The flag `followup.is_cancelled()` reads while this result's task runs.
    pub(crate) fn stop_flag(&self) -> &AtomicBool {
        &self.stop_requested
    }

    /// True if a callback or error callback is waiting to run.
    pub(crate) fn has_callbacks(&self) -> bool {
        self.has_callbacks
    }

    pub(crate) fn take_callbacks(&self) -> Callbacks {
        lock(&self.callbacks).take().unwrap_or_default()
    }

    /// Stores the final outcome and wakes the waiters; returns the done callbacks to run.
    /// Called once, GIL or not.
    pub(crate) fn resolve(&self, outcome: Outcome) -> Vec<Py<PyAny>> {
        let mut slot = lock(&self.slot);
        debug_assert!(slot.outcome.is_none(), "a result is resolved once");
        slot.outcome = Some(outcome);
        self.done.store(true, Ordering::Release);
        if slot.waiters > 0 {
            self.changed.notify_all();
        }
        std::mem::take(&mut slot.done_callbacks)
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

    /// Waits for the outcome; false if `timeout` passed first. On a worker of the same pool,
    /// a task still queued is run here instead (see `apply::run_inline`).
    pub(crate) fn wait_for(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let this = slf.get();
        if this.is_done() {
            return Ok(true);
        }
        if this.kind == Kind::Task
            && crate::apply::run_inline(slf.py(), &this.pool, slf)
            && this.is_done()
        {
            return Ok(true);
        }
        let until = gil::deadline(timeout)?;
        gil::wait_releasing(slf.py(), until, |limit| this.block(limit))
    }

    /// The outcome of a resolved result, materialised once so every read sees the same
    /// exception object.
    fn read(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut slot = lock(&self.slot);
        match slot.outcome.as_ref() {
            Some(Outcome::Value(v)) => Ok(v.clone_ref(py)),
            Some(Outcome::Error(e)) => Err(e.clone_ref(py)),
            Some(Outcome::Terminated | Outcome::Cancelled) => {
                let e = if matches!(slot.outcome, Some(Outcome::Terminated)) {
                    errors::terminated()
                } else {
                    errors::cancelled()
                };
                slot.outcome = Some(Outcome::Error(e.clone_ref(py)));
                Err(e)
            }
            None => unreachable!("read before the result was resolved"),
        }
    }

    pub(crate) fn get_value(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        if !Self::wait_for(slf, timeout)? {
            return Err(errors::timeout());
        }
        slf.get().read(slf.py())
    }
}

/// Runs `add_done_callback` functions with the result; what they raise is reported through
/// `sys.unraisablehook`, as `concurrent.futures` logs it, and never stops the others.
pub(crate) fn run_done_callbacks(py: Python<'_>, result: &Py<AsyncResult>, fns: Vec<Py<PyAny>>) {
    for f in fns {
        if let Err(e) = f.call1(py, (result.clone_ref(py),)) {
            e.write_unraisable(py, Some(f.bind(py)));
        }
    }
}

/// The Python half of the follow-up primitives (`followup._followups`).
fn followups(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("followup._followups").map(Bound::unbind))
        .map(|m| m.bind(py))
}

#[pymethods]
impl AsyncResult {
    /// Calls `fn(result)` once this result is ready (after its callback), on the pool's
    /// callback thread; at once, on this thread, if it is ready already. Exceptions raised
    /// by `fn` are reported through `sys.unraisablehook`. `join()` waits for these calls.
    fn add_done_callback(slf: &Bound<'_, Self>, func: Py<PyAny>) {
        let this = slf.get();
        {
            let mut slot = lock(&this.slot);
            if slot.outcome.is_none() {
                slot.done_callbacks.push(func);
                return;
            }
        }
        run_done_callbacks(slf.py(), &slf.clone().unbind(), vec![func]);
    }

    /// Cancels the task if it has not started: it never runs, `get()` raises
    /// `concurrent.futures.CancelledError`, its `error_callback` is told, and continuations
    /// see the cancellation. Returns True if this call cancelled it. A running task is only
    /// asked to stop: `followup.is_cancelled()` turns True inside it. Results of
    /// `map_async` cannot be cancelled (False).
    fn cancel(slf: &Bound<'_, Self>) -> bool {
        let this = slf.get();
        if this.kind == Kind::Map {
            return false;
        }
        let won = this
            .stage
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            complete(
                Some(slf.py()),
                &this.pool,
                slf.clone().unbind(),
                Outcome::Cancelled,
            );
        } else if !this.is_done() {
            this.stop_requested.store(true, Ordering::Release);
        }
        won
    }

    /// True if `cancel()` stopped this task before it started.
    fn cancelled(&self) -> bool {
        self.stage.load(Ordering::Acquire) == CANCELLED
    }

    /// Resolves a promise made by `followup._followups` with a value (False if already
    /// resolved or cancelled).
    fn _set_result(slf: &Bound<'_, Self>, value: Py<PyAny>) -> bool {
        Self::settle_promise(slf, Outcome::Value(value))
    }

    /// Resolves a promise made by `followup._followups` with an exception.
    fn _set_exception(slf: &Bound<'_, Self>, exception: Bound<'_, PyAny>) -> bool {
        Self::settle_promise(slf, Outcome::Error(PyErr::from_value(exception)))
    }

    /// Issues `func(*args)` on this result's pool (for followup's Python layer).
    #[pyo3(signature = (func, args, callback=None, error_callback=None))]
    fn _submit(
        slf: &Bound<'_, Self>,
        func: Py<PyAny>,
        args: Py<PyAny>,
        callback: Option<Py<PyAny>>,
        error_callback: Option<Py<PyAny>>,
    ) -> PyResult<Py<AsyncResult>> {
        let call = crate::call::Call {
            func,
            args,
            kwds: None,
        };
        let callbacks = Callbacks::new(callback, error_callback);
        crate::apply::submit(slf.py(), &slf.get().pool, call, callbacks)
    }

    /// A promise on this result's pool (for followup's Python layer).
    fn _promise(slf: &Bound<'_, Self>) -> PyResult<Py<AsyncResult>> {
        let pool = &slf.get().pool;
        pool.check_running()?;
        let promise = Py::new(
            slf.py(),
            AsyncResult::pending(Kind::Promise, Callbacks::default(), pool),
        )?;
        pool.start_one();
        Ok(promise)
    }

    /// The result of `fn(value)`, run as a task of its own once this one succeeds; an
    /// exception passes through without calling `fn`.
    fn map(slf: &Bound<'_, Self>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("map", (slf, func))?
            .unbind())
    }

    /// The result of `fn(result)`, run as a task of its own once this one is ready, whatever
    /// its outcome (`fn` gets this ready result and may call `get()`).
    fn then(slf: &Bound<'_, Self>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("then", (slf, func))?
            .unbind())
    }

    /// On failure, the result of `fn(exception)` run as a task; a value passes through.
    fn recover(slf: &Bound<'_, Self>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("recover", (slf, func))?
            .unbind())
    }

    /// `fn(value)` issues a follow-up and returns its `AsyncResult`; the returned result is
    /// that follow-up's (flattened).
    fn and_then(slf: &Bound<'_, Self>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("and_then", (slf, func))?
            .unbind())
    }

    /// The tutorial's conditional follow-up: once this succeeds, if `test(value)`, the
    /// result of `fn(value)` run as a task; otherwise None.
    fn when(slf: &Bound<'_, Self>, test: Py<PyAny>, func: Py<PyAny>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("when", (slf, test, func))?
            .unbind())
    }

    /// A deadline on the work itself: the returned result fails with
    /// `followup.DeadlineExceeded` if this one is not ready within `seconds`, and the work
    /// is cancelled (or, if running, asked to stop). Compare `get(timeout)`, which only
    /// gives up waiting.
    fn timeout(slf: &Bound<'_, Self>, seconds: f64) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("deadline", (slf, seconds))?
            .unbind())
    }

    /// A `concurrent.futures.Future` that completes with this result, for
    /// `concurrent.futures.wait`/`as_completed` and `asyncio.wrap_future`.
    fn as_future(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("as_future", (slf,))?
            .unbind())
    }

    /// `await result` in asyncio code.
    fn __await__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Ok(followups(slf.py())?
            .call_method1("await_result", (slf,))?
            .unbind())
    }
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
    fn wait(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<()> {
        Self::wait_for(slf, timeout).map(|_| ())
    }

    /// The value, once ready. Raises the task's exception if it failed, and
    /// `multiprocessing.TimeoutError` if `timeout` seconds pass first (the task goes on).
    #[pyo3(signature = (timeout=None))]
    fn get(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        Self::get_value(slf, timeout)
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
