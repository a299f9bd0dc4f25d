//! Randomized stress tests: random trees of tasks and follow-ups, with random panics,
//! cancellations, deadlines, waits, and `close`/`terminate`/drop at random moments from
//! several threads; plus the hostile-use cases of RELIABILITY.md. See RELIABILITY.md for the
//! guarantees each test checks.
//!
//! Configuration (environment):
//! - `STRESS_SECONDS`: time budget of `random_follow_up_trees` (default 8 s); the long run in
//!   RELIABILITY.md uses 600.
//! - `STRESS_SEED`: run this one seed only (the tree shape and every random decision derive from
//!   it; the thread interleaving does not, so a race may need a few runs to show again).
//! - `STRESS_WORKERS`: pool size (default: random 1..=4 per seed).
//!
//! Every wait is bounded; a run that hangs fails with a message naming its seed.

use followup::{AsyncResult, Callbacks, Error, MapOptions, TaskGroup, ThreadPool};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Any single wait in these tests; far beyond what a healthy run needs.
const LIMIT: Duration = Duration::from_secs(20);
/// The budget of one whole seed, watchdog included.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// Most tasks (ids) one seed may create.
const MAX_TASKS: usize = 600;

// ---------------------------------------------------------------------------------------------
// A small seeded generator (SplitMix64).

#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// An independent stream for `(seed, stream)`, so a task's decisions do not depend on the
    /// order in which tasks happen to run.
    fn derive(seed: u64, stream: u64) -> Rng {
        let mut r = Rng::new(seed.wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

/// Silences the default panic hook for the panics these tests provoke on purpose (their
/// payloads start with `stress:`); every other panic is reported as usual.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !msg.starts_with("stress:") {
                default(info);
            }
        }));
    });
}

/// A thread-name prefix no other pool in this process uses (comm is cut at 15 bytes).
fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("fst{:05}-", NEXT.fetch_add(1, SeqCst) % 100_000)
}

/// Names of this process's live threads that start with `prefix`.
fn live_threads(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) {
                let comm = comm.trim_end().to_string();
                if comm.starts_with(prefix) {
                    out.push(comm);
                }
            }
        }
    }
    out
}

/// Waits (bounded) until no thread named `prefix*` is left; returns the ones still there.
fn threads_gone(prefix: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let live = live_threads(prefix);
        if live.is_empty() || Instant::now() >= deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `f` on its own thread; panics naming `what` if it does not finish within `limit`.
fn within<T: Send + 'static>(
    limit: Duration,
    what: String,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::Builder::new()
        .name("stress-body".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .expect("spawn");
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => {
            let _ = h.join();
            v
        }
        Ok(Err(p)) => {
            let _ = h.join();
            std::panic::resume_unwind(p)
        }
        Err(_) => panic!("{what}: did not finish within {limit:?}: it hangs"),
    }
}

