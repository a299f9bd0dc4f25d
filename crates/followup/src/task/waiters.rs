//! Wakers of workers that wait for a message on a result channel while they help the pool.
//!
//! A result cell and a tracker keep their wakers under their own locks. A channel has no
//! place for them, so its owner keeps a [`Waiters`] beside it: the receiver registers before
//! it re-checks the channel, the sender wakes after it sent. Both sides issue a SeqCst fence
//! between their write and their read, so either the receiver's re-check sees the message or
//! the sender sees the registration (the same argument as the engine's sleep protocol).
//! When nobody waits, a send costs one fence and one load.

use crate::sync::{fence, lock, AtomicUsize, Mutex, Ordering};
use std::task::Waker;

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
        super::cell::add_waker(&mut list, waker);
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
