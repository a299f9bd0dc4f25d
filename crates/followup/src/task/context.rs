//! Which task is running on this thread: for `is_cancelled`, for inheriting the task's group,
//! and for refusing a wait on itself.

use super::tracker::Tracker;
use crate::sync::{Arc, AtomicU8, Ordering};
use std::cell::Cell;

/// Facts about the running task; lives on the stack of `Task::execute`.
pub(crate) struct Frame<'a> {
    pub(crate) state: &'a AtomicU8,
    pub(crate) id: *const (),
    pub(crate) tracker: Option<&'a Arc<Tracker>>,
}

crate::sync::thread_local! {
    static FRAME: Cell<*const Frame<'static>> = const { Cell::new(std::ptr::null()) };
}

/// Puts the previous frame back when a task's run ends, by unwinding too.
struct Restore(*const Frame<'static>);

impl Drop for Restore {
    fn drop(&mut self) {
        FRAME.with(|c| c.set(self.0));
    }
}

/// Runs `f` with `frame` as the current task, restoring the previous one afterwards (tasks
/// nest when a waiting worker runs other work).
pub(crate) fn enter<R>(frame: &Frame<'_>, f: impl FnOnce() -> R) -> R {
    let previous = FRAME.with(|c| c.replace(std::ptr::from_ref(frame).cast::<Frame<'static>>()));
    let _restore = Restore(previous);
    f()
}

/// Runs `f` as no task at all: `is_cancelled` false, no group, no identity. On a worker's own
/// loop that is the state already, so it costs one thread-local read; nested in a waiting task
/// (a helping wait runs other work) the waiter's frame is hidden meanwhile.
pub(crate) fn enter_none<R>(f: impl FnOnce() -> R) -> R {
    let previous = FRAME.with(Cell::get);
    if previous.is_null() {
        return f();
    }
    FRAME.with(|c| c.set(std::ptr::null()));
    let _restore = Restore(previous);
    f()
}

fn with_frame<R>(f: impl FnOnce(Option<&Frame<'_>>) -> R) -> R {
    let ptr = FRAME.with(Cell::get);
    // SAFETY: FRAME is only non-null inside `enter`, whose `frame` argument outlives the call
    // and which restores the previous value on exit (even by unwinding); it is only read on
    // this thread.
    f(unsafe { ptr.as_ref() })
}

/// The group tracker of the running task, if any: work it issues joins the same group.
#[inline]
pub(crate) fn current_tracker() -> Option<Arc<Tracker>> {
    with_frame(|f| f.and_then(|f| f.tracker.cloned()))
}

/// Identity of the running task (its allocation), or null.
pub(crate) fn current_id() -> *const () {
    with_frame(|f| f.map_or(std::ptr::null(), |f| f.id))
}

/// True if the task running on this thread was asked to stop: it was cancelled, its group was
/// cancelled, or its deadline passed. Always false outside a pool task.
///
/// Long-running tasks should check this now and then and return early when it is true;
/// nothing in Rust can stop a running closure from outside.
///
/// ```
/// let pool = followup::ThreadPool::with_workers(1).unwrap();
/// let h = pool.apply_async(|| followup::is_cancelled()).unwrap();
/// assert_eq!(h.get(), Ok(false));
/// assert!(!followup::is_cancelled()); // not inside a task
/// ```
pub fn is_cancelled() -> bool {
    with_frame(|f| match f {
        Some(f) => {
            f.state.load(Ordering::Acquire) & super::cell::CANCEL_REQUESTED != 0
                || f.tracker.is_some_and(|t| t.is_cancelled())
        }
        None => false,
    })
}
