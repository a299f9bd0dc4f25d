//! [`AsyncResult`]: the handle to one task's (or one `map_async`'s) result.

use super::cell::Taken;
use super::context;
use super::core::Promise;
use super::Completion;
use crate::deadline::deadline;
use crate::engine::EngineRef;
use crate::error::{Error, Result};
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The handle to work issued to a pool: Python's `AsyncResult`, and a [`Future`] too.
///
/// | Python | here |
/// |---|---|
/// | `get()` | [`get`](Self::get) (takes the handle) |
/// | `get(timeout)` | [`get_timeout`](Self::get_timeout) (the handle stays usable after a timeout) |
/// | `wait()` / `wait(timeout)` | [`wait`](Self::wait) / [`wait_timeout`](Self::wait_timeout) (tells whether it finished) |
/// | `ready()` | [`ready`](Self::ready) |
/// | `successful()` | [`successful`](Self::successful): `None` before ready instead of raising |
///
/// Dropping a handle detaches the work: it still runs, its callbacks still fire, and
/// `close()` + `join()` still waits for it.
///
/// Waiting inside a pool task never deadlocks the pool: if the awaited task is still queued,
/// the waiting thread runs it itself; otherwise it runs other queued work while it waits.
///
/// ```
/// use followup::ThreadPool;
/// use std::time::Duration;
///
/// let pool = ThreadPool::with_workers(2).unwrap();
/// let mut h = pool.apply_async(|| { std::thread::sleep(Duration::from_millis(50)); 7 }).unwrap();
/// assert!(!h.ready());
/// assert_eq!(h.successful(), None);
/// assert!(h.get_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
/// assert!(h.wait_timeout(Duration::from_secs(10)));
/// assert_eq!(h.successful(), Some(true));
/// assert_eq!(h.get(), Ok(7));
/// ```
#[must_use = "dropping an AsyncResult detaches the task; keep it to get the result"]
pub struct AsyncResult<T> {
    // Task-layer internals: the layers above use the methods below, never these fields.
    pub(super) inner: Arc<dyn Completion<T>>,
    pub(super) engine: EngineRef,
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.inner.cell().is_done())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> AsyncResult<T> {
    pub(crate) fn new(inner: Arc<dyn Completion<T>>, engine: EngineRef) -> Self {
        AsyncResult { inner, engine }
    }

    /// A handle that is already resolved with `outcome`.
    pub(crate) fn resolved(outcome: Result<T>, engine: EngineRef) -> Self {
        AsyncResult::new(Arc::new(Promise::resolved(outcome)), engine)
    }

    /// Registers `forward` to be called with the outcome on the thread that resolves this
    /// handle, after the task's callbacks (at once, on this thread, if it has resolved
    /// already). This is how follow-ups that are not tasks (fan-in, as-completed sets,
    /// deadlines) learn of an outcome.
    ///
    /// Not a task: `forward` runs inline on a worker or a resolving thread, so it must only
    /// pass the outcome on (send it, fulfil a promise), never run user code. A handle has one
    /// such slot, and consuming the handle here keeps it that way.
    pub(crate) fn on_outcome(self, forward: impl FnOnce(Result<T>) + Send + 'static) {
        self.inner.cell().set_next(Box::new(forward));
    }

    /// A new promise in this handle's group, with a handle to it on the same pool: the
    /// combined result of a follow-up that is not a single task.
    pub(crate) fn promise<U: Send + 'static>(&self) -> (Arc<Promise<U>>, AsyncResult<U>) {
        let promise = Arc::new(Promise::new(self.inner.tracker()));
        (
            Arc::clone(&promise),
            AsyncResult::new(promise, self.engine.clone()),
        )
    }

    /// True once the result (or error) is there and every callback has run.
    pub fn ready(&self) -> bool {
        self.inner.cell().is_done()
    }

    /// `Some(true)` if the task succeeded, `Some(false)` if it failed, `None` if it is not
    /// ready yet (Python raises `ValueError` there).
    pub fn successful(&self) -> Option<bool> {
        self.inner.cell().succeeded()
    }

    /// Blocks until the result is ready. Returns at once (without the result) if a task waits
    /// on its own handle; [`get`](Self::get) then reports [`Error::WaitOnSelf`].
    pub fn wait(&self) {
        let _ = self.wait_until(None);
    }

    /// Blocks until the result is ready or `timeout` passes; true if it is ready. A timeout
    /// too large for the clock (up to `Duration::MAX`) means no limit.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline(timeout)).unwrap_or(false)
    }

    /// Waits for the result and returns it: the value, or the error that stopped the task.
    pub fn get(self) -> Result<T> {
        self.wait_until(None)?;
        self.take()
    }

    /// Like [`get`](Self::get) but gives up after `timeout` with [`Error::Timeout`]; the task
    /// goes on and the handle stays usable, so a later call can still fetch the result. A
    /// timeout too large for the clock (up to `Duration::MAX`) means no limit.
    ///
    /// Reads are repeatable for failures: a failed task gives the same error on every call
    /// (clones of one error; a panic payload is shared by them, see
    /// [`Error::take_panic_payload`]). A value is handed out once: once it has been returned,
    /// further calls give [`Error::ResultTaken`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = followup::ThreadPool::with_workers(1).unwrap();
    /// let mut failed = pool.apply_async(|| -> u8 { panic!("no") }).unwrap();
    /// let first = failed.get_timeout(Duration::MAX);
    /// assert!(first.as_ref().unwrap_err().is_panic());
    /// assert_eq!(failed.get_timeout(Duration::MAX), first); // the same error again
    ///
    /// let mut fine = pool.apply_async(|| 5).unwrap();
    /// assert_eq!(fine.get_timeout(Duration::MAX), Ok(5));
    /// assert_eq!(fine.get_timeout(Duration::MAX), Err(followup::Error::ResultTaken));
    /// ```
    pub fn get_timeout(&mut self, timeout: Duration) -> Result<T> {
        if self.wait_until(deadline(timeout))? {
            self.take()
        } else {
            Err(Error::Timeout)
        }
    }

    /// Cancels the task if it has not started: it will never run, its handle resolves to
    /// [`Error::Cancelled`], its error callback is told, and its not-yet-started continuations
    /// see the cancellation. A running task is only *asked* to stop ([`crate::is_cancelled`]
    /// turns true inside it). Returns true if this call stopped the task from running.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// A cloneable handle that can cancel this task later, even after this handle was consumed
    /// by a continuation.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            target: Arc::new(Arc::clone(&self.inner)),
        }
    }

    fn take(&self) -> Result<T> {
        match self.inner.cell().take() {
            Taken::Ready(r) => r,
            Taken::NotReady => Err(Error::Timeout),
        }
    }

    /// Waits until ready or `until`; `Ok(true)` if ready.
    pub(crate) fn wait_until(&self, until: Option<Instant>) -> Result<bool> {
        let cell = self.inner.cell();
        if cell.is_done() {
            return Ok(true);
        }
        if self.engine.on_own_worker() {
            if context::current_id() == self.inner.id() {
                return Err(Error::WaitOnSelf);
            }
            // Still queued? Run it here rather than wait for a worker (.NET's inlining).
            // It nests on this stack: give it room (see `crate::stack`).
            let inner = Arc::clone(&self.inner);
            if cell.is_queued() && crate::stack::with_room(|| inner.run_inline()) {
                return Ok(true);
            }
        }
        let helped = self.engine.help_until(
            &|| cell.is_done(),
            &|waker| {
                cell.register_waker(waker);
            },
            until,
        );
        Ok(helped.unwrap_or_else(|| {
            cell.block(until);
            cell.is_done()
        }))
    }
}

