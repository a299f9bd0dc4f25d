//! [`AsCompleted`]: results in completion order from a set you can add to while iterating
//! (Dask's `as_completed(...).add`, which Python's standard library never got).

use crate::deadline::deadline;
use crate::error::{Error, Result};
use crate::sync::Arc;
use crate::task::waiters::Waiters;
use crate::task::{AsyncResult, Callbacks, Scheduler};
use crossbeam_channel::{Receiver, Sender};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Shared<T> {
    /// Added and not yet yielded. Raised by `add` before the handle can resolve; lowered only
    /// by the iterator when it yields. So it is zero only when nothing more can arrive except
    /// through a new `add`, and an `add` from a task, callback or the loop body always
    /// happens while its parent is still counted here.
    pending: AtomicUsize,
    tx: Sender<Result<T>>,
    /// Workers waiting on `rx` while they help; woken after each send.
    waiters: Arc<Waiters>,
    pool: Scheduler,
}

impl<T: Send + 'static> Shared<T> {
    fn add(&self, handle: AsyncResult<T>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let (tx, waiters) = (self.tx.clone(), Arc::clone(&self.waiters));
        // Not a task: the outcome is only sent on, on the thread that resolved it, after
        // that task's callbacks have run.
        handle.on_outcome(move |outcome| {
            let _ = tx.send(outcome);
            waiters.wake_all();
        });
    }

    fn submit<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = self.pool.issue(f, Callbacks::new(), None)?;
        self.add(handle);
        Ok(())
    }
}

/// A set of pending results, yielded in completion order, that can grow while it is being
/// iterated. Iteration ends exactly when nothing added is still pending.
///
/// Follow-ups can be added from the loop body ([`add`](Self::add), [`submit`](Self::submit)),
/// or from tasks and callbacks through a cloneable [`Adder`]; their results come back through
/// the same loop. This is the seed's manual pattern done right: nothing is lost and no
/// `close()`/`join()` dance is needed.
///
/// ```
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let mut set = pool.as_completed();
/// for i in 0..4u32 {
///     set.submit(move || i).unwrap();
/// }
/// let mut seen = Vec::new();
/// while let Some(r) = set.next() {
///     let v = r.unwrap();
///     seen.push(v);
///     if v < 4 {
///         set.submit(move || v + 10).unwrap(); // a follow-up; its result comes back too
///     }
/// }
/// seen.sort();
/// assert_eq!(seen, vec![0, 1, 2, 3, 10, 11, 12, 13]);
/// ```
#[must_use = "an AsCompleted set yields nothing unless iterated"]
pub struct AsCompleted<T> {
    shared: Arc<Shared<T>>,
    rx: Receiver<Result<T>>,
}

/// Adds work to an [`AsCompleted`] set from anywhere: tasks, callbacks, other threads.
/// Cheap to clone.
pub struct Adder<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Adder<T> {
    fn clone(&self) -> Self {
        Adder {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for Adder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adder")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Send + 'static> Adder<T> {
    /// Adds a handle; its result will be yielded by the set.
    pub fn add(&self, handle: AsyncResult<T>) {
        self.shared.add(handle);
    }

    /// Issues `f` on the pool and adds its handle.
    pub fn submit<F>(&self, f: F) -> Result<()>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.shared.submit(f)
    }
}

impl<T: Send + 'static> AsCompleted<T> {
    pub(crate) fn new(pool: Scheduler) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        AsCompleted {
            shared: Arc::new(Shared {
                pending: AtomicUsize::new(0),
                tx,
                waiters: Arc::new(Waiters::new()),
                pool,
            }),
            rx,
        }
    }

    /// Adds a handle; its result will be yielded by the set.
    pub fn add(&mut self, handle: AsyncResult<T>) {
        self.shared.add(handle);
    }

    /// Issues `f` on the pool and adds its handle.
    pub fn submit<F>(&mut self, f: F) -> Result<()>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.shared.submit(f)
    }

    /// A cloneable adder for tasks and callbacks.
    pub fn adder(&self) -> Adder<T> {
        Adder {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many added results have not been yielded yet.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// The next result in completion order, waiting at most `timeout`;
    /// `Some(Err(Error::Timeout))` if none arrived in time (the set stays usable), `None`
    /// when nothing is pending. A timeout too large for the clock (up to `Duration::MAX`) means
    /// no limit.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T>> {
        self.next_until(deadline(timeout))
    }

    fn next_until(&mut self, until: Option<Instant>) -> Option<Result<T>> {
        if self.shared.pending.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let shared = &self.shared;
        match shared.pool.recv_helping(&self.rx, &shared.waiters, until) {
            Ok(r) => {
                shared.pending.fetch_sub(1, Ordering::SeqCst);
                Some(r)
            }
            Err(Error::Timeout) => Some(Err(Error::Timeout)),
            // Unreachable while `shared` holds a sender; kept total.
            Err(e) => Some(Err(e)),
        }
    }
}

impl<T: Send + 'static> Iterator for AsCompleted<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        self.next_until(None)
    }
}
