//! [`Shared`]: one pool's state, shared by its Python object, its jobs, its callback lane and
//! its `imap` feeders.
//!
//! The Python-visible state machine (RUN → CLOSE or TERMINATE) lives here, not in the engine:
//! the engine stays open until `join()`, so that follow-ups issued by tasks *and* by callbacks
//! (which run off the workers, on the lane) are accepted after `close()`.
//!
//! `join()` is exact because of one counting rule, kept in this file's two functions
//! [`Shared::start_one`] and [`Shared::finish_one`]: every accepted job (an `apply_async`, a
//! `map_async`, an `imap`) counts one unit from the moment it is accepted until its result is
//! resolved *after* its callbacks ran (or, for `imap`, until its input is exhausted and every
//! item delivered). A follow-up is always accepted inside a task or callback of a job still
//! counted, so the count can only reach zero when the whole follow-up tree is done.

use crate::exit;
use crate::gil;
use crate::imap::ImapState;
use crate::result::{run_done_callbacks, AsyncResult, Outcome};
use crossbeam_channel::{Receiver, Sender};
use pyo3::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

/// Python's `multiprocessing.pool` states, as stored in [`Shared::state`].
pub(crate) const RUN: u8 = 0;
pub(crate) const CLOSE: u8 = 1;
pub(crate) const TERMINATE: u8 = 2;

pub(crate) fn state_name(state: u8) -> &'static str {
    match state {
        RUN => "RUN",
        CLOSE => "CLOSE",
        _ => "TERMINATE",
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// The id of the pool this thread belongs to (a worker or the callback lane), or 0.
    static INSIDE: Cell<usize> = const { Cell::new(0) };
}

