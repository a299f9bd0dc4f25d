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
//! # The worker's credit: counting without a shared write
//! Every admitted job holds one unit of the pool's outstanding counter (see `lifecycle`), a
//! cache line every thread would write. A worker keeps a local **credit** of units instead: a
//! job it finishes adds its unit to the credit rather than counting out, and a job issued on
//! it takes its unit from the credit (when empty, it takes [`CREDIT_BATCH`] units from the
//! counter at once). So follow-ups, fan-outs and the finishing of external jobs cost no
//! counter traffic. The counter always holds every live job's unit plus every worker's
//! credit, so it never reads zero while a job is pending; a worker gives its credit back
//! (`flush_credit`) before it idles, waits parked, or leaves its loop, so once no work is
//! left every credit is back and the counter reads the true zero that `join` waits for.

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
/// The first tick after `tick` that is a multiple of [`INJECTOR_EVERY`] or [`OLDEST_EVERY`]
/// (the tick wraps at `u32::MAX`, which at worst shifts one turn a little).
fn next_fair_turn(tick: u32) -> u32 {
    let next = |every: u32| tick.wrapping_add(every - tick % every);
    next(INJECTOR_EVERY).min(next(OLDEST_EVERY))
}

/// Fruitless search rounds before parking (rayon uses 32): short, so an idle pool burns almost
/// no CPU, but long enough to catch work submitted a moment later without a wake-up syscall.
#[cfg(not(loom))]
const SEARCH_ROUNDS: u32 = 32;
/// Of those, the first rounds spin; the rest yield the core.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 8;
/// Units a worker takes from the outstanding counter at once when its credit is empty.
const CREDIT_BATCH: usize = 64;
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
    /// This worker's statistics line in `engine.counters`, looked up once: the engine (kept
    /// alive by `engine` above) never moves or frees it.
    counters: *const super::counters::WorkerCounters,
    deque: Deque<JobRef>,
    own_stealer: Stealer<JobRef>,
    tick: Cell<u32>,
    /// The next tick at which a fairness turn (see the module docs) is due.
    fair_turn: Cell<u32>,
    /// Units of the outstanding counter this worker holds beyond its live jobs' (see "The
    /// worker's credit").
    credit: Cell<usize>,
    /// This worker's bit in `engine.advertised` (only this thread writes it).
    advertised: Cell<bool>,
    /// The idle hook is running and no job inside it (see `with_worker_in_job`).
    in_idle_hook: Cell<bool>,
    /// The pool's idle hook (see `ThreadPoolBuilder::on_idle`).
    on_idle: Option<super::Initializer>,
    /// This worker's park token: it sleeps on it when idle or waiting (`help_until`).
    parker: Parker,
    /// Unparks this worker: registered with whatever a helping wait waits for.
    waker: Waker,
}

// SAFETY: every field but `counters` is `Send` (the deque's owner half moves with the thread
// that owns it). `counters` points into the engine that `engine` keeps alive, and is only read
// through atomics, which any thread may do.
unsafe impl Send for WorkerLocal {}

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

