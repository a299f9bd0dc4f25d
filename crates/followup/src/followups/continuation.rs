//! Continuations on [`AsyncResult`]: follow-ups declared up front, whose results flow back.
//!
//! Each method consumes the handle and returns a new one for the follow-up's result. The
//! follow-up is a task of its own, scheduled on the pool when its parent resolves (on the
//! worker that resolved it, run next), never run inline on the registering thread, even if the
//! parent has already finished. Errors flow through `map`/`and_then`/`when` untouched and are
//! seen by `then`/`recover`; cancellation of a parent reaches its not-yet-started follow-ups
//! as [`Error::Cancelled`], which `then`/`recover` still see, so cleanup can run.

use super::timer;
use crate::deadline::deadline;
use crate::error::{Error, Result};
use crate::sync::Arc;
use crate::task::issue::{chain, chain_ok};
use crate::task::AsyncResult;
use std::time::Duration;

/// What an [`AsyncResult::and_then`] step may return: a handle, or the `Result` of issuing one
/// (so `pool.apply_async(..)` can be returned as is).
#[diagnostic::on_unimplemented(
    message = "`AsyncResult::and_then` needs a closure that returns a handle (`AsyncResult<_>` \
               or `followup::Result<AsyncResult<_>>`), not `{Self}`",
    label = "this is not a handle to more pool work",
    note = "unlike `Result::and_then`, the step issues more work and returns its handle; for a \
            closure returning a plain value use `map`, and for one returning a `Result` use \
            `map(..)` then `flatten()`"
)]
pub trait IntoAsyncResult<U> {
    /// Converts into a handle (an issuing error becomes a resolved handle).
    fn into_async_result(self) -> Result<AsyncResult<U>>;
}

impl<U> IntoAsyncResult<U> for AsyncResult<U> {
    fn into_async_result(self) -> Result<AsyncResult<U>> {
        Ok(self)
    }
}

impl<U> IntoAsyncResult<U> for Result<AsyncResult<U>> {
    fn into_async_result(self) -> Result<AsyncResult<U>> {
        self
    }
}

impl<T: Send + 'static> AsyncResult<T> {
    /// On success, runs `f` with the value as a follow-up task (Java's `thenApply`). An error
    /// skips `f` and is passed on.
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let h = pool.apply_async(|| 20).unwrap().map(|v| v + 1).map(|v| v * 2);
    /// assert_eq!(h.get(), Ok(42));
    /// ```
    pub fn map<U, F>(self, f: F) -> AsyncResult<U>
    where
        U: Send + 'static,
        F: FnOnce(T) -> U + Send + 'static,
    {
        chain_ok(self, move |v| Ok(f(v)))
    }

    /// Runs `f` with the outcome, success or error, as a follow-up task (Java's `handle`).
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let h = pool.apply_async(|| -> u8 { panic!("boom") }).unwrap();
    /// let said = h.then(|r| match r { Ok(_) => "fine".to_string(), Err(e) => e.to_string() });
    /// assert_eq!(said.get().unwrap(), "the task panicked: boom");
    /// ```
    pub fn then<U, F>(self, f: F) -> AsyncResult<U>
    where
        U: Send + 'static,
        F: FnOnce(Result<T>) -> U + Send + 'static,
    {
        chain(self, move |r| Ok(f(r)))
    }

    /// On error, runs `f` with the error to produce a replacement value (Java's
    /// `exceptionally`). A success is passed on untouched.
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let h = pool.apply_async(|| -> i32 { panic!("no") }).unwrap().recover(|_e| -1);
    /// assert_eq!(h.get(), Ok(-1));
    /// ```
    pub fn recover<F>(self, f: F) -> AsyncResult<T>
    where
        F: FnOnce(Error) -> T + Send + 'static,
    {
        chain(self, move |r| r.or_else(|e| Ok(f(e))))
    }

    /// On success, runs `f`, which **issues more work and returns its handle**; the result is
    /// that work's result, flattened (Java's `thenCompose`, `Future::then` of futures-rs).
    ///
    /// Not `Result::and_then`: `f` returns a handle ([`AsyncResult`], or the
    /// `followup::Result<AsyncResult<_>>` of issuing one), not a `Result` of a value. For a
    /// step that computes a plain value use [`map`](Self::map); for one that returns a
    /// `followup::Result`, use `map` then [`flatten`](Self::flatten).
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let p = pool.clone();
    /// let h = pool.apply_async(|| 3).unwrap().and_then(move |v| p.apply_async(move || v * 10));
    /// assert_eq!(h.get(), Ok(30));
    /// ```
    ///
    /// A closure returning a `Result` of a value, as `Result::and_then` would take, is refused
    /// at compile time with a message that says so:
    ///
    /// ```compile_fail
    /// let pool = followup::ThreadPool::with_workers(1).unwrap();
    /// let h = pool.apply_async(|| 3).unwrap().and_then(|v| Ok::<_, followup::Error>(v + 1));
    /// ```
    pub fn and_then<U, R, F>(self, f: F) -> AsyncResult<U>
    where
        U: Send + 'static,
        R: IntoAsyncResult<U>,
        F: FnOnce(T) -> R + Send + 'static,
    {
        let (promise, flattened) = self.promise::<U>();
        let fulfil = Arc::clone(&promise);
        let step = chain_ok(self, move |v: T| {
            match f(v).into_async_result() {
                Ok(inner) => {
                    let forward = Arc::clone(&fulfil);
                    inner.on_outcome(move |outcome| {
                        forward.fulfil(outcome);
                    });
                }
                Err(e) => {
                    fulfil.fulfil(Err(e));
                }
            }
            Ok(())
        });
        // A failed parent skips the step: its error (or a refusal, or a cancellation of the
        // step) reaches the promise here.
        step.on_outcome(move |r: Result<()>| {
            if let Err(e) = r {
                promise.fulfil(Err(e));
            }
        });
        flattened
    }

    /// The tutorial's conditional follow-up in one call: on success, if `test` passes, runs
    /// `f` with the value as a follow-up task and yields `Some` of its result; otherwise
    /// `None`.
    ///
    /// ```
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let big = pool.apply_async(|| 0.9).unwrap().when(|v| *v > 0.5, |v| v * 2.0);
    /// let small = pool.apply_async(|| 0.1).unwrap().when(|v| *v > 0.5, |v| v * 2.0);
    /// assert_eq!(big.get(), Ok(Some(1.8)));
    /// assert_eq!(small.get(), Ok(None));
    /// ```
    pub fn when<U, P, F>(self, test: P, f: F) -> AsyncResult<Option<U>>
    where
        U: Send + 'static,
        P: FnOnce(&T) -> bool + Send + 'static,
        F: FnOnce(T) -> U + Send + 'static,
    {
        chain_ok(self, move |v| Ok(if test(&v) { Some(f(v)) } else { None }))
    }

    /// A deadline on the work itself (not on waiting for it): if it has not finished within
    /// `limit`, the returned handle resolves to [`Error::DeadlineExceeded`] and the work is
    /// cancelled if it has not started, or asked to stop ([`crate::is_cancelled`]) if it has.
    /// To give up *waiting* instead, use [`get_timeout`](Self::get_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = followup::ThreadPool::with_workers(1).unwrap();
    /// let slow = pool.apply_async(|| {
    ///     while !followup::is_cancelled() { std::thread::sleep(Duration::from_millis(1)); }
    ///     "stopped"
    /// }).unwrap();
    /// let h = slow.timeout(Duration::from_millis(20));
    /// assert_eq!(h.get(), Err(followup::Error::DeadlineExceeded));
    /// ```
    pub fn timeout(self, limit: Duration) -> AsyncResult<T> {
        let (promise, limited) = self.promise::<T>();
        let (on_time, late) = (Arc::clone(&promise), promise);
        let source = self.canceller();
        self.on_outcome(move |outcome| {
            on_time.fulfil(outcome);
        });
        // A limit too large for the clock is no deadline at all: no timer is set.
        if let Some(at) = deadline(limit) {
            timer::at(at, move || {
                // Cancel first, publish second: whoever the deadline wakes sees the work stopped.
                late.decide(|| {
                    source.cancel();
                    Err(Error::DeadlineExceeded)
                });
            });
        }
        limited
    }
}

