//! `imap` and `imap_unordered`: lazy, bounded-memory streaming maps.
//!
//! The input is pulled on the consumer's thread, a chunk at a time, only while fewer than
//! `window` chunks are in flight; so an endless input runs in bounded memory, the input need
//! not be `Send`, and it may borrow. (Python's task-handler thread reads the whole input ahead
//! of the consumer.)

use super::map::default_chunksize;
use super::ThreadPool;
use crate::engine::Engine;
use crate::error::{panic_message, Error, Result};
use crate::task::context::current_tracker;
use crate::task::issue::{issue_admitted, recv_helping};
use crate::task::tracker::Tracker;
use crate::task::Callbacks;
use crossbeam_channel::{Receiver, Sender};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest default chunk for an input of known length: keeps the window's memory bounded
/// however long the input is, while amortising per-task cost over many items.
const MAX_DEFAULT_CHUNK: usize = 1024;

/// Options for [`ThreadPool::imap_with`] and [`ThreadPool::imap_unordered_with`].
///
/// ```
/// use followup::{ImapOptions, ThreadPool};
///
/// let pool = ThreadPool::with_workers(2).unwrap();
/// // An endless input: only `window × chunksize` items are ever in memory.
/// let firsts: Vec<u64> = pool
///     .imap_with(|x: u64| x * 2, 0.., ImapOptions::new().chunksize(16).window(4))
///     .unwrap()
///     .take(100)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(firsts[99], 198);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ImapOptions {
    chunksize: Option<usize>,
    window: Option<usize>,
}

impl ImapOptions {
    /// Default options: see [`chunksize`](Self::chunksize) and [`window`](Self::window).
    pub fn new() -> Self {
        Self::default()
    }

    /// Items per task. Zero is an error. Default: for an input whose length is known
    /// (`size_hint`), Python's `map` heuristic capped at 1024; otherwise 1 (as Python's imap).
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = Some(n);
        self
    }

    /// Most chunks in flight at once (issued, result not yet consumed). Zero is an error.
    /// Default: 4 × workers.
    pub fn window(mut self, n: usize) -> Self {
        self.window = Some(n);
        self
    }
}

type ChunkResults<T> = (usize, Vec<Result<T>>);

/// What one call to [`Feeder::feed`] did.
struct Fed {
    /// A chunk was issued (it will send exactly one message).
    issued: bool,
    /// The input is finished: exhausted, or it panicked, or the pool refused more work.
    ended: bool,
    error: Option<Error>,
}

/// Pulls chunks from the input and issues them.
trait Feeder<T> {
    /// Pulls up to one chunk from the input and issues it as chunk number `chunk`.
    fn feed(&mut self, engine: &Arc<Engine>, chunk: usize) -> Fed;
}

struct InputFeeder<I, F> {
    input: I,
    f: Arc<F>,
    chunksize: usize,
    tracker: Option<Arc<Tracker>>,
}

impl<A, T, I, F> Feeder<T> for (InputFeeder<I, F>, Sender<ChunkResults<T>>)
where
    A: Send + 'static,
    T: Send + 'static,
    I: Iterator<Item = A>,
    F: Fn(A) -> T + Send + Sync + 'static,
{
    fn feed(&mut self, engine: &Arc<Engine>, chunk: usize) -> Fed {
        let (feeder, tx) = self;
        let chunksize = feeder.chunksize;
        // Grow as items arrive: a huge chunk size must not mean a huge allocation up front.
        let mut items = Vec::with_capacity(chunksize.min(MAX_DEFAULT_CHUNK));
        let pulled = catch_unwind(AssertUnwindSafe(|| {
            while items.len() < chunksize {
                match feeder.input.next() {
                    Some(a) => items.push(a),
                    None => break,
                }
            }
        }));
        let input_error = pulled.err().map(|p| Error::InputPanicked {
            message: panic_message(&*p),
        });
        let ended = items.len() < chunksize || input_error.is_some();
        if items.is_empty() {
            return Fed {
                issued: false,
                ended,
                error: input_error,
            };
        }
        if let Err(e) = engine.admit(true) {
            return Fed {
                issued: false,
                ended: true,
                error: Some(e),
            };
        }
        {
            let n = items.len();
            let f = Arc::clone(&feeder.f);
            let (tx_ok, tx_err) = (tx.clone(), tx.clone());
            let on_error = Callbacks::new().on_error(move |e: &Error| {
                let _ = tx_err.send((chunk, (0..n).map(|_| Err(e.clone())).collect()));
            });
            issue_admitted(
                engine,
                move || {
                    let results = items
                        .into_iter()
                        .map(|a| catch_unwind(AssertUnwindSafe(|| f(a))).map_err(Error::panicked))
                        .collect();
                    let _ = tx_ok.send((chunk, results));
                    Ok(())
                },
                on_error,
                feeder.tracker.clone(),
            );
        }
        Fed {
            issued: true,
            ended,
            error: input_error,
        }
    }
}

