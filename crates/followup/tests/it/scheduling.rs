//! The engine's scheduling promises, seen from outside: follow-ups first within the stated
//! fairness bound, waits that nest as deep as the work, and no follow-up stranded behind an
//! issuer that blocks outside the pool.

use crate::util::{pool, within, LONG};
use followup::ThreadPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Older jobs a worker may run before a follow-up just issued on it: one from the shared
/// queue (every 61st look) and its own oldest (every 31st), see `engine/worker.rs`.
const FOLLOW_UP_FAIRNESS_BOUND: usize = 2;

#[test]
fn a_follow_up_runs_before_work_queued_earlier_within_the_fairness_bound() {
    within(LONG * 3, || {
        let pool = pool(1);
        // 130 rounds so every phase of both fairness ticks (31 and 61 jobs) comes round.
        let mut worst = 0;
        for _round in 0..130 {
            let (gate_tx, gate_rx) = mpsc::channel::<()>();
            let order = Arc::new(AtomicUsize::new(0));
            let (pos_tx, pos_rx) = mpsc::channel::<usize>();
            let p = pool.clone();
            let o = Arc::clone(&order);
            // The issuer waits until 200 older jobs are queued behind it, then issues.
            pool.spawn(move || {
                gate_rx.recv().unwrap();
                let o2 = Arc::clone(&o);
                p.spawn(move || pos_tx.send(o2.load(Ordering::SeqCst)).unwrap())
                    .unwrap();
            })
            .unwrap();
            for _ in 0..200 {
                let o = Arc::clone(&order);
                pool.spawn(move || {
                    o.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
            gate_tx.send(()).unwrap();
            let ran_before = pos_rx.recv_timeout(LONG).unwrap();
            worst = worst.max(ran_before);
            // Let the round drain so the next one starts from an empty queue.
            while order.load(Ordering::SeqCst) < 200 {
                std::thread::yield_now();
            }
        }
        assert!(
            worst <= FOLLOW_UP_FAIRNESS_BOUND,
            "a follow-up waited behind {worst} older jobs (bound {FOLLOW_UP_FAIRNESS_BOUND})"
        );
    });
}

/// Each level issues the next as a follow-up and waits for it: the waiting worker runs it
/// inline or helps until it is done, so the chain nests on the workers' stacks.
fn nest(pool: ThreadPool, depth: usize) -> usize {
    if depth == 0 {
        return 0;
    }
    let p = pool.clone();
    let child = pool.apply_async(move || nest(p, depth - 1)).unwrap();
    child.get().unwrap() + 1
}

#[test]
fn waits_nested_100_000_deep_on_two_workers_complete() {
    within(Duration::from_secs(120), || {
        let pool = pool(2);
        let p = pool.clone();
        let depth = 100_000;
        let top = pool.apply_async(move || nest(p, depth)).unwrap();
        assert_eq!(top.get().unwrap(), depth);
    });
}

#[test]
fn a_lone_follow_up_of_an_issuer_blocked_outside_the_pool_runs() {
    within(LONG, || {
        let pool = pool(2);
        for _ in 0..200 {
            let (tx, rx) = mpsc::channel::<()>();
            let p = pool.clone();
            // The issuer blocks on a channel only its own follow-up can fill: another worker
            // must be woken for it (no idle tick exists to rescue it).
            let h = pool
                .apply_async(move || {
                    p.spawn(move || tx.send(()).unwrap()).unwrap();
                    rx.recv_timeout(LONG).is_ok()
                })
                .unwrap();
            assert!(h.get().unwrap(), "the follow-up was stranded");
        }
    });
}

#[test]
fn stats_count_every_kind_of_end_once_the_pool_is_quiet() {
    within(LONG, || {
        let pool = pool(2);
        let gate = crate::util::Gate::new();
        // Two workers busy, so the third task is still queued when it is cancelled.
        let g = Arc::clone(&gate);
        let blockers: Vec<_> = (0..2)
            .map(|_| {
                let g = Arc::clone(&g);
                pool.apply_async(move || g.wait()).unwrap()
            })
            .collect();
        let queued = pool.apply_async(|| ()).unwrap();
        assert!(queued.cancel());
        let during = pool.stats();
        assert_eq!(during.submitted, 3);
        gate.open();
        for b in blockers {
            b.get().unwrap();
        }
        let p = pool.clone();
        pool.apply(move || {
            for i in 0..10 {
                p.spawn(move || assert!(i % 5 != 0, "boom")).unwrap();
            }
        })
        .unwrap();
        pool.close();
        pool.join().unwrap();
        let s = pool.stats();
        // 2 blockers, the cancelled one, 1 issuer and its 10 follow-ups (2 of which panic).
        assert_eq!(s.submitted, 14, "{s:?}");
        assert_eq!((s.completed, s.panicked, s.cancelled), (11, 2, 1), "{s:?}");
        assert_eq!((s.queued, s.running), (0, 0), "{s:?}");
        assert_eq!(s.workers.len(), 2);
        let executed: u64 = s.workers.iter().map(|w| w.executed).sum();
        assert_eq!(executed, 14, "{s:?}");
    });
}

/// Each step of a chain issues the next with the same closure type, so the worker reuses one
/// step's allocation for the next (`task::spare`). Captures must still be dropped when a step
/// returns, steps of a group (never reused) must mix in, and a panicking step must not leave
/// a half-filled job behind for the next.
#[test]
fn reused_follow_up_allocations_drop_their_captures_and_mix_with_group_tasks() {
    fn step(p: ThreadPool, token: Arc<()>, ran: Arc<AtomicUsize>, left: usize) {
        let n = ran.fetch_add(1, Ordering::SeqCst);
        if left == 0 {
            return;
        }
        let q = p.clone();
        let (t, r) = (Arc::clone(&token), Arc::clone(&ran));
        if n % 7 == 3 {
            // A group task in between (kept out of the spare slot: it has a tracker).
            let group = p.group();
            group.spawn(move || step(q, t, r, left - 1)).unwrap();
        } else if n % 211 == 5 {
            // A step that panics after issuing its successor.
            p.spawn(move || step(q, t, r, left - 1)).unwrap();
            panic!("planned");
        } else {
            p.spawn(move || step(q, t, r, left - 1)).unwrap();
        }
    }
    let p = pool(2);
    let token = Arc::new(());
    let ran = Arc::new(AtomicUsize::new(0));
    let (q, t, r) = (p.clone(), Arc::clone(&token), Arc::clone(&ran));
    p.spawn(move || step(q, t, r, 2_000)).unwrap();
    let q = p.clone();
    within(LONG, move || {
        q.close();
        q.join().unwrap();
    });
    assert_eq!(ran.load(Ordering::SeqCst), 2_001);
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "a finished step kept its captures"
    );
    let s = p.stats();
    assert_eq!(
        (s.completed + s.panicked, s.submitted),
        (2_001, 2_001),
        "{s:?}"
    );
}

/// The idle hook runs on a worker, so work it issues takes its unit from that worker's
/// credit. If a sibling runs that work, the hook's worker must still give its credit back
/// before it sleeps, or `join` would wait for ever on a quiet pool.
#[test]
fn work_issued_by_the_idle_hook_and_run_by_a_sibling_does_not_keep_join_waiting() {
    use std::sync::atomic::AtomicBool;
    static ARMED: AtomicBool = AtomicBool::new(false);
    let pool = ThreadPool::builder()
        .workers(2)
        .on_idle(|_| {
            if ARMED.swap(false, Ordering::SeqCst) {
                followup::spawn(|| ()).unwrap();
                // Long enough for the woken sibling to take it.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .build()
        .unwrap();
    ARMED.store(true, Ordering::SeqCst);
    pool.apply(|| ()).unwrap(); // an idle transition follows
    std::thread::sleep(Duration::from_millis(100));
    pool.close();
    let joined = pool.join_timeout(LONG);
    if joined.is_err() {
        pool.terminate(); // so that dropping the pool cannot wait for ever either
    }
    assert_eq!(joined, Ok(()), "a quiet pool kept join waiting");
}

/// The idle hook runs on a worker but inside no job, so what it submits comes from outside:
/// after `close` it is refused with `Closed`, as any outside submission, rather than slipping
/// in as a follow-up that `join` may already have stopped waiting for.
#[test]
fn the_idle_hook_submits_from_outside_the_pool() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    static ARMED: AtomicBool = AtomicBool::new(false);
    static SEEN: Mutex<Option<followup::Result<()>>> = Mutex::new(None);
    let pool = ThreadPool::builder()
        .workers(1)
        .on_idle(|_| {
            if ARMED.swap(false, Ordering::SeqCst) {
                *SEEN.lock().unwrap() = Some(followup::spawn(|| ()));
            }
        })
        .build()
        .unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let held = pool
        .apply_async(move || gate.recv_timeout(LONG).expect("released"))
        .unwrap();
    pool.close();
    ARMED.store(true, Ordering::SeqCst);
    release.send(()).unwrap();
    within(LONG, move || held.get().unwrap());
    let p = pool.clone();
    within(LONG, move || p.join().unwrap());
    assert_eq!(
        SEEN.lock().unwrap().take(),
        Some(Err(followup::Error::Closed)),
        "the idle hook's submission after close"
    );
}

/// A task the idle hook waits for runs inside the hook (the wait helps), but it is still a
/// task of the pool: a follow-up it issues after `close` is accepted like any other.
#[test]
fn a_task_run_while_the_idle_hook_waits_still_issues_follow_ups() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    type Handle = followup::AsyncResult<followup::Result<()>>;
    static ARMED: AtomicBool = AtomicBool::new(false);
    static HANDLE: Mutex<Option<mpsc::Receiver<Handle>>> = Mutex::new(None);
    static SEEN: Mutex<Option<followup::Result<followup::Result<()>>>> = Mutex::new(None);
    let (send_handle, handles) = mpsc::channel::<Handle>();
    *HANDLE.lock().unwrap() = Some(handles);
    let pool = ThreadPool::builder()
        .workers(1)
        .on_idle(|_| {
            if ARMED.swap(false, Ordering::SeqCst) {
                let rx = HANDLE.lock().unwrap().take().expect("armed once");
                let mut h = rx.recv_timeout(LONG).expect("main sends the handle");
                // The wait helps: the one worker runs the task here, inside the hook.
                *SEEN.lock().unwrap() = Some(h.get_timeout(LONG));
            }
        })
        .build()
        .unwrap();
    ARMED.store(true, Ordering::SeqCst);
    pool.apply(|| ()).unwrap(); // the worker goes idle and waits in its hook
    let follow_up_issuer = pool.apply_async(|| followup::spawn(|| ())).unwrap();
    pool.close();
    send_handle.send(follow_up_issuer).unwrap();
    let p = pool.clone();
    within(LONG, move || p.join().unwrap());
    assert_eq!(
        SEEN.lock().unwrap().take(),
        Some(Ok(Ok(()))),
        "the follow-up of a task run inside the idle hook, after close"
    );
}
