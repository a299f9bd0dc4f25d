//! Panic payloads: kept whole so a caller can take one back and resume it, and never dropped
//! where their `Drop` could unwind into code that did not run the panicking user code.
//!
//! A payload is whatever `panic!`/`panic_any` was given; its `Drop` is user code and may panic
//! itself. The pool drops payloads in exactly two places, both through [`drop_quietly`]: when
//! the last clone of an [`Error`](crate::Error) holding one goes away, and when a panic
//! escapes somewhere nobody will ever read it (a worker's last-resort guard, say).

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

/// A boxed panic payload, as `catch_unwind` returns it and `resume_unwind` takes it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The payload of a panic, kept by [`Error::Panicked`](crate::Error::Panicked) and
/// [`Error::CallbackPanicked`](crate::Error::CallbackPanicked) so it can be taken back (for
/// [`std::panic::resume_unwind`], or to downcast a non-string payload).
///
/// Clones share one payload: the first [`take`](Self::take), through any clone, gets it, later
/// ones get `None` (an error is cloned when a group records it, or a failed handle is read
/// twice). It takes no part in comparisons: two errors with the same message compare equal
/// whatever their payloads. If nobody takes it, it is dropped with the last clone, and a panic
/// in the payload's own `Drop` is caught there (a payload that panics again while being
/// dropped is leaked rather than let loose).
///
/// ```
/// use followup::ThreadPool;
///
/// let pool = ThreadPool::with_workers(1).unwrap();
/// let e = pool.apply(|| std::panic::panic_any(42u8)).unwrap_err();
/// let payload = e.take_panic_payload().expect("a task panic keeps its payload");
/// assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
/// // `std::panic::resume_unwind(payload)` would carry the panic on from here.
/// assert!(e.take_panic_payload().is_none()); // taken once
/// ```
#[derive(Clone, Default)]
pub struct PanicPayload {
    slot: Arc<Slot>,
}

#[derive(Default)]
struct Slot(Mutex<Option<Payload>>);

impl Drop for Slot {
    fn drop(&mut self) {
        let payload = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(p) = payload {
            drop_quietly(p);
        }
    }
}

impl PanicPayload {
    /// Keeps `payload` (as `catch_unwind` returned it).
    pub fn new(payload: Box<dyn Any + Send + 'static>) -> PanicPayload {
        PanicPayload {
            slot: Arc::new(Slot(Mutex::new(Some(payload)))),
        }
    }

    /// Takes the payload out, for every clone; `None` if it was taken already (or this holder
    /// was made empty with `Default`).
    pub fn take(&self) -> Option<Box<dyn Any + Send + 'static>> {
        self.slot
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// True while the payload is still here.
    pub fn is_present(&self) -> bool {
        self.slot
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl PartialEq for PanicPayload {
    /// Always true: payloads are not comparable, so errors compare by their messages.
    fn eq(&self, _other: &PanicPayload) -> bool {
        true
    }
}

impl Eq for PanicPayload {}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicPayload")
            .field("present", &self.is_present())
            .finish()
    }
}

/// Drops a payload whose `Drop` may panic, without letting that panic out. A second panic's
/// own payload is leaked instead of dropped: dropping it could panic again, without end.
pub(crate) fn drop_quietly(payload: Payload) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Drops `value` (a closure given up without running, say), containing a panic of its `Drop`:
/// the panic hook has reported it, and the payload is dropped quietly. True if it panicked.
pub(crate) fn drop_contained<V>(value: V) -> bool {
    match catch_unwind(AssertUnwindSafe(move || drop(value))) {
        Ok(()) => false,
        Err(p) => {
            drop_quietly(p);
            true
        }
    }
}
