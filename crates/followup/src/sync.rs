//! The one door to synchronisation primitives: std normally, loom under `--cfg loom`, so the
//! protocols built on them can be model-checked (tokio's `loom/mod.rs` idea).

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

/// Locks a mutex, ignoring poisoning: no user code ever runs while one of our locks is held,
/// so a poisoned lock can only come from a bug in this crate, and its data is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
