//! The Python-style façade: [`ThreadPool`] with `apply`, `apply_async`, `map`, `map_async`,
//! `imap`, `imap_unordered`, `close`, `join`, `terminate`.

mod builder;
mod current;
mod imap;
mod map;

pub use builder::ThreadPoolBuilder;
pub use current::{follow_up, spawn};
pub use imap::{Imap, ImapOptions, ImapUnordered};
pub use map::MapOptions;

use crate::engine::{Engine, EngineConfig};
use crate::error::Result;
use crate::followups::{fan_in, AsCompleted, TaskGroup};
use crate::task::issue::{issue, issue_detached};
use crate::task::{AsyncResult, Callbacks, Scheduler};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A pool of worker threads for ad hoc tasks and their follow-ups.
///
/// A cheap `Clone` handle (`Send + Sync`): tasks and callbacks can carry a clone to issue
/// follow-ups. Work issued from inside the pool (a running task, a callback, a continuation)
/// is a follow-up and is accepted even after [`close`](Self::close), so `close()` + `join()`
/// waits for the whole follow-up tree.
///
/// Dropping the last handle closes the pool and waits for the work it accepted (nothing is
/// lost; Python's `with` block terminates instead). If the last handle is dropped on one of
/// the pool's own threads, the pool is closed and its threads exit once the work is done,
/// without waiting there; likewise on a thread that still holds an unfinished `imap` of it.
///
/// ```
/// use followup::ThreadPool;
///
/// let pool = ThreadPool::with_workers(4).unwrap();
/// assert_eq!(pool.apply(|| 1 + 1).unwrap(), 2);
/// assert_eq!(pool.map(|x: u64| x * x, 1..=4).unwrap(), vec![1, 4, 9, 16]);
/// // starmap is map over tuples:
/// assert_eq!(pool.map(|(a, b): (i32, i32)| a.pow(b as u32), vec![(2, 3), (3, 2)]).unwrap(), vec![8, 9]);
/// pool.close();
/// pool.join().unwrap();
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    handle: Arc<PoolHandle>,
}

/// The user-facing owner of the engine: its drop is "the last `ThreadPool` handle went away".
/// Workers and result handles hold the engine directly, so they do not keep the pool open.
struct PoolHandle {
    scheduler: Scheduler,
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        let engine = self.scheduler.engine();
        engine.close();
        // Waiting here would wait for ourselves on a pool thread, or on a thread that still
        // holds an unfinished `imap` of this pool (only it can pull the rest of the input).
        if !engine.on_own_worker() && !imap::holds_live_stream(engine) {
            let _ = engine.join(None);
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.engine();
        let state = if e.is_terminated() {
            "TERMINATE"
        } else if e.is_closed() {
            "CLOSE"
        } else {
            "RUN"
        };
        f.debug_struct("ThreadPool")
            .field("state", &state)
            .field("workers", &e.workers())
            .finish()
    }
}

impl ThreadPool {
    /// A pool with one worker per available core.
    pub fn new() -> Result<ThreadPool> {
        ThreadPoolBuilder::new().build()
    }

