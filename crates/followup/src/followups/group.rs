//! [`TaskGroup`]: wait for a tree of work that keeps growing, without closing the pool.

use crate::deadline::deadline;
use crate::error::{Error, Result};
use crate::sync::Arc;
use crate::task::context;
use crate::task::tracker::Tracker;
use crate::task::{AsyncResult, Callbacks, Scheduler};
use std::fmt;
use std::time::{Duration, Instant};

/// A group owns a dynamically growing tree of work: the tasks issued through it, and
/// everything those tasks, their callbacks and their continuations issue in turn. Waiting on
/// it returns when the whole tree is done. It is the "close + join" of Python, per tree and
/// without the "close too early" trap. Cheap to clone.
///
/// Failures are kept: [`wait`](Self::wait) returns the first error in full, wrapped in
/// [`Error::Group`] with a count when more than one task failed.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let group = pool.group();
/// let count = Arc::new(AtomicUsize::new(0));
/// fn grow(pool: followup::ThreadPool, depth: u32, count: Arc<AtomicUsize>) {
///     count.fetch_add(1, Ordering::SeqCst);
///     if depth > 0 {
///         for _ in 0..2 {
///             let (p, c) = (pool.clone(), Arc::clone(&count));
///             // Issued from inside a group task: joins the group automatically.
///             pool.spawn(move || grow(p, depth - 1, c)).unwrap();
///         }
///     }
/// }
/// let (p, c) = (pool.clone(), Arc::clone(&count));
/// group.spawn(move || grow(p, 4, c)).unwrap();
/// group.wait().unwrap();
/// assert_eq!(count.load(Ordering::SeqCst), 31); // the whole tree, 1 + 2 + 4 + 8 + 16
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    tracker: Arc<Tracker>,
    pool: Scheduler,
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("pending", &self.tracker.pending())
            .finish()
    }
}

impl TaskGroup {
    /// A group nested in the group of the running task, if any.
    pub(crate) fn new(pool: Scheduler) -> TaskGroup {
        TaskGroup {
            tracker: Arc::new(Tracker::new(context::current_tracker())),
            pool,
        }
    }

    /// Issues `f` in this group and returns its handle.
    pub fn apply_async<T, F>(&self, f: F) -> Result<AsyncResult<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.pool
            .issue(f, Callbacks::new(), Some(Arc::clone(&self.tracker)))
    }

    /// Issues `f` in this group with callbacks.
    pub fn apply_async_with<T, F>(&self, f: F, callbacks: Callbacks<T>) -> Result<AsyncResult<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.pool
            .issue(f, callbacks, Some(Arc::clone(&self.tracker)))
    }

    /// Issues `f` in this group without a handle; a failure is reported by [`wait`](Self::wait).
    pub fn spawn<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.pool.issue_detached(f, Some(Arc::clone(&self.tracker)))
    }

    /// Tasks of the group issued and not yet resolved.
    pub fn pending(&self) -> usize {
        self.tracker.pending()
    }

    /// Cancels the group: its tasks that have not started resolve to [`Error::Cancelled`],
    /// running ones see [`crate::is_cancelled`] turn true.
    pub fn cancel(&self) {
        self.tracker.cancel();
    }

    /// Waits until every task of the tree is done; `Err` with the group's failures if any
    /// task failed. From a task of this same group it returns [`Error::WaitOnSelf`].
    pub fn wait(&self) -> Result<()> {
        self.wait_until(None)
    }

    /// [`wait`](Self::wait) that gives up after `timeout` with [`Error::Timeout`]; the work
    /// goes on and the group can be waited on again. A timeout too large for the clock (up to
    /// `Duration::MAX`) means no limit.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait_until(deadline(timeout))
    }

    fn wait_until(&self, until: Option<Instant>) -> Result<()> {
        if self.tracker.pending() != 0 {
            if self.inside_self() {
                return Err(Error::WaitOnSelf);
            }
            let t = &self.tracker;
            let helped = self.pool.help_until(
                &|| t.pending() == 0,
                &|waker| t.register_waker(waker),
                until,
            );
            // Off the pool: block until zero. The count can rise again before we look (a
            // task of the group issuing more), so look again until it is seen at zero.
            let done = helped.unwrap_or_else(|| loop {
                t.block(until);
                if t.pending() == 0 {
                    break true;
                }
                if until.is_some_and(|d| Instant::now() >= d) {
                    break false;
                }
            });
            if !done {
                return Err(Error::Timeout);
            }
        }
        match self.tracker.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// True if the running task belongs to this group (or a group nested in it).
    fn inside_self(&self) -> bool {
        let mut cur = context::current_tracker();
        while let Some(t) = cur {
            if Arc::ptr_eq(&t, &self.tracker) {
                return true;
            }
            cur = t.parent().cloned();
        }
        false
    }
}
