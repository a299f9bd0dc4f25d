//! The worker sleep/wake protocol, on the real engine: each model starts an [`Engine`] with
//! one or two loom worker threads, submits real [`Job`]s from the main thread
//! (`Engine::submit_detached`: external, so onto the injector) and from inside jobs (follow-ups:
//! the worker's own `push`, found through the real worker thread-local), then `close`s and
//! `join`s. The worker loop (`engine::worker::run_worker`, `find_work`, `search`,
//! `sees_work`, `help_until`), `engine::sleep::Sleep` and the lifecycle are the crate's own
//! code; `crate::sync` puts loom under them (see `loom_tests` for what it substitutes). A lost
//! wake-up leaves a worker parked while work is queued and every other thread is blocked (the
//! main thread in `join`): loom reports that as a deadlock.
//!
//! The jobs are a test [`Job`] ([`ModelJob`]) rather than tasks: the task layer's own
//! protocols have their models (`cell`, `tracker`, `wakers`), and leaving it out keeps these
//! models small enough to explore with three preemptions. Jobs that must run at the same time
//! (a rendezvous) block on a loom mutex and condvar: two of them can only meet on two workers.

use super::engine_model;
use crate::engine::{Engine, EngineConfig, Job, Ran};
use crate::sync::{lock, AtomicBool, Condvar, Mutex, Ordering};
use crate::task::waiters::Waiters;
use std::sync::Arc;

/// What a job does.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Nothing.
    Plain,
    /// Waits until `n` jobs of the rendezvous have started: they must run at the same time,
    /// on different workers.
    Rendezvous(usize),
    /// Issues the listed jobs as follow-ups (`submit_detached` on its worker: the worker's own
    /// deque), then joins a rendezvous of `n` if given.
    Spawn(&'static [usize], Option<usize>),
    /// Waits inside the pool (`Engine::help_until`, no deadline) until a [`Kind::Signal`]
    /// job has run, helping meanwhile; its waker is registered with the event's [`Waiters`].
    Help,
    /// Raises the event a [`Kind::Help`] job waits for, and wakes its waiters.
    Signal,
}

/// What the jobs of one model share.
struct World {
    kinds: Vec<Kind>,
    /// Runs per job: test bookkeeping, not a modelled synchronisation point (read after
    /// `join`, and never locked across a loom operation).
    runs: std::sync::Mutex<Vec<usize>>,
    rendezvous: (Mutex<usize>, Condvar),
    /// The event of `Help`/`Signal`: a relaxed flag (weaker than any channel), ordered only
    /// by the fences of the real `task::waiters::Waiters`, as in `wakers`.
    event: AtomicBool,
    event_waiters: Waiters,
}

/// A job of the model: runs its [`Kind`].
struct ModelJob {
    id: usize,
    world: Arc<World>,
    engine: Arc<Engine>,
}

impl ModelJob {
    fn new(id: usize, world: &Arc<World>, engine: &Arc<Engine>) -> Arc<ModelJob> {
        Arc::new(ModelJob {
            id,
            world: Arc::clone(world),
            engine: Arc::clone(engine),
        })
    }
}

impl Job for ModelJob {
    fn run(self: Arc<Self>) -> Ran {
        lock(&self.world.runs)[self.id] += 1;
        let world = &*self.world;
        match world.kinds[self.id] {
            Kind::Plain => {}
            Kind::Rendezvous(n) => world.rendezvous(n),
            Kind::Spawn(children, then) => {
                for &child in children {
                    self.engine
                        .submit_detached(|| ModelJob::new(child, &self.world, &self.engine))
                        .expect("a follow-up is accepted after close");
                }
                if let Some(n) = then {
                    world.rendezvous(n);
                }
            }
            Kind::Help => {
                let done = || world.event.load(Ordering::Relaxed);
                let subscribe = |waker: &std::task::Waker| world.event_waiters.register(waker);
                let helped = self.engine.help_until(&done, &subscribe, None);
                assert_eq!(
                    helped,
                    Some(true),
                    "help_until on a worker, without a deadline"
                );
            }
            Kind::Signal => {
                world.event.store(true, Ordering::Relaxed);
                world.event_waiters.wake_all();
            }
        }
        Ran::Completed
    }

    fn abandon(self: Arc<Self>) {
        panic!("job {} abandoned: no model terminates", self.id);
    }
}

