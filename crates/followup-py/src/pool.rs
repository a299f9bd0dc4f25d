//! `Pool`: the core of `followup.ThreadPool` (the Python subclass adds the context manager,
//! `__repr__`, `__del__`'s `ResourceWarning` and `_pool`). The hot paths (`apply_async`,
//! `map_async`, `imap`, `get`) are here so a task costs no Python-level frames of ours.

use crate::apply;
use crate::call::{as_tuple, Call};
use crate::errors;
use crate::exit;
use crate::gil;
use crate::imap::{self, IMapIterator};
use crate::map::{default_chunksize, MapChunk, MapState};
use crate::result::{AsyncResult, Callbacks, Kind, Outcome};
use crate::shared::{complete, lock, state_name, Shared, CLOSE, RUN, TERMINATE};
use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The stack size of worker threads when `threading.stack_size()` is 0 (the platform's):
/// Python threads get the platform default (8 MiB on Linux), Rust's is only 2 MiB.
const DEFAULT_STACK: usize = 8 << 20;

fn next_pool_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The engine-backed core of `followup.ThreadPool`. Use `followup.ThreadPool`.
#[pyclass(
    subclass,
    frozen,
    weakref,
    module = "followup._followup",
    name = "Pool"
)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

/// Python's `ThreadPool(processes)`: `None` is `os.cpu_count() or 1`; fewer than 1 is a
/// `ValueError`.
fn worker_count(py: Python<'_>, processes: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let n: i64 = match processes {
        None => {
            let n = py.import("os")?.call_method0("cpu_count")?;
            if n.is_none() {
                1
            } else {
                n.extract()?
            }
        }
        Some(p) if p.is_none() => return worker_count(py, None),
        Some(p) => py
            .import("operator")?
            .call_method1("index", (p,))?
            .extract()
            .map_err(|_| PyValueError::new_err("Number of processes is too large"))?,
    };
    if n < 1 {
        return Err(PyValueError::new_err(
            "Number of processes must be at least 1",
        ));
    }
    usize::try_from(n).map_err(|_| PyValueError::new_err("Number of processes is too large"))
}

fn stack_size(py: Python<'_>) -> PyResult<usize> {
    let s: usize = py
        .import("threading")?
        .call_method0("stack_size")?
        .extract()?;
    Ok(if s == 0 { DEFAULT_STACK } else { s })
}

impl Pool {
    fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// `map_async` and `starmap_async`.
    #[allow(clippy::too_many_arguments)]
    fn submit_map(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: Option<isize>,
        callback: Option<Py<PyAny>>,
        error_callback: Option<Py<PyAny>>,
        star: bool,
    ) -> PyResult<Py<AsyncResult>> {
        let pool = self.shared();
        pool.check_running()?;
        // The whole input is read here, on the caller's thread (Python does the same for
        // inputs without `__len__`; an input that raises makes `map` itself raise).
        let items: Vec<Py<PyAny>> = iterable
            .try_iter()?
            .map(|r| r.map(Bound::unbind))
            .collect::<PyResult<_>>()?;
        let chunksize = match chunksize {
            None => default_chunksize(items.len(), pool.workers),
            Some(c) if c < 1 => {
                return Err(PyValueError::new_err(format!(
                    "Chunksize must be 1+, not {c}"
                )))
            }
            Some(c) => c as usize,
        };
        let result = Py::new(
            py,
            AsyncResult::pending(Kind::Map, Callbacks::new(callback, error_callback), pool),
        )?;
        pool.start_one();
        if items.is_empty() {
            // Unlike Python, the callback is called (with an empty list): every job resolves
            // the same way.
            let empty = PyList::empty(py).into_any().unbind();
            complete(Some(py), pool, result.clone_ref(py), Outcome::Value(empty));
            return Ok(result);
        }
        let values = PyList::new(py, (0..items.len()).map(|_| py.None()))?.unbind();
        let chunks = items.len().div_ceil(chunksize);
        let state = Arc::new(MapState::new(
            func,
            star,
            values,
            chunks,
            result.clone_ref(py),
            Arc::clone(pool),
        ));
        let mut items = items.into_iter();
        for c in 0..chunks {
            let chunk: Vec<_> = items.by_ref().take(chunksize).collect();
            let job = MapChunk::new(chunk, c * chunksize, Arc::clone(&state));
            // A refused chunk (the pool was terminated meanwhile) is dropped unrun, and its
            // Drop reports PoolTerminated, so the result still resolves.
            let _ = pool.spawn(move || job.run());
        }
        Ok(result)
    }

    fn submit_imap(
        &self,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: isize,
        ordered: bool,
        star: bool,
    ) -> PyResult<IMapIterator> {
        let pool = self.shared();
        pool.check_running()?;
        if chunksize < 1 {
            return Err(PyValueError::new_err(format!(
                "Chunksize must be 1+, not {chunksize}"
            )));
        }
        let iter = iterable.try_iter()?.unbind();
        imap::start(pool, func, iter, chunksize as usize, ordered, star)
    }
}

