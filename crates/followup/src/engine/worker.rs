//! A worker thread: its loop, its local queue, and the thread-local that tells code running on
//! it which pool it belongs to.
//!
//! # Scheduling order
//! The local deque is LIFO: a follow-up issued by a running job is pushed on top and runs next
//! on the same worker, cache-hot (the seed's follow-up path). Idle workers steal from the
//! bottom (oldest first). Two fairness bounds keep old work moving: every [`INJECTOR_EVERY`]
//! jobs the worker takes one job from the shared injector first, and every [`OLDEST_EVERY`]
//! jobs its own oldest local job instead of the newest, so an endless chain of follow-ups can
//! delay, but never starve, earlier work. The other way round, at most 2 older jobs run on a
//! worker before a follow-up just issued there (test
//! `scheduling::a_follow_up_runs_before_work_queued_earlier_within_the_fairness_bound`).
//!
//! # Waking
//! No worker ever wakes by itself (there is no tick): a push wakes a sleeper when none is
//! searching, and a worker that finds work while none searches wakes one to search in its
//! place, so the next push usually finds a searcher and pays no syscall. See `sleep` for the
//! protocol, and [`WorkerLocal::help_until`] for waits inside a job. The loom models
//! (`loom_tests::sleep`) run this very loop: its queues, threads, thread-local and parker come
//! through `crate::sync`, which puts loom under them in those builds.
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

use super::{Engine, JobRef, Ran};
use crate::sync::deque::{Steal, Stealer, Worker as Deque};
use crate::sync::{fence, Ordering, Parker, Unparker};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Instant;

/// Look at the injector first once every this many jobs (tokio's global-queue interval).
const INJECTOR_EVERY: u32 = 61;
/// Take the oldest local job instead of the newest once every this many jobs.
const OLDEST_EVERY: u32 = 31;
/// Fruitless search rounds before parking (rayon uses 32): short, so an idle pool burns almost
/// no CPU, but long enough to catch work submitted a moment later without a wake-up syscall.
#[cfg(not(loom))]
const SEARCH_ROUNDS: u32 = 32;
/// Of those, the first rounds spin; the rest yield the core.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 8;
/// Under loom, one spinning round: the rounds only bound how long a worker looks before it
/// sleeps (the protocol is the same after 1 round as after 32), and each round adds to the
/// state space to explore (a yielding round, a loom scheduling point, 2.6 times as many
/// executions in `loom_tests::sleep`).
#[cfg(loom)]
const SEARCH_ROUNDS: u32 = 1;
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 1;
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
    /// This worker's park token: it sleeps on it when idle or waiting (`help_until`).
    parker: Parker,
    /// Unparks this worker: registered with whatever a helping wait waits for.
    waker: Waker,
}

/// Wakes a worker from its park (a waiting worker registers this with the event it awaits).
struct UnparkWorker(Unparker);

impl Wake for UnparkWorker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

