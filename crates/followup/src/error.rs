//! The one error type of the crate.
//!
//! A task that can fail in its own terms returns `Result<U, E>` as its *value*; [`Error`] is
//! reserved for what the pool itself has to say about a task: it never ran, it blew up, nobody
//! waited long enough. So "the task said no" and "the task blew up" can never be confused.
//!
//! A handle that failed reports its error on every read (the error is cloned, and clones of a
//! panic share one [`PanicPayload`]).

use crate::payload::{PanicPayload, Payload};
use std::fmt;

/// Everything that can go wrong between handing work to a pool and getting its result back.
///
/// Every variant says what happened in its `Display` text; panics carry their message and
/// keep their payload ([`take_panic_payload`](Self::take_panic_payload)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The pool was closed: it takes no new work from outside its own tasks and callbacks.
    Closed,
    /// The pool was terminated before this work started, so it never ran.
    Terminated,
    /// The work was cancelled before it started (or a step it depended on was).
    Cancelled,
    /// The task panicked; the worker survived. Holds the panic message and the payload.
    Panicked {
        /// The panic payload, when it was a string; otherwise a placeholder.
        message: String,
        /// The payload itself, to take back (see [`Error::take_panic_payload`]). It takes no
        /// part in comparisons.
        payload: PanicPayload,
    },
    /// A success or error callback panicked, so the job's result is this error.
    CallbackPanicked {
        /// The callback's panic message (a placeholder for a non-string payload).
        message: String,
        /// The callback's panic payload, to take back (see [`Error::take_panic_payload`]).
        payload: PanicPayload,
        /// The task's own error, when it was the error callback that panicked (so the
        /// original failure is not lost); `None` when the task succeeded. Also the error's
        /// [`source`](std::error::Error::source).
        task_error: Option<Box<Error>>,
    },
    /// The input iterator of `imap`/`imap_unordered`/`map` panicked while being read.
    InputPanicked {
        /// The iterator's panic message.
        message: String,
    },
    /// A per-worker initializer panicked while the pool was being built.
    InitializerPanicked {
        /// Index of the worker whose initializer failed.
        worker: usize,
        /// The initializer's panic message.
        message: String,
    },
    /// Waiting gave up: the work was not finished within the timeout. The work goes on and its
    /// result can still be fetched later.
    Timeout,
    /// The work itself had a deadline and did not finish by it; it was asked to stop.
    DeadlineExceeded,
    /// An argument was out of range (zero workers, a chunk size of zero, ...).
    InvalidArgument(String),
    /// `join` was called while the pool was still running: call `close` or `terminate` first.
    StillRunning,
    /// `join` was called from one of the pool's own threads, which would wait for itself.
    JoinFromWorker,
    /// `join` was called on a thread that still holds an unfinished `imap`/`imap_unordered`
    /// of the pool: only that thread can pull the rest of its input, so `join` would wait
    /// for itself. Drain or drop the iterator first.
    UnfinishedStream,
    /// `followup::spawn`/`followup::follow_up` was called outside any pool thread.
    NotInPool,
    /// A task waited for its own result, which can never arrive.
    WaitOnSelf,
    /// The result was already taken out of this handle by an earlier `get`.
    ResultTaken,
    /// A worker thread could not be started.
    Spawn(String),
    /// Several tasks of a group failed: the first error in full, and how many others failed.
    Group {
        /// The first error recorded by the group.
        first: Box<Error>,
        /// How many further tasks of the group failed.
        others: usize,
    },
}

impl Error {
    /// The error of a task (or map item) that panicked with `payload`.
    pub(crate) fn panicked(payload: Payload) -> Error {
        Error::Panicked {
            message: panic_message(&*payload),
            payload: PanicPayload::new(payload),
        }
    }

    /// The error of a callback that panicked with `payload`, keeping the task's own error.
    pub(crate) fn callback_panicked(payload: Payload, task_error: Option<Error>) -> Error {
        Error::CallbackPanicked {
            message: panic_message(&*payload),
            payload: PanicPayload::new(payload),
            task_error: task_error.map(Box::new),
        }
    }

