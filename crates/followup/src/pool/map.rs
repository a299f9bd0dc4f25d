//! `map` and `map_async`: a function over a finite input, in chunks, results in input order.

use super::ThreadPool;
use crate::error::{panic_message, Error, Result};
use crate::sync::lock;
use crate::task::context::current_tracker;
use crate::task::core::Promise;
use crate::task::issue::issue_held;
use crate::task::{AsyncResult, Callbacks};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type OnItem<T> = Arc<dyn Fn(usize, &Result<T>) + Send + Sync>;

/// Options for [`ThreadPool::map_with`] and [`ThreadPool::map_async_with`]: chunk size, the
/// whole-result callbacks (Python's `callback`/`error_callback`) and a per-item callback.
///
/// ```
/// use followup::{MapOptions, ThreadPool};
/// use std::sync::{Arc, Mutex};
///
/// let pool = ThreadPool::with_workers(2).unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = Arc::clone(&seen);
/// let opts = MapOptions::new()
///     .chunksize(2)
///     .on_item(move |i, r: &followup::Result<u32>| s.lock().unwrap().push((i, *r.as_ref().unwrap())))
///     .callback(|all: &Vec<u32>| assert_eq!(all.len(), 5));
/// let squares = pool.map_async_with(|x: u32| x * x, 0..5, opts).unwrap().get().unwrap();
/// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
/// assert_eq!(seen.lock().unwrap().len(), 5); // every item was reported as it completed
/// ```
pub struct MapOptions<T> {
    chunksize: Option<usize>,
    callbacks: Callbacks<Vec<T>>,
    on_item: Option<OnItem<T>>,
}

impl<T> Default for MapOptions<T> {
    fn default() -> Self {
        MapOptions {
            chunksize: None,
            callbacks: Callbacks::new(),
            on_item: None,
        }
    }
}

impl<T> fmt::Debug for MapOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapOptions")
            .field("chunksize", &self.chunksize)
            .field("callbacks", &self.callbacks)
            .field("on_item", &self.on_item.is_some())
            .finish()
    }
}

impl<T> MapOptions<T> {
    /// Default options: Python's chunk-size heuristic, no callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Items per task. Zero is an error. Default: `ceil(len / (4 × workers))`, as Python.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// Called once with the whole result vector, before the handle reports ready. Unlike
    /// Python, it is also called (with an empty vector) for an empty input.
    pub fn callback(mut self, f: impl FnOnce(&Vec<T>) + Send + 'static) -> Self {
        self.callbacks = self.callbacks.on_success(f);
        self
    }

    /// Called once with the error if any item failed.
    pub fn error_callback(mut self, f: impl FnOnce(&Error) + Send + 'static) -> Self {
        self.callbacks = self.callbacks.on_error(f);
        self
    }

    /// Called on the worker as each item completes, with its input index and outcome, so
    /// follow-ups can start while the rest of the map is still running (Python has only the
    /// whole-list callback). A panic here makes that item's result
    /// [`Error::CallbackPanicked`].
    pub fn on_item(mut self, f: impl Fn(usize, &Result<T>) + Send + Sync + 'static) -> Self {
        self.on_item = Some(Arc::new(f));
        self
    }
}

/// Python's default: `ceil(len / (4 × workers))`.
pub(crate) fn default_chunksize(len: usize, workers: usize) -> usize {
    len.div_ceil(4 * workers.max(1)).max(1)
}

/// What the chunks of one `map_async` share.
struct MapJob<A, T, F> {
    f: F,
    chunksize: usize,
    len: usize,
    /// One slot per chunk, filled with its values as chunks finish. Errors are not stored:
    /// only the lowest failing index matters, and it is kept in `first_error`.
    slots: Mutex<Vec<Option<Vec<T>>>>,
    remaining: AtomicUsize,
    /// Lowest failing input index and its error (deterministic, unlike Python's first-arrived).
    first_error: Mutex<Option<(usize, Error)>>,
    callbacks: Mutex<Option<Callbacks<Vec<T>>>>,
    on_item: Option<OnItem<T>>,
    promise: Arc<Promise<Vec<T>>>,
    _input: std::marker::PhantomData<fn(A)>,
}

