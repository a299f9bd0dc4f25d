//! A worker thread: its loop, its local queue, and the thread-local that tells code running on
//! it which pool it belongs to.
//!
//! # Scheduling order
//! The local deque is LIFO: a follow-up issued by a running job is pushed on top and runs next
//! on the same worker, cache-hot, without waking anyone (the seed's follow-up path). Idle
//! workers steal from the bottom (oldest first). Two fairness bounds keep old work moving:
//! every [`INJECTOR_EVERY`] jobs the worker looks at the shared injector first, and every
//! [`OLDEST_EVERY`] jobs it takes its own oldest local job instead of the newest, so an endless
//! chain of follow-ups can delay, but never starve, earlier work.
//!
//! # Lending the running job's unit
//! Every admitted job holds one unit of the pool's outstanding counter (see `lifecycle`), a
//! cache line all workers write. To keep follow-up chains off it, the *first* follow-up a
//! running job issues borrows the issuer's unit instead of taking one ([`super::job::Loan`]):
//! when the issuer finishes it hands its unit over (one uncontended CAS on the follow-up)
//! instead of counting out. If some thread reaches the follow-up while the issuer still runs
//! (it was stolen, or the issuer waits for it and helps), that thread counts a unit in for it
//! first, and the issuer later counts its own out as usual. Either way the counter never
//! drops to zero while the issuer runs or the follow-up is pending, and a chain of follow-ups
//! costs no counter traffic at all.

