//! The one door to synchronisation primitives: std normally, loom under `--cfg loom`, so the
//! protocols built on them can be model-checked (tokio's `loom/mod.rs` idea).
//!
//! Besides atomics, locks and condvars it is the door to the engine's work-stealing queues
//! ([`deque`]), its threads and thread-locals ([`thread`], [`thread_local!`]) and its parkers
//! ([`Parker`]). On the std side every door is a plain re-export, so the normal build's code
//! is exactly what it would be without it; under loom each leads to a loom-aware stand-in, so
//! the models run the real engine (`crate::loom_tests`).

pub(crate) mod deque;
pub(crate) mod thread;
#[cfg(not(loom))]
pub(crate) use std::thread_local;
#[cfg(loom)]
pub(crate) use thread::loom_thread_local as thread_local;

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(loom)]
pub(crate) use seq_cst::{AtomicBool, AtomicU8, AtomicUsize};

/// loom's atomics, with `SeqCst` accesses made sequentially consistent.
///
/// loom models a `SeqCst` load, store or read-modify-write as merely `AcqRel` (its README,
/// "Unsupported features"), so the store-buffering patterns this crate relies on (the
/// lifecycle counter: "increment, then check `closed`" against "set `closed`, then read the
/// counter") would raise false alarms. loom does model `fence(SeqCst)`, so here every `SeqCst`
/// access is preceded by one: the "leading fence" mapping of C11's `SeqCst` accesses that
/// compilers use on POWER, a correct implementation of them. Accesses with other orderings are
/// passed through untouched, so everything weaker is still explored as loom does.
#[cfg(loom)]
mod seq_cst {
    use loom::sync::atomic::{fence, Ordering};

    fn lead(order: Ordering) {
        if order == Ordering::SeqCst {
            fence(Ordering::SeqCst);
        }
    }

    macro_rules! atomic {
        ($name:ident, $t:ty $(, $int:ident)?) => {
            /// The loom atomic is created on first use, so that `new` can be `const` (as
            /// `task::core`'s `static NEVER_CANCELLED` needs; loom's own atomics have no
            /// `const` constructor). Two rules follow for the models: the first access to
            /// each atomic must happen-before every other one (a model touches what it builds
            /// before sharing it, or loom reports a causality violation), and a `static` of
            /// this type must not be used by a model (its loom atomic would outlive the
            /// execution that created it).
            #[derive(Debug)]
            pub(crate) struct $name {
                init: $t,
                inner: std::sync::OnceLock<loom::sync::atomic::$name>,
            }

            #[allow(dead_code)]
            impl $name {
                pub(crate) const fn new(v: $t) -> Self {
                    Self {
                        init: v,
                        inner: std::sync::OnceLock::new(),
                    }
                }
                fn get(&self) -> &loom::sync::atomic::$name {
                    self.inner
                        .get_or_init(|| loom::sync::atomic::$name::new(self.init))
                }
                pub(crate) fn load(&self, order: Ordering) -> $t {
                    lead(order);
                    self.get().load(order)
                }
                pub(crate) fn store(&self, v: $t, order: Ordering) {
                    lead(order);
                    self.get().store(v, order)
                }
                pub(crate) fn swap(&self, v: $t, order: Ordering) -> $t {
                    lead(order);
                    self.get().swap(v, order)
                }
                pub(crate) fn fetch_or(&self, v: $t, order: Ordering) -> $t {
                    lead(order);
                    self.get().fetch_or(v, order)
                }
                pub(crate) fn fetch_and(&self, v: $t, order: Ordering) -> $t {
                    lead(order);
                    self.get().fetch_and(v, order)
                }
                pub(crate) fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    lead(success);
                    self.get().compare_exchange(current, new, success, failure)
                }
                $(
                pub(crate) fn fetch_add(&self, v: $t, order: Ordering) -> $t {
                    let _ = stringify!($int);
                    lead(order);
                    self.get().fetch_add(v, order)
                }
                pub(crate) fn fetch_sub(&self, v: $t, order: Ordering) -> $t {
                    lead(order);
                    self.get().fetch_sub(v, order)
                }
                )?
            }
        };
    }

    atomic!(AtomicBool, bool);
    atomic!(AtomicU8, u8, int);
    atomic!(AtomicUsize, usize, int);
}