impl<A, T, F> MapJob<A, T, F>
where
    T: Send + 'static,
    F: Fn(A) -> T,
{
    fn note_error(&self, index: usize, error: &Error) {
        let mut first = lock(&self.first_error);
        if first.as_ref().is_none_or(|(i, _)| index < *i) {
            *first = Some((index, error.clone()));
        }
    }

    fn run_chunk(&self, chunk: usize, items: Vec<A>) {
        let start = chunk * self.chunksize;
        let values = match &self.on_item {
            None => self.run_plain(start, items),
            Some(cb) => self.run_reporting(start, items, cb),
        };
        lock(&self.slots)[chunk] = Some(values);
        self.chunk_done();
    }

    /// Without a per-item callback: one unwind guard per run of items that do not panic, so
    /// a chunk that never fails pays for one, and values go straight into the vector.
    fn run_plain(&self, start: usize, items: Vec<A>) -> Vec<T> {
        let mut values = Vec::with_capacity(items.len());
        let mut items = items.into_iter();
        let mut next = start;
        loop {
            let ran = catch_unwind(AssertUnwindSafe(|| {
                for item in items.by_ref() {
                    next += 1;
                    values.push((self.f)(item));
                }
            }));
            match ran {
                Ok(()) => return values,
                Err(p) => self.note_error(next - 1, &Error::panicked(p)),
            }
        }
    }

    /// With a per-item callback: each item's outcome is reported as it completes.
    fn run_reporting(&self, start: usize, items: Vec<A>, cb: &OnItem<T>) -> Vec<T> {
        let mut values = Vec::with_capacity(items.len());
        for (k, item) in items.into_iter().enumerate() {
            let mut r = catch_unwind(AssertUnwindSafe(|| (self.f)(item))).map_err(Error::panicked);
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(start + k, &r))) {
                r = Err(Error::callback_panicked(p, r.err()));
            }
            match r {
                Ok(v) => values.push(v),
                Err(e) => self.note_error(start + k, &e),
            }
        }
        values
    }

    /// A chunk with no items (the input ended before its promised length).
    fn skip_chunk(&self, chunk: usize) {
        lock(&self.slots)[chunk] = Some(Vec::new());
        self.chunk_done();
    }

    /// A chunk that never ran (terminated, cancelled group).
    fn fail_chunk(&self, chunk: usize, error: &Error) {
        self.note_error(chunk * self.chunksize, error);
        self.chunk_done();
    }

    fn chunk_done(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish();
        }
    }

    fn finish(&self) {
        let outcome = match lock(&self.first_error).take() {
            Some((_, e)) => Err(e),
            None => {
                let mut all = Vec::with_capacity(self.len);
                for slot in lock(&self.slots).iter_mut() {
                    all.extend(slot.take().into_iter().flatten());
                }
                Ok(all)
            }
        };
        let outcome = match lock(&self.callbacks).take() {
            Some(cbs) => cbs.apply(outcome),
            None => outcome,
        };
        self.promise.fulfil(outcome);
    }
}