use super::{Engine, JobRef};
use crossbeam_deque::{Steal, Stealer, Worker as Deque};
use crossbeam_utils::sync::Parker;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Look at the injector first once every this many jobs (tokio's global-queue interval).
const INJECTOR_EVERY: u32 = 61;
/// Take the oldest local job instead of the newest once every this many jobs.
const OLDEST_EVERY: u32 = 31;
/// Fruitless search rounds before parking (rayon uses 32): short, so an idle pool burns almost
/// no CPU, but long enough to catch work submitted a moment later without a wake-up syscall.
const SEARCH_ROUNDS: u32 = 32;
/// Of those, the first rounds spin; the rest yield the core.
const SPIN_ROUNDS: u32 = 8;
/// A sleeping worker wakes by itself after this long, looks for stealable work once, and
/// sleeps again for twice as long, up to [`IDLE_TICK_MAX`]. This rescues a lone follow-up whose
/// issuer blocks outside the pool (no wake-up is sent for a lone follow-up, see `push`), at
/// the cost of a few wake-ups a second on an idle pool (about 0.05% of a core per worker).
const IDLE_TICK_MIN: Duration = Duration::from_millis(1);
/// The longest idle tick.
const IDLE_TICK_MAX: Duration = Duration::from_millis(50);

/// What one worker thread owns. Lives on the worker's stack; only that thread touches it.
pub(crate) struct WorkerLocal {
    pub(crate) engine: Arc<Engine>,
    /// This worker's own counted reference to the engine, for handles made here.
    pub(crate) shard: Arc<super::Shard>,
    pub(crate) index: usize,
    deque: Deque<JobRef>,
    own_stealer: Stealer<JobRef>,
    tick: Cell<u32>,
    /// A job is executing on this thread (its unit can be lent).
    in_job: Cell<bool>,
    /// The executing job has lent its unit (to `borrower`, once it is scheduled).
    lent: Cell<bool>,
    borrower: Cell<Option<JobRef>>,
    /// The pool's idle hook (see `ThreadPoolBuilder::on_idle`).
    on_idle: Option<super::Initializer>,
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

/// Runs `f` with the engine of the worker running on this thread, if any.
pub(crate) fn with_current_engine<R>(f: impl FnOnce(Option<&Arc<Engine>>) -> R) -> R {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: as in `with_worker_of`.
    let local = unsafe { ptr.as_ref() };
    f(local.map(|w| &w.engine))
}

impl WorkerLocal {
    pub(crate) fn new(
        engine: Arc<Engine>,
        index: usize,
        deque: Deque<JobRef>,
        on_idle: Option<super::Initializer>,
    ) -> WorkerLocal {
        let own_stealer = deque.stealer();
        WorkerLocal {
            shard: Arc::new(super::Shard(Arc::clone(&engine))),
            engine,
            index,
            deque,
            own_stealer,
            tick: Cell::new(0),
            in_job: Cell::new(false),
            lent: Cell::new(false),
            borrower: Cell::new(None),
            on_idle,
        }
    }

    /// Tells the pool's idle hook that this worker ran out of work (a panic in it is
    /// contained: the worker must survive everything).
    fn idle(&self) {
        if let Some(hook) = &self.on_idle {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(self.index)));
        }
    }

    /// Pushes a job issued on this worker. It runs next here unless a sibling steals it first;
    /// that costs a deque push, a fence and two loads.
    pub(crate) fn push(&self, job: JobRef) {
        self.deque.push(job);
        // A sibling is woken only for fan-out (more local work than this worker takes next):
        // a plain follow-up runs here next, and a syscall per follow-up would cost more than
        // the follow-up (W7). The fence pairs with the sleeper's fence (see `sleep`), so a
        // sibling going to sleep either sees this push or is seen here. A single follow-up
        // whose issuer then blocks on something outside the pool is picked up by the idle
        // tick instead (see `IDLE_TICK_MIN`).
        fence(Ordering::SeqCst);
        if self.engine.sleep.could_wake() && self.deque.len() > 1 {
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

    /// Looks for work a little longer before sleeping: a few rounds of spinning, then of
    /// yielding the core (on a busy machine, to the thread that is producing our work).
    fn search(&self) -> Option<JobRef> {
        for round in 0..SEARCH_ROUNDS {
            if round < SPIN_ROUNDS {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if let Some(job) = self.find_work() {
                return Some(job);
            }
        }
        None
    }

    /// True if any queue this worker can take from is non-empty.
    fn sees_work(&self) -> bool {
        !self.deque.is_empty()
            || !self.engine.injector.is_empty()
            || self.engine.stealers.iter().any(|s| !s.is_empty())
    }

    /// Lends the running job's unit to the follow-up about to be issued, if it has not lent
    /// it already; the caller must then call `record_loan` with that follow-up.
    pub(crate) fn try_lend(&self) -> bool {
        if self.in_job.get() && !self.lent.get() {
            self.lent.set(true);
            true
        } else {
            false
        }
    }

    /// Remembers the follow-up that borrows the running job's unit (marked before it is
    /// published).
    pub(crate) fn record_loan(&self, job: &JobRef) {
        debug_assert!(self.lent.get(), "loan recorded without try_lend");
        job.loan().lend();
        let old = self.borrower.replace(Some(Arc::clone(job)));
        debug_assert!(old.is_none(), "a job lent its unit twice");
    }

    /// Runs one job (or abandons it when the pool was terminated) and settles its unit.
    pub(crate) fn execute(&self, job: JobRef) {
        let engine = &self.engine;
        engine.ensure_unit(&job);
        let outer_in_job = self.in_job.replace(true);
        let outer_lent = self.lent.replace(false);
        let outer_borrower = self.borrower.take();
        // A job's own panics are caught inside it; this guard is for what escapes anyway (a
        // result whose Drop panics, say): the worker must survive everything.
        let escaped = catch_unwind(AssertUnwindSafe(|| {
            if engine.is_terminated() {
                job.abandon();
            } else {
                job.run();
            }
        }));
        if let Err(p) = escaped {
            // Nobody will read it, and its own `Drop` may panic.
            crate::payload::drop_quietly(p);
        }
        self.lent.set(outer_lent);
        self.in_job.set(outer_in_job);
        let passed_on = match self.borrower.replace(outer_borrower) {
            Some(borrower) => borrower.loan().settle(),
            None => false,
        };
        if !passed_on {
            engine.finish_one();
        }
    }
}

/// The body of a worker thread.
pub(crate) fn run_worker(local: WorkerLocal, parker: Parker) {
    CURRENT.with(|c| c.set(&local));
    let engine = Arc::clone(&local.engine);
    let sleep = &engine.sleep;
    // A new worker counts as searching until it first finds work or sleeps.
    sleep.start_searching();
    let mut searching = true;
    // After waking by itself, a worker looks once and sleeps again, longer each time.
    let mut tick: Option<Duration> = None;
    loop {
        let job = local.find_work().or_else(|| {
            local.idle();
            if !searching {
                sleep.start_searching();
                searching = true;
            }
            if tick.is_some() {
                None
            } else {
                local.search()
            }
        });
        if let Some(job) = job {
            tick = None;
            if searching {
                searching = false;
                // The last searcher found work: if more is waiting, wake a helper for it.
                if sleep.stop_searching() && local.sees_work() {
                    sleep.notify_one();
                }
            }
            local.execute(job);
            continue;
        }
        sleep.stop_searching();
        if engine.should_exit() {
            break;
        }
        let this_tick = tick.map_or(IDLE_TICK_MIN, |t| (t * 2).min(IDLE_TICK_MAX));
        let notified = sleep.sleep(local.index, &parker, Some(this_tick), || {
            local.sees_work() || engine.should_exit()
        });
        tick = if notified { None } else { Some(this_tick) };
        searching = true;
    }
    // Anything still local (pushed by our last job after a terminate) is given up, not lost.
    while let Some(job) = local.deque.pop() {
        local.execute(job);
    }
    CURRENT.with(|c| c.set(std::ptr::null()));
    drop(local);
}