thread_local! {
    /// Streaming maps alive on this thread, per pool: `join` on this thread would wait for
    /// input that only this thread can pull, so it refuses instead.
    static LIVE_STREAMS: RefCell<Vec<*const Engine>> = const { RefCell::new(Vec::new()) };
}

/// True if this thread holds an unfinished `imap` of `engine`.
pub(crate) fn holds_stream(engine: &Engine) -> bool {
    LIVE_STREAMS.with(|l| l.borrow().iter().any(|&e| std::ptr::eq(e, engine)))
}

/// The machinery shared by [`Imap`] and [`ImapUnordered`].
struct Stream<'a, T> {
    engine: Arc<Engine>,
    feeder: Box<dyn Feeder<T> + 'a>,
    rx: Receiver<ChunkResults<T>>,
    ordered: bool,
    window: usize,
    issued: usize,
    received: usize,
    /// While the input is not exhausted, the stream holds one admission, so the pool cannot
    /// go quiet (and `join` cannot return) before it has issued everything.
    holds_admission: bool,
    input_error: Option<Error>,
    current: VecDeque<Result<T>>,
    reorder: BTreeMap<usize, Vec<Result<T>>>,
    next_chunk: usize,
}

impl<'a, T: Send + 'static> Stream<'a, T> {
    fn new<A, I, F>(
        pool: &ThreadPool,
        f: F,
        input: I,
        options: ImapOptions,
        ordered: bool,
    ) -> Result<Self>
    where
        A: Send + 'static,
        I: Iterator<Item = A> + 'a,
        F: Fn(A) -> T + Send + Sync + 'static,
    {
        let engine = Arc::clone(pool.engine());
        let chunksize = match options.chunksize {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "chunksize must be at least 1, got 0".into(),
                ))
            }
            Some(n) => n,
            None => match input.size_hint() {
                (lo, Some(hi)) if lo == hi => {
                    default_chunksize(lo, engine.workers()).min(MAX_DEFAULT_CHUNK)
                }
                _ => 1,
            },
        };
        let window = match options.window {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "window must be at least 1, got 0".into(),
                ))
            }
            Some(n) => n,
            None => 4 * engine.workers(),
        };
        engine.admit(engine.on_own_worker())?;
        LIVE_STREAMS.with(|l| l.borrow_mut().push(Arc::as_ptr(&engine)));
        let (tx, rx) = crossbeam_channel::unbounded();
        let feeder = InputFeeder {
            input,
            f: Arc::new(f),
            chunksize,
            tracker: current_tracker(),
        };
        Ok(Stream {
            engine,
            feeder: Box::new((feeder, tx)),
            rx,
            ordered,
            window,
            issued: 0,
            received: 0,
            holds_admission: true,
            input_error: None,
            current: VecDeque::new(),
            reorder: BTreeMap::new(),
            next_chunk: 0,
        })
    }

    /// Issues chunks until `window` are in flight or the input ends.
    fn top_up(&mut self) {
        // A chunk counts against the window until it is handed to the consumer: for an
        // ordered stream that includes chunks parked behind a slow earlier one, so a single
        // straggler cannot make the reorder buffer grow without bound.
        let handed_out = if self.ordered {
            self.next_chunk
        } else {
            self.received
        };
        while self.holds_admission && self.issued - handed_out < self.window {
            let fed = self.feeder.feed(&self.engine, self.issued);
            if fed.issued {
                self.issued += 1;
            }
            if fed.ended {
                self.input_error = fed.error;
                self.release_admission();
            }
        }
    }

    fn next_until(&mut self, until: Option<Instant>) -> Option<Result<T>> {
        loop {
            self.top_up();
            if let Some(item) = self.current.pop_front() {
                return Some(item);
            }
            if self.ordered {
                if let Some(chunk) = self.reorder.remove(&self.next_chunk) {
                    self.next_chunk += 1;
                    self.current = chunk.into();
                    continue;
                }
            }
            if self.received == self.issued && !self.holds_admission {
                return self.input_error.take().map(Err);
            }
            match recv_helping(&self.engine, &self.rx, until) {
                Ok((chunk, results)) => {
                    self.received += 1;
                    if self.ordered {
                        self.reorder.insert(chunk, results);
                    } else {
                        self.current = results.into();
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<T> Stream<'_, T> {
    fn release_admission(&mut self) {
        if self.holds_admission {
            self.holds_admission = false;
            self.engine.finish_one();
            let me = Arc::as_ptr(&self.engine);
            LIVE_STREAMS.with(|l| {
                let mut l = l.borrow_mut();
                if let Some(pos) = l.iter().position(|&e| std::ptr::eq(e, me)) {
                    l.swap_remove(pos);
                }
            });
        }
    }
}

impl<T> Drop for Stream<'_, T> {
    fn drop(&mut self) {
        // Chunks in flight still run (they are counted); their results go nowhere.
        self.release_admission();
    }
}

/// The results of [`ThreadPool::imap`], in input order (Python's `IMapIterator`).
///
/// Items are `Result`s: a failed item yields its error and the stream goes on. If the input
/// iterator panics, the items before it are yielded, then an
/// [`Error::InputPanicked`], then the end. Dropping the iterator early stops pulling input;
/// chunks already issued still run.
///
/// ```
/// let pool = followup::ThreadPool::with_workers(2).unwrap();
/// let out: Vec<_> = pool.imap(|x: i32| 10 / x, vec![5, 0, 2]).unwrap().collect();
/// assert_eq!(out[0], Ok(2));
/// assert!(out[1].as_ref().unwrap_err().is_panic());
/// assert_eq!(out[2], Ok(5));
/// ```
#[must_use = "an imap does nothing more unless iterated"]
pub struct Imap<'a, T> {
    stream: Stream<'a, T>,
}

/// The results of [`ThreadPool::imap_unordered`], in completion order (Python's
/// `IMapUnorderedIterator`). Same rules as [`Imap`] otherwise.
#[must_use = "an imap_unordered does nothing more unless iterated"]
pub struct ImapUnordered<'a, T> {
    stream: Stream<'a, T>,
}

macro_rules! stream_iterator {
    ($name:ident) => {
        impl<T: Send + 'static> $name<'_, T> {
            /// The next result, waiting at most `timeout`. `Some(Err(Error::Timeout))` means
            /// nothing arrived in time; the iterator stays usable and a later call returns the
            /// item (Python's `next(timeout)`).
            pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<T>> {
                self.stream.next_until(crate::deadline::deadline(timeout))
            }
        }

        impl<T: Send + 'static> Iterator for $name<'_, T> {
            type Item = Result<T>;

            fn next(&mut self) -> Option<Result<T>> {
                self.stream.next_until(None)
            }
        }

        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("issued_chunks", &self.stream.issued)
                    .field("received_chunks", &self.stream.received)
                    .field("window", &self.stream.window)
                    .finish_non_exhaustive()
            }
        }
    };
}