fn spin_for(micros: u64) {
    let end = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------------
// Values with counted drops.

#[derive(Default)]
struct Census {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

struct Val {
    id: usize,
    census: Arc<Census>,
}

impl Val {
    fn new(census: &Arc<Census>, id: usize) -> Val {
        census.created.fetch_add(1, SeqCst);
        Val {
            id,
            census: Arc::clone(census),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.census.dropped.fetch_add(1, SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// One seed's run.

/// How a task id came to be, which decides what its handle may say.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// `apply_async`, `apply_async_with`, `follow_up`, `spawn`, group issue: a closure of its own.
    Plain,
    /// A `.map`/`.and_then`/`.when`/`.recover` step: skipped when the parent failed.
    Skippable,
    /// A `.then` step: runs on any outcome of the parent, unless cancelled or terminated.
    Then,
    /// One item of a `map_async`.
    MapItem,
}

#[derive(Default)]
struct Rec {
    /// Times the closure started (must never exceed 1).
    ran: AtomicUsize,
    /// The closure returned or panicked.
    finished: AtomicBool,
    /// Success or error callback calls (tasks issued with callbacks: exactly 1).
    callbacks: AtomicUsize,
    with_callbacks: AtomicBool,
    /// The issue call was refused (Closed/Terminated): the closure must never run.
    refused: AtomicBool,
    /// Something may have stopped it from running (cancel, deadline, cancelled group).
    may_not_run: AtomicBool,
    /// The plan makes it panic.
    panics: AtomicBool,
    /// Group index + 1 for the group-wait checks, 0 for none.
    group: AtomicUsize,
    /// Group index + 1 the library puts it in (differs from `group` for work issued into a
    /// group from outside it, which may legitimately start after a wait on the group returned).
    lib_group: AtomicUsize,
    origin: Mutex<Option<Origin>>,
}

/// What the run knows about a handle.
enum Handle {
    Val(usize, AsyncResult<Val>),
    Opt(usize, AsyncResult<Option<Val>>),
    Vec(Vec<usize>, AsyncResult<Vec<Val>>),
    /// A `.timeout` handle over task `id`.
    Deadline(usize, AsyncResult<Val>),
}

struct GroupRec {
    group: TaskGroup,
    running: AtomicUsize,
    /// Set once a wait on the group returned Ok or with the group's failures.
    waited: AtomicBool,
    cancelled: AtomicBool,
}

struct Run {
    seed: u64,
    /// The pool's thread-name prefix.
    prefix: String,
    census: Arc<Census>,
    recs: Vec<Rec>,
    next_id: AtomicUsize,
    handles: Mutex<Vec<Handle>>,
    groups: Vec<GroupRec>,
    violations: Mutex<Vec<String>>,
    joined: AtomicBool,
    terminated: AtomicBool,
    /// Tasks issued, refused, panicked: for the summary.
    stats: [AtomicU64; 4],
}

impl Run {
    fn violation(&self, msg: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 20 {
            v.push(msg);
        }
    }

    fn alloc(&self, origin: Origin, g: G) -> Option<usize> {
        let id = self.next_id.fetch_add(1, SeqCst);
        if id >= MAX_TASKS {
            return None;
        }
        *self.recs[id].origin.lock().unwrap() = Some(origin);
        self.recs[id].group.store(g.track, SeqCst);
        self.recs[id].lib_group.store(g.lib, SeqCst);
        self.stats[0].fetch_add(1, SeqCst);
        Some(id)
    }

    fn refused(&self, id: usize, e: &Error) {
        // A callback of a task cancelled (or abandoned) from outside runs on the thread that
        // cancelled it, outside the pool: `follow_up` there says NotInPool.
        let on_worker = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with(&self.prefix));
        let fine = match e {
            Error::Closed | Error::Terminated => true,
            Error::NotInPool => !on_worker,
            _ => false,
        };
        if !fine {
            self.violation(format!(
                "task {id}: issue refused with {e:?} (on a worker: {on_worker})"
            ));
        }
        self.recs[id].refused.store(true, SeqCst);
        self.stats[1].fetch_add(1, SeqCst);
    }

    fn push(&self, h: Handle) {
        self.handles.lock().unwrap().push(h);
    }
}

/// Which group a task is in: for the group-wait checks, and for the library.
#[derive(Clone, Copy, Debug)]
struct G {
    track: usize,
    lib: usize,
}

impl G {
    const NONE: G = G { track: 0, lib: 0 };
    fn of(run: &Run, id: usize) -> G {
        G {
            track: run.recs[id].group.load(SeqCst),
            lib: run.recs[id].lib_group.load(SeqCst),
        }
    }
}

/// The per-task plan and body.
struct Ctx {
    run: Arc<Run>,
    pool: ThreadPool,
}

impl Ctx {
    fn clone_ctx(&self) -> Ctx {
        Ctx {
            run: Arc::clone(&self.run),
            pool: self.pool.clone(),
        }
    }

    /// The body every task runs: counts, maybe issues children, maybe panics.
    fn body(&self, id: usize, depth: u32) -> Val {
        let run = &self.run;
        let rec = &run.recs[id];
        if rec.ran.fetch_add(1, SeqCst) != 0 {
            run.violation(format!("task {id} ran twice"));
        }
        if rec.refused.load(SeqCst) {
            run.violation(format!("task {id} ran although its issue was refused"));
        }
        if run.joined.load(SeqCst) {
            run.violation(format!("task {id} started after join returned"));
        }
        let grp = G::of(run, id);
        let g = grp.track;
        if g > 0 {
            let gr = &run.groups[g - 1];
            gr.running.fetch_add(1, SeqCst);
            if gr.waited.load(SeqCst) {
                run.violation(format!(
                    "task {id} of group {g} started after the group wait returned"
                ));
            }
        }
        let mut rng = Rng::derive(run.seed, id as u64 + 1);
        spin_for(rng.below(40));
        if depth < 4 {
            let n = rng.below(4);
            for _ in 0..n {
                self.issue_child(&mut rng, grp, depth + 1);
            }
            if rng.chance(4) {
                // A task waiting for a follow-up it issued: must not deadlock even a pool of
                // one worker (the waiter runs it inline, or helps with other work).
                if let Some(cid) = run.alloc(Origin::Plain, grp) {
                    let ctx = self.clone_ctx();
                    match self.pool.apply_async(move || ctx.body(cid, depth + 1)) {
                        Ok(mut h) => match h.get_timeout(LIMIT) {
                            Err(Error::Timeout) => run.violation(format!(
                                "task {id}: waiting for its follow-up {cid} timed out"
                            )),
                            r => check_outcome(run, "inner get", cid, &r),
                        },
                        Err(e) => run.refused(cid, &e),
                    }
                }
            }
        }
        if g > 0 && rng.chance(3) {
            let r = run.groups[g - 1]
                .group
                .wait_timeout(Duration::from_millis(1));
            if r != Err(Error::WaitOnSelf) {
                run.violation(format!(
                    "task {id}: waiting on its own group gave {r:?}, not WaitOnSelf"
                ));
            }
        }
        if rng.chance(2) {
            let r = self.pool.join_timeout(Duration::from_millis(1));
            if r != Err(Error::JoinFromWorker) {
                run.violation(format!("task {id}: join from inside a task gave {r:?}"));
            }
        }
        let panics = rec.panics.load(SeqCst);
        if g > 0 {
            run.groups[g - 1].running.fetch_sub(1, SeqCst);
        }
        if run.joined.load(SeqCst) {
            run.violation(format!("task {id} finished after join returned"));
        }
        rec.finished.store(true, SeqCst);
        if panics {
            run.stats[2].fetch_add(1, SeqCst);
            std::panic::panic_any("stress: planned panic");
        }
        Val::new(&run.census, id)
    }

    /// Issues one child from inside a running task (or callback, or continuation).
    fn issue_child(&self, rng: &mut Rng, group: G, depth: u32) {
        let run = &self.run;
        let Some(id) = run.alloc(Origin::Plain, group) else {
            return;
        };
        run.recs[id].panics.store(rng.chance(6), SeqCst);
        let ctx = self.clone_ctx();
        match rng.below(7) {
            0 => match self.pool.apply_async(move || ctx.body(id, depth)) {
                Ok(h) => self.decorate(rng, id, h, group, depth),
                Err(e) => run.refused(id, &e),
            },
            1 => {
                // Callbacks that issue follow-ups themselves.
                run.recs[id].with_callbacks.store(true, SeqCst);
                let (c1, c2) = (self.clone_ctx(), self.clone_ctx());
                let seed = rng.next();
                let cbs = Callbacks::new()
                    .on_success(move |_v: &Val| {
                        c1.run.recs[id].callbacks.fetch_add(1, SeqCst);
                        let mut r = Rng::new(seed);
                        if depth < 4 && r.chance(60) {
                            c1.issue_child(&mut r, group, depth + 1);
                        }
                    })
                    .on_error(move |_e: &Error| {
                        c2.run.recs[id].callbacks.fetch_add(1, SeqCst);
                        let mut r = Rng::new(seed);
                        if depth < 4 && r.chance(30) {
                            c2.issue_child(&mut r, group, depth + 1);
                        }
                    });
                match self.pool.apply_async_with(move || ctx.body(id, depth), cbs) {
                    Ok(h) => self.decorate(rng, id, h, group, depth),
                    Err(e) => run.refused(id, &e),
                }
            }
            2 => match followup::follow_up(move || ctx.body(id, depth)) {
                Ok(h) => self.decorate(rng, id, h, group, depth),
                Err(e) => run.refused(id, &e),
            },
            3 => {
                if let Err(e) = followup::spawn(move || drop(ctx.body(id, depth))) {
                    run.refused(id, &e);
                }
            }
            4 => {
                if let Err(e) = self.pool.spawn(move || drop(ctx.body(id, depth))) {
                    run.refused(id, &e);
                }
            }
            5 if group.lib == 0 && !run.groups.is_empty() => {
                // Into a group from outside it (a task of no group issues into one): it may
                // start after a wait on that group returned, so the wait checks skip it.
                let g = rng.below(run.groups.len() as u64) as usize + 1;
                let grp = G { track: 0, lib: g };
                run.recs[id].lib_group.store(g, SeqCst);
                match run.groups[g - 1]
                    .group
                    .apply_async(move || ctx.body(id, depth))
                {
                    Ok(h) => self.decorate(rng, id, h, grp, depth),
                    Err(e) => run.refused(id, &e),
                }
            }
            _ => match self.pool.apply_async(move || ctx.body(id, depth)) {
                Ok(h) => self.decorate(rng, id, h, group, depth),
                Err(e) => run.refused(id, &e),
            },
        }
    }

    /// Maybe chains continuations, a deadline or a cancel onto a fresh handle, then records it
    /// (or drops it: a detached task).
    fn decorate(&self, rng: &mut Rng, id: usize, h: AsyncResult<Val>, group: G, depth: u32) {
        let run = &self.run;
        if rng.chance(8) {
            run.recs[id].may_not_run.store(true, SeqCst);
            h.cancel();
        }
        match rng.below(10) {
            0 | 1 => {
                // .map: the follow-up's value flows back; skipped if the parent failed.
                let Some(cid) = run.alloc(Origin::Skippable, group) else {
                    return run.push(Handle::Val(id, h));
                };
                let canceller = h.canceller();
                let ctx = self.clone_ctx();
                let m = h.map(move |v| {
                    drop(v);
                    ctx.body(cid, depth + 1)
                });
                if rng.chance(5) {
                    run.recs[id].may_not_run.store(true, SeqCst);
                    canceller.cancel();
                }
                if rng.chance(5) {
                    run.recs[cid].may_not_run.store(true, SeqCst);
                    m.cancel();
                }
                run.push(Handle::Val(cid, m));
            }
            2 => {
                // .then: sees the outcome, success or error.
                let Some(cid) = run.alloc(Origin::Then, group) else {
                    return run.push(Handle::Val(id, h));
                };
                let ctx = self.clone_ctx();
                let t = h.then(move |r| {
                    drop(r);
                    ctx.body(cid, depth + 1)
                });
                run.push(Handle::Val(cid, t));
            }
            3 => {
                let Some(cid) = run.alloc(Origin::Skippable, group) else {
                    return run.push(Handle::Val(id, h));
                };
                let ctx = self.clone_ctx();
                let w = h.when(
                    |v| v.id % 2 == 0,
                    move |v| {
                        drop(v);
                        ctx.body(cid, depth + 1)
                    },
                );
                run.recs[cid].may_not_run.store(true, SeqCst); // the test may say no
                run.push(Handle::Opt(cid, w));
            }
            4 => {
                // and_then: the step issues more work and its result is flattened.
                let Some(cid) = run.alloc(Origin::Skippable, group) else {
                    return run.push(Handle::Val(id, h));
                };
                let ctx = self.clone_ctx();
                let a = h.and_then(move |v| {
                    drop(v);
                    let inner = ctx.clone_ctx();
                    ctx.pool.apply_async(move || inner.body(cid, depth + 1))
                });
                run.recs[cid].may_not_run.store(true, SeqCst); // its issue can be refused
                run.push(Handle::Val(cid, a));
            }
            5 => {
                // A deadline on the work itself.
                run.recs[id].may_not_run.store(true, SeqCst);
                let d = h.timeout(Duration::from_micros(rng.below(3000)));
                run.push(Handle::Deadline(id, d));
            }
            6 => {
                // Detached: dropped handle; join must still wait for it.
                drop(h);
            }
            _ => run.push(Handle::Val(id, h)),
        }
    }
}

/// Outcomes seen by all runs (Ok, Cancelled, Terminated, Panicked, Closed, DeadlineExceeded),
/// to show what the runs covered.
static OUTCOMES: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// What the end of a run checks for one resolved handle.
fn check_outcome(run: &Run, what: &str, id: usize, r: &Result<Val, Error>) {
    let kind = match r {
        Ok(_) => 0,
        Err(Error::Cancelled) => 1,
        Err(Error::Terminated) => 2,
        Err(Error::Panicked { .. }) => 3,
        Err(Error::Closed) => 4,
        _ => 5,
    };
    OUTCOMES[kind].fetch_add(1, SeqCst);
    let rec = &run.recs[id];
    let ran = rec.ran.load(SeqCst);
    let origin = rec.origin.lock().unwrap().unwrap_or(Origin::Plain);
    let bad = |m: &str| {
        run.violation(format!(
            "{what} task {id} ({origin:?}): {m}; outcome {:?}, ran {ran}",
            r.as_ref().map(|v| v.id)
        ))
    };
    match r {
        Ok(v) => {
            if v.id != id {
                bad("handle returned another task's value");
            }
            if ran != 1 {
                bad("a value without a run");
            }
        }
        Err(Error::Cancelled | Error::Terminated) => {
            if ran != 0 && origin != Origin::MapItem {
                bad("cancelled/terminated, yet it ran");
            }
        }
        Err(Error::Panicked { .. }) => {
            if origin == Origin::Plain && ran != 1 {
                bad("panicked without running");
            }
            if origin == Origin::Plain && !rec.panics.load(SeqCst) {
                bad("panicked without a planned panic");
            }
        }
        Err(Error::CallbackPanicked { message, .. }) => {
            bad(&format!("callback panicked: {message}"))
        }
        Err(Error::Closed) => {
            // A continuation registered from outside the pool after close() is refused.
            if origin == Origin::Plain || origin == Origin::MapItem {
                bad("Closed from an accepted task");
            }
        }
        Err(Error::Timeout) => bad("get returned Timeout after the handle was ready"),
        Err(e) => bad(&format!("unexpected error {e}")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// close() then join() (possibly several threads closing at once).
    CloseJoin,
    /// terminate() at a random moment, then join().
    Terminate,
    /// close() late, terminate() racing it from another thread, join().
    CloseAndTerminate,
    /// Every handle of the test's threads dropped: the pool's own Drop closes and joins (or,
    /// if the last clone dies inside a task, closes and lets the threads exit by themselves).
    Drop,
}

struct Summary {
    tasks: u64,
    refused: u64,
    panicked: u64,
}

fn run_seed(seed: u64, workers_env: Option<usize>) -> Summary {
    quiet_expected_panics();
    let mut rng = Rng::new(seed);
    let workers = workers_env.unwrap_or(1 + rng.below(4) as usize);
    let prefix = unique_prefix();
    let pool = ThreadPool::builder()
        .workers(workers)
        .thread_name_prefix(prefix.clone())
        .build()
        .expect("build pool");
    let ngroups = rng.below(3) as usize;
    let census = Arc::new(Census::default());
    let run = Arc::new(Run {
        seed,
        prefix: prefix.clone(),
        census: Arc::clone(&census),
        recs: (0..MAX_TASKS).map(|_| Rec::default()).collect(),
        next_id: AtomicUsize::new(0),
        handles: Mutex::new(Vec::new()),
        groups: (0..ngroups)
            .map(|_| GroupRec {
                group: pool.group(),
                running: AtomicUsize::new(0),
                waited: AtomicBool::new(false),
                cancelled: AtomicBool::new(false),
            })
            .collect(),
        violations: Mutex::new(Vec::new()),
        joined: AtomicBool::new(false),
        terminated: AtomicBool::new(false),
        stats: Default::default(),
    });
    let ending = match rng.below(8) {
        0..=3 => Ending::CloseJoin,
        4 => Ending::Terminate,
        5 => Ending::CloseAndTerminate,
        _ => Ending::Drop,
    };
    let roots = 2 + rng.below(10);
    let early_close = rng.chance(30);

    // Two driver threads issue roots; a chaos thread closes/terminates/cancels at random.
    let drivers: Vec<_> = (0..2u64)
        .map(|d| {
            let ctx = Ctx {
                run: Arc::clone(&run),
                pool: pool.clone(),
            };
            let mut r = Rng::derive(seed, 1_000_000 + d);
            std::thread::spawn(move || {
                for _ in 0..roots {
                    let run = &ctx.run;
                    let g = if !run.groups.is_empty() && r.chance(40) {
                        1 + r.below(run.groups.len() as u64) as usize
                    } else {
                        0
                    };
                    let grp = G { track: g, lib: g };
                    if r.chance(10) {
                        // A map_async whose items are tasks of their own ids.
                        let n = r.below(6) as usize;
                        let ids: Vec<usize> = (0..n)
                            .filter_map(|_| run.alloc(Origin::MapItem, G::NONE))
                            .collect();
                        let c = ctx.clone_ctx();
                        let chunk = 1 + r.below(3) as usize;
                        match ctx.pool.map_async_with(
                            move |id: usize| c.body(id, 3),
                            ids.clone(),
                            MapOptions::new().chunksize(chunk),
                        ) {
                            Ok(h) => run.push(Handle::Vec(ids, h)),
                            Err(e) => ids.iter().for_each(|&id| run.refused(id, &e)),
                        }
                        continue;
                    }
                    let Some(id) = run.alloc(Origin::Plain, grp) else {
                        break;
                    };
                    run.recs[id].panics.store(r.chance(6), SeqCst);
                    let c = ctx.clone_ctx();
                    let issued = if g > 0 {
                        run.groups[g - 1].group.apply_async(move || c.body(id, 0))
                    } else {
                        ctx.pool.apply_async(move || c.body(id, 0))
                    };
                    match issued {
                        Ok(h) => ctx.decorate(&mut r, id, h, grp, 0),
                        Err(e) => run.refused(id, &e),
                    }
                    if r.chance(20) {
                        // Give up waiting on some handle for a moment: it stays usable.
                        let last = run.handles.lock().unwrap().pop();
                        if let Some(Handle::Val(hid, mut h)) = last {
                            match h.get_timeout(Duration::from_micros(r.below(500))) {
                                Err(Error::Timeout) => run.push(Handle::Val(hid, h)),
                                other => check_outcome(run, "get_timeout", hid, &other),
                            }
                        } else if let Some(other) = last {
                            run.push(other);
                        }
                    }
                    spin_for(r.below(200));
                }
            })
        })
        .collect();

    let chaos = {
        let (run, pool) = (Arc::clone(&run), pool.clone());
        let mut r = Rng::derive(seed, 2_000_000);
        std::thread::spawn(move || {
            spin_for(r.below(3000));
            if early_close {
                pool.close(); // follow-ups from inside the pool are still accepted
            }
            for g in &run.groups {
                if r.chance(15) {
                    g.cancelled.store(true, SeqCst);
                    g.group.cancel();
                }
            }
            match ending {
                Ending::Terminate => {
                    run.terminated.store(true, SeqCst);
                    let t = Instant::now();
                    pool.terminate();
                    if t.elapsed() > Duration::from_secs(2) {
                        run.violation(format!("terminate took {:?}", t.elapsed()));
                    }
                }
                Ending::CloseAndTerminate => {
                    spin_for(r.below(2000));
                    run.terminated.store(true, SeqCst);
                    pool.terminate();
                }
                _ => {}
            }
        })
    };

    for d in drivers {
        d.join().expect("driver panicked");
    }
    // Group waits: never return while work of theirs is pending.
    for (i, g) in run.groups.iter().enumerate() {
        match g.group.wait_timeout(LIMIT) {
            Err(Error::Timeout) => run.violation(format!("group {} wait timed out", i + 1)),
            _ => {
                g.waited.store(true, SeqCst);
                let running = g.running.load(SeqCst);
                if running != 0 {
                    run.violation(format!(
                        "group {} wait returned with {running} task(s) running",
                        i + 1
                    ));
                }
            }
        }
    }
    if ending == Ending::CloseAndTerminate {
        pool.close();
    }
    chaos.join().expect("chaos thread panicked");

    let joined_ok = match ending {
        Ending::Drop => {
            // Drop every handle the test holds; tasks hold clones, so the last one may die on
            // a worker (then the pool closes and its threads leave once the work is done).
            let waiter = {
                let pool = pool.clone();
                std::thread::spawn(move || drop(pool))
            };
            drop(pool);
            waiter.join().expect("drop panicked");
            let left = threads_gone(&prefix, LIMIT);
            if !left.is_empty() {
                run.violation(format!(
                    "after the last pool handle was dropped, threads left: {left:?}"
                ));
            }
            false
        }
        _ => {
            pool.close();
            let r = {
                // Two threads join at once.
                let p2 = pool.clone();
                let other = std::thread::spawn(move || p2.join_timeout(LIMIT));
                let mine = pool.join_timeout(LIMIT);
                let theirs = other.join().expect("join thread panicked");
                if mine != theirs {
                    run.violation(format!("concurrent joins disagree: {mine:?} vs {theirs:?}"));
                }
                mine
            };
            match r {
                Ok(()) => {
                    run.joined.store(true, SeqCst);
                    let left = threads_gone(&prefix, Duration::from_secs(1));
                    if !left.is_empty() {
                        run.violation(format!(
                            "join returned but worker threads are left: {left:?}"
                        ));
                    }
                    true
                }
                Err(e) => {
                    run.violation(format!("join failed: {e:?}"));
                    false
                }
            }
        }
    };

    let terminated = run.terminated.load(SeqCst);
    let issued = run.next_id.load(SeqCst).min(MAX_TASKS);
    if joined_ok {
        // join waits for the whole tree: every started task finished, and every accepted
        // task that nothing could stop ran.
        for id in 0..issued {
            let rec = &run.recs[id];
            let ran = rec.ran.load(SeqCst);
            if ran > 0 && !rec.finished.load(SeqCst) {
                run.violation(format!("join returned while task {id} was still running"));
            }
            let g = rec.lib_group.load(SeqCst);
            let group_cancelled = g > 0 && run.groups[g - 1].cancelled.load(SeqCst);
            let may_not_run = terminated
                || rec.refused.load(SeqCst)
                || rec.may_not_run.load(SeqCst)
                || group_cancelled
                || *rec.origin.lock().unwrap() != Some(Origin::Plain);
            if !may_not_run && ran != 1 {
                run.violation(format!("accepted task {id} never ran, yet join returned"));
            }
        }
    }
    // Every handle resolves (bounded), once, with an outcome that matches what ran.
    let handles = std::mem::take(&mut *run.handles.lock().unwrap());
    for h in handles {
        let ready_at_join = match &h {
            Handle::Val(_, h) | Handle::Deadline(_, h) => h.ready(),
            Handle::Opt(_, h) => h.ready(),
            Handle::Vec(_, h) => h.ready(),
        };
        match h {
            Handle::Val(id, h) => {
                if !h.wait_timeout(LIMIT) {
                    run.violation(format!("handle of task {id} never resolved"));
                    continue;
                }
                if joined_ok && !ready_at_join {
                    run.violation(format!(
                        "join returned before the handle of task {id} was ready"
                    ));
                }
                let r = h.get();
                check_outcome(&run, "get", id, &r);
            }
            Handle::Deadline(id, h) => {
                if !h.wait_timeout(LIMIT) {
                    run.violation(format!("deadline handle of task {id} never resolved"));
                    continue;
                }
                match h.get() {
                    Err(Error::DeadlineExceeded) => {
                        OUTCOMES[5].fetch_add(1, SeqCst);
                    }
                    r => check_outcome(&run, "deadline", id, &r),
                }
            }
            Handle::Opt(id, h) => {
                if !h.wait_timeout(LIMIT) {
                    run.violation(format!("when-handle of task {id} never resolved"));
                    continue;
                }
                match h.get() {
                    Ok(None) => {
                        if run.recs[id].ran.load(SeqCst) != 0 {
                            run.violation(format!("when said None, yet task {id} ran"));
                        }
                    }
                    Ok(Some(v)) => check_outcome(&run, "when", id, &Ok(v)),
                    Err(e) => check_outcome(&run, "when", id, &Err(e)),
                }
            }
            Handle::Vec(ids, h) => {
                if !h.wait_timeout(LIMIT) {
                    run.violation(format!("map handle of tasks {ids:?} never resolved"));
                    continue;
                }
                match h.get() {
                    Ok(vals) => {
                        let got: Vec<usize> = vals.iter().map(|v| v.id).collect();
                        if got != ids {
                            run.violation(format!("map returned {got:?} for {ids:?}"));
                        }
                    }
                    Err(Error::Panicked { .. }) => {
                        if !ids.iter().any(|&i| run.recs[i].panics.load(SeqCst)) {
                            run.violation(format!(
                                "map of {ids:?} panicked without a planned panic"
                            ));
                        }
                    }
                    Err(Error::Cancelled | Error::Terminated) => {}
                    Err(e) => run.violation(format!("map of {ids:?}: unexpected {e:?}")),
                }
            }
        }
    }
    // Callbacks: exactly one per task issued with them, once it resolved.
    for id in 0..issued {
        let rec = &run.recs[id];
        if rec.with_callbacks.load(SeqCst) && !rec.refused.load(SeqCst) {
            let n = rec.callbacks.load(SeqCst);
            let must_have_resolved = joined_ok;
            if n > 1 || (must_have_resolved && n != 1) {
                run.violation(format!("task {id}: {n} callback calls, not 1"));
            }
        }
    }
    // Values: none leaked, none dropped twice. Deadline timers may still hold a promise for a
    // moment, so wait (bounded) for the count to settle.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (c, d) = (census.created.load(SeqCst), census.dropped.load(SeqCst));
        if c == d && Arc::strong_count(&run) == 1 {
            break;
        }
        if d > c {
            run.violation(format!("values dropped {d} times, created {c}"));
            break;
        }
        if Instant::now() >= deadline {
            run.violation(format!(
                "values leaked: created {c}, dropped {d} (run still referenced {} times)",
                Arc::strong_count(&run)
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let violations = std::mem::take(&mut *run.violations.lock().unwrap());
    assert!(
        violations.is_empty(),
        "seed {seed} (workers {workers}, ending {ending:?}, early close {early_close}): {} violation(s):\n  {}\nreproduce: STRESS_SEED={seed} cargo test -p followup --test stress random_follow_up_trees -- --nocapture",
        violations.len(),
        violations.join("\n  ")
    );
    Summary {
        tasks: run.stats[0].load(SeqCst),
        refused: run.stats[1].load(SeqCst),
        panicked: run.stats[2].load(SeqCst),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Random follow-up trees until the time budget is spent (or the one seed of `STRESS_SEED`).
#[test]
fn random_follow_up_trees() {
    let budget = std::env::var("STRESS_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(8.0);
    let workers = env_u64("STRESS_WORKERS").map(|w| w as usize);
    let seeds: Box<dyn Iterator<Item = u64>> = match env_u64("STRESS_SEED") {
        Some(s) => Box::new(std::iter::once(s)),
        None => {
            let base = env_u64("STRESS_BASE_SEED").unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
            Box::new(
                (0u64..).map(move |i| base.wrapping_add(i.wrapping_mul(0x2545_F491_4F6C_DD1D))),
            )
        }
    };
    let start = Instant::now();
    let (mut runs, mut tasks, mut refused, mut panicked) = (0u64, 0u64, 0u64, 0u64);
    let mut first = None;
    for seed in seeds {
        first.get_or_insert(seed);
        let s = within(RUN_LIMIT, format!("seed {seed}"), move || {
            run_seed(seed, workers)
        });
        runs += 1;
        tasks += s.tasks;
        refused += s.refused;
        panicked += s.panicked;
        if start.elapsed().as_secs_f64() >= budget {
            break;
        }
    }
    let o: Vec<u64> = OUTCOMES.iter().map(|c| c.load(SeqCst)).collect();
    eprintln!(
        "stress: {runs} runs ({tasks} tasks, {refused} refused, {panicked} planned panics) in {:.1}s, first seed {}; \
         handle outcomes: {} ok, {} cancelled, {} terminated, {} panicked, {} closed, {} deadline",
        start.elapsed().as_secs_f64(),
        first.unwrap_or(0),
        o[0], o[1], o[2], o[3], o[4], o[5]
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile use: each ends in a clear error or a documented outcome, never a hang or an abort.

/// Runs this test binary's test `name` in a child process with `STRESS_CHILD=name`, so that an
/// abort or a hang in it fails this test with a message instead of killing the whole binary.
/// Returns the child's stdout; panics if it did not exit successfully within [`LIMIT`].
fn in_child(name: &str) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("STRESS_CHILD", name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match status {
        None => {
            panic!("{name}: the child process hung (killed after {LIMIT:?})\n{stdout}\n{stderr}")
        }
        Some(st) if !st.success() || !stdout.contains("CHILD-OK") => {
            panic!("{name}: the child process failed ({st}), e.g. an abort\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }
        Some(_) => stdout,
    }
}

/// True in the child process started by [`in_child`] for `name`.
fn child_mode(name: &str) -> bool {
    std::env::var("STRESS_CHILD").as_deref() == Ok(name)
}

fn named_pool(workers: usize) -> (ThreadPool, String) {
    let prefix = unique_prefix();
    let pool = ThreadPool::builder()
        .workers(workers)
        .thread_name_prefix(prefix.clone())
        .build()
        .expect("build");
    (pool, prefix)
}

/// Closes, joins (bounded) and checks that no worker thread is left.
fn finish(pool: ThreadPool, prefix: &str) {
    pool.close();
    assert_eq!(pool.join_timeout(LIMIT), Ok(()));
    assert_eq!(
        threads_gone(prefix, Duration::from_secs(1)),
        Vec::<String>::new()
    );
}

#[test]
fn zero_workers_is_an_error() {
    assert!(matches!(
        ThreadPool::with_workers(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ThreadPool::builder().workers(0).build(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn chunk_size_and_window_zero_are_errors() {
    within(LIMIT, "chunk size 0".into(), || {
        let (pool, prefix) = named_pool(2);
        let e = pool.map_with(|x: u32| x, 0..10, MapOptions::new().chunksize(0));
        assert!(matches!(e, Err(Error::InvalidArgument(_))), "{e:?}");
        let e = pool.map_async_with(|x: u32| x, 0..10, MapOptions::new().chunksize(0));
        assert!(matches!(e, Err(Error::InvalidArgument(_))));
        let o = followup::ImapOptions::new();
        assert!(matches!(
            pool.imap_with(|x: u32| x, 0..10, o.clone().chunksize(0)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            pool.imap_unordered_with(|x: u32| x, 0..10, o.clone().window(0)),
            Err(Error::InvalidArgument(_))
        ));
        // The pool is unharmed.
        assert_eq!(pool.map(|x: u32| x + 1, 0..3), Ok(vec![1, 2, 3]));
        finish(pool, &prefix);
    });
}

#[test]
fn huge_chunk_size_for_map() {
    within(LIMIT, "huge chunk size, map".into(), || {
        let (pool, prefix) = named_pool(2);
        for chunk in [usize::MAX, usize::MAX / 2, 1 << 40] {
            let r = pool.map_with(
                |x: u64| x * 2,
                0..100u64,
                MapOptions::new().chunksize(chunk),
            );
            assert_eq!(r.map(|v| v.len()), Ok(100), "chunk size {chunk}");
        }
        finish(pool, &prefix);
    });
}

/// imap with an enormous chunk size over a short input: one chunk of the few items there are.
/// Checked in a child process, since a failing allocation aborts the process.
///
/// Before 532c524 (issue D of RELIABILITY.md) `InputFeeder::feed` preallocated
/// `Vec::with_capacity(chunksize)`: 2^40 aborted the process ("memory allocation of
/// 8796093022208 bytes failed") and `usize::MAX` panicked with "capacity overflow".
#[test]
fn huge_chunk_size_for_imap() {
    if child_mode("huge_chunk_size_for_imap_child") {
        return;
    }
    in_child("huge_chunk_size_for_imap_child");
}

#[test]
fn huge_chunk_size_for_imap_child() {
    if !child_mode("huge_chunk_size_for_imap_child") {
        return;
    }
    let (pool, prefix) = named_pool(2);
    for chunk in [1usize << 40, usize::MAX] {
        let opts = followup::ImapOptions::new().chunksize(chunk).window(2);
        let got: Vec<_> = pool
            .imap_with(|x: u64| x * 2, 0..10u64, opts)
            .expect("imap")
            .collect();
        assert_eq!(got.len(), 10, "chunk size {chunk}");
    }
    finish(pool, &prefix);
    println!("CHILD-OK");
}

struct PanickyInput(u32);

impl Iterator for PanickyInput {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.0 += 1;
        if self.0 == 4 {
            std::panic::panic_any("stress: input iterator panics");
        }
        Some(self.0)
    }
}

#[test]
fn input_iterator_that_panics() {
    quiet_expected_panics();
    within(LIMIT, "panicking input".into(), || {
        let (pool, prefix) = named_pool(2);
        let e = pool.map(|x: u32| x, PanickyInput(0));
        assert!(matches!(e, Err(Error::InputPanicked { .. })), "{e:?}");
        for chunk in [1, 2, 5] {
            let opts = followup::ImapOptions::new().chunksize(chunk);
            let got: Vec<_> = pool
                .imap_with(|x: u32| x, PanickyInput(0), opts)
                .expect("imap")
                .collect();
            let (ok, err): (Vec<_>, Vec<_>) = got.iter().partition(|r| r.is_ok());
            assert!(ok.len() <= 3, "chunk {chunk}: {got:?}");
            assert_eq!(
                err.len(),
                1,
                "chunk {chunk}: exactly one InputPanicked, then the end: {got:?}"
            );
            assert!(matches!(got.last(), Some(Err(Error::InputPanicked { .. }))));
            let opts = followup::ImapOptions::new().chunksize(chunk);
            let got: Vec<_> = pool
                .imap_unordered_with(|x: u32| x, PanickyInput(0), opts)
                .expect("imap")
                .collect();
            assert_eq!(
                got.iter().filter(|r| r.is_err()).count(),
                1,
                "chunk {chunk}: {got:?}"
            );
        }
        finish(pool, &prefix);
    });
}

/// A one-shot gate for tasks that must block until the test lets them go.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut g = self.open.lock().unwrap();
        let deadline = Instant::now() + 2 * LIMIT;
        while !*g && Instant::now() < deadline {
            g = self
                .cv
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap()
                .0;
        }
    }
}

/// Tasks that never return (until the test ends) and terminate: terminate returns at once, the
/// queued work resolves Terminated (error callbacks told), join waits for the stuck tasks
/// (join_timeout says Timeout), and once they return, join succeeds with no thread left.
#[test]
fn terminate_is_prompt_with_stuck_tasks() {
    within(LIMIT * 3, "stuck tasks + terminate".into(), || {
        let (pool, prefix) = named_pool(2);
        let gate = Arc::new(Gate::default());
        let started = Arc::new(AtomicUsize::new(0));
        let stuck: Vec<_> = (0..2)
            .map(|_| {
                let (g, s) = (Arc::clone(&gate), Arc::clone(&started));
                pool.apply_async(move || {
                    s.fetch_add(1, SeqCst);
                    g.wait();
                })
                .unwrap()
            })
            .collect();
        let t0 = Instant::now();
        while started.load(SeqCst) < 2 {
            assert!(t0.elapsed() < LIMIT, "stuck tasks never started");
            std::thread::yield_now();
        }
        let told = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..100)
            .map(|i| {
                let t = Arc::clone(&told);
                let cbs = Callbacks::new().on_error(move |e: &Error| {
                    assert_eq!(*e, Error::Terminated);
                    t.fetch_add(1, SeqCst);
                });
                pool.apply_async_with(move || i, cbs).unwrap()
            })
            .collect();
        let t = Instant::now();
        pool.terminate();
        let took = t.elapsed();
        assert!(took < Duration::from_millis(500), "terminate took {took:?}");
        for h in queued {
            assert!(
                h.wait_timeout(Duration::from_secs(1)),
                "a queued handle did not resolve after terminate"
            );
            assert_eq!(h.get(), Err(Error::Terminated));
        }
        assert_eq!(told.load(SeqCst), 100);
        assert!(matches!(pool.apply_async(|| 1), Err(Error::Terminated)));
        assert_eq!(
            pool.join_timeout(Duration::from_millis(50)),
            Err(Error::Timeout)
        );
        gate.open();
        for h in stuck {
            assert!(h.wait_timeout(LIMIT));
            assert_eq!(h.get(), Ok(()), "a running task finishes after terminate");
        }
        assert_eq!(pool.join_timeout(LIMIT), Ok(()));
        assert_eq!(
            threads_gone(&prefix, Duration::from_secs(1)),
            Vec::<String>::new()
        );
    });
}

/// A callback that blocks on the pool: it runs `apply` (inline), waits for a task queued
/// behind it on a one-worker pool, and tries to join (refused): no deadlock.
#[test]
fn callback_that_blocks_on_the_pool() {
    within(LIMIT, "blocking callback".into(), || {
        let (pool, prefix) = named_pool(1);
        let p = pool.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let cbs = Callbacks::new().on_success(move |v: &u32| {
            let doubled = p.apply(|| 2).unwrap() * v;
            let mut behind = p.apply_async(move || doubled + 1).unwrap();
            let r = behind.get_timeout(LIMIT);
            let j = p.join_timeout(Duration::from_millis(1));
            tx.send((r, j)).unwrap();
        });
        let h = pool.apply_async_with(|| 20u32, cbs).unwrap();
        let mut h = h;
        assert_eq!(h.get_timeout(LIMIT), Ok(20));
        let (r, j) = rx.recv_timeout(LIMIT).expect("callback finished");
        assert_eq!(r, Ok(41));
        assert_eq!(j, Err(Error::JoinFromWorker));
        finish(pool, &prefix);
    });
}

#[test]
fn join_from_inside_a_task_is_refused() {
    within(LIMIT, "join inside a task".into(), || {
        let (pool, prefix) = named_pool(1);
        let p = pool.clone();
        let h = pool
            .apply_async(move || (p.join(), p.join_timeout(Duration::from_millis(1))))
            .unwrap();
        assert_eq!(
            h.get(),
            Ok((Err(Error::JoinFromWorker), Err(Error::JoinFromWorker)))
        );
        finish(pool, &prefix);
    });
}

/// The last handle of a pool dropped inside one of its own tasks: the pool closes, the work it
/// accepted still runs, and its threads exit by themselves (nothing waits for itself).
#[test]
fn pool_dropped_inside_its_own_task() {
    within(LIMIT, "pool dropped in its task".into(), || {
        let (pool, prefix) = named_pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Gate::default());
        let mut handles = Vec::new();
        for _ in 0..20 {
            let (r, g) = (Arc::clone(&ran), Arc::clone(&gate));
            handles.push(
                pool.apply_async(move || {
                    g.wait();
                    r.fetch_add(1, SeqCst);
                })
                .unwrap(),
            );
        }
        let (r, p, g) = (Arc::clone(&ran), pool.clone(), Arc::clone(&gate));
        let dropper = pool
            .apply_async(move || {
                g.wait();
                let r2 = Arc::clone(&r);
                drop(p.apply_async(move || r2.fetch_add(1, SeqCst)).unwrap());
                drop(p); // the last handle: the test dropped its own below
                "dropped"
            })
            .unwrap();
        drop(pool);
        gate.open();
        assert!(dropper.wait_timeout(LIMIT));
        assert_eq!(dropper.get(), Ok("dropped"));
        for h in handles {
            assert!(h.wait_timeout(LIMIT));
            assert_eq!(h.get(), Ok(()));
        }
        assert_eq!(
            threads_gone(&prefix, LIMIT),
            Vec::<String>::new(),
            "threads left"
        );
        assert_eq!(
            ran.load(SeqCst),
            21,
            "work accepted before the drop was lost"
        );
    });
}

/// Dropping the last handle on an outside thread closes the pool and waits for the work.
#[test]
fn dropping_the_pool_waits_for_accepted_work() {
    within(LIMIT, "drop waits".into(), || {
        let (pool, prefix) = named_pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let r = Arc::clone(&ran);
            pool.spawn(move || {
                spin_for(100);
                let r2 = Arc::clone(&r);
                followup::spawn(move || {
                    r2.fetch_add(1, SeqCst);
                })
                .unwrap();
                r.fetch_add(1, SeqCst);
            })
            .unwrap();
        }
        drop(pool);
        assert_eq!(ran.load(SeqCst), 100);
        assert_eq!(
            threads_gone(&prefix, Duration::from_secs(1)),
            Vec::<String>::new()
        );
    });
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any("stress: a value whose drop panics");
        }
    }
}

/// Panics stay contained: panicking tasks, callbacks, and a value whose drop panics on the
/// worker; the single worker survives all of them and runs the next task.
#[test]
fn panics_are_contained() {
    quiet_expected_panics();
    within(LIMIT, "panics".into(), || {
        let (pool, prefix) = named_pool(1);
        for _ in 0..50 {
            let h = pool
                .apply_async(|| -> u32 { std::panic::panic_any("stress: task panics") })
                .unwrap();
            assert!(matches!(h.get(), Err(Error::Panicked { .. })));
        }
        let cbs =
            Callbacks::new().on_success(|_: &u32| std::panic::panic_any("stress: callback panics"));
        let h = pool.apply_async_with(|| 1u32, cbs).unwrap();
        assert!(matches!(h.get(), Err(Error::CallbackPanicked { .. })));
        // Detached: the value's drop panics on the worker.
        pool.spawn(|| drop(PanicOnDrop)).unwrap();
        drop(pool.apply_async(|| PanicOnDrop).unwrap());
        let h = pool.apply_async(|| 7).unwrap();
        assert_eq!(h.get(), Ok(7));
        assert_eq!(live_threads(&prefix).len(), 1, "the worker died");
        finish(pool, &prefix);
    });
}

/// A task waiting on its own handle gets WaitOnSelf instead of hanging.
#[test]
fn waiting_on_itself_is_an_error() {
    within(LIMIT, "wait on self".into(), || {
        let (pool, prefix) = named_pool(1);
        let slot: Arc<Mutex<Option<AsyncResult<u32>>>> = Arc::new(Mutex::new(None));
        let gate = Arc::new(Gate::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let (s, g) = (Arc::clone(&slot), Arc::clone(&gate));
        let h = pool
            .apply_async(move || {
                g.wait();
                let me = s.lock().unwrap().take();
                if let Some(mut me) = me {
                    tx.send(me.get_timeout(LIMIT)).unwrap();
                }
                5u32
            })
            .unwrap();
        *slot.lock().unwrap() = Some(h);
        gate.open();
        assert_eq!(
            rx.recv_timeout(LIMIT).expect("the task answered"),
            Err(Error::WaitOnSelf)
        );
        finish(pool, &prefix);
    });
}

/// imap pulls its input lazily through a bounded window: memory stays bounded for an endless
/// input.
#[test]
fn imap_memory_is_bounded() {
    within(LIMIT, "imap window".into(), || {
        let (pool, prefix) = named_pool(2);
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pulled);
        let input = (0u64..).inspect(move |_| {
            p.fetch_add(1, SeqCst);
        });
        let (chunk, window) = (4usize, 3usize);
        let opts = followup::ImapOptions::new().chunksize(chunk).window(window);
        let mut it = pool.imap_with(|x: u64| x, input, opts).unwrap();
        for k in 1..=500usize {
            assert_eq!(it.next(), Some(Ok(k as u64 - 1)));
            let ahead = pulled.load(SeqCst) - k;
            assert!(
                ahead <= (window + 1) * chunk,
                "pulled {ahead} items ahead of the consumer"
            );
        }
        drop(it);
        finish(pool, &prefix);
    });
}

// ---------------------------------------------------------------------------------------------
// Real-engine reproductions of the liveness bugs the loom models found (issues B and C of
// RELIABILITY.md, fixed in 532c524).

/// A rendezvous of `n` parties with a bounded wait: true if all arrived in time.
struct Rendezvous {
    n: usize,
    arrived: Mutex<usize>,
    cv: std::sync::Condvar,
}

impl Rendezvous {
    fn new(n: usize) -> Arc<Rendezvous> {
        Arc::new(Rendezvous {
            n,
            arrived: Mutex::new(0),
            cv: std::sync::Condvar::new(),
        })
    }
    fn arrive(&self, limit: Duration) -> bool {
        let mut a = self.arrived.lock().unwrap();
        *a += 1;
        self.cv.notify_all();
        let deadline = Instant::now() + limit;
        while *a < self.n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            a = self.cv.wait_timeout(a, deadline - now).unwrap().0;
        }
        true
    }
}

/// A task issues one follow-up and then blocks (outside the pool's own waits) until the
/// follow-up has started. The second worker is idle, so it must run the follow-up. Before
/// 532c524 `WorkerLocal::push` woke a sibling only when the local deque held more than one job,
/// and 20 rounds out of 20 got stuck. Model:
/// `loom_tests::sleep::single_local_followup_with_blocked_issuer_gets_a_worker`.
#[test]
fn single_followup_of_a_blocked_task_gets_the_idle_worker() {
    within(LIMIT * 2, "single follow-up".into(), || {
        let (pool, prefix) = named_pool(2);
        let mut stuck = 0;
        for _ in 0..20 {
            // Let the second worker fall asleep first.
            std::thread::sleep(Duration::from_millis(20));
            let rv = Rendezvous::new(2);
            let r2 = Arc::clone(&rv);
            let h = pool
                .apply_async(move || {
                    let r3 = Arc::clone(&r2);
                    followup::spawn(move || {
                        r3.arrive(Duration::from_millis(300));
                    })
                    .unwrap();
                    r2.arrive(Duration::from_millis(300))
                })
                .unwrap();
            if h.get() != Ok(true) {
                stuck += 1;
            }
        }
        finish(pool, &prefix);
        assert_eq!(
            stuck, 0,
            "{stuck}/20 follow-ups sat in the queue of a blocked worker while another worker slept"
        );
    });
}

/// A task issues two follow-ups that must run at the same time (fan-out): a push must wake the
/// sleeping sibling. Before 532c524 an unfenced `could_wake` hint gated the wake-up, and the
/// pusher could miss a sibling just going to sleep (model:
/// `loom_tests::sleep::local_fan_out_wakes_a_sibling`). The window is a few instructions wide,
/// so this loops for a quarter of `STRESS_SECONDS` (2 s by default); it never hit the window
/// in 60 s of the old code, so it is a regression check, the model is the proof.
#[test]
fn fan_out_follow_ups_wake_a_sibling() {
    let budget = Duration::from_secs_f64(
        std::env::var("STRESS_SECONDS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(2.0, |s| s / 4.0),
    );
    within(budget + LIMIT, "fan-out".into(), move || {
        let (pool, prefix) = named_pool(2);
        let start = Instant::now();
        let (mut rounds, mut stuck) = (0u64, 0u64);
        while start.elapsed() < budget {
            let rv = Rendezvous::new(2);
            let r = Arc::clone(&rv);
            let h = pool
                .apply_async(move || {
                    let (a, b) = (Arc::clone(&r), Arc::clone(&r));
                    let ha =
                        followup::follow_up(move || a.arrive(Duration::from_millis(200))).unwrap();
                    let hb =
                        followup::follow_up(move || b.arrive(Duration::from_millis(200))).unwrap();
                    (ha, hb)
                })
                .unwrap();
            let (ha, hb) = h.get().unwrap();
            if ha.get() != Ok(true) || hb.get() != Ok(true) {
                stuck += 1;
            }
            rounds += 1;
            // Vary the moment the sibling goes to sleep.
            spin_for(rounds % 300);
        }
        finish(pool, &prefix);
        assert_eq!(
            stuck, 0,
            "{stuck}/{rounds} fan-outs left a follow-up queued while the sibling slept"
        );
    });
}
