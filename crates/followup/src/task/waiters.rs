//! Wakers of workers that wait while they help the pool: for a message on a result channel,
//! or for a group's count to reach zero.
//!
//! A result cell keeps its wakers under its own lock (with [`add_waker`]). A channel or a
//! group counter has no such lock, so its owner keeps a [`Waiters`] beside it: the waiter
//! registers before it looks again (at the channel, at the count), the other side wakes after
//! it published (sent, reached zero). Both sides issue a SeqCst fence between their write and
//! their read, so either the waiter's second look sees the event or the other side sees the
//! registration (the same argument as the engine's sleep protocol). When nobody waits, an
//! event costs one fence and one load.

use crate::sync::{fence, lock, AtomicUsize, Mutex, Ordering};
use std::task::Waker;

/// Adds `waker` unless an equivalent one is registered already (a re-poll, a waiting worker
/// going round its loop), so the list stays as short as the number of distinct waiters.
pub(crate) fn add_waker(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// Threads waiting for a message; see the module docs.
pub(crate) struct Waiters {
    /// `list.len()`, readable without the lock.
    count: AtomicUsize,
    list: Mutex<Vec<Waker>>,
}

impl Waiters {
    pub(crate) fn new() -> Waiters {
        Waiters {
            count: AtomicUsize::new(0),
            list: Mutex::new(Vec::new()),
        }
    }

    /// Registers `waker`; the caller re-checks its channel afterwards.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut list = lock(&self.list);
        add_waker(&mut list, waker);
        self.count.store(list.len(), Ordering::SeqCst);
        drop(list);
        fence(Ordering::SeqCst);
    }

    /// Wakes every registered waiter; call after sending.
    pub(crate) fn wake_all(&self) {
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut list = lock(&self.list);
            self.count.store(0, Ordering::SeqCst);
            std::mem::take(&mut *list)
        };
        woken.into_iter().for_each(Waker::wake);
    }
}