impl<U: Send + 'static, E: Send + 'static> AsyncResult<std::result::Result<U, E>> {
    /// For a task whose value is itself a `Result`: one handle whose error is either the
    /// pool's (the task panicked, was cancelled, ...) or the task's own, converted into
    /// [`Error`]. Like `Result::flatten`; a success is passed on as a follow-up step (a
    /// continuation), an error at once. To keep your own error type instead, read with
    /// [`try_get`](AsyncResult::try_get).
    ///
    /// ```
    /// use followup::Error;
    /// let pool = followup::ThreadPool::with_workers(2).unwrap();
    /// let p = pool.clone();
    /// // A task that waits for another one returns a `followup::Result`:
    /// let nested = pool.apply_async(move || p.apply(|| 21)).unwrap();
    /// assert_eq!(nested.flatten().map(|v| v * 2).get(), Ok(42));
    /// let refused = pool.apply_async(|| -> followup::Result<u8> { Err(Error::Cancelled) });
    /// assert_eq!(refused.unwrap().flatten().get(), Err(Error::Cancelled));
    /// ```
    pub fn flatten(self) -> AsyncResult<U>
    where
        E: Into<Error>,
    {
        chain_ok(self, |r: std::result::Result<U, E>| r.map_err(Into::into))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, ThreadPool};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn cancelling_the_root_of_a_million_step_chain_resolves_it_without_a_worker_or_deep_stack() {
        let pool = ThreadPool::with_workers(1).unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        // Occupy the only worker, so nothing below can run on the pool.
        let blocker = pool
            .apply_async(move || {
                started_tx.send(()).unwrap();
                gate.recv_timeout(Duration::from_secs(30)).ok();
            })
            .unwrap();
        started.recv_timeout(Duration::from_secs(30)).unwrap();
        let root = pool.apply_async(|| 0u64).unwrap();
        let cancel = root.canceller();
        let mut h = root;
        for _ in 0..1_000_000 {
            h = h.map(|x| x + 1);
        }
        assert!(cancel.cancel());
        let mut h = h;
        assert_eq!(
            h.get_timeout(Duration::from_secs(30)),
            Err(Error::Cancelled)
        );
        release.send(()).unwrap();
        blocker.get().unwrap();
    }
}
