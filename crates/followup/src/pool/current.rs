//! Issuing follow-ups on "the pool this task runs on", without carrying a handle (as
//! `rayon::spawn` does): the cheapest follow-up path.

use crate::engine::with_current_engine;
use crate::error::{Error, Result};
use crate::task::issue::{issue, issue_detached};
use crate::task::{AsyncResult, Callbacks};

/// Issues `f` as a follow-up on the pool whose task, callback or continuation is running on
/// this thread, and returns its handle. Outside a pool thread: [`Error::NotInPool`].
///
/// ```
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let h = pool.apply_async(|| followup::follow_up(|| 21).unwrap().map(|v| v * 2)).unwrap();
/// assert_eq!(h.get().unwrap().get(), Ok(42));
/// assert_eq!(followup::follow_up(|| 1).unwrap_err(), followup::Error::NotInPool);
/// ```
pub fn follow_up<T, F>(f: F) -> Result<AsyncResult<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    with_current_engine(|engine| match engine {
        Some(engine) => issue(engine, f, Callbacks::new(), None),
        None => Err(Error::NotInPool),
    })
}

/// Issues `f` without a handle on the pool whose task is running on this thread (fire and
/// forget, like `rayon::spawn`). It counts for `join` and for the running task's group.
/// Outside a pool thread: [`Error::NotInPool`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static RAN: AtomicUsize = AtomicUsize::new(0);
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// pool.spawn(|| {
///     followup::spawn(|| { RAN.fetch_add(1, Ordering::SeqCst); }).unwrap();
/// }).unwrap();
/// pool.close();
/// pool.join().unwrap();
/// assert_eq!(RAN.load(Ordering::SeqCst), 1);
/// ```
pub fn spawn<F>(f: F) -> Result<()>
where
    F: FnOnce() + Send + 'static,
{
    with_current_engine(|engine| match engine {
        Some(engine) => issue_detached(engine, f, None),
        None => Err(Error::NotInPool),
    })
}
