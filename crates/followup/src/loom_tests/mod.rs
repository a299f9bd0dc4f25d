//! loom models of the protocols that synchronise through atomics and custom parking.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p followup --lib --release loom_tests`
//! (`.ci/loom` does, with `LOOM_MAX_PREEMPTIONS=3`).
//!
//! - [`cell`]: the task cell state machine (`task::cell::Cell`) and the task that drives it
//!   (`task::core::Task`, `Promise`): completion racing continuation registration, blocked and
//!   async waiters, cancel racing claim / inline run / terminate, delivery racing cancel.
//! - [`tracker`]: task-group counting (`task::tracker::Tracker`), also through real tasks.
//! - [`lifecycle`]: the close/join quiescence counter (`engine::lifecycle::Lifecycle`).
//! - [`credit`]: a worker counting its jobs in and out of that counter locally, as credit it
//!   gives back before it idles (`engine::worker`).
//! - [`sleep`]: the worker sleep/wake protocol and the helping wait, on a whole real
//!   [`Engine`](crate::engine::Engine): its worker threads, loop, queues, sleep state and
//!   lifecycle, from `Engine::start` to `join`.
//! - [`wakers`]: the wake-ups a helping wait relies on (`task::waiters::Waiters`, the tracker).
//!
//! # What is real, and what is substituted
//! The models run the crate's own code. `engine::lifecycle` is private to `engine`, so the
//! `lifecycle` and `credit` models compile its very source file a second time here with
//! `#[path]` (`credit` drives it with a copy of the worker's credit arithmetic, which the
//! `sleep` models run for real); `sleep` reaches the engine through its `pub(crate)` API. Under
//! `--cfg loom`, `crate::sync`, the one door to synchronisation primitives, substitutes:
//! - loom's atomics (`SeqCst` accesses made sequentially consistent by a leading fence),
//!   mutexes and condvars for std's; std's `Arc` stays (see there);
//! - for crossbeam-deque's `Worker`/`Stealer`/`Injector`: loom stand-ins with crossbeam
//!   0.8.8's index protocol and orderings, access by access, and the payload in a plain
//!   vector (`sync::deque` documents each ordering with crossbeam's line, and what is left
//!   out: buffer growth, injector blocks, epoch reclamation);
//! - for crossbeam's `Parker`: a token parker on loom's mutex and condvar (`sync::Parker`);
//! - `loom::thread` for `std::thread` (names and stack sizes are ignored) and
//!   `loom::thread_local!` for std's (the worker thread-local, the abandon trampoline).
//!
//! Under loom the worker's search before sleeping is one round instead of 32 (it only bounds
//! the effort, see `engine::worker`), time is not modelled (`park_timeout` is `park`, a
//! condvar never times out), and the two-worker engine models run with at most
//! [`ENGINE_PREEMPTIONS`] preemptions (see there). What is not modelled at all: crossbeam's
//! own memory management, channels and the timer thread. Every thread-local a model reaches
//! goes through `crate::sync::thread_local!` (the engine's, and the task layer's running
//! frame, trampoline and spare jobs), so each loom thread has its own.

#[path = "../engine/lifecycle.rs"]
#[allow(dead_code, unreachable_pub, clippy::duplicate_mod)]
mod engine_lifecycle;

mod cell;
mod credit;
mod lifecycle;
mod sleep;
mod tracker;
mod wakers;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Runs `f` under loom with a preemption bound: `LOOM_MAX_PREEMPTIONS` if set, else 2.
pub(super) fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    check_bounded(None, f);
}

/// The preemption bound of the models that run a whole engine with two workers (`sleep`):
/// 2, or `LOOM_ENGINE_PREEMPTIONS` if set. With three threads (the main one and two workers)
/// running the real loop, start-up and shutdown, a bound of 3 explores 350 000 to 430 000
/// executions per model (one to two minutes each on 2 cores) where 2 explores 11 000 to
/// 17 000 (about 2 s); and 2 is enough to catch the bugs these models exist for (RELIABILITY.md,
/// "How the models are built"). `LOOM_MAX_PREEMPTIONS`, when lower, still wins.
const ENGINE_PREEMPTIONS: usize = 2;

/// [`model`] for a model running a whole engine with `workers` workers: one worker keeps
/// the usual bound, more are capped at [`ENGINE_PREEMPTIONS`].
pub(super) fn engine_model<F>(workers: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let cap = match std::env::var("LOOM_ENGINE_PREEMPTIONS") {
        Ok(v) => v.parse().expect("LOOM_ENGINE_PREEMPTIONS: a number"),
        Err(_) => ENGINE_PREEMPTIONS,
    };
    check_bounded((workers > 1).then_some(cap), f);
}

fn check_bounded<F>(cap: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    if let Some(cap) = cap {
        b.preemption_bound = b.preemption_bound.map(|p| p.min(cap));
    }
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    b.check(move || {
        counted.fetch_add(1, SeqCst);
        f();
    });
    // Shown with `--nocapture`: how much each model explores.
    eprintln!("loom: {} executions explored", runs.load(SeqCst));
}

/// Counts values created and dropped, to prove none is leaked and none dropped twice.
#[derive(Default)]
pub(super) struct Census {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl Census {
    pub(super) fn new() -> Arc<Census> {
        Arc::new(Census::default())
    }

    /// Values alive now.
    pub(super) fn live(&self) -> usize {
        self.created.load(SeqCst) - self.dropped.load(SeqCst)
    }

    pub(super) fn assert_balanced(&self, what: &str) {
        let (c, d) = (self.created.load(SeqCst), self.dropped.load(SeqCst));
        assert_eq!(c, d, "{what}: {c} values created, {d} dropped");
    }
}

/// A task value whose drops are counted.
pub(super) struct Tracked {
    census: Arc<Census>,
    pub(super) id: usize,
}

impl Tracked {
    pub(super) fn new(census: &Arc<Census>, id: usize) -> Tracked {
        census.created.fetch_add(1, SeqCst);
        Tracked {
            census: Arc::clone(census),
            id,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.census.dropped.fetch_add(1, SeqCst);
        assert!(
            before < self.census.created.load(SeqCst),
            "a value was dropped more often than created"
        );
    }
}

/// A plain counter shared with closures (not a modelled synchronisation point: only read after
/// the threads that write it were joined).
#[derive(Default, Clone)]
pub(super) struct Count(Arc<AtomicUsize>);

impl Count {
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, SeqCst);
    }
    pub(super) fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}