/// `Arc` stays std's under loom: the crate needs `self: Arc<Self>` receivers and unsizing to
/// `Arc<dyn Job>`, which loom's `Arc` cannot do, and no protocol here synchronises through a
/// reference count (each is an atomic, a mutex or a condvar, and those are loom's).
#[cfg(loom)]
pub(crate) use std::sync::Arc;

/// Locks a mutex, ignoring poisoning: no user code ever runs while one of our locks is held,
/// so a poisoned lock can only come from a bug in this crate, and its data is still consistent.
#[cfg(not(loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Waits on `cv` while `blocked()` holds, until `deadline` if one is given; returns the guard
/// and whether `blocked()` cleared (false: the deadline passed first). The one condvar loop of
/// the crate: result cells, groups and `join` wait through it. Poisoning is ignored, as in
/// [`lock`].
pub(crate) fn wait_while<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<std::time::Instant>,
    mut blocked: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    while blocked(&mut guard) {
        guard = match deadline {
            None => match cv.wait(guard) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            },
            Some(d) => {
                let now = std::time::Instant::now();
                if now >= d {
                    return (guard, false);
                }
                match cv.wait_timeout(guard, d - now) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                }
            }
        };
    }
    (guard, true)
}

/// Under loom, [`lock`] takes loom's mutexes (the modelled protocols) and std's (the few
/// places, such as the timer thread, that use std's directly and are not modelled).
#[cfg(loom)]
pub(crate) fn lock<M: Lock + ?Sized>(m: &M) -> M::Guard<'_> {
    m.lock_ignoring_poison()
}

/// A mutex [`lock`] can take (loom builds only).
#[cfg(loom)]
pub(crate) trait Lock {
    type Guard<'a>
    where
        Self: 'a;
    fn lock_ignoring_poison(&self) -> Self::Guard<'_>;
}

#[cfg(loom)]
impl<T> Lock for Mutex<T> {
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;
    fn lock_ignoring_poison(&self) -> MutexGuard<'_, T> {
        match self.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

#[cfg(loom)]
impl<T> Lock for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn lock_ignoring_poison(&self) -> std::sync::MutexGuard<'_, T> {
        match self.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Parking for idle workers (`engine::sleep`) and helping waits (`engine::worker`): one token
/// per worker, an unpark before the park makes the park return at once. Normally crossbeam's
/// `Parker` and `Unparker`, re-exported as they are (zero cost); under loom, [`LoomParker`]:
/// the same contract, and the same method names, built on loom's mutex and condvar, so a lost
/// wake-up shows up as a loom deadlock.
#[cfg(not(loom))]
pub(crate) use crossbeam_utils::sync::{Parker, Unparker};
#[cfg(loom)]
pub(crate) use loom_parker::{LoomParker as Parker, LoomUnparker as Unparker};

#[cfg(loom)]
mod loom_parker {
    use super::{lock, Arc, Condvar, Mutex};

    /// A token parker on loom's primitives (see [`Parker`](super::Parker)): crossbeam's
    /// `Parker` API as far as the crate uses it.
    pub(crate) struct LoomParker {
        unparker: LoomUnparker,
    }

    /// The waking side of a [`LoomParker`].
    #[derive(Clone)]
    pub(crate) struct LoomUnparker {
        inner: Arc<(Mutex<bool>, Condvar)>,
    }

    #[allow(dead_code)]
    impl LoomParker {
        pub(crate) fn new() -> LoomParker {
            LoomParker {
                unparker: LoomUnparker {
                    inner: Arc::new((Mutex::new(false), Condvar::new())),
                },
            }
        }

        /// Blocks until the token is available, and consumes it.
        pub(crate) fn park(&self) {
            let (token, cv) = &*self.unparker.inner;
            let mut t = lock(token);
            while !*t {
                t = match cv.wait(t) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
            }
            *t = false;
        }

        /// `park`: time is not modelled, and a model must not be rescued by a timeout.
        pub(crate) fn park_timeout(&self, timeout: std::time::Duration) {
            let _ = timeout;
            self.park();
        }

        /// The unparker for this parker.
        pub(crate) fn unparker(&self) -> &LoomUnparker {
            &self.unparker
        }
    }

    impl LoomUnparker {
        /// Makes the token available, waking the parked thread if there is one.
        pub(crate) fn unpark(&self) {
            let (token, cv) = &*self.inner;
            *lock(token) = true;
            cv.notify_one();
        }
    }
}