#[pymethods]
impl Pool {
    #[new]
    #[pyo3(signature = (processes=None, initializer=None, initargs=None, *, parallel_callbacks=false))]
    fn new(
        py: Python<'_>,
        processes: Option<Bound<'_, PyAny>>,
        initializer: Option<Py<PyAny>>,
        initargs: Option<Py<PyAny>>,
        parallel_callbacks: bool,
    ) -> PyResult<Pool> {
        let workers = worker_count(py, processes.as_ref())?;
        if let Some(f) = &initializer {
            if !f.bind(py).is_callable() {
                return Err(PyTypeError::new_err("initializer must be a callable"));
            }
        }
        let init = match initializer {
            Some(func) => {
                let args = match initargs {
                    Some(a) => as_tuple(a.bind(py))?.into_any().unbind(),
                    None => PyTuple::empty(py).into_any().unbind(),
                };
                Some(Call {
                    func,
                    args,
                    kwds: None,
                })
            }
            None => None,
        };
        let id = next_pool_id();
        let init_error: Arc<Mutex<Option<PyErr>>> = Arc::default();
        let seen = Arc::clone(&init_error);
        let builder = followup::ThreadPool::builder()
            .workers(workers)
            .thread_name_prefix("followup-py-")
            .stack_size(stack_size(py)?)
            .on_idle(|_worker| gil::release_idle())
            .initializer(move |_worker| {
                crate::shared::set_inside(id);
                crate::shared::set_worker(id);
                gil::pin_thread_state();
                if let Some(call) = &init {
                    gil::attach(|py| {
                        if let Err(e) = call.invoke(py) {
                            lock(&seen).get_or_insert(e);
                        }
                    });
                }
            });
        // The initializers attach to the interpreter: build with the GIL released.
        let engine = py
            .detach(|| builder.build())
            .map_err(|e| PyRuntimeError::new_err(format!("can't start the pool: {e}")))?;
        let failed = lock(&init_error).take();
        if let Some(err) = failed {
            // Python's pool would hang with dead workers; refuse to build instead.
            py.detach(|| {
                engine.terminate();
                let _ = engine.join();
            });
            return Err(err);
        }
        let shared = Arc::new(Shared::new(id, engine, workers, parallel_callbacks));
        exit::register(&shared);
        Ok(Pool { shared })
    }

    /// Calls `func(*args, **kwds)` on a worker and returns its value (raises its exception).
    #[pyo3(signature = (func, args=None, kwds=None))]
    fn apply(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Option<Py<PyAny>>,
        kwds: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let r = self.apply_async(py, func, args, kwds, None, None)?;
        AsyncResult::get_value(r.bind(py), None)
    }

    /// Issues `func(*args, **kwds)` and returns its `AsyncResult` at once. `callback` or
    /// `error_callback` runs with the value or the exception before the result is ready.
    #[pyo3(signature = (func, args=None, kwds=None, callback=None, error_callback=None))]
    fn apply_async(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        args: Option<Py<PyAny>>,
        kwds: Option<Py<PyAny>>,
        callback: Option<Py<PyAny>>,
        error_callback: Option<Py<PyAny>>,
    ) -> PyResult<Py<AsyncResult>> {
        let callbacks = Callbacks::new(callback, error_callback);
        let call = Call {
            func,
            args: args.unwrap_or_else(|| PyTuple::empty(py).into_any().unbind()),
            kwds,
        };
        apply::submit(py, self.shared(), call, callbacks)
    }

    /// `map_async(func, iterable).get()`: the values in input order.
    #[pyo3(signature = (func, iterable, chunksize=None))]
    fn map(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: Option<isize>,
    ) -> PyResult<Py<PyAny>> {
        let r = self.submit_map(py, func, iterable, chunksize, None, None, false)?;
        AsyncResult::get_value(r.bind(py), None)
    }

    /// Applies `func` to every item on the workers; one `AsyncResult` for the list.
    #[pyo3(signature = (func, iterable, chunksize=None, callback=None, error_callback=None))]
    fn map_async(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: Option<isize>,
        callback: Option<Py<PyAny>>,
        error_callback: Option<Py<PyAny>>,
    ) -> PyResult<Py<AsyncResult>> {
        self.submit_map(
            py,
            func,
            iterable,
            chunksize,
            callback,
            error_callback,
            false,
        )
    }

    /// Like `map`, but each item is unpacked as arguments: `func(*item)`.
    #[pyo3(signature = (func, iterable, chunksize=None))]
    fn starmap(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: Option<isize>,
    ) -> PyResult<Py<PyAny>> {
        let r = self.submit_map(py, func, iterable, chunksize, None, None, true)?;
        AsyncResult::get_value(r.bind(py), None)
    }

