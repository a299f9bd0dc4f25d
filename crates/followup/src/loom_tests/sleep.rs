//! The worker sleep/wake protocol (`engine::sleep`, compiled here from its own source file
//! with a loom parker). A lost wake-up leaves a worker parked while work is queued and every
//! other thread is blocked: loom reports that as a deadlock.
//!
//! The worker loop is a faithful copy of `engine::worker::run_worker` and `WorkerLocal::push`
//! (they need crossbeam's deques and the whole engine): the same calls to `Sleep`, in the same
//! order, under the same conditions. Substitutions:
//! - the queues are [`Queue`]s: models of crossbeam's `Injector` (SeqCst tail increment, SeqCst
//!   `is_empty`) and of a worker's `Worker` deque (owner push = release fence + relaxed store
//!   of `back`; `Stealer::is_empty`/`steal` = acquire load, SeqCst fence, acquire load, SeqCst
//!   CAS on `front`), with the orderings crossbeam-deque 0.8 uses. They are FIFO; LIFO order
//!   does not matter to the wake-up protocol.
//! - `find_work` is own deque, then injector, then siblings (the fairness ticks are left out);
//!   `search()` is one more `find_work` round instead of 32.
//! - there is no idle tick (nor any timeout under loom): a lone follow-up whose issuer blocks
//!   outside the pool is rescued by the wake-up its push sends, checked here
//!   (`lone_follow_up_of_a_blocked_issuer_wakes_a_sibling`) and on the real engine
//!   (`tests/stress.rs`, `single_followup_of_a_blocked_task_gets_the_idle_worker`).
//! - the exit test `engine.should_exit()` (closed and nothing outstanding) is "every job
//!   finished", set by the last job before its `notify_all`, as `Engine::finish_one` does.

use super::engine_sleep::Sleep;
use super::model;
use crate::sync::{fence, lock, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, Parker};
use loom::thread;
use std::sync::Arc;

/// A FIFO of job ids; see the module docs for the orderings.
struct Queue {
    injector: bool,
    back: AtomicUsize,
    front: AtomicUsize,
    /// The payload, written before `back` is published and read after it was seen (not a
    /// modelled synchronisation point: loom runs one thread at a time).
    slots: std::sync::Mutex<Vec<usize>>,
}

