//! A worker thread: its loop, its local queue, and the thread-local that tells code running on
//! it which pool it belongs to.
//!
//! # Scheduling order
//! The local deque is LIFO: a follow-up issued by a running task is pushed on top and runs next
//! on the same worker, cache-hot, without waking anyone (the seed's "follow-up" path). Idle
//! workers steal from the bottom (oldest first). Two fairness bounds keep old work moving:
//! every [`INJECTOR_EVERY`] jobs the worker looks at the shared injector first, and every
//! [`OLDEST_EVERY`] jobs it takes its own oldest local job instead of the newest, so an endless
//! chain of follow-ups can delay, but never starve, earlier work.

use super::{Engine, JobRef};
use crossbeam_deque::{Steal, Stealer, Worker as Deque};
use crossbeam_utils::sync::Parker;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Look at the injector first once every this many jobs (tokio's global-queue interval).
const INJECTOR_EVERY: u32 = 61;
/// Take the oldest local job instead of the newest once every this many jobs.
const OLDEST_EVERY: u32 = 31;
/// Fruitless search rounds (with a spin hint) before parking; short, so an idle pool burns
/// almost no CPU, but long enough to catch a follow-up pushed a moment later.
const SEARCH_ROUNDS: u32 = 64;

/// What one worker thread owns. Lives on the worker's stack; only that thread touches it.
pub(crate) struct WorkerLocal {
    pub(crate) engine: Arc<Engine>,
    pub(crate) index: usize,
    deque: Deque<JobRef>,
    own_stealer: Stealer<JobRef>,
    tick: Cell<u32>,
}

thread_local! {
    /// The worker running on this thread, or null. Set for the whole life of a worker thread,
    /// cleared before its `WorkerLocal` is dropped.
    static CURRENT: Cell<*const WorkerLocal> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the current thread's worker, if this thread is a worker of `engine`.
pub(crate) fn with_worker_of<R>(engine: &Engine, f: impl FnOnce(Option<&WorkerLocal>) -> R) -> R {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: CURRENT is non-null only while the `WorkerLocal` it points to is alive on this
    // very thread's stack (set in `run_worker` before the loop, reset before it returns), and
    // it is only ever dereferenced from this thread.
    let local = unsafe { ptr.as_ref() };
    f(local.filter(|w| std::ptr::eq(Arc::as_ptr(&w.engine), engine)))
}

impl WorkerLocal {
    pub(crate) fn new(engine: Arc<Engine>, index: usize, deque: Deque<JobRef>) -> WorkerLocal {
        let own_stealer = deque.stealer();
        WorkerLocal {
            engine,
            index,
            deque,
            own_stealer,
            tick: Cell::new(0),
        }
    }

    /// Pushes a job issued on this worker. It runs next here; a sleeping sibling is woken only
    /// when there is more local work than this worker will take next (fan-out), so a plain
    /// follow-up costs a deque push and nothing else.
    pub(crate) fn push(&self, job: JobRef) {
        self.deque.push(job);
        if self.deque.len() > 1 {
            self.engine.sleep.notify_one();
        }
    }

    /// Finds the next job: local newest, with the fairness bounds above, then the injector,
    /// then the other workers.
    pub(crate) fn find_work(&self) -> Option<JobRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % INJECTOR_EVERY == 0 {
            if let Some(job) = self.steal_injector() {
                return Some(job);
            }
        }
        if tick % OLDEST_EVERY == 0 {
            if let Steal::Success(job) = self.own_stealer.steal() {
                return Some(job);
            }
        }
        self.deque
            .pop()
            .or_else(|| self.steal_injector())
            .or_else(|| self.steal_siblings())
    }

    fn steal_injector(&self) -> Option<JobRef> {
        loop {
            match self.engine.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn steal_siblings(&self) -> Option<JobRef> {
        let stealers = &self.engine.stealers;
        let n = stealers.len();
        loop {
            let mut retry = false;
            for k in 1..n {
                match stealers[(self.index + k) % n].steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Empty => {}
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// True if any queue this worker can take from is non-empty.
    fn sees_work(&self) -> bool {
        !self.deque.is_empty()
            || !self.engine.injector.is_empty()
            || self.engine.stealers.iter().any(|s| !s.is_empty())
    }

    /// Runs one job (or abandons it when the pool was terminated) and settles its count.
    pub(crate) fn execute(&self, job: JobRef) {
        let engine = &self.engine;
        // A job's own panics are caught inside it; this guard is for what escapes anyway (a
        // result whose Drop panics, say): the worker must survive everything.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if engine.is_terminated() {
                job.abandon();
            } else {
                job.run();
            }
        }));
        engine.finish_one();
    }
}

/// The body of a worker thread.
pub(crate) fn run_worker(local: WorkerLocal, parker: Parker) {
    CURRENT.with(|c| c.set(&local));
    let engine = Arc::clone(&local.engine);
    loop {
        if let Some(job) = local.find_work() {
            local.execute(job);
            continue;
        }
        let mut found = None;
        for _ in 0..SEARCH_ROUNDS {
            std::hint::spin_loop();
            found = local.find_work();
            if found.is_some() {
                break;
            }
        }
        if let Some(job) = found {
            local.execute(job);
            continue;
        }
        if engine.should_exit() {
            break;
        }
        engine.sleep.sleep(local.index, &parker, || {
            local.sees_work() || engine.should_exit()
        });
    }
    // Anything still local (pushed by our last job after a terminate) is given up, not lost.
    while let Some(job) = local.deque.pop() {
        local.execute(job);
    }
    CURRENT.with(|c| c.set(std::ptr::null()));
    drop(local);
}