    /// A pool with `n` workers; zero is an [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    pub fn with_workers(n: usize) -> Result<ThreadPool> {
        ThreadPoolBuilder::new().workers(n).build()
    }

    /// A builder for thread names, stack size and a per-worker initializer.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    fn start(config: EngineConfig) -> Result<ThreadPool> {
        let engine = Engine::start(config)?;
        Ok(ThreadPool {
            handle: Arc::new(PoolHandle {
                scheduler: Scheduler::new(engine),
            }),
        })
    }

    /// The engine, for construction and lifecycle (and, for now, the holds of `map` and `imap`).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        self.handle.scheduler.engine()
    }

    /// What the follow-up layer builds on: this pool, seen through the task layer.
    fn scheduler(&self) -> &Scheduler {
        &self.handle.scheduler
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.engine().workers()
    }

    /// True once [`close`](Self::close) or [`terminate`](Self::terminate) was called.
    pub fn is_closed(&self) -> bool {
        self.engine().is_closed()
    }

    /// True once [`terminate`](Self::terminate) was called.
    pub fn is_terminated(&self) -> bool {
        self.engine().is_terminated()
    }

    /// Runs `f` on the pool and waits for its result (Python's `apply`). Called from inside a
    /// pool task, it runs `f` right there instead of deadlocking.
    pub fn apply<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.apply_async(f)?.get()
    }

    /// Issues `f` and returns a handle to its result (Python's `apply_async`; capture the
    /// arguments in the closure). Refused with [`Error::Closed`](crate::Error::Closed) after
    /// `close()` unless issued from inside the pool.
    pub fn apply_async<T, F>(&self, f: F) -> Result<AsyncResult<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        issue(self.engine(), f, Callbacks::new(), None)
    }

    /// [`apply_async`](Self::apply_async) with a success and/or error callback, which run on
    /// the completing worker before the handle reports ready.
    pub fn apply_async_with<T, F>(&self, f: F, callbacks: Callbacks<T>) -> Result<AsyncResult<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        issue(self.engine(), f, callbacks, None)
    }

    /// Issues `f` without a handle (fire and forget). It still counts for `join` and for the
    /// group of the task that issued it; a panic is reported by the panic hook and, inside a
    /// group, by the group's `wait`.
    pub fn spawn<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        issue_detached(self.engine(), f, None)
    }

    /// A snapshot of what the pool has done: jobs submitted, completed, panicked, cancelled,
    /// queued and running, and per worker the jobs it started, its steals and its parks. The
    /// counters are always on and cost no shared write on the follow-up path (see
    /// [`PoolStats`](crate::PoolStats)).
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let p = pool.clone();
    /// pool.apply(move || p.spawn(|| ()).unwrap()).unwrap(); // a task and its follow-up
    /// pool.close();
    /// pool.join().unwrap(); // quiet: every count is final
    /// let stats = pool.stats();
    /// assert_eq!((stats.submitted, stats.completed), (2, 2));
    /// assert_eq!((stats.queued, stats.running), (0, 0));
    /// assert_eq!(stats.workers.iter().map(|w| w.executed).sum::<u64>(), 2);
    /// ```
    pub fn stats(&self) -> crate::PoolStats {
        self.engine().stats()
    }

    /// A new [`TaskGroup`]: wait for a growing tree of work without closing the pool.
    pub fn group(&self) -> TaskGroup {
        TaskGroup::new(self.scheduler().clone())
    }

    /// A new, empty [`AsCompleted`] set: results in completion order, and you can add to it
    /// while iterating.
    pub fn as_completed<T: Send + 'static>(&self) -> AsCompleted<T> {
        AsCompleted::new(self.scheduler().clone())
    }

    /// Stops accepting work from outside the pool (Python's `close`). Work already accepted,
    /// and follow-ups it issues, still run. Idempotent, never blocks.
    pub fn close(&self) {
        self.engine().close();
    }

    /// Gives up all work that has not started: each such handle resolves to
    /// [`Error::Terminated`](crate::Error::Terminated) and its error callback is told. Tasks
    /// already running finish (threads cannot be killed); `join` then waits only for them.
    /// Returns promptly.
    pub fn terminate(&self) {
        self.engine().terminate();
    }

    /// After `close()`: waits until every accepted task and every follow-up is done, then for
    /// every worker thread to exit. After `terminate()`: waits for the running tasks.
    ///
    /// Errors instead of hanging: [`Error::StillRunning`](crate::Error::StillRunning) before
    /// `close`/`terminate`, [`Error::JoinFromWorker`](crate::Error::JoinFromWorker) on one of
    /// the pool's threads.
    pub fn join(&self) -> Result<()> {
        self.check_streams()?;
        self.engine().join(None)
    }

    fn check_streams(&self) -> Result<()> {
        if imap::holds_stream(self.engine()) {
            return Err(crate::Error::UnfinishedStream);
        }
        Ok(())
    }

    /// [`join`](Self::join) that gives up after `timeout` with
    /// [`Error::Timeout`](crate::Error::Timeout); it can be called again.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.check_streams()?;
        self.engine().join(Some(timeout))
    }

    /// One handle to every value, in input order. The first error (in completion order)
    /// resolves it at once and cancels the inputs that have not started.
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let hs = (1..=3).map(|i| pool.apply_async(move || i * i).unwrap()).collect();
    /// assert_eq!(pool.all(hs).get(), Ok(vec![1, 4, 9]));
    /// ```
    pub fn all<T: Send + 'static>(&self, handles: Vec<AsyncResult<T>>) -> AsyncResult<Vec<T>> {
        fan_in::all(self.scheduler(), handles)
    }

    /// One handle to every outcome, in input order; it never fails.
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let hs = vec![pool.apply_async(|| 1).unwrap(), pool.apply_async(|| panic!("x")).unwrap()];
    /// let all = pool.all_settled(hs).get().unwrap();
    /// assert_eq!(all[0], Ok(1));
    /// assert!(all[1].as_ref().unwrap_err().is_panic());
    /// ```
    pub fn all_settled<T: Send + 'static>(
        &self,
        handles: Vec<AsyncResult<T>>,
    ) -> AsyncResult<Vec<Result<T>>> {
        fan_in::all_settled(self.scheduler(), handles)
    }

    /// The first success; the other inputs are then cancelled if they have not started. If
    /// every input fails, the first error (with a count of the others). An empty input is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let slow = pool.apply_async(|| { std::thread::sleep(Duration::from_millis(200)); "slow" }).unwrap();
    /// let fast = pool.apply_async(|| "fast").unwrap();
    /// assert_eq!(pool.any(vec![slow, fast]).get(), Ok("fast"));
    /// ```
    pub fn any<T: Send + 'static>(&self, handles: Vec<AsyncResult<T>>) -> AsyncResult<T> {
        fan_in::any(self.scheduler(), handles)
    }
}
