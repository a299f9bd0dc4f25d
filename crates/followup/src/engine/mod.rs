//! The scheduler: worker threads, their queues, sleeping, and the pool's lifecycle.
//!
//! This layer runs [`JobRef`]s and knows nothing about results, callbacks or Python names.
//! Everything above talks to it through a narrow API: [`Engine::submit`] and
//! [`Engine::submit_detached`] (the one way a new job comes in), [`Hold`] (a unit of the
//! outstanding count as a value, for work that issues later) with [`Engine::submit_held`],
//! [`Engine::help_until`] (wait without starving the pool), and the lifecycle calls `close`,
//! `terminate`, `join`. The counting that makes `join` exact is private to this module:
//! `submit` (its docs state the rule), `lifecycle` (the counter and its orderings) and
//! `worker` (each worker's local credit of units, which keeps follow-ups off the counter).
//!
//! Files: `submit` (the way in), `worker` (a worker's loop, deque, credit, helping wait),
//! `sleep` (parking and waking), `advertised` (which deques may hold work), `lifecycle`
//! (open, closed, terminated, outstanding), `job` (the unit of work), `counters` (the
//! statistics).

mod advertised;
mod counters;
mod job;
mod lifecycle;
mod sleep;
mod submit;
mod worker;

pub(crate) use job::{Job, JobRef, Ran};
pub(crate) use submit::Hold;

use crate::error::{Error, Result};
use crate::sync::deque::{Injector, Steal, Stealer, Worker as Deque};
use crate::sync::thread::JoinHandle;
use crate::sync::{lock, wait_while, Condvar, Mutex, Parker};
use counters::{SharedCounters, WorkerCounters};
use crossbeam_utils::CachePadded;
use lifecycle::{Admission, Lifecycle};
use sleep::Sleep;
use std::cell::RefCell;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};
pub(crate) use worker::with_current_engine;
use worker::{run_worker, with_worker_in_job, with_worker_of, WorkerLocal};

/// A counted reference to an engine, held by result handles and continuations. Made on a
/// worker, it counts on that worker's own shard, so handles created and dropped there never
/// write the engine's shared reference count (a cache line every worker would fight over).
#[derive(Clone)]
pub(crate) enum EngineRef {
    Shared(Arc<Engine>),
    Shard(Arc<Shard>),
}

/// One worker's own counted reference to the engine (the extra indirection is the point: its
/// reference count lives on a cache line only that worker usually writes).
pub(crate) struct Shard(pub(crate) Arc<Engine>);

impl std::ops::Deref for EngineRef {
    type Target = Arc<Engine>;

    fn deref(&self) -> &Arc<Engine> {
        match self {
            EngineRef::Shared(e) => e,
            EngineRef::Shard(s) => &s.0,
        }
    }
}

/// A per-worker start hook: gets the worker index, runs once before the first job.
pub(crate) type Initializer = Arc<dyn Fn(usize) + Send + Sync>;

/// How to start the engine's threads.
pub(crate) struct EngineConfig {
    pub(crate) workers: usize,
    pub(crate) thread_name_prefix: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) initializer: Option<Initializer>,
    /// Called on a worker each time it runs out of work, before it searches or sleeps.
    pub(crate) on_idle: Option<Initializer>,
}

/// The shared heart of a pool.
pub(crate) struct Engine {
    injector: Injector<JobRef>,
    stealers: Box<[Stealer<JobRef>]>,
    /// Which deques may hold work (see `advertised`).
    advertised: advertised::Advertised,
    sleep: Sleep,
    lifecycle: Lifecycle,
    /// Waiters for quiescence (`join`) sleep here; signalled when `outstanding` reaches zero
    /// on a closed pool.
    quiet: Mutex<()>,
    quiet_cv: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Worker threads in their loop, and their start-up reports. Signalled on `live_cv` when
    /// a worker reports (`start` waits for every one) and when one leaves its loop (`join`
    /// with a timeout waits for none to run, instead of polling the handles).
    live: Mutex<Live>,
    live_cv: Condvar,
    /// Always-on statistics: one line per worker, written only by it, and one for the rest.
    counters: Box<[CachePadded<WorkerCounters>]>,
    outside_counters: SharedCounters,
    workers: usize,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("workers", &self.workers)
            .field("outstanding", &self.lifecycle.outstanding())
            .field("closed", &self.lifecycle.is_closed())
            .field("terminated", &self.lifecycle.is_terminated())
            .finish()
    }
}

/// The worker threads' start and exit, under one lock (`Engine::live`).
#[derive(Default)]
struct Live {
    /// Threads in their loop: counted before they report ready, uncounted as they leave.
    running: usize,
    /// Threads that reported after their initializer (`Engine::start` waits for all).
    reported: usize,
    /// The first failure reported.
    failure: Option<Error>,
}

/// A worker's one start-up report; a thread that unwinds before sending it reports that it
/// died. (A lock and a condvar rather than a channel: `crate::sync` offers no channel, and
/// sharing `live` with the exit count makes the report one critical section.)
struct Report(Option<Arc<Engine>>);