/// [`with_worker_of`], but only on a worker of `engine` that is inside a job: the idle hook
/// runs on a worker inside no job, and what it issues comes from outside the pool.
#[inline]
pub(crate) fn with_worker_in_job<R>(
    engine: &Engine,
    f: impl FnOnce(Option<&WorkerLocal>) -> R,
) -> R {
    with_worker_of(engine, |w| f(w.filter(|w| !w.in_idle_hook.get())))
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
        let counters: *const super::counters::WorkerCounters = &*engine.counters[index];
        WorkerLocal {
            shard: Arc::new(super::Shard(Arc::clone(&engine))),
            counters,
            engine,
            index,
            deque,
            own_stealer,
            tick: Cell::new(0),
            fair_turn: Cell::new(next_fair_turn(0)),
            credit: Cell::new(0),
            advertised: Cell::new(false),
            in_idle_hook: Cell::new(false),
            on_idle,
            parker,
            waker,
        }
    }

    /// This worker's statistics line (only this thread writes it).
    #[inline]
    pub(crate) fn counters(&self) -> &super::counters::WorkerCounters {
        // SAFETY: `counters` points into `self.engine.counters`, a boxed slice that lives as
        // long as the engine, which `self.engine` keeps alive; it is never mutated in place
        // (each counter is atomic).
        unsafe { &*self.counters }
    }

    /// Tells the pool's idle hook that this worker ran out of work (a panic in it is
    /// contained: the worker must survive everything).
    fn idle(&self) {
        if let Some(hook) = &self.on_idle {
            self.in_idle_hook.set(true);
            let _ = catch_unwind(AssertUnwindSafe(|| hook(self.index)));
            self.in_idle_hook.set(false);
        }
    }

    /// Pushes a job issued on this worker. It runs next here unless a sibling steals it first.
    /// When a sibling sleeps and none is searching, one is woken (rayon's rule): the issuer
    /// may go on to block on something outside the pool, and a follow-up must never be
    /// stranded behind it. With a sibling already searching, or none asleep, this costs a
    /// deque push, a fence and two loads. The fence pairs with the sleeper's (see `sleep`):
    /// a sibling going to sleep either sees this push or is seen here.
    #[inline]
    pub(crate) fn push(&self, job: JobRef) {
        self.advertise();
        self.deque.push(job);
        fence(Ordering::SeqCst);
        if self.engine.sleep.could_wake() {
            self.engine.sleep.notify_one();
        }
    }

    /// Finds the next job: local newest, with the fairness bounds above, then the injector,
    /// then the other workers. The common case (no fairness turn due, a local job) is a
    /// compare and a pop, inlined into the loop; the rest is out of line.
    #[inline]
    pub(crate) fn find_work(&self) -> Option<JobRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick != self.fair_turn.get() {
            if let Some(job) = self.deque.pop() {
                return Some(job);
            }
        }
        self.find_work_slowly(tick)
    }

    /// Sets this worker's bit in `engine.advertised` unless it is set: before a job is put
    /// on the local deque (see `advertised`).
    #[inline]
    fn advertise(&self) {
        if !self.advertised.get() {
            self.advertise_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn advertise_now(&self) {
        self.advertised.set(true);
        self.engine.advertised.set(self.index);
    }

    /// Clears this worker's bit: its deque was found empty (only this thread pushes on it).
    fn withdraw(&self) {
        if self.advertised.get() {
            self.advertised.set(false);
            self.engine.advertised.clear(self.index);
        }
    }

    /// [`find_work`](Self::find_work) when a fairness turn is due or the local deque is empty.
    #[cold]
    #[inline(never)]
    fn find_work_slowly(&self, tick: u32) -> Option<JobRef> {
        if tick == self.fair_turn.get() {
            self.fair_turn.set(next_fair_turn(tick));
            if tick % INJECTOR_EVERY == 0 {
                // One job, not a batch: a batch would land on top of the local deque and
                // bury the follow-ups issued here under older work.
                if let Some(job) = self.steal_one_injected() {
                    return Some(job);
                }
            }
            if tick % OLDEST_EVERY == 0 {
                if let Steal::Success(job) = self.own_stealer.steal() {
                    return Some(job);
                }
            }
        }
        if let Some(job) = self.deque.pop() {
            return Some(job);
        }
        if let Some(job) = self.steal_injector() {
            return Some(job);
        }
        // Empty, and only this thread fills it: nothing for a sibling to look at here.
        self.withdraw();
        self.steal_siblings()
    }

    fn steal_injector(&self) -> Option<JobRef> {
        if self.engine.injector.is_empty() {
            return None;
        }
        // The batch lands on the local deque: advertised first, as for a push, and withdrawn
        // again if it was a batch of one (so the bit is not left set over an empty deque).
        self.advertise();
        let stolen = loop {
            match self.engine.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(job) => break Some(job),
                Steal::Empty => break None,
                Steal::Retry => continue,
            }
        };
        if self.deque.is_empty() {
            self.withdraw();
        }
        stolen
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

    /// Steals from the siblings that advertise work, the ones after this worker first.
    fn steal_siblings(&self) -> Option<JobRef> {
        let stealers = &self.engine.stealers;
        loop {
            let mut retry = false;
            let found =
                self.engine
                    .advertised
                    .find_map(self.index, |i| match stealers[i].steal() {
                        Steal::Success(job) => Some(job),
                        Steal::Empty => None,
                        Steal::Retry => {
                            retry = true;
                            None
                        }
                    });
            if found.is_some() {
                self.counters().steals.bump();
                return found;
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

    /// True if any queue this worker can take from is non-empty (of the siblings', only the
    /// advertised ones can be).
    fn sees_work(&self) -> bool {
        let stealers = &self.engine.stealers;
        !self.deque.is_empty()
            || !self.engine.injector.is_empty()
            || self
                .engine
                .advertised
                .find_map(self.index, |i| (!stealers[i].is_empty()).then_some(()))
                .is_some()
    }

    /// Counts one unit in for a job issued on this worker: from the credit, or (empty) by
    /// taking a batch from the counter. Like every internal admission it is not refused by
    /// `close`; the caller has checked `terminated`.
    #[inline]
    pub(crate) fn admit_here(&self) {
        match self.credit.get().checked_sub(1) {
            Some(left) => self.credit.set(left),
            None => {
                self.engine.lifecycle.count_in(CREDIT_BATCH);
                self.credit.set(CREDIT_BATCH - 1);
            }
        }
    }

    /// Gives the credit back to the counter (before this worker idles, parks or leaves), and
    /// wakes `join` if that made a closed pool quiet.
    pub(crate) fn flush_credit(&self) {
        let units = self.credit.replace(0);
        if units > 0 && self.engine.lifecycle.finish_many(units) {
            self.engine.wake_for_shutdown();
        }
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
        // The jobs run here are the pool's jobs, even when the waiter is the idle hook: what
        // they issue are follow-ups (the hook's flag is put back when the wait ends; after a
        // panic, `idle` clears it anyway).
        let in_hook = self.in_idle_hook.replace(false);
        let held = self.help_until_inner(done, subscribe, deadline);
        self.in_idle_hook.set(in_hook);
        held
    }

    fn help_until_inner(
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
            self.flush_credit();
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

    /// Runs one job (or abandons it when the pool was terminated); its unit joins the credit.
    pub(crate) fn execute(&self, job: JobRef) {
        let engine = &self.engine;
        // The worker must survive everything: this guard catches what a job lets escape (a
        // detached job without a group leaves its panics to it; any job, a panicking Drop).
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
        self.credit.set(self.credit.get() + 1);
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
            local.flush_credit();
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
        // Again, right before sleeping or leaving: whatever ran since the flush above (the idle
        // hook, whose submissions count as outside ones), no credit may sleep with a worker.
        local.flush_credit();
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
    local.flush_credit();
    CURRENT.with(|c| c.set(std::ptr::null()));
    drop(local);
}
