//! Success and error callbacks attached to a task when it is issued (Python's `callback=` and
//! `error_callback=`).

use crate::error::{Error, Result};
use crate::payload::drop_contained;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

type OnSuccess<T> = Box<dyn FnOnce(&T) + Send>;
type OnError = Box<dyn FnOnce(&Error) + Send>;

/// Callbacks run on the worker that completed the task, after the result is stored and
/// *before* the handle reports ready: `get()`/`wait()` return only after they finished
/// (Python's ordering). Keep them short; long work belongs in a follow-up task.
///
/// A panicking callback does not hurt the pool: the job's result becomes
/// [`Error::CallbackPanicked`] with the panic message and payload; when it was the error
/// callback, the task's own error stays reachable there (`task_error`, and `source()`).
///
/// ```
/// use followup::{Callbacks, ThreadPool};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::with_workers(2).unwrap();
/// let (tx, rx) = mpsc::channel();
/// let cbs = Callbacks::new()
///     .on_success(move |v: &i32| tx.send(*v).unwrap())
///     .on_error(|e| eprintln!("failed: {e}"));
/// let h = pool.apply_async_with(|| 6 * 7, cbs).unwrap();
/// assert_eq!(h.get(), Ok(42));
/// // The callback has already run when `get` returns.
/// assert_eq!(rx.try_recv(), Ok(42));
/// ```
pub struct Callbacks<T> {
    on_success: Option<OnSuccess<T>>,
    on_error: Option<OnError>,
}

impl<T> Default for Callbacks<T> {
    fn default() -> Self {
        Callbacks {
            on_success: None,
            on_error: None,
        }
    }
}

impl<T> fmt::Debug for Callbacks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("on_success", &self.on_success.is_some())
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

impl<T> Callbacks<T> {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called with the value when the task succeeds (Python's `callback`).
    pub fn on_success(mut self, f: impl FnOnce(&T) + Send + 'static) -> Self {
        self.on_success = Some(Box::new(f));
        self
    }

    /// Called with the error when the task fails, panics, is cancelled or the pool is
    /// terminated before it ran (Python's `error_callback`).
    pub fn on_error(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }

    /// True if no callback is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.on_success.is_none() && self.on_error.is_none()
    }

    /// Runs the matching callback on `outcome`; a callback panic replaces the outcome (an
    /// error callback's panic keeps the original error inside). Never unwinds: the callback
    /// that does not run is dropped with any panic of its `Drop` contained.
    pub(crate) fn apply(self, outcome: Result<T>) -> Result<T> {
        let Callbacks {
            on_success,
            on_error,
        } = self;
        let ran = match &outcome {
            Ok(v) => {
                drop_contained(on_error);
                on_success.map(|cb| catch_unwind(AssertUnwindSafe(|| cb(v))))
            }
            Err(e) => {
                drop_contained(on_success);
                on_error.map(|cb| catch_unwind(AssertUnwindSafe(|| cb(e))))
            }
        };
        match ran {
            Some(Err(p)) => {
                let task_error = match outcome {
                    Ok(v) => {
                        drop_contained(v);
                        None
                    }
                    Err(e) => Some(e),
                };
                Err(Error::callback_panicked(p, task_error))
            }
            _ => outcome,
        }
    }
}
