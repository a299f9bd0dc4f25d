//! Issuing work: the two ways a task comes into being (a fresh task, a continuation of a
//! handle) and a helping receive for result channels. Every layer above issues through here.

use super::callbacks::Callbacks;
use super::context;
use super::core::{Detached, Task};
use super::handle::AsyncResult;
use super::tracker::Tracker;
use super::waiters::Waiters;
use crate::engine::{Engine, Hold};
use crate::error::{Error, Result};
use crate::sync::Arc;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use std::cell::RefCell;
use std::time::Instant;

/// Issues `f` as a new task. Work issued on one of the pool's own workers is a follow-up and
/// is accepted after `close()`; from anywhere else it is refused once the pool is closed.
/// The task joins `tracker`, or else the group of the task issuing it (if any).
pub(crate) fn issue<T, F>(
    engine: &Arc<Engine>,
    f: F,
    callbacks: Callbacks<T>,
    tracker: Option<Arc<Tracker>>,
) -> Result<AsyncResult<T>>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (task, engine) = engine.submit(|| {
        let tracker = tracker.or_else(context::current_tracker);
        Arc::new(Task::runnable((), move |()| Ok(f()), callbacks, tracker))
    })?;
    Ok(AsyncResult::new(task, engine))
}

/// Issues `f` without a handle: no result cell is ever read, and no reference to the engine
/// is taken (on a worker, the follow-up path costs a deque push, and an allocation unless the
/// thread's spare job fits, see `spare`).
pub(crate) fn issue_detached<F>(
    engine: &Arc<Engine>,
    f: F,
    tracker: Option<Arc<Tracker>>,
) -> Result<()>
where
    F: FnOnce() + Send + 'static,
{
    engine.submit_detached(|| {
        let tracker = match tracker {
            Some(t) => Some(t),
            None => context::current_tracker(),
        };
        Detached::build(f, tracker)
    })
}

/// Queues `f` as a handle-less job that takes over `hold`'s unit (the chunks and runners of
/// `imap`, issued by its feeder while the stream is held). If the job never runs
/// (terminated, group cancelled), `f` is dropped unrun: its owner learns of that through the
/// drop of what `f` captured.
pub(crate) fn issue_held_detached<F>(hold: Hold, f: F, tracker: Option<Arc<Tracker>>)
where
    F: FnOnce() + Send + 'static,
{
    let engine = Arc::clone(hold.engine());
    engine.submit_held(hold, Detached::build(f, tracker));
}

/// Queues a task whose closure returns the full outcome and that takes over `hold`'s unit
/// (the chunks of `map`).
pub(crate) fn issue_held<T, F>(
    hold: Hold,
    f: F,
    callbacks: Callbacks<T>,
    tracker: Option<Arc<Tracker>>,
) where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let engine = Arc::clone(hold.engine());
    engine.submit_held(
        hold,
        Arc::new(Task::runnable((), move |()| f(), callbacks, tracker)),
    );
}

/// Registers `f` to run as a task of its own once `parent` resolves, with its outcome.
///
/// The continuation is counted by the pool from now on (so `join` waits for it), belongs to
/// the parent's group, and is *scheduled* when the parent resolves, never run inline on the
/// resolving or registering thread; a chain of any length therefore uses constant stack.
/// From outside the pool after `close()`, the result is [`Error::Closed`].
pub(crate) fn chain<T, U, F>(parent: AsyncResult<T>, f: F) -> AsyncResult<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(Result<T>) -> Result<U> + Send + 'static,
{
    chain_inner(parent, f, false)
}

/// Like [`chain`] for a success-only step (`map`, `when`, `and_then`): `f` gets the value, and
/// a parent error (a cancellation, say) resolves the step at once with that error, without
/// waiting for a worker, since no user code needs to run for it. Resolutions that cascade
/// down a chain go through a thread-local trampoline, so any length uses constant stack.
pub(crate) fn chain_ok<T, U, F>(parent: AsyncResult<T>, f: F) -> AsyncResult<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(T) -> Result<U> + Send + 'static,
{
    chain_inner(parent, move |r: Result<T>| r.and_then(f), true)
}

fn chain_inner<T, U, F>(parent: AsyncResult<T>, f: F, errors_skip: bool) -> AsyncResult<U>
where
    T: Send + 'static,
    U: Send + 'static,
    F: FnOnce(Result<T>) -> Result<U> + Send + 'static,
{
    let AsyncResult { inner, engine } = parent;
    // Held until the parent resolves: then it passes to the scheduled child, or is dropped
    // (counted out) if the child never needs a worker.
    let hold = match Hold::take(&engine) {
        Ok(hold) => hold,
        Err(e) => return AsyncResult::resolved(Err(e), engine),
    };
    let tracker = inner.tracker().or_else(context::current_tracker);
    let child = Arc::new(Task::waiting(f, tracker));
    let to_deliver = Arc::clone(&child);
    inner
        .cell()
        .set_next(Box::new(move |outcome| match outcome {
            Err(e) if errors_skip => trampoline(Box::new(move || {
                to_deliver.skip(e);
                drop(hold);
            })),
            outcome => {
                if to_deliver.deliver(outcome) {
                    let engine = Arc::clone(hold.engine());
                    engine.submit_held(hold, to_deliver);
                } else {
                    // Cancelled while waiting: it was resolved then; only its unit is left.
                    drop(hold);
                }
            }
        }));
    AsyncResult::new(child, engine)
}

/// A deferred resolution step.
type Step = Box<dyn FnOnce()>;

/// Runs `step` now, or, if this thread is already inside a trampolined step, after it: a
/// cascade of resolutions becomes a loop instead of a recursion.
fn trampoline(step: Step) {
    crate::sync::thread_local! {
        static QUEUE: RefCell<Option<Vec<Step>>> = const { RefCell::new(None) };
    }
    let nested = QUEUE.with(|q| match q.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push(step);
            None
        }
        None => Some(step),
    });
    let Some(first) = nested else { return };
    QUEUE.with(|q| *q.borrow_mut() = Some(Vec::new()));
    let mut next = Some(first);
    while let Some(step) = next {
        step();
        next = QUEUE.with(|q| q.borrow_mut().as_mut().and_then(Vec::pop));
    }
    QUEUE.with(|q| *q.borrow_mut() = None);
}

/// Receives from a result channel; on a worker of `engine`, runs other queued work while
/// waiting so a consumer inside the pool never starves it (the channel's senders wake
/// `waiters` after each send). `Err(Timeout)` if `until` passed first, `Err(Terminated)` if
/// every sender is gone.
pub(crate) fn recv_helping<M>(
    engine: &Engine,
    rx: &Receiver<M>,
    waiters: &Waiters,
    until: Option<Instant>,
) -> std::result::Result<M, Error> {
    loop {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(TryRecvError::Disconnected) => return Err(Error::Terminated),
            Err(TryRecvError::Empty) => {}
        }
        let helped = engine.help_until(&|| !rx.is_empty(), &|w| waiters.register(w), until);
        match helped {
            Some(true) => continue,
            Some(false) => return Err(Error::Timeout),
            None => break,
        }
    }
    match until {
        None => rx.recv().map_err(|_| Error::Terminated),
        Some(t) => rx.recv_deadline(t).map_err(|e| match e {
            RecvTimeoutError::Timeout => Error::Timeout,
            RecvTimeoutError::Disconnected => Error::Terminated,
        }),
    }
}