crate::sync::thread_local! {
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
        parker: Parker,
        on_idle: Option<super::Initializer>,
    ) -> WorkerLocal {
        let own_stealer = deque.stealer();
        let waker = Waker::from(Arc::new(UnparkWorker(parker.unparker().clone())));
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
            parker,
            waker,
        }
    }

    /// This worker's statistics line (only this thread writes it).
    pub(crate) fn counters(&self) -> &super::counters::WorkerCounters {
        &self.engine.counters[self.index]
    }

    /// Tells the pool's idle hook that this worker ran out of work (a panic in it is
    /// contained: the worker must survive everything).
    fn idle(&self) {
        if let Some(hook) = &self.on_idle {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(self.index)));
        }
    }

    /// Pushes a job issued on this worker. It runs next here unless a sibling steals it first.
    /// When a sibling sleeps and none is searching, one is woken (rayon's rule): the issuer
    /// may go on to block on something outside the pool, and a follow-up must never be
    /// stranded behind it. With a sibling already searching, or none asleep, this costs a
    /// deque push, a fence and two loads. The fence pairs with the sleeper's (see `sleep`):
    /// a sibling going to sleep either sees this push or is seen here.
    pub(crate) fn push(&self, job: JobRef) {
        self.deque.push(job);
        fence(Ordering::SeqCst);
        if self.engine.sleep.could_wake() {
            self.engine.sleep.notify_one();
        }
    }

    /// Finds the next job: local newest, with the fairness bounds above, then the injector,
    /// then the other workers.
    pub(crate) fn find_work(&self) -> Option<JobRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % INJECTOR_EVERY == 0 {
            // One job, not a batch: a batch would land on top of the local deque and bury
            // the follow-ups issued here under older work.
            if let Some(job) = self.steal_one_injected() {
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

    fn steal_one_injected(&self) -> Option<JobRef> {
        loop {
            match self.engine.injector.steal() {
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
                    Steal::Success(job) => {
                        self.counters().steals.bump();
                        return Some(job);
                    }
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
                crate::sync::thread::yield_now();
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

    /// Waits until `done()` holds or `deadline` passes, running queued jobs meanwhile, so a
    /// task that blocks on another task never starves a small pool; returns whether `done()`
    /// held. With nothing to run it parks as an idle worker, woken by new work (any push or
    /// injection wakes a sleeper) or by the awaited event itself, through the waker it hands
    /// to `subscribe` before its last look: no polling, and no wake-up can be lost (the park
    /// token keeps an unpark that lands before the park).
    ///
    /// Jobs run here nest on this thread's stack; each runs with room to grow
    /// ([`crate::stack::with_room`]), so a chain of tasks each waiting on the next cannot
    /// overflow it, however deep.
    pub(crate) fn help_until(
        &self,
        done: &dyn Fn() -> bool,
        subscribe: &dyn Fn(&Waker),
        deadline: Option<Instant>,
    ) -> bool {
        let sleep = &self.engine.sleep;
        loop {
            if done() {
                return true;
            }
            if let Some(job) = self.find_work() {
                crate::stack::with_room(|| self.execute(job));
                continue;
            }
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return done(),
                },
                None => None,
            };
            subscribe(&self.waker);
            self.counters().parks.bump();
            sleep.sleep(self.index, &self.parker, timeout, || {
                done() || self.sees_work()
            });
            // `sleep` returns with this worker counted as searching. Pushes that saw it
            // searching woke nobody; if it was the last searcher and work waits, wake one.
            if sleep.stop_searching() && self.sees_work() {
                sleep.notify_one();
            }
        }
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
        let counters = self.counters();
        counters.started.bump();
        let escaped = catch_unwind(AssertUnwindSafe(|| {
            if engine.is_terminated() {
                job.abandon();
                Ran::Cancelled
            } else {
                job.run()
            }
        }));
        let ran = escaped.unwrap_or_else(|p| {
            // Nobody will read it, and its own `Drop` may panic.
            crate::payload::drop_quietly(p);
            Ran::Panicked
        });
        match ran {
            Ran::Completed => counters.completed.bump(),
            Ran::Panicked => counters.panicked.bump(),
            Ran::Cancelled => counters.cancelled.bump(),
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
pub(crate) fn run_worker(local: WorkerLocal) {
    CURRENT.with(|c| c.set(&local));
    let engine = Arc::clone(&local.engine);
    let sleep = &engine.sleep;
    // A new worker counts as searching until it first finds work or sleeps.
    sleep.start_searching();
    let mut searching = true;
    loop {
        let job = local.find_work().or_else(|| {
            local.idle();
            if !searching {
                sleep.start_searching();
                searching = true;
            }
            local.search()
        });
        if let Some(job) = job {
            if searching {
                searching = false;
                // The last searcher found work: wake a sleeper to search in its place (rayon's
                // `work_found`), so work this job issues (a follow-up) or more work arriving
                // finds a searcher, and its issuer pays no wake-up syscall (13 µs median on
                // this VM, W7). A burst ramps up to every worker this way too.
                if sleep.stop_searching() {
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
        // No tick: every push wakes a sleeper when nobody searches, so a parked pool sleeps
        // until there is work (or shutdown) and uses no CPU meanwhile.
        local.counters().parks.bump();
        sleep.sleep(local.index, &local.parker, None, || {
            local.sees_work() || engine.should_exit()
        });
        searching = true;
    }
    // Anything still local (pushed by our last job after a terminate) is given up, not lost.
    while let Some(job) = local.deque.pop() {
        local.execute(job);
    }
    CURRENT.with(|c| c.set(std::ptr::null()));
    drop(local);
}