    /// Like `map_async`, but each item is unpacked as arguments: `func(*item)`.
    #[pyo3(signature = (func, iterable, chunksize=None, callback=None, error_callback=None))]
    fn starmap_async(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: Option<isize>,
        callback: Option<Py<PyAny>>,
        error_callback: Option<Py<PyAny>>,
    ) -> PyResult<Py<AsyncResult>> {
        self.submit_map(
            py,
            func,
            iterable,
            chunksize,
            callback,
            error_callback,
            true,
        )
    }

    /// A lazy iterator of `func(item)` in input order.
    #[pyo3(signature = (func, iterable, chunksize=1))]
    fn imap(
        &self,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: isize,
    ) -> PyResult<IMapIterator> {
        self.submit_imap(func, iterable, chunksize, true, false)
    }

    /// A lazy iterator of `func(item)` in completion order.
    #[pyo3(signature = (func, iterable, chunksize=1))]
    fn imap_unordered(
        &self,
        func: Py<PyAny>,
        iterable: &Bound<'_, PyAny>,
        chunksize: isize,
    ) -> PyResult<IMapIterator> {
        self.submit_imap(func, iterable, chunksize, false, false)
    }

    /// Stops accepting work from outside the pool. Tasks and callbacks of this pool may still
    /// issue follow-ups, and `join()` waits for them.
    fn close(&self) {
        self.shared().close();
    }

    /// A snapshot of the engine's always-on counters, as a dict: jobs `submitted`,
    /// `completed`, `panicked` (a Rust-level panic; a Python exception is a completed job
    /// whose result raises), `cancelled` (cancelled before starting, or given up by
    /// `terminate`), `queued`, `running`, and `workers`, one dict per worker thread with the
    /// jobs it `executed`, its `steals` and `parks`. A job is one engine task: an
    /// `apply_async` call, one chunk of a map, one streaming runner.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.shared().engine().stats();
        let workers = PyList::empty(py);
        for w in &s.workers {
            let d = PyDict::new(py);
            d.set_item("executed", w.executed)?;
            d.set_item("steals", w.steals)?;
            d.set_item("parks", w.parks)?;
            workers.append(d)?;
        }
        let d = PyDict::new(py);
        d.set_item("submitted", s.submitted)?;
        d.set_item("completed", s.completed)?;
        d.set_item("panicked", s.panicked)?;
        d.set_item("cancelled", s.cancelled)?;
        d.set_item("queued", s.queued)?;
        d.set_item("running", s.running)?;
        d.set_item("workers", workers)?;
        Ok(d)
    }

    /// Gives up all queued work (its results raise `PoolTerminated`); running tasks finish.
    fn terminate(&self, py: Python<'_>) {
        self.shared().terminate(py);
    }

    /// After `close()`: waits for every job, its callbacks and follow-ups, then for the
    /// threads. After `terminate()`: waits for the running tasks.
    fn join(&self, py: Python<'_>) -> PyResult<()> {
        let pool = self.shared();
        if pool.state() == RUN {
            return Err(errors::still_running());
        }
        if pool.is_inside() {
            return Err(errors::join_from_inside());
        }
        pool.wait_quiet(py, None)?;
        pool.shut_down(py)
    }

    /// A pending result that followup's Python layer resolves (continuations, fan-in,
    /// deadlines). It counts for `join()` until resolved, like a task.
    fn _promise(&self, py: Python<'_>) -> PyResult<Py<AsyncResult>> {
        let pool = self.shared();
        pool.check_running()?;
        let promise = Py::new(
            py,
            AsyncResult::pending(Kind::Promise, Callbacks::default(), pool),
        )?;
        pool.start_one();
        Ok(promise)
    }

    /// Raises `ValueError("Pool not running")` unless the pool accepts work from here.
    fn _check_running(&self) -> PyResult<()> {
        self.shared().check_running()
    }

    /// "RUN", "CLOSE" or "TERMINATE", as `multiprocessing.pool`'s constants.
    #[getter(_state)]
    fn get_state(&self) -> &'static str {
        state_name(self.shared().state())
    }

    #[setter(_state)]
    fn set_state(&self, state: &str) -> PyResult<()> {
        let s = match state {
            "RUN" => RUN,
            "CLOSE" => CLOSE,
            "TERMINATE" => TERMINATE,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown pool state {other:?}"
                )))
            }
        };
        self.shared().set_state(s);
        Ok(())
    }

    /// The number of worker threads.
    #[getter(_processes)]
    fn processes(&self) -> usize {
        self.shared().workers
    }

    /// True once `join()` has returned and the worker threads are gone.
    fn _workers_alive(&self) -> bool {
        !self.shared().is_shut_down()
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyNotImplementedError::new_err(
            "pool objects cannot be passed between processes or pickled",
        ))
    }
}