thread_local! {
    /// The id of the pool whose worker this thread is, or 0 (the lane is not a worker).
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as one of pool `id`'s workers.
pub(crate) fn set_worker(id: usize) {
    WORKER.with(|c| c.set(id));
}

/// Marks the calling thread as one of pool `id`'s own threads.
pub(crate) fn set_inside(id: usize) {
    INSIDE.with(|c| c.set(id));
}

/// One pool's shared state.
pub(crate) struct Shared {
    /// Unique per pool, never 0; what [`INSIDE`] holds on the pool's threads.
    pub(crate) id: usize,
    /// The engine. Taken only by `Drop`, which hands it to a reaper thread.
    engine: Option<followup::ThreadPool>,
    /// RUN, CLOSE or TERMINATE; written by close/terminate (and `_state` for tests), read by
    /// every submission.
    state: AtomicU8,
    /// Accepted jobs not yet resolved (see the module docs).
    pending: AtomicUsize,
    /// `join` sleeps here until `pending` reaches zero.
    quiet: Mutex<()>,
    quiet_cv: Condvar,
    /// The serial callback lane, started on first use.
    lane: OnceLock<Lane>,
    /// `parallel_callbacks=True`: callbacks run on the completing worker instead of the lane.
    pub(crate) parallel_callbacks: bool,
    /// The number of worker threads.
    pub(crate) workers: usize,
    /// Live `imap` feeders, woken when the pool closes (the window no longer applies) or
    /// terminates (they stop).
    feeders: Mutex<Vec<Weak<ImapState>>>,
    /// Set once `shut_down` has stopped the threads.
    shut_down: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        id: usize,
        engine: followup::ThreadPool,
        workers: usize,
        parallel_callbacks: bool,
    ) -> Shared {
        Shared {
            id,
            engine: Some(engine),
            state: AtomicU8::new(RUN),
            pending: AtomicUsize::new(0),
            quiet: Mutex::new(()),
            quiet_cv: Condvar::new(),
            lane: OnceLock::new(),
            parallel_callbacks,
            workers,
            feeders: Mutex::new(Vec::new()),
            shut_down: AtomicBool::new(false),
        }
    }

    pub(crate) fn engine(&self) -> &followup::ThreadPool {
        self.engine
            .as_ref()
            .expect("the engine is only taken on drop")
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }

    /// True on this pool's workers.
    pub(crate) fn on_worker(&self) -> bool {
        WORKER.with(|c| c.get()) == self.id
    }

    /// True on this pool's own threads: its workers and its callback lane.
    pub(crate) fn is_inside(&self) -> bool {
        INSIDE.with(|c| c.get()) == self.id
    }

    /// Python's `_check_running`, with followup's rule for follow-ups: after `close()`, work
    /// from the pool's own tasks and callbacks is still accepted; after `terminate()`, none.
    pub(crate) fn check_running(&self) -> PyResult<()> {
        match self.state() {
            RUN => Ok(()),
            CLOSE if self.is_inside() => Ok(()),
            _ => Err(crate::errors::not_running()),
        }
    }

    /// Counts in one accepted job.
    pub(crate) fn start_one(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts out one job whose result is resolved; wakes `join` at zero.
    pub(crate) fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = lock(&self.quiet);
            self.quiet_cv.notify_all();
        }
    }

    /// Issues `job` on the engine; `ValueError("Pool not running")` if it refuses (terminated).
    pub(crate) fn spawn(&self, job: impl FnOnce() + Send + 'static) -> PyResult<()> {
        self.engine()
            .spawn(job)
            .map_err(|_| crate::errors::not_running())
    }

    /// Waits (GIL released) until every accepted job is resolved, or `until` passes.
    pub(crate) fn wait_quiet(&self, py: Python<'_>, until: Option<Instant>) -> PyResult<bool> {
        gil::wait_releasing(py, until, |limit| {
            let guard = lock(&self.quiet);
            let idle = |_: &mut ()| self.pending.load(Ordering::Acquire) != 0;
            let guard = match limit {
                None => self
                    .quiet_cv
                    .wait_while(guard, idle)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(t) => {
                    self.quiet_cv
                        .wait_timeout_while(guard, t, idle)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            drop(guard);
            self.pending.load(Ordering::Acquire) == 0
        })
    }

    /// `close()`: no more work from outside; feeders may now run past their window.
    pub(crate) fn close(&self) {
        let _ = self
            .state
            .compare_exchange(RUN, CLOSE, Ordering::AcqRel, Ordering::Acquire);
        self.wake_feeders();
    }

    /// `terminate()`: queued work never starts (its results resolve to `PoolTerminated`),
    /// feeders stop; running tasks finish.
    pub(crate) fn terminate(&self, py: Python<'_>) {
        self.set_state(TERMINATE);
        for f in self.live_feeders() {
            f.stop();
        }
        // Abandoning queued jobs drops their Python objects and may need other threads to
        // make progress: never hold the GIL across it.
        py.detach(|| self.engine().terminate());
    }

    /// After quiescence: stops the engine's workers and the lane, waiting for their threads.
    pub(crate) fn shut_down(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let engine = self.engine();
            engine.close();
            let joined = engine.join();
            if let Some(lane) = self.lane.get() {
                lane.stop();
            }
            self.shut_down.store(true, Ordering::Release);
            joined
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    pub(crate) fn add_feeder(&self, feeder: Weak<ImapState>) {
        let mut feeders = lock(&self.feeders);
        feeders.retain(|f| f.strong_count() > 0);
        feeders.push(feeder);
    }

    fn live_feeders(&self) -> Vec<Arc<ImapState>> {
        lock(&self.feeders)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn wake_feeders(&self) {
        for f in self.live_feeders() {
            f.wake_feeder();
        }
    }

    fn lane(&self) -> &Lane {
        self.lane.get_or_init(|| Lane::start(self.id))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The last reference can go on any thread, possibly one holding the GIL; joining the
        // workers there could wait for a worker that needs the GIL. A reaper thread does it.
        if let Some(engine) = self.engine.take() {
            exit::reap(engine);
        }
    }
}

/// Resolves `result` with `outcome` once its callbacks have run, runs its done callbacks,
/// then counts the job out.
///
/// Callbacks run on the pool's serial lane (one at a time, off the workers, as in Python), or
/// right here on the completing worker with `parallel_callbacks=True`. `py` is `None` on a
/// thread that drops a job the pool never ran (terminate); such callbacks go to the lane.
pub(crate) fn complete(
    py: Option<Python<'_>>,
    pool: &Arc<Shared>,
    result: Py<AsyncResult>,
    outcome: Outcome,
) {
    let r = result.get();
    let inline = py.filter(|_| pool.parallel_callbacks);
    let done_callbacks = if r.has_callbacks() {
        let Some(py) = inline else {
            pool.lane().send(LaneItem {
                result,
                work: LaneWork::Complete(outcome),
                pool: Arc::clone(pool),
            });
            return;
        };
        let outcome = r.take_callbacks().run(py, outcome);
        r.resolve(outcome)
    } else {
        r.resolve(outcome)
    };
    if !done_callbacks.is_empty() {
        match inline {
            Some(py) => run_done_callbacks(py, &result, done_callbacks),
            None => {
                pool.lane().send(LaneItem {
                    result,
                    work: LaneWork::Done(done_callbacks),
                    pool: Arc::clone(pool),
                });
                return;
            }
        }
    }
    pool.finish_one();
}

/// What the lane does for one result.
enum LaneWork {
    /// Run its callback or error callback, resolve it, run its done callbacks.
    Complete(Outcome),
    /// It is resolved: run its done callbacks.
    Done(Vec<Py<PyAny>>),
}

/// One job's remaining Python work, queued for the lane.
struct LaneItem {
    result: Py<AsyncResult>,
    work: LaneWork,
    pool: Arc<Shared>,
}

impl LaneItem {
    fn run(self, py: Python<'_>) {
        let r = self.result.get();
        let done_callbacks = match self.work {
            LaneWork::Complete(outcome) => {
                let outcome = r.take_callbacks().run(py, outcome);
                r.resolve(outcome)
            }
            LaneWork::Done(fns) => fns,
        };
        run_done_callbacks(py, &self.result, done_callbacks);
        self.pool.finish_one();
    }

    /// The interpreter is gone: resolve without running Python code.
    fn resolve_without_callbacks(self) {
        if let LaneWork::Complete(outcome) = self.work {
            drop(self.result.get().resolve(outcome));
        }
        self.pool.finish_one();
    }
}

/// The serial callback lane: one thread per pool that runs callbacks one at a time, in the
/// order their tasks finished (Python's result-handler thread, minus its hazards: a raising
/// callback becomes its job's result instead of killing the thread).
struct Lane {
    tx: Mutex<Option<Sender<LaneItem>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Callbacks run per GIL acquisition when several are queued (fewer hand-offs of the GIL).
const LANE_BATCH: usize = 64;

impl Lane {
    fn start(pool_id: usize) -> Lane {
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("followup-callbacks".into())
            .spawn(move || lane_loop(pool_id, rx))
            .ok();
        Lane {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
        }
    }

    fn send(&self, item: LaneItem) {
        let sent = match lock(&self.tx).as_ref() {
            Some(tx) => tx.send(item).map_err(|e| e.into_inner()),
            None => Err(item),
        };
        // No lane (its thread could not start, or the pool is shut down): resolve here
        // rather than lose the result; the callbacks cannot run.
        if let Err(item) = sent {
            item.resolve_without_callbacks();
        }
    }

    /// Ends the lane after the pool is quiet; waits for its thread (GIL released).
    fn stop(&self) {
        drop(lock(&self.tx).take());
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

fn lane_loop(pool_id: usize, rx: Receiver<LaneItem>) {
    set_inside(pool_id);
    gil::pin_thread_state();
    while let Ok(first) = rx.recv() {
        let mut first = Some(first);
        gil::attach(|py| {
            if let Some(item) = first.take() {
                item.run(py);
            }
            for _ in 0..LANE_BATCH {
                match rx.try_recv() {
                    Ok(item) => item.run(py),
                    Err(_) => break,
                }
            }
        });
        if let Some(item) = first.take() {
            item.resolve_without_callbacks();
        }
    }
}