    /// Takes the panic payload out of a [`Error::Panicked`] or [`Error::CallbackPanicked`], to
    /// resume the panic with [`std::panic::resume_unwind`] or downcast it (tokio's
    /// `JoinError::into_panic`). `None` for other errors, or if the payload was taken already
    /// through this error or a clone of it (clones share it).
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(1).unwrap();
    /// let e = pool.apply(|| -> () { panic!("boom") }).unwrap_err();
    /// assert_eq!(e.to_string(), "the task panicked: boom");
    /// let payload = e.take_panic_payload().unwrap();
    /// let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
    ///     std::panic::resume_unwind(payload)
    /// }));
    /// assert_eq!(resumed.unwrap_err().downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn take_panic_payload(&self) -> Option<Box<dyn std::any::Any + Send + 'static>> {
        match self {
            Error::Panicked { payload, .. } | Error::CallbackPanicked { payload, .. } => {
                payload.take()
            }
            _ => None,
        }
    }

    /// True for [`Error::Panicked`] and [`Error::CallbackPanicked`].
    pub fn is_panic(&self) -> bool {
        matches!(
            self,
            Error::Panicked { .. } | Error::CallbackPanicked { .. }
        )
    }

    /// True when the work never ran because it was cancelled or the pool was terminated.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled | Error::Terminated)
    }

    /// True for [`Error::Timeout`] (gave up waiting) and [`Error::DeadlineExceeded`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout | Error::DeadlineExceeded)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed => f.write_str(
                "the pool is closed: it accepts no new work from outside its own tasks and callbacks",
            ),
            Error::Terminated => f.write_str("the pool was terminated before this task started"),
            Error::Cancelled => f.write_str("the task was cancelled before it started"),
            Error::Panicked { message, .. } => write!(f, "the task panicked: {message}"),
            Error::CallbackPanicked {
                message,
                task_error: None,
                ..
            } => write!(f, "a callback panicked: {message}"),
            Error::CallbackPanicked {
                message,
                task_error: Some(original),
                ..
            } => write!(
                f,
                "the error callback panicked: {message} (the task had failed: {original})"
            ),
            Error::InputPanicked { message } => {
                write!(f, "the input iterator panicked: {message}")
            }
            Error::InitializerPanicked { worker, message } => {
                write!(f, "the initializer of worker {worker} panicked: {message}")
            }
            Error::Timeout => f.write_str("timed out waiting for the result (the work goes on)"),
            Error::DeadlineExceeded => {
                f.write_str("the task missed its deadline and was asked to stop")
            }
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::StillRunning => {
                f.write_str("join called on a running pool: call close() or terminate() first")
            }
            Error::JoinFromWorker => {
                f.write_str("join called from one of the pool's own threads, which would wait for itself")
            }
            Error::UnfinishedStream => f.write_str(
                "join would wait for an unfinished imap iterator held by this same thread: drain or drop it first",
            ),
            Error::NotInPool => f.write_str(
                "followup::spawn/follow_up called outside a pool thread: use a ThreadPool handle",
            ),
            Error::WaitOnSelf => f.write_str("a task waited for its own result"),
            Error::ResultTaken => f.write_str("the result was already taken from this handle"),
            Error::Spawn(why) => write!(f, "could not start a worker thread: {why}"),
            Error::Group { first, others } => {
                write!(f, "{first} (and {others} other task(s) of the group failed)")
            }
        }
    }
}

impl std::error::Error for Error {
    /// For [`Error::CallbackPanicked`], the task's own error when the error callback panicked.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::CallbackPanicked {
                task_error: Some(original),
                ..
            } => Some(&**original),
            _ => None,
        }
    }
}

/// Shorthand for results whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns a panic payload into its message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_went_wrong() {
        let e = Error::Panicked {
            message: "boom".into(),
            payload: PanicPayload::default(),
        };
        assert_eq!(e.to_string(), "the task panicked: boom");
        assert!(e.is_panic());
        assert!(Error::Terminated.is_cancelled());
        assert!(Error::Timeout.is_timeout());
        let g = Error::Group {
            first: Box::new(Error::Cancelled),
            others: 2,
        };
        assert!(g.to_string().contains("2 other"));
    }

    #[test]
    fn panic_payloads_become_messages() {
        let p = std::panic::catch_unwind(|| panic!("at {}", 3)).unwrap_err();
        assert_eq!(panic_message(&*p), "at 3");
        let p = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        assert!(panic_message(&*p).contains("non-string"));
    }

    #[test]
    fn a_panic_keeps_its_payload_and_clones_share_it() {
        let p = std::panic::catch_unwind(|| std::panic::panic_any(5u8)).unwrap_err();
        let e = Error::panicked(p);
        let twin = e.clone();
        assert_eq!(e, twin);
        let payload = twin.take_panic_payload().expect("payload kept");
        assert_eq!(payload.downcast_ref::<u8>(), Some(&5));
        assert!(e.take_panic_payload().is_none(), "clones share one payload");
        assert!(Error::Cancelled.take_panic_payload().is_none());
    }

    #[test]
    fn a_panicking_error_callback_keeps_the_task_error_as_source() {
        use std::error::Error as _;
        let p = std::panic::catch_unwind(|| panic!("cb")).unwrap_err();
        let e = Error::callback_panicked(p, Some(Error::Cancelled));
        assert_eq!(
            e.source().map(ToString::to_string),
            Some(Error::Cancelled.to_string())
        );
        assert!(e.to_string().contains("cb") && e.to_string().contains("cancelled"));
    }
}