impl Report {
    /// Reports `outcome`; the worker counts as running from here if it is `Ok`.
    fn send(mut self, outcome: Result<()>) {
        self.deliver(outcome);
    }

    fn deliver(&mut self, outcome: Result<()>) {
        if let Some(engine) = self.0.take() {
            let mut live = lock(&engine.live);
            live.reported += 1;
            match outcome {
                Ok(()) => live.running += 1,
                Err(e) => live.failure = live.failure.take().or(Some(e)),
            }
            drop(live);
            engine.live_cv.notify_all();
        }
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.deliver(Err(Error::Spawn("a worker died at start".into())));
    }
}

impl Engine {
    /// Starts the worker threads; returns once every initializer has run.
    pub(crate) fn start(config: EngineConfig) -> Result<Arc<Engine>> {
        let n = config.workers;
        let deques: Vec<Deque<JobRef>> = (0..n).map(|_| Deque::new_lifo()).collect();
        let parkers: Vec<Parker> = (0..n).map(|_| Parker::new()).collect();
        let engine = Arc::new(Engine {
            injector: Injector::new(),
            stealers: deques.iter().map(Deque::stealer).collect(),
            advertised: advertised::Advertised::new(n),
            sleep: Sleep::new(&parkers),
            lifecycle: Lifecycle::new(),
            quiet: Mutex::new(()),
            quiet_cv: Condvar::new(),
            threads: Mutex::new(Vec::with_capacity(n)),
            live: Mutex::new(Live::default()),
            live_cv: Condvar::new(),
            counters: (0..n)
                .map(|_| CachePadded::new(WorkerCounters::new()))
                .collect(),
            outside_counters: SharedCounters::new(),
            workers: n,
        });
        #[cfg(loom)]
        engine.first_touch();
        let mut failure = None;
        for (index, (deque, parker)) in deques.into_iter().zip(parkers).enumerate() {
            let mut builder = crate::sync::thread::Builder::new()
                .name(format!("{}{}", config.thread_name_prefix, index));
            if let Some(size) = config.stack_size {
                builder = builder.stack_size(size);
            }
            let local = WorkerLocal::new(
                Arc::clone(&engine),
                index,
                deque,
                parker,
                config.on_idle.clone(),
            );
            let init = config.initializer.clone();
            let spawned = builder.spawn(move || {
                let report = Report(Some(Arc::clone(&local.engine)));
                let outcome = match init {
                    Some(init) => {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init(index)))
                            .map_err(|p| {
                                let e = Error::InitializerPanicked {
                                    worker: index,
                                    message: crate::error::panic_message(&*p),
                                };
                                crate::payload::drop_quietly(p);
                                e
                            })
                    }
                    None => Ok(()),
                };
                let ok = outcome.is_ok();
                report.send(outcome);
                if ok {
                    let engine = Arc::clone(&local.engine);
                    run_worker(local);
                    engine.worker_exited();
                }
            });
            match spawned {
                Ok(handle) => lock(&engine.threads).push(handle),
                Err(e) => {
                    failure = Some(Error::Spawn(e.to_string()));
                    break;
                }
            }
        }
        let started = lock(&engine.threads).len();
        let (mut live, _) = wait_while(&engine.live_cv, lock(&engine.live), None, |l| {
            l.reported < started
        });
        failure = failure.or(live.failure.take());
        drop(live);
        if let Some(e) = failure {
            engine.terminate();
            let _ = engine.join_threads(None);
            return Err(e);
        }
        Ok(engine)
    }

    /// Under loom, an atomic is created by its first access (`crate::sync::seq_cst`), and every
    /// later access must happen after that one: so the engine's are touched here, on the
    /// starting thread, before any worker exists (the deques touch theirs when created).
    #[cfg(loom)]
    fn first_touch(&self) {
        let _ = self.stats();
        let _ = self.lifecycle.is_closed();
        let _ = self.lifecycle.is_terminated();
        let _ = self.lifecycle.outstanding();
        self.sleep.first_touch();
        self.advertised.first_touch();
    }

    /// A reference for a result handle: the current worker's shard, if on one of ours.
    pub(crate) fn handle_ref(self: &Arc<Self>) -> EngineRef {
        with_worker_of(self, |w| match w {
            Some(w) => EngineRef::Shard(Arc::clone(&w.shard)),
            None => EngineRef::Shared(Arc::clone(self)),
        })
    }

    /// A snapshot of the statistics (see `crate::stats`).
    pub(crate) fn stats(&self) -> crate::stats::PoolStats {
        counters::snapshot(&self.counters, &self.outside_counters)
    }

    /// Number of worker threads.
    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// True if the current thread is one of this engine's workers running a job (so work it
    /// issues is a follow-up from inside the pool; the idle hook's is not).
    pub(crate) fn on_own_worker(&self) -> bool {
        with_worker_in_job(self, |w| w.is_some())
    }

    #[inline]
    pub(crate) fn is_terminated(&self) -> bool {
        self.lifecycle.is_terminated()
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.lifecycle.is_closed()
    }

    /// Counts one unit of work in, or refuses it. `internal` is true for work issued from
    /// inside the pool (a task, callback or continuation running on a worker), which `close`
    /// does not shut out. Only `submit` and `Hold` call this.
    fn admit(&self, internal: bool) -> Result<()> {
        match self.lifecycle.admit(internal) {
            Admission::Accepted => Ok(()),
            Admission::Refused { error, now_quiet } => {
                if now_quiet {
                    self.wake_for_shutdown();
                }
                Err(error)
            }
        }
    }

    /// Counts one unit of work out; wakes `join` and idle workers when a closed pool goes quiet.
    #[inline]
    fn finish_one(&self) {
        if self.lifecycle.finish() {
            self.wake_for_shutdown();
        }
    }

    fn wake_for_shutdown(&self) {
        self.sleep.notify_all();
        let _guard = lock(&self.quiet);
        self.quiet_cv.notify_all();
    }

    fn should_exit(&self) -> bool {
        self.lifecycle.is_finished()
    }

    /// Stops accepting work from outside the pool. Idempotent.
    pub(crate) fn close(&self) {
        if self.lifecycle.close() {
            self.wake_for_shutdown();
        }
    }

    /// Closes the pool and gives up every job that has not started; running jobs finish.
    pub(crate) fn terminate(&self) {
        self.lifecycle.terminate();
        self.drain_injector();
        for stealer in self.stealers.iter() {
            loop {
                match stealer.steal() {
                    Steal::Success(job) => self.abandon_now(job),
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        self.wake_for_shutdown();
    }

    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => self.abandon_now(job),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
    }

    /// Abandons a job on this thread and counts it out. Abandoning can schedule continuations,
    /// which are abandoned in turn: a thread-local trampoline keeps that iterative, so a chain
    /// of a million continuations cannot overflow the stack.
    fn abandon_now(&self, job: JobRef) {
        crate::sync::thread_local! {
            static PENDING: RefCell<Option<Vec<JobRef>>> = const { RefCell::new(None) };
        }
        let nested = PENDING.with(|p| {
            let mut p = p.borrow_mut();
            match p.as_mut() {
                Some(queue) => {
                    queue.push(job.clone());
                    true
                }
                None => {
                    *p = Some(Vec::new());
                    false
                }
            }
        });
        if nested {
            return;
        }
        let mut next = Some(job);
        while let Some(job) = next {
            self.outside_counters.cancelled();
            // `abandon` contains its own panics; this guard is the last resort, as on a worker.
            let escaped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.abandon()));
            if let Err(p) = escaped {
                crate::payload::drop_quietly(p);
            }
            self.finish_one();
            next = PENDING.with(|p| p.borrow_mut().as_mut().and_then(Vec::pop));
        }
        PENDING.with(|p| *p.borrow_mut() = None);
    }

    /// On one of this engine's workers, waits until `done()` holds or `deadline` passes while
    /// running other queued jobs, and returns `Some(done())`; the awaited event must wake the
    /// waker given to `subscribe` (see `WorkerLocal::help_until`). On any other thread it
    /// returns `None` at once, and the caller blocks in its own way.
    pub(crate) fn help_until(
        &self,
        done: &dyn Fn() -> bool,
        subscribe: &dyn Fn(&Waker),
        deadline: Option<Instant>,
    ) -> Option<bool> {
        with_worker_of(self, |w| w.map(|w| w.help_until(done, subscribe, deadline)))
    }

    /// Waits for quiescence after `close`, then for every worker thread to exit.
    pub(crate) fn join(&self, timeout: Option<Duration>) -> Result<()> {
        if self.on_own_worker() {
            return Err(Error::JoinFromWorker);
        }
        if !self.lifecycle.is_closed() {
            return Err(Error::StillRunning);
        }
        // A timeout too large for the clock is no limit.
        let deadline = timeout.and_then(crate::deadline::deadline);
        // `.1`: the guard is dropped at the end of the statement, before the threads are joined.
        let quiet = wait_while(&self.quiet_cv, lock(&self.quiet), deadline, |_| {
            !self.should_exit()
        })
        .1;
        if !quiet {
            return Err(Error::Timeout);
        }
        self.sleep.notify_all();
        self.join_threads(deadline)
    }

    /// A worker thread left its loop (it only returns from its closure after this).
    fn worker_exited(&self) {
        lock(&self.live).running -= 1;
        self.live_cv.notify_all();
    }

    fn join_threads(&self, deadline: Option<Instant>) -> Result<()> {
        if let Some(d) = deadline {
            // Wait for every worker to leave its loop, so the timeout holds; joining after
            // that waits only for the thread to return.
            let all_left =
                wait_while(&self.live_cv, lock(&self.live), Some(d), |l| l.running > 0).1;
            if !all_left {
                return Err(Error::Timeout);
            }
        }
        loop {
            let handle = lock(&self.threads).pop();
            match handle {
                Some(h) => {
                    let _ = h.join();
                }
                None => return Ok(()),
            }
        }
    }
}