impl ThreadPool {
    /// Applies `f` to every item and returns the results in input order (Python's `map`;
    /// `starmap` is `map` over tuples). Not fail-fast: after every chunk finished, the error of
    /// the lowest failing index is returned.
    pub fn map<A, T, F, I>(&self, f: F, items: I) -> Result<Vec<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, MapOptions::new())?.get()
    }

    /// [`map`](Self::map) with options (chunk size, callbacks).
    pub fn map_with<A, T, F, I>(&self, f: F, items: I, options: MapOptions<T>) -> Result<Vec<T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, options)?.get()
    }

    /// Issues `f` over every item and returns one handle to the whole result vector
    /// (Python's `map_async`). The input is read on this thread before this returns: an
    /// input of exact length (`size_hint`) is cut into chunks as it is read, each issued at
    /// once; any other is collected first.
    pub fn map_async<A, T, F, I>(&self, f: F, items: I) -> Result<AsyncResult<Vec<T>>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_with(f, items, MapOptions::new())
    }

    /// [`map_async`](Self::map_async) with options: chunk size, whole-result callback and
    /// error callback, per-item callback.
    pub fn map_async_with<A, T, F, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions<T>,
    ) -> Result<AsyncResult<Vec<T>>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
    {
        if options.chunksize == Some(0) {
            return Err(Error::InvalidArgument(
                "chunksize must be at least 1, got 0".into(),
            ));
        }
        let engine = self.engine();
        let mut items = items.into_iter();
        // An input that tells its exact length is cut into chunks as it is read, each issued
        // at once (the workers start while the rest is read, and items are copied once);
        // any other input is collected first, to learn its length.
        let (len, mut collected) = match items.size_hint() {
            (lo, Some(hi)) if lo == hi => (lo, None),
            _ => {
                let all: Vec<A> = catch_unwind(AssertUnwindSafe(|| items.by_ref().collect()))
                    .map_err(|p| Error::InputPanicked {
                        message: panic_message(&*p),
                    })?;
                (all.len(), Some(all.into_iter()))
            }
        };
        // One hold covers the whole call: while it is held the pool cannot go quiet, so the
        // chunks below are admitted as follow-ups of it. Every return below releases it.
        let call = engine.hold()?;
        let tracker = current_tracker();
        let chunksize = options
            .chunksize
            .unwrap_or_else(|| default_chunksize(len, engine.workers()));
        let chunks = len.div_ceil(chunksize);
        let promise = Arc::new(Promise::new(tracker.clone()));
        let job = Arc::new(MapJob {
            f,
            chunksize,
            len,
            slots: Mutex::new((0..chunks).map(|_| None).collect()),
            remaining: AtomicUsize::new(chunks),
            first_error: Mutex::new(None),
            callbacks: Mutex::new(Some(options.callbacks)),
            on_item: options.on_item,
            promise: Arc::clone(&promise),
            _input: std::marker::PhantomData,
        });
        if chunks == 0 {
            job.finish();
        }
        let mut short = None;
        for chunk in 0..chunks {
            if short.is_some() {
                job.skip_chunk(chunk);
                continue;
            }
            let want = chunksize.min(len - chunk * chunksize);
            let part: Vec<A> = match collected.as_mut() {
                Some(all) => all.by_ref().take(want).collect(),
                None => {
                    let mut part = Vec::with_capacity(want);
                    let read = catch_unwind(AssertUnwindSafe(|| {
                        part.extend(items.by_ref().take(want));
                    }));
                    if let Err(p) = read {
                        // The chunks issued so far still run; nobody will read their result.
                        return Err(Error::InputPanicked {
                            message: panic_message(&*p),
                        });
                    }
                    if part.len() < want {
                        // The input ended before its promised length: what it gave is the
                        // input (as if collected); the chunks never cut are empty.
                        short = Some(chunk);
                    }
                    part
                }
            };
            let unit = match call.another() {
                Ok(unit) => unit,
                Err(e) => {
                    job.fail_chunk(chunk, &e);
                    continue;
                }
            };
            let (run, fail) = (Arc::clone(&job), Arc::clone(&job));
            let on_error = Callbacks::new().on_error(move |e: &Error| fail.fail_chunk(chunk, e));
            issue_held(
                unit,
                move || {
                    run.run_chunk(chunk, part);
                    Ok(())
                },
                on_error,
                tracker.clone(),
            );
        }
        if collected.is_none() && short.is_none() {
            let more = catch_unwind(AssertUnwindSafe(|| items.next().is_some()));
            if !matches!(more, Ok(false)) {
                // Issued chunks still run; nobody will read their result.
                return Err(match more {
                    Err(p) => Error::InputPanicked {
                        message: panic_message(&*p),
                    },
                    Ok(_) => Error::InvalidArgument(format!(
                        "the input yielded more than the {len} items its size_hint promised"
                    )),
                });
            }
        }
        drop(call);
        Ok(AsyncResult::new(promise, engine.handle_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::default_chunksize;
    use crate::{Error, MapOptions, ThreadPool};

    /// An input whose `size_hint` claims an exact length it does not keep.
    struct Lying(std::ops::Range<u32>, usize);

    impl Iterator for Lying {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.0.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.1, Some(self.1))
        }
    }

    /// Every unit a map call holds (the call's own, one per chunk) is released without
    /// leaking the engine: once the pool is joined and dropped, the engine is freed.
    #[test]
    fn map_releases_its_units_and_the_engine_is_freed() {
        let pool = ThreadPool::with_workers(2).unwrap();
        let engine = std::sync::Arc::downgrade(pool.engine());
        let opts = MapOptions::new().chunksize(2);
        assert_eq!(pool.map_with(|x: u32| x, 0..10, opts).unwrap().len(), 10);
        let p = pool.clone();
        let chained = pool.apply_async(move || p.apply_async(|| 1).unwrap().map(|x| x + 1));
        assert_eq!(chained.unwrap().get().unwrap().get().unwrap(), 2);
        pool.close();
        pool.join().unwrap();
        drop(pool);
        assert!(engine.upgrade().is_none(), "the engine outlived its pool");
    }

    #[test]
    fn an_input_shorter_than_its_exact_size_hint_maps_what_it_gave() {
        let pool = ThreadPool::with_workers(2).unwrap();
        let opts = MapOptions::new().chunksize(3);
        let out = pool
            .map_with(|x: u32| x * 2, Lying(0..5, 10), opts)
            .unwrap();
        assert_eq!(out, vec![0, 2, 4, 6, 8]);
    }

    #[test]
    fn an_input_longer_than_its_exact_size_hint_is_invalid_argument() {
        let pool = ThreadPool::with_workers(2).unwrap();
        let r = pool.map(|x: u32| x, Lying(0..12, 10));
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
        assert_eq!(pool.apply(|| 1), Ok(1));
    }

    #[test]
    fn chunksize_follows_python() {
        // The table in python-threadpool.md §1.2, 4 workers.
        for (len, want) in [(1, 1), (10, 1), (16, 1), (17, 2), (100, 7), (1000, 63)] {
            assert_eq!(default_chunksize(len, 4), want, "len {len}");
        }
    }
}
