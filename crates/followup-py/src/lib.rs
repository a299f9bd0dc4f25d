//! `followup._followup`: the PyO3 core of the Python package `followup`, a drop-in for
//! `multiprocessing.pool.ThreadPool` on the `followup` engine.
//!
//! Layout, one job per module:
//! - `pool`: the `Pool` class (submission, close/terminate/join), subclassed in Python by
//!   `followup.ThreadPool`;
//! - `shared`: one pool's state, the counting rule that makes `join` exact, the serial
//!   callback lane;
//! - `result`: `AsyncResult` and the callbacks' rules; `apply`, `map`, `imap`: the jobs;
//! - `call`: calling user functions as `multiprocessing.pool` does;
//! - `gil`: pinned thread states and waits that release the GIL and see Ctrl-C;
//! - `exit`: stopping pools at interpreter exit; `errors`: the exceptions raised.
//!
//! Arrows point one way: `pool` → jobs → `shared` → `result` → `gil`, and everything reaches
//! the engine only through the `followup` crate's public API.

mod apply;
mod call;
mod errors;
mod exit;
mod gil;
mod imap;
mod map;
mod pool;
mod result;
mod shared;

use pyo3::prelude::*;

/// True inside a task whose `cancel()` was called while it was running: long tasks may poll
/// it and stop early. False outside tasks.
#[pyfunction]
fn is_cancelled() -> bool {
    apply::current::is_cancelled()
}

/// The core module; `import followup` is the public face.
#[pymodule]
fn _followup(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<pool::Pool>()?;
    m.add_class::<result::AsyncResult>()?;
    m.add_class::<imap::IMapIterator>()?;
    m.add_function(wrap_pyfunction!(exit::_shutdown_all, m)?)?;
    m.add_function(wrap_pyfunction!(is_cancelled, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
