//! [`Scheduler`]: one pool's engine as the layers above the task layer see it. It says what
//! they may do with a pool: issue tasks, wait or receive while helping, and make handles for
//! promises. `followups/` reaches the pool only through it and never names the engine;
//! `pool/` owns one and also reads [`Scheduler::engine`], for construction and lifecycle.

use super::callbacks::Callbacks;
use super::core::Promise;
use super::handle::AsyncResult;
use super::issue;
use super::tracker::Tracker;
use super::waiters::Waiters;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sync::Arc;
use crossbeam_channel::Receiver;
use std::task::Waker;
use std::time::Instant;

/// A counted reference to one pool's engine, seen through the task layer. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Scheduler(Arc<Engine>);

impl Scheduler {
    pub(crate) fn new(engine: Arc<Engine>) -> Scheduler {
        Scheduler(engine)
    }

    /// The engine, for the façade's construction and lifecycle calls (close, join, ...).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.0
    }

    /// Issues `f` as a new task; see [`issue::issue`].
    pub(crate) fn issue<T, F>(
        &self,
        f: F,
        callbacks: Callbacks<T>,
        tracker: Option<Arc<Tracker>>,
    ) -> Result<AsyncResult<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        issue::issue(&self.0, f, callbacks, tracker)
    }

    /// Issues `f` without a handle; see [`issue::issue_detached`].
    pub(crate) fn issue_detached<F>(&self, f: F, tracker: Option<Arc<Tracker>>) -> Result<()>
    where
        F: FnOnce() + Send + 'static,
    {
        issue::issue_detached(&self.0, f, tracker)
    }

    /// On one of this pool's workers, waits until `done()` holds or `until` passes while
    /// running other queued work, and returns `Some(done())`; the awaited event must wake the
    /// waker given to `subscribe`. On any other thread: `None` at once, and the caller blocks
    /// in its own way.
    pub(crate) fn help_until(
        &self,
        done: &dyn Fn() -> bool,
        subscribe: &dyn Fn(&Waker),
        until: Option<Instant>,
    ) -> Option<bool> {
        self.0.help_until(done, subscribe, until)
    }

    /// Receives from a result channel, helping while it waits; see [`issue::recv_helping`].
    pub(crate) fn recv_helping<M>(
        &self,
        rx: &Receiver<M>,
        waiters: &Waiters,
        until: Option<Instant>,
    ) -> std::result::Result<M, Error> {
        issue::recv_helping(&self.0, rx, waiters, until)
    }

    /// A handle that is already resolved with `outcome`.
    pub(crate) fn resolved<T: Send + 'static>(&self, outcome: Result<T>) -> AsyncResult<T> {
        AsyncResult::resolved(outcome, self.0.handle_ref())
    }

    /// A new promise in no group, with the handle that reads it.
    pub(crate) fn promise<T: Send + 'static>(&self) -> (Arc<Promise<T>>, AsyncResult<T>) {
        let promise = Arc::new(Promise::new(None));
        (
            Arc::clone(&promise),
            AsyncResult::new(promise, self.0.handle_ref()),
        )
    }
}
