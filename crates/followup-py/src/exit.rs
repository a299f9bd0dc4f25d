//! Interpreter exit with pools still open: the hook that stops them while the interpreter is
//! whole, so no pool thread is inside Python when it finalizes (a Rust thread that touches a
//! finalizing interpreter can abort the process).
//!
//! `followup/__init__.py` registers [`shutdown_all`] with `threading._register_atexit`, the
//! hook `concurrent.futures` uses: it runs before `atexit` callbacks and before non-daemon
//! threads are joined. Like Python's own exit handling of pools, it terminates them (queued
//! work is dropped); like `concurrent.futures`, it waits for the tasks already running.

use crate::gil;
use crate::shared::{lock, Shared};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

/// Every pool whose core is alive.
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Threads joining the engines of pools whose core was dropped.
static REAPERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

pub(crate) fn register(pool: &Arc<Shared>) {
    let mut live = lock(&LIVE);
    live.retain(|p| p.strong_count() > 0);
    live.push(Arc::downgrade(pool));
}

/// Closes `engine` and joins its workers on a thread of its own (see `Shared`'s `Drop`).
pub(crate) fn reap(engine: followup::ThreadPool) {
    let mut reapers = lock(&REAPERS);
    reapers.retain(|h| !h.is_finished());
    match std::thread::Builder::new()
        .name("followup-reaper".into())
        .spawn(move || drop(engine))
    {
        Ok(h) => reapers.push(h),
        // No thread to be had: close without waiting; the workers exit once idle.
        Err(e) => eprintln!("followup: could not start a thread to join a dropped pool: {e}"),
    }
}

/// Stops every open pool before the interpreter finalizes: terminates it, waits for its
/// running tasks and callbacks, and joins its threads. Called once, at exit.
#[pyfunction]
pub(crate) fn _shutdown_all(py: Python<'_>) -> PyResult<()> {
    let pools: Vec<Arc<Shared>> = lock(&LIVE).iter().filter_map(Weak::upgrade).collect();
    for pool in &pools {
        pool.terminate(py);
    }
    for pool in &pools {
        pool.wait_quiet(py, None)?;
        pool.shut_down(py)?;
    }
    drop(pools);
    let reapers: Vec<_> = lock(&REAPERS).drain(..).collect();
    py.detach(|| {
        for h in reapers {
            let _ = h.join();
        }
    });
    gil::set_exiting();
    Ok(())
}
