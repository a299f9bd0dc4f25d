//! [`ThreadPoolBuilder`]: worker count, thread names, stack size, per-worker initializer.

use super::ThreadPool;
use crate::engine::{EngineConfig, Initializer};
use crate::error::{Error, Result};
use std::fmt;
use std::sync::Arc;

/// Configures and starts a [`ThreadPool`] (Python's `ThreadPool(processes, initializer,
/// initargs)`, plus thread names and stack size).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&started);
/// let pool = followup::ThreadPool::builder()
///     .workers(3)
///     .thread_name_prefix("crunch-")
///     .stack_size(1 << 20)
///     .initializer(move |_worker_index| { seen.fetch_add(1, Ordering::SeqCst); })
///     .build()
///     .unwrap();
/// // Every initializer has run by the time `build` returns.
/// assert_eq!(started.load(Ordering::SeqCst), 3);
/// let name = pool.apply(|| std::thread::current().name().unwrap().to_string()).unwrap();
/// assert!(name.starts_with("crunch-"));
/// ```
#[derive(Clone, Default)]
pub struct ThreadPoolBuilder {
    workers: Option<usize>,
    thread_name_prefix: Option<String>,
    stack_size: Option<usize>,
    initializer: Option<Initializer>,
    on_idle: Option<Initializer>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("workers", &self.workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("stack_size", &self.stack_size)
            .field("initializer", &self.initializer.is_some())
            .field("on_idle", &self.on_idle.is_some())
            .finish()
    }
}

impl ThreadPoolBuilder {
    /// A builder with the defaults: one worker per available core, threads named
    /// `followup-0`, `followup-1`, ..., the platform's stack size, no initializer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads. Zero is refused by [`build`](Self::build).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Worker threads are named this prefix followed by their index.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Stack size of each worker thread, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs once on each worker, before its first task, with the worker's index (Python's
    /// `initializer`/`initargs`; capture the arguments in the closure). If it panics, `build`
    /// fails with [`Error::InitializerPanicked`] instead of leaving a pool that never runs
    /// anything (Python's hang).
    pub fn initializer(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// Runs on a worker, with its index, each time it runs out of work, before it looks
    /// further or sleeps: a place to give back what the worker holds only while busy (the
    /// Python binding releases the interpreter lock there, which it keeps across a worker's
    /// consecutive tasks). Keep it short; a panic in it is contained. It runs inside no task,
    /// so work it submits counts as submitted from outside the pool: refused with `Closed`
    /// once the pool is closed.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let idles = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&idles);
    /// let pool = followup::ThreadPool::builder()
    ///     .workers(1)
    ///     .on_idle(move |_worker| { seen.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// pool.apply(|| ()).unwrap();
    /// pool.close();
    /// pool.join().unwrap();
    /// assert!(idles.load(Ordering::SeqCst) >= 1);
    /// ```
    pub fn on_idle(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_idle = Some(Arc::new(f));
        self
    }

    /// Starts the workers and returns the pool once every initializer has run.
    pub fn build(self) -> Result<ThreadPool> {
        let workers = match self.workers {
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "a pool needs at least one worker, got 0".into(),
                ))
            }
            Some(n) => n,
            None => default_workers(),
        };
        ThreadPool::start(EngineConfig {
            workers,
            thread_name_prefix: self
                .thread_name_prefix
                .unwrap_or_else(|| "followup-".into()),
            stack_size: self.stack_size,
            initializer: self.initializer,
            on_idle: self.on_idle,
        })
    }
}

/// The default worker count: the available parallelism (Python: `os.cpu_count()`).
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
