//! Counting a growing tree of work: the core of task groups.
//!
//! A tracker counts tasks that joined it and have not resolved. A task joins when it is
//! created (issued through a group, or issued by a task that belongs to one, or registered as
//! a continuation of one) and leaves when it resolves (ran, failed, was cancelled or
//! abandoned). Children join before their parent leaves, so the count cannot reach zero while
//! the tree can still grow: a wait that returns at zero has seen the whole tree. Nested
//! groups count in every ancestor too.

use super::waiters::Waiters;
use crate::error::Error;
use crate::sync::{lock, wait_while, Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};
use std::time::Instant;

pub(crate) struct Tracker {
    pending: AtomicUsize,
    cancelled: AtomicBool,
    parent: Option<Arc<Tracker>>,
    state: Mutex<Failures>,
    quiet: Condvar,
    /// Workers waiting for the count to reach zero while they help (`Engine::help_until`).
    helpers: Waiters,
}

#[derive(Default)]
struct Failures {
    first: Option<Error>,
    others: usize,
    waiters: usize,
}

impl Tracker {
    pub(crate) fn new(parent: Option<Arc<Tracker>>) -> Tracker {
        Tracker {
            pending: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            parent,
            state: Mutex::new(Failures::default()),
            quiet: Condvar::new(),
            helpers: Waiters::new(),
        }
    }

    /// A task joins this tracker (and its ancestors).
    pub(crate) fn enter(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Some(p) = &self.parent {
            p.enter();
        }
    }

    /// A task of this tracker resolved, with `error` if it failed.
    pub(crate) fn exit(&self, error: Option<&Error>) {
        if let Some(e) = error {
            let mut s = lock(&self.state);
            if s.first.is_none() {
                s.first = Some(e.clone());
            } else {
                s.others += 1;
            }
        }
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            let s = lock(&self.state);
            if s.waiters > 0 {
                self.quiet.notify_all();
            }
            drop(s);
            self.helpers.wake_all();
        }
        if let Some(p) = &self.parent {
            p.exit(error);
        }
    }

    pub(crate) fn parent(&self) -> Option<&Arc<Tracker>> {
        self.parent.as_ref()
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
            || self.parent.as_ref().is_some_and(|p| p.is_cancelled())
    }

    /// The failures so far: the first in full, plus a count of the others.
    pub(crate) fn failure(&self) -> Option<Error> {
        let s = lock(&self.state);
        s.first.as_ref().map(|first| {
            if s.others == 0 {
                first.clone()
            } else {
                Error::Group {
                    first: Box::new(first.clone()),
                    others: s.others,
                }
            }
        })
    }

    /// Asks for `waker` to be woken when the count next reaches zero. The caller re-checks
    /// [`pending`](Self::pending) afterwards: a zero reached before this call is seen there
    /// (the fences of [`Waiters`] order the registration against the zero crossing).
    pub(crate) fn register_waker(&self, waker: &std::task::Waker) {
        self.helpers.register(waker);
    }

    /// Blocks until the count is zero or `until` passes.
    pub(crate) fn block(&self, until: Option<Instant>) {
        let mut s = lock(&self.state);
        s.waiters += 1;
        let (mut s, _) = wait_while(&self.quiet, s, until, |_| self.pending() != 0);
        s.waiters -= 1;
    }
}
