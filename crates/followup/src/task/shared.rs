//! [`SharedResult`]: one task's result, readable and awaitable from several places at once.
//!
//! An [`AsyncResult`] hands its value out once (to one `get` or one `.await`). For a value
//! that is `Clone`, [`AsyncResult::shared`] turns the handle into a cloneable one: the outcome
//! is taken out of the task's cell exactly once, into a `OnceLock`, and every reader gets a
//! clone of it. Blocking reads wait through the original handle (so waiting inside a pool task
//! still runs the task inline or helps); async readers register in a list of wakers that one
//! waker, stored in the cell, wakes all at once.

use super::cell::Taken;
use super::handle::AsyncResult;
use crate::deadline::deadline;
use crate::error::{Error, Result};
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// A cloneable handle to one task's result, for values that are `Clone`: every clone can
/// [`get`](Self::get) it (a clone of the value, or the error) and `.await` it, any number of
/// times, from any thread. Made by [`AsyncResult::shared`].
///
/// ```
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let shared = pool.apply_async(|| vec![1, 2, 3]).unwrap().shared();
/// let other = shared.clone();
/// let reader = std::thread::spawn(move || other.get());
/// assert_eq!(shared.get(), Ok(vec![1, 2, 3]));
/// assert_eq!(shared.get(), Ok(vec![1, 2, 3])); // again: nothing is taken away
/// assert_eq!(reader.join().unwrap(), Ok(vec![1, 2, 3]));
/// ```
#[must_use = "dropping every SharedResult detaches the task; keep one to get the result"]
pub struct SharedResult<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    /// The original handle: waited on, and read once (into `outcome`), never consumed.
    handle: AsyncResult<T>,
    /// The outcome, taken from `handle`'s cell by whoever first finds it done.
    outcome: OnceLock<Result<T>>,
    /// The async readers waiting; the cell holds one waker for all of them.
    wakers: Arc<Wakers>,
}

/// Wakers of every async reader; woken together when the task resolves.
#[derive(Default)]
struct Wakers(Mutex<Vec<Waker>>);

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiting = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for w in waiting {
            w.wake();
        }
    }
}

impl<T> Clone for SharedResult<T> {
    fn clone(&self) -> Self {
        SharedResult {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> fmt::Debug for SharedResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedResult")
            .field("ready", &self.shared.handle.inner.cell().is_done())
            .finish_non_exhaustive()
    }
}

impl<T: Clone + Send + 'static> AsyncResult<T> {
    /// Turns this handle into a [`SharedResult`]: cloneable, and readable (a clone of the
    /// value each time) or awaitable from several places.
    pub fn shared(self) -> SharedResult<T> {
        SharedResult {
            shared: Arc::new(Shared {
                handle: self,
                outcome: OnceLock::new(),
                wakers: Arc::default(),
            }),
        }
    }
}

impl<T: Clone + Send + 'static> SharedResult<T> {
    /// True once the result (or error) is there and every callback has run.
    pub fn ready(&self) -> bool {
        self.shared.handle.ready()
    }

    /// `Some(true)` if the task succeeded, `Some(false)` if it failed, `None` if not ready.
    pub fn successful(&self) -> Option<bool> {
        self.shared.handle.successful()
    }

    /// Cancels the task if it has not started (see [`AsyncResult::cancel`]); true if this call
    /// stopped it from running. Every clone then reads [`Error::Cancelled`].
    pub fn cancel(&self) -> bool {
        self.shared.handle.cancel()
    }

    /// Blocks until the result is ready (see [`AsyncResult::wait`]).
    pub fn wait(&self) {
        self.shared.handle.wait();
    }

    /// Blocks until the result is ready or `timeout` passes; true if it is ready. A timeout
    /// too large for the clock means no limit.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.shared.handle.wait_timeout(timeout)
    }

    /// Waits for the result and returns a clone of it: the value, or the error.
    pub fn get(&self) -> Result<T> {
        self.read(None)
    }

    /// Like [`get`](Self::get) but gives up after `timeout` with [`Error::Timeout`]; a timeout
    /// too large for the clock means no limit.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.read(Some(timeout))
    }

    fn read(&self, timeout: Option<Duration>) -> Result<T> {
        let until = timeout.and_then(deadline);
        if !self.shared.handle.wait_until(until)? {
            return Err(Error::Timeout);
        }
        self.outcome().clone()
    }

    /// The outcome; only called once the cell is done.
    fn outcome(&self) -> &Result<T> {
        self.shared
            .outcome
            .get_or_init(|| match self.shared.handle.inner.cell().take() {
                Taken::Ready(r) => r,
                // Unreachable: callers saw the cell done, and a done cell stays done.
                Taken::NotReady => Err(Error::Timeout),
            })
    }
}

impl<T: Clone + Send + 'static> Future for SharedResult<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if let Some(outcome) = self.shared.outcome.get() {
            return Poll::Ready(outcome.clone());
        }
        // Register first, then look: a resolution after the look wakes the list, one before
        // it is seen by the look.
        {
            let mut waiting = self
                .shared
                .wakers
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
        }
        let all = Waker::from(Arc::clone(&self.shared.wakers));
        if self.shared.handle.inner.cell().register_waker(&all) {
            Poll::Ready(self.outcome().clone())
        } else {
            Poll::Pending
        }
    }
}
