//! Fan-in: one handle for many. `all` (values in input order; the first error cancels the
//! rest), `all_settled` (every outcome), `any` (the first success; the losers are cancelled).
//!
//! None of these is a task: each input's outcome is recorded on the thread that resolved it,
//! and the last one (or the deciding one) resolves the combined promise.

use crate::error::{Error, Result};
use crate::sync::{lock, Arc, Mutex};
use crate::task::core::Promise;
use crate::task::{AsyncResult, Canceller, Scheduler};
use std::sync::atomic::{AtomicUsize, Ordering};

struct FanIn<T, R> {
    slots: Mutex<Vec<Option<Result<T>>>>,
    remaining: AtomicUsize,
    cancellers: Vec<Canceller>,
    promise: Arc<Promise<R>>,
}

impl<T, R> FanIn<T, R> {
    fn cancel_all(&self) {
        for c in &self.cancellers {
            c.cancel();
        }
    }
}

/// Wires every handle to `on_outcome(shared, index, outcome)` and returns the combined handle.
fn fan_in<T, R>(
    pool: &Scheduler,
    handles: Vec<AsyncResult<T>>,
    on_outcome: impl Fn(&FanIn<T, R>, usize, Result<T>) + Send + Sync + 'static,
    on_empty: impl FnOnce() -> Result<R>,
) -> AsyncResult<R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    if handles.is_empty() {
        return pool.resolved(on_empty());
    }
    let (promise, combined) = pool.promise();
    let shared = Arc::new(FanIn {
        slots: Mutex::new((0..handles.len()).map(|_| None).collect()),
        remaining: AtomicUsize::new(handles.len()),
        cancellers: handles.iter().map(AsyncResult::canceller).collect(),
        promise: Arc::clone(&promise),
    });
    let on_outcome = Arc::new(on_outcome);
    for (i, h) in handles.into_iter().enumerate() {
        let (shared, on_outcome) = (Arc::clone(&shared), Arc::clone(&on_outcome));
        h.on_outcome(move |outcome| on_outcome(&shared, i, outcome));
    }
    combined
}

/// Stores outcome `i`; returns every outcome, in order, if it was the last.
fn record<T, R>(f: &FanIn<T, R>, i: usize, outcome: Result<T>) -> Option<Vec<Result<T>>> {
    lock(&f.slots)[i] = Some(outcome);
    if f.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        Some(
            lock(&f.slots)
                .iter_mut()
                .map(|s| s.take().unwrap_or(Err(Error::ResultTaken)))
                .collect(),
        )
    } else {
        None
    }
}

pub(crate) fn all<T: Send + 'static>(
    pool: &Scheduler,
    handles: Vec<AsyncResult<T>>,
) -> AsyncResult<Vec<T>> {
    fan_in(
        pool,
        handles,
        |f, i, outcome| {
            if let Err(e) = &outcome {
                let e = e.clone();
                f.promise.decide(|| {
                    f.cancel_all();
                    Err(e)
                });
            }
            if let Some(all) = record(f, i, outcome) {
                f.promise.fulfil(all.into_iter().collect());
            }
        },
        || Ok(Vec::new()),
    )
}

pub(crate) fn all_settled<T: Send + 'static>(
    pool: &Scheduler,
    handles: Vec<AsyncResult<T>>,
) -> AsyncResult<Vec<Result<T>>> {
    fan_in(
        pool,
        handles,
        |f, i, outcome| {
            if let Some(all) = record(f, i, outcome) {
                f.promise.fulfil(Ok(all));
            }
        },
        || Ok(Vec::new()),
    )
}

pub(crate) fn any<T: Send + 'static>(
    pool: &Scheduler,
    handles: Vec<AsyncResult<T>>,
) -> AsyncResult<T> {
    fan_in(
        pool,
        handles,
        |f: &FanIn<T, T>, i, outcome| match outcome {
            Ok(v) => {
                f.promise.decide(|| {
                    f.cancel_all();
                    Ok(v)
                });
                f.remaining.fetch_sub(1, Ordering::AcqRel);
            }
            Err(e) => {
                if let Some(all) = record(f, i, Err(e)) {
                    let mut errors = all.into_iter().filter_map(Result::err);
                    if let Some(first) = errors.next() {
                        let others = errors.count();
                        let e = if others == 0 {
                            first
                        } else {
                            Error::Group {
                                first: Box::new(first),
                                others,
                            }
                        };
                        f.promise.fulfil(Err(e));
                    }
                }
            }
        },
        || {
            Err(Error::InvalidArgument(
                "any() needs at least one handle".into(),
            ))
        },
    )
}