impl World {
    fn rendezvous(&self, n: usize) {
        let (started, cv) = &self.rendezvous;
        let mut started = lock(started);
        *started += 1;
        cv.notify_all();
        while *started < n {
            started = match cv.wait(started) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }
}

/// Starts an engine of `workers` loom threads, submits `submitted` from the main thread,
/// closes, joins, and checks that every job of `kinds` ran exactly once.
fn check(workers: usize, kinds: Vec<Kind>, submitted: &[usize]) {
    let world = Arc::new(World {
        runs: std::sync::Mutex::new(vec![0; kinds.len()]),
        kinds,
        rendezvous: (Mutex::new(0), Condvar::new()),
        event: AtomicBool::new(false),
        event_waiters: Waiters::new(),
    });
    // First touch of the world's atomics (see `crate::sync::seq_cst`).
    assert!(!world.event.load(Ordering::Relaxed));
    world.event_waiters.wake_all();
    let engine = Engine::start(EngineConfig {
        workers,
        thread_name_prefix: "loom-worker-".into(),
        stack_size: None,
        initializer: None,
        on_idle: None,
    })
    .expect("the engine starts");
    for &id in submitted {
        engine
            .submit_detached(|| ModelJob::new(id, &world, &engine))
            .expect("submitted before close");
    }
    engine.close();
    engine.join(None).expect("join after close");
    let runs = lock(&world.runs).clone();
    assert!(runs.iter().all(|&r| r == 1), "runs per job: {runs:?}");
}

/// One worker going to sleep racing a submitter publishing one job: the job runs and the
/// worker exits (no lost wake-up for the work, none for the shutdown).
#[test]
fn sleeping_worker_races_submitter() {
    engine_model(1, || check(1, vec![Kind::Plain], &[0]));
}

/// Two workers and two submitted jobs that must run at the same time: whichever worker takes
/// the first, the other must be woken (or still be searching) for the second. A submitter
/// that skips the wake-up because it saw a searcher relies on that searcher finding the job.
#[test]
fn second_submitted_job_gets_the_other_worker() {
    engine_model(2, || {
        check(2, vec![Kind::Rendezvous(2), Kind::Rendezvous(2)], &[0, 1])
    });
}

/// A task on one worker issues two follow-ups (local deque pushes) that must run at the same
/// time: the second push wakes the sleeping sibling, which steals one. (Deadlocks without the
/// `could_wake` wake-up in `WorkerLocal::push`. Issue B of RELIABILITY.md, the fence before
/// that hint, deadlocked the copy of the loop this model once ran; on the real engine it is
/// `lone_follow_up_of_a_blocked_issuer_wakes_a_sibling` that catches it, at 2 preemptions,
/// while this one passes even at 3.)
#[test]
fn local_fan_out_wakes_a_sibling() {
    engine_model(2, || {
        check(
            2,
            vec![
                Kind::Spawn(&[1, 2], None),
                Kind::Rendezvous(2),
                Kind::Rendezvous(2),
            ],
            &[0],
        )
    });
}

/// A task issues one follow-up and then blocks on something only that follow-up can release
/// (here: a rendezvous with it). There is no idle tick: the push itself must wake the
/// sleeping sibling, or the model deadlocks (as it does without the `could_wake` wake-up, or
/// without the fence before it: issues C and B).
#[test]
fn lone_follow_up_of_a_blocked_issuer_wakes_a_sibling() {
    engine_model(2, || {
        check(
            2,
            vec![Kind::Spawn(&[1], Some(2)), Kind::Rendezvous(2)],
            &[0],
        )
    });
}

/// A job waits inside the pool (`help_until`) for an event that a second submitted job
/// raises: the waiter either runs that job itself while helping, or parks as an idle worker
/// and is woken by the new work or, when the sibling ran it, by the waker it registered
/// (without that registration in `WorkerLocal::help_until`, the model deadlocks).
#[test]
fn helping_wait_is_woken_by_its_event() {
    engine_model(2, || check(2, vec![Kind::Help, Kind::Signal], &[0, 1]));
}

/// The same on one worker: the waiter must run the signalling job itself. It parks as an idle
/// worker while the job is not yet submitted, and the submission must wake it.
#[test]
fn lone_helping_wait_runs_the_awaited_job_itself() {
    engine_model(1, || check(1, vec![Kind::Help, Kind::Signal], &[0, 1]));
}