impl<U: Send + 'static, E: Send + 'static> AsyncResult<std::result::Result<U, E>> {
    /// For a task whose value is a `Result<U, E>`: waits and returns the task's own result,
    /// with a pool error (panic, cancellation, ...) converted into your error type `E` through
    /// `From<followup::Error>` (as `?` would), so there is no `Result<Result<U, E>>` to unpack.
    /// See also [`flatten`](Self::flatten), which keeps a handle.
    ///
    /// ```
    /// type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// let pool = followup::ThreadPool::with_workers(1).unwrap();
    /// let parsed = pool.apply_async(|| "42".parse::<u32>().map_err(BoxError::from)).unwrap();
    /// assert_eq!(parsed.try_get().unwrap(), 42);
    /// let bad = pool.apply_async(|| "x".parse::<u32>().map_err(BoxError::from)).unwrap();
    /// assert!(bad.try_get().unwrap_err().to_string().contains("invalid digit"));
    /// let panicked = pool.apply_async(|| -> Result<u32, BoxError> { panic!("boom") }).unwrap();
    /// assert_eq!(panicked.try_get().unwrap_err().to_string(), "the task panicked: boom");
    /// ```
    pub fn try_get(self) -> std::result::Result<U, E>
    where
        E: From<Error>,
    {
        match self.get() {
            Ok(inner) => inner,
            Err(e) => Err(E::from(e)),
        }
    }
}

impl<T: Send + 'static> Future for AsyncResult<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match self.inner.cell().poll_take(cx.waker()) {
            Taken::Ready(r) => Poll::Ready(r),
            Taken::NotReady => Poll::Pending,
        }
    }
}

/// Cancels one task from anywhere; see [`AsyncResult::cancel`]. Cheap to clone.
#[derive(Clone)]
pub struct Canceller {
    target: Arc<dyn CancelTarget>,
}

trait CancelTarget: Send + Sync {
    fn cancel(&self) -> bool;
}

impl<T> CancelTarget for Arc<dyn Completion<T>> {
    fn cancel(&self) -> bool {
        Completion::cancel(&**self)
    }
}

impl Canceller {
    /// Cancels the task if it has not started; true if this call stopped it from running.
    pub fn cancel(&self) -> bool {
        self.target.cancel()
    }
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller").finish_non_exhaustive()
    }
}
