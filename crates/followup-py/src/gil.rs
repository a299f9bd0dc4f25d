//! The interpreter, seen from threads the engine owns: one pinned thread state per thread,
//! waits that release the GIL and still notice Ctrl-C, and the exit flag.
//!
//! Two traps a prototype hit shape this file (see `python-binding.md`): attaching a thread
//! to the interpreter afresh for every task (creating and destroying a `PyThreadState`) costs
//! more than the task, and a Rust thread that touches the interpreter while it finalizes
//! aborts the process. So every pool thread pins one thread state when it starts and drops it
//! when it ends, and nothing attaches once the exit hook has run.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::cell::RefCell;
use std::os::raw::c_ulong;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set by the exit hook once every pool has stopped: from then on no pool thread attaches to
/// the interpreter (it may already be finalizing), and pinned thread states are leaked.
static EXITING: AtomicBool = AtomicBool::new(false);

/// How often a wait on the main thread wakes to run signal handlers: Ctrl-C is seen within
/// this slice (the target is 100 ms). Other threads never receive signals and wait in one go.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

pub(crate) fn set_exiting() {
    EXITING.store(true, Ordering::SeqCst);
}

/// True while pool threads may attach to the interpreter.
pub(crate) fn interpreter_usable() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, from any thread.
    !EXITING.load(Ordering::SeqCst) && unsafe { ffi::Py_IsInitialized() } != 0
}

/// A thread state created once for a thread the engine owns, held detached between uses so
/// that each `Python::attach` on this thread only takes the GIL.
struct PinnedThreadState {
    gstate: ffi::PyGILState_STATE,
    tstate: *mut ffi::PyThreadState,
}

impl Drop for PinnedThreadState {
    fn drop(&mut self) {
        // At thread exit. After the exit hook the interpreter may be finalizing, and taking
        // the GIL then could end this thread inside Rust frames: leak the state instead.
        let held = HELD.with(|h| h.replace(false));
        if interpreter_usable() {
            // SAFETY: `tstate` is this thread's own state, saved by `pin_thread_state` (or
            // by `release_idle`); unless this worker still holds the GIL (`held`), it is not
            // current, so it is restored first; releasing the matching `PyGILState_Ensure`
            // then deletes it.
            unsafe {
                if !held {
                    ffi::PyEval_RestoreThread(self.tstate);
                }
                ffi::PyGILState_Release(self.gstate);
            }
        }
    }
}

thread_local! {
    static PINNED: RefCell<Option<PinnedThreadState>> = const { RefCell::new(None) };
    /// A worker keeps the GIL across its consecutive tasks (taken by `attach_worker`, given
    /// back by `release_idle` when the worker runs out of work): two busy workers then hand
    /// the GIL over at Python's switch interval, not once per task.
    static HELD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `attach` for a task on a worker: takes the GIL if this worker does not hold it already,
/// and keeps it afterwards (see `HELD`).
pub(crate) fn attach_worker<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if !interpreter_usable() {
        return None;
    }
    if !HELD.with(|h| h.get()) {
        let restored = PINNED.with(|p| match p.borrow().as_ref() {
            // SAFETY: the pinned state is this thread's own, detached (not HELD), so
            // restoring it takes the GIL for this thread, as `PyEval_RestoreThread` requires.
            Some(pinned) => unsafe {
                ffi::PyEval_RestoreThread(pinned.tstate);
                true
            },
            None => false,
        });
        if !restored {
            return attach(f);
        }
        HELD.with(|h| h.set(true));
    }
    // The thread state is current and holds the GIL: PyO3's attach only counts.
    Python::try_attach(f)
}

/// The worker ran out of work: give the GIL back (the engine's idle hook).
pub(crate) fn release_idle() {
    if HELD.with(|h| h.replace(false)) {
        PINNED.with(|p| {
            if let Some(pinned) = p.borrow_mut().as_mut() {
                // SAFETY: HELD means this thread's pinned state is current and holds the GIL
                // (taken by `attach_worker`, no PyO3 attach open: this runs between tasks).
                pinned.tstate = unsafe { ffi::PyEval_SaveThread() };
            }
        });
    }
}

/// Gives the calling thread a thread state for the rest of its life, released when the thread
/// ends. Call it before the thread first attaches, without holding the GIL.
pub(crate) fn pin_thread_state() {
    PINNED.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_some() || !interpreter_usable() {
            return;
        }
        // SAFETY: the interpreter is initialized and this thread does not hold the GIL (it is
        // a fresh thread of ours); `PyGILState_Ensure` creates its thread state and takes the
        // GIL, `PyEval_SaveThread` releases the GIL and keeps the state for later attaches.
        let pinned = unsafe {
            let gstate = ffi::PyGILState_Ensure();
            let tstate = ffi::PyEval_SaveThread();
            PinnedThreadState { gstate, tstate }
        };
        *p = Some(pinned);
    });
}

/// Runs `f` attached to the interpreter, unless it can no longer be used (then `None`).
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    if !interpreter_usable() {
        return None;
    }
    Python::try_attach(f)
}

/// Converts a Python timeout in seconds (`None` = no limit) to a deadline. Negative means
/// "do not wait"; a timeout too large for the clock means no limit, as in `threading`.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    let Some(secs) = timeout else {
        return Ok(None);
    };
    if secs.is_nan() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "timeout must be a number of seconds or None, not NaN",
        ));
    }
    let secs = secs.max(0.0);
    Ok(Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| Instant::now().checked_add(d)))
}

/// True on the interpreter's main thread, the only one that runs signal handlers.
fn on_main_thread(py: Python<'_>) -> bool {
    static MAIN_IDENT: PyOnceLock<Option<c_ulong>> = PyOnceLock::new();
    let main = MAIN_IDENT.get_or_init(py, || {
        let ident = || -> PyResult<c_ulong> {
            py.import("threading")?
                .call_method0("main_thread")?
                .getattr("ident")?
                .extract()
        };
        ident().ok()
    });
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's id.
    let current = unsafe { ffi::PyThread_get_thread_ident() };
    *main == Some(current)
}

/// Waits with the GIL released until `wait_for` reports done or `until` passes; true if done.
///
/// `wait_for(limit)` blocks for at most `limit` (`None`: until done) and returns whether the
/// awaited event happened. On the main thread the wait is cut into slices so that Ctrl-C
/// raises `KeyboardInterrupt` promptly (Python's own waits behave the same).
pub(crate) fn wait_releasing<F>(
    py: Python<'_>,
    until: Option<Instant>,
    wait_for: F,
) -> PyResult<bool>
where
    F: Fn(Option<Duration>) -> bool + Send + Sync,
{
    let sliced = on_main_thread(py);
    loop {
        let remaining = match until {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(wait_for(Some(Duration::ZERO)));
                }
                Some(d - now)
            }
            None => None,
        };
        let limit = if sliced {
            Some(remaining.map_or(SIGNAL_SLICE, |r| r.min(SIGNAL_SLICE)))
        } else {
            remaining
        };
        if py.detach(|| wait_for(limit)) {
            return Ok(true);
        }
        if sliced {
            py.check_signals()?;
        }
    }
}