impl Queue {
    fn new(injector: bool) -> Queue {
        Queue {
            injector,
            back: AtomicUsize::new(0),
            front: AtomicUsize::new(0),
            slots: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Injector: any thread. Worker deque: its owner only.
    fn push(&self, job: usize) {
        // Never hold the std lock across a loom operation: loom may switch threads there.
        let len = {
            let mut slots = self.slots.lock().unwrap();
            slots.push(job);
            slots.len()
        };
        if self.injector {
            self.back.fetch_add(1, Ordering::SeqCst);
        } else {
            fence(Ordering::Release);
            self.back.store(len, Ordering::Relaxed);
        }
    }

    /// `Stealer::steal` / `Injector::steal`.
    fn steal(&self) -> Option<usize> {
        loop {
            let f = self.front.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.back.load(Ordering::Acquire);
            if f >= b {
                return None;
            }
            if self
                .front
                .compare_exchange(f, f + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Some(self.slots.lock().unwrap()[f]);
            }
        }
    }

    /// `Stealer::is_empty` / `Injector::is_empty`.
    fn is_empty(&self) -> bool {
        if self.injector {
            let f = self.front.load(Ordering::SeqCst);
            let b = self.back.load(Ordering::SeqCst);
            f >= b
        } else {
            let f = self.front.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.back.load(Ordering::Acquire);
            f >= b
        }
    }
}

/// What a job does.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Nothing.
    Plain,
    /// Waits until `n` jobs of the rendezvous have started: they must run at the same time,
    /// on different workers.
    Rendezvous(usize),
    /// Pushes the listed jobs on its worker's own deque (follow-ups issued by a task), then
    /// joins a rendezvous of `n` if given.
    Spawn(&'static [usize], Option<usize>),
}

struct Pool {
    sleep: Sleep,
    injector: Queue,
    locals: Vec<Queue>,
    kinds: Vec<Kind>,
    finished: AtomicUsize,
    exit: AtomicBool,
    rendezvous: (Mutex<usize>, Condvar),
}

impl Pool {
    fn new(workers: usize, kinds: Vec<Kind>) -> (Arc<Pool>, Vec<Parker>) {
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let pool = Arc::new(Pool {
            sleep: Sleep::new(&parkers),
            injector: Queue::new(true),
            locals: (0..workers).map(|_| Queue::new(false)).collect(),
            kinds,
            finished: AtomicUsize::new(0),
            exit: AtomicBool::new(false),
            rendezvous: (Mutex::new(0), Condvar::new()),
        });
        // First touch of every atomic (see `crate::sync::seq_cst`).
        pool.sleep.notify_one(); // reads `searching` and `sleepers`
        pool.sleep.start_searching();
        pool.sleep.stop_searching();
        assert!(pool.injector.is_empty() && pool.locals.iter().all(Queue::is_empty));
        assert!(!pool.should_exit() && pool.finished.load(Ordering::Relaxed) == 0);
        (pool, parkers)
    }

    /// `Engine::schedule` from outside the pool: push on the injector, then `notify_one`.
    fn submit(&self, job: usize) {
        self.injector.push(job);
        self.sleep.notify_one();
    }

    /// `WorkerLocal::push`: a follow-up goes on the own deque; after a SeqCst fence, a sibling
    /// is woken if some worker sleeps and none searches.
    fn push_local(&self, index: usize, job: usize) {
        let local = &self.locals[index];
        local.push(job);
        fence(Ordering::SeqCst);
        if self.sleep.could_wake() {
            self.sleep.notify_one();
        }
    }

    /// `WorkerLocal::find_work`.
    fn find_work(&self, index: usize) -> Option<usize> {
        let n = self.locals.len();
        self.locals[index]
            .steal()
            .or_else(|| self.injector.steal())
            .or_else(|| (1..n).find_map(|k| self.locals[(index + k) % n].steal()))
    }

    /// `WorkerLocal::sees_work`.
    fn sees_work(&self) -> bool {
        !self.injector.is_empty() || self.locals.iter().any(|q| !q.is_empty())
    }

    fn run(&self, index: usize, job: usize) {
        match self.kinds[job] {
            Kind::Plain => {}
            Kind::Rendezvous(n) => self.rendezvous(n),
            Kind::Spawn(children, then) => {
                for &child in children {
                    self.push_local(index, child);
                }
                if let Some(n) = then {
                    self.rendezvous(n);
                }
            }
        }
        // `Engine::finish_one`: the last one makes the pool quiet and wakes everyone.
        if self.finished.fetch_add(1, Ordering::SeqCst) + 1 == self.kinds.len() {
            self.exit.store(true, Ordering::SeqCst);
            self.sleep.notify_all();
        }
    }

    fn should_exit(&self) -> bool {
        self.exit.load(Ordering::SeqCst)
    }

    fn rendezvous(&self, n: usize) {
        let (started, cv) = &self.rendezvous;
        let mut started = lock(started);
        *started += 1;
        cv.notify_all();
        while *started < n {
            started = cv.wait(started).unwrap();
        }
    }
}

/// `engine::worker::run_worker`, with the substitutions named in the module docs.
fn run_worker(pool: &Pool, index: usize, parker: &Parker) {
    let sleep = &pool.sleep;
    sleep.start_searching();
    let mut searching = true;
    loop {
        let job = pool.find_work(index).or_else(|| {
            if !searching {
                sleep.start_searching();
                searching = true;
            }
            pool.find_work(index) // search(): more rounds of find_work
        });
        if let Some(job) = job {
            if searching {
                searching = false;
                if sleep.stop_searching() {
                    sleep.notify_one();
                }
            }
            pool.run(index, job);
            continue;
        }
        sleep.stop_searching();
        if pool.should_exit() {
            break;
        }
        sleep.sleep(index, parker, None, || {
            pool.sees_work() || pool.should_exit()
        });
        searching = true;
    }
}

/// Starts the workers, submits `submitted` from the main thread, waits for the workers.
fn check(workers: usize, kinds: Vec<Kind>, submitted: &[usize]) {
    let (pool, parkers) = Pool::new(workers, kinds);
    let handles: Vec<_> = parkers
        .into_iter()
        .enumerate()
        .map(|(i, parker)| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || run_worker(&pool, i, &parker))
        })
        .collect();
    for &job in submitted {
        pool.submit(job);
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(pool.finished.load(Ordering::SeqCst), pool.kinds.len());
}

/// One worker going to sleep racing a submitter publishing one job: the job runs and the
/// worker exits (no lost wake-up for the work, none for the shutdown).
#[test]
fn sleeping_worker_races_submitter() {
    model(|| check(1, vec![Kind::Plain], &[0]));
}

/// Two workers and two submitted jobs that must run at the same time: whichever worker takes
/// the first, the other must be woken (or still be searching) for the second. A submitter
/// that skips the wake-up because it saw a searcher relies on that searcher finding the job.
#[test]
fn second_submitted_job_gets_the_other_worker() {
    model(|| check(2, vec![Kind::Rendezvous(2), Kind::Rendezvous(2)], &[0, 1]));
}

/// A task on one worker issues two follow-ups (local deque pushes) that must run at the same
/// time: the second push wakes the sleeping sibling, which steals one. (Deadlocked while the
/// `could_wake` hint had no fence before it, issue B of RELIABILITY.md.)
#[test]
fn local_fan_out_wakes_a_sibling() {
    model(|| {
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
/// (here: a rendezvous with it). There is no idle tick any more: the push itself must wake
/// the sleeping sibling, or the model deadlocks.
#[test]
fn lone_follow_up_of_a_blocked_issuer_wakes_a_sibling() {
    model(|| {
        check(
            2,
            vec![Kind::Spawn(&[1], Some(2)), Kind::Rendezvous(2)],
            &[0],
        )
    });
}