stream_iterator!(Imap);
stream_iterator!(ImapUnordered);

impl ThreadPool {
    /// Applies `f` to each input item lazily and yields the results in input order (Python's
    /// `imap`). The input is pulled on the iterating thread through a bounded window, so an
    /// endless input runs in bounded memory; it may borrow and need not be `Send`.
    pub fn imap<'a, A, T, F, I>(&self, f: F, items: I) -> Result<Imap<'a, T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_with(f, items, ImapOptions::new())
    }

    /// [`imap`](Self::imap) with a chunk size and window.
    pub fn imap_with<'a, A, T, F, I>(
        &self,
        f: F,
        items: I,
        options: ImapOptions,
    ) -> Result<Imap<'a, T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        Ok(Imap {
            stream: Stream::new(self, f, items.into_iter(), options, true)?,
        })
    }

    /// Like [`imap`](Self::imap), but yields results as they complete (Python's
    /// `imap_unordered`); within one chunk, input order is kept.
    pub fn imap_unordered<'a, A, T, F, I>(&self, f: F, items: I) -> Result<ImapUnordered<'a, T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        self.imap_unordered_with(f, items, ImapOptions::new())
    }

    /// [`imap_unordered`](Self::imap_unordered) with a chunk size and window.
    pub fn imap_unordered_with<'a, A, T, F, I>(
        &self,
        f: F,
        items: I,
        options: ImapOptions,
    ) -> Result<ImapUnordered<'a, T>>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: Fn(A) -> T + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        Ok(ImapUnordered {
            stream: Stream::new(self, f, items.into_iter(), options, false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ThreadPool;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread; fails instead of hanging if it takes longer than 30 s.
    fn bounded(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("did not finish within 30 s (hang?)");
    }

    #[test]
    fn dropping_the_pool_while_this_thread_holds_an_imap_does_not_wait_for_it() {
        bounded(|| {
            let pool = ThreadPool::with_workers(2).unwrap();
            let mut it = pool.imap(|x: u32| x, 0..100u32).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            drop(pool);
            assert_eq!(it.map(Result::unwrap).count(), 99);
        });
    }

    #[test]
    fn join_refuses_while_this_thread_holds_an_undrained_imap() {
        bounded(|| {
            let pool = ThreadPool::with_workers(1).unwrap();
            let opts = super::ImapOptions::new().chunksize(1).window(2);
            let mut it = pool.imap_with(|x: u32| x, 0..1000u32, opts).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            pool.close();
            assert_eq!(pool.join(), Err(crate::Error::UnfinishedStream));
            assert_eq!(it.map(Result::unwrap).sum::<u32>(), 499_500);
            pool.join().unwrap();
        });
    }

    #[test]
    fn a_fully_issued_imap_does_not_hold_join_back() {
        bounded(|| {
            let pool = ThreadPool::with_workers(1).unwrap();
            let opts = super::ImapOptions::new().chunksize(4).window(4);
            let mut it = pool.imap_with(|x: u32| x, 0..10u32, opts).unwrap();
            assert_eq!(it.next(), Some(Ok(0)));
            pool.close();
            // Every chunk was issued by the first `next`: the results wait in the iterator.
            pool.join().unwrap();
            assert_eq!(it.map(Result::unwrap).sum::<u32>(), 45);
        });
    }
}

#[cfg(test)]
mod window_tests {
    use crate::{ImapOptions, ThreadPool};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_slow_head_item_does_not_let_ordered_imap_read_ahead_without_bound() {
        let pool = ThreadPool::with_workers(2).unwrap();
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pulled);
        let input = (0..100_000u32).inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        });
        let opts = ImapOptions::new().chunksize(4).window(3);
        let mut it = pool
            .imap_with(
                |x: u32| {
                    if x == 0 {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    x
                },
                input,
                opts,
            )
            .unwrap();
        assert_eq!(it.next_timeout(Duration::from_secs(30)), Some(Ok(0)));
        // While item 0 was slow, at most `window` chunks (plus one partial pull) were read.
        assert!(
            pulled.load(Ordering::SeqCst) <= 4 * 4,
            "pulled {}",
            pulled.load(Ordering::SeqCst)
        );
        drop(it);
    }
}
