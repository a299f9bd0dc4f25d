//! Lifecycle (§8.3-§8.6): `close` refuses outside work but accepts follow-ups from inside the
//! pool, so `close` + `join` waits for the whole follow-up tree; `join` errors instead of
//! hanging; `terminate` resolves queued work to `Terminated`; dropping the last handle waits
//! for accepted work; no worker thread outlives `join`.

use crate::util::*;
use followup::{Callbacks, Error, ThreadPool};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// close
// ---------------------------------------------------------------------------------------------

#[test]
fn close_then_submit_from_outside_is_closed() {
    let p = pool(2);
    assert!(!p.is_closed());
    p.close();
    assert!(p.is_closed());
    assert!(!p.is_terminated());
    assert_eq!(p.apply_async(|| 1).unwrap_err(), Error::Closed);
    assert_eq!(p.apply(|| 1), Err(Error::Closed));
    assert_eq!(
        p.apply_async_with(|| 1, Callbacks::new()).unwrap_err(),
        Error::Closed
    );
    assert_eq!(p.spawn(|| ()), Err(Error::Closed));
    assert_eq!(p.map(|x: u32| x, 0..3), Err(Error::Closed));
    assert_eq!(p.map_async(|x: u32| x, 0..3).unwrap_err(), Error::Closed);
    assert_eq!(p.imap(|x: u32| x, 0..3).unwrap_err(), Error::Closed);
    assert_eq!(
        p.imap_unordered(|x: u32| x, 0..3).unwrap_err(),
        Error::Closed
    );
    assert_eq!(p.group().spawn(|| ()), Err(Error::Closed));
    let mut set = p.as_completed::<u8>();
    assert_eq!(set.submit(|| 1), Err(Error::Closed));
    assert!(set.next().is_none(), "nothing was added");
    assert!(Error::Closed.to_string().contains("closed"));
    p.join_timeout(LONG).unwrap();
}

#[test]
fn close_is_idempotent_and_does_not_block() {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    let t = Instant::now();
    p.close();
    p.close();
    assert!(t.elapsed() < Duration::from_secs(5));
    gate.open();
    p.join_timeout(LONG).unwrap();
    p.join_timeout(LONG).unwrap(); // a second join is a no-op
}

#[test]
fn continuation_registered_from_outside_after_close_is_closed() {
    let p = pool(1);
    let h = p.apply_async(|| 1).unwrap();
    p.close();
    let m = h.map(|x| x + 1);
    assert_eq!(get(m), Err(Error::Closed));
    p.join_timeout(LONG).unwrap();
}

#[test]
fn work_accepted_before_close_still_runs() {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    let hs: Vec<_> = (0..10).map(|i| p.apply_async(move || i).unwrap()).collect();
    p.close();
    gate.open();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(get(h), Ok(i));
    }
    p.join_timeout(LONG).unwrap();
}

#[test]
fn follow_up_issued_from_a_task_after_close_is_accepted() {
    let p = pool(2);
    let gate = Gate::new();
    let (g, q) = (Arc::clone(&gate), p.clone());
    let (tx, rx) = mpsc::channel();
    let parent = p
        .apply_async(move || {
            g.wait();
            let child = q.apply_async(move || tx.send("child ran").unwrap());
            child.is_ok()
        })
        .unwrap();
    p.close();
    gate.open();
    assert_eq!(get(parent), Ok(true), "accepted after close");
    p.join_timeout(LONG).unwrap();
    assert_eq!(rx.try_recv(), Ok("child ran"), "join waited for the child");
}

fn chain_from_callbacks(
    p: &ThreadPool,
    depth: usize,
    max: usize,
    log: Arc<Mutex<Vec<usize>>>,
    refused: Arc<Mutex<Vec<Error>>>,
    gate: Option<Arc<Gate>>,
) {
    let (q, l, r) = (p.clone(), Arc::clone(&log), Arc::clone(&refused));
    let cbs = Callbacks::new().on_success(move |&d: &usize| {
        if d < max {
            chain_from_callbacks(&q, d + 1, max, l, r, None);
        }
    });
    let issued = p.apply_async_with(
        move || {
            if let Some(g) = gate {
                g.wait();
            }
            std::thread::sleep(Duration::from_millis(1));
            log.lock().unwrap().push(depth);
            depth
        },
        cbs,
    );
    if let Err(e) = issued {
        refused.lock().unwrap().push(e);
    }
}

#[test]
fn chain_of_depth_five_issued_from_callbacks_after_close_runs_and_join_waits_for_it() {
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        chain_from_callbacks(
            &p,
            1,
            5,
            Arc::clone(&log),
            Arc::clone(&refused),
            Some(Arc::clone(&gate)),
        );
        p.close(); // before any callback ran: Python cuts the chain here
        gate.open();
        p.join_timeout(LONG).unwrap();
        assert!(refused.lock().unwrap().is_empty(), "{refused:?}");
        assert_eq!(*log.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    });
}

fn fan_out(p: ThreadPool, depth: u32, nodes: Arc<Mutex<Vec<u32>>>, refused: Arc<Mutex<usize>>) {
    nodes.lock().unwrap().push(depth);
    if depth == 0 {
        return;
    }
    for _ in 0..2 {
        let (q, n, r) = (p.clone(), Arc::clone(&nodes), Arc::clone(&refused));
        if p.spawn(move || fan_out(q, depth - 1, n, r)).is_err() {
            *refused.lock().unwrap() += 1;
        }
    }
}

#[test]
fn fan_out_tree_issued_from_tasks_after_close_runs_in_full_and_join_waits() {
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let nodes = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0));
        let (q, n, r, g) = (
            p.clone(),
            Arc::clone(&nodes),
            Arc::clone(&refused),
            Arc::clone(&gate),
        );
        p.spawn(move || {
            g.wait();
            fan_out(q, 3, n, r);
        })
        .unwrap();
        p.close();
        gate.open();
        p.join_timeout(LONG).unwrap();
        assert_eq!(*refused.lock().unwrap(), 0);
        assert_eq!(nodes.lock().unwrap().len(), 15, "1 + 2 + 4 + 8 nodes");
    });
}

#[test]
fn close_from_inside_a_callback_works() {
    guarded(|| {
        let p = pool(2);
        let q = p.clone();
        let cbs = Callbacks::new().on_success(move |_: &u8| q.close());
        assert_eq!(get(p.apply_async_with(|| 1u8, cbs).unwrap()), Ok(1));
        assert!(p.is_closed());
        p.join_timeout(LONG).unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// join
// ---------------------------------------------------------------------------------------------

#[test]
fn join_before_close_is_still_running() {
    let p = pool(1);
    let t = Instant::now();
    assert_eq!(p.join(), Err(Error::StillRunning));
    assert_eq!(p.join_timeout(LONG), Err(Error::StillRunning));
    assert!(t.elapsed() < Duration::from_secs(5), "an error, not a hang");
    // The pool is unharmed.
    assert_eq!(p.apply(|| 3), Ok(3));
}

#[test]
fn join_from_inside_a_task_is_join_from_worker() {
    guarded(|| {
        let p = pool(2);
        let q = p.clone();
        let running = p.apply_async(move || q.join()).unwrap();
        assert_eq!(get(running), Ok(Err(Error::JoinFromWorker)));

        let gate = Gate::new();
        let (q, g) = (p.clone(), Arc::clone(&gate));
        let closed = p
            .apply_async(move || {
                g.wait();
                (q.join(), q.join_timeout(LONG))
            })
            .unwrap();
        p.close();
        gate.open();
        assert_eq!(
            get(closed),
            Ok((Err(Error::JoinFromWorker), Err(Error::JoinFromWorker)))
        );
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn join_from_inside_a_callback_is_join_from_worker() {
    guarded(|| {
        let p = pool(2);
        let (q, seen) = (p.clone(), Arc::new(Mutex::new(None)));
        let s = Arc::clone(&seen);
        let cbs = Callbacks::new().on_success(move |_: &()| {
            q.close();
            *s.lock().unwrap() = Some(q.join());
        });
        assert_eq!(get(p.apply_async_with(|| (), cbs).unwrap()), Ok(()));
        assert_eq!(*seen.lock().unwrap(), Some(Err(Error::JoinFromWorker)));
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn join_timeout_gives_up_then_can_be_called_again() {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    p.close();
    let t = Instant::now();
    assert_eq!(
        p.join_timeout(Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(p.join_timeout(Duration::ZERO), Err(Error::Timeout));
    gate.open();
    assert_eq!(p.join_timeout(LONG), Ok(()));
}

#[test]
fn join_waits_for_callbacks_of_the_last_jobs() {
    guarded(|| {
        let p = pool(2);
        let done = counter();
        for _ in 0..6 {
            let d = Arc::clone(&done);
            let cbs = Callbacks::new().on_success(move |_: &()| {
                std::thread::sleep(Duration::from_millis(2));
                bump(&d);
            });
            drop(p.apply_async_with(|| (), cbs).unwrap());
        }
        p.close();
        p.join().unwrap();
        assert_eq!(count(&done), 6);
    });
}

#[test]
fn no_worker_thread_is_left_after_join() {
    if !std::path::Path::new("/proc/self/task").exists() {
        return; // Linux only
    }
    let (p, prefix) = named_pool(3, "left");
    p.map(|x: u32| x, 0..100).unwrap();
    assert_eq!(
        live_threads_named(&prefix).len(),
        3,
        "the workers are there"
    );
    p.close();
    p.join_timeout(LONG).unwrap();
    // join has joined every thread; allow the kernel a moment to drop the task entries.
    assert!(
        eventually(Duration::from_secs(2), || live_threads_named(&prefix)
            .is_empty()),
        "left after join: {:?}",
        live_threads_named(&prefix)
    );
}

// ---------------------------------------------------------------------------------------------
// terminate
// ---------------------------------------------------------------------------------------------

#[test]
fn terminate_resolves_queued_work_to_terminated_and_tells_error_callbacks() {
    within(BODY, || {
        let p = pool(1);
        let gate = Gate::new();
        let (started_tx, started_rx) = mpsc::channel();
        let g = Arc::clone(&gate);
        let running = p
            .apply_async(move || {
                started_tx.send(()).unwrap();
                g.wait();
                "ran"
            })
            .unwrap();
        recv(&started_rx, "running task");
        let told = Arc::new(Mutex::new(Vec::new()));
        let ran = counter();
        let queued: Vec<_> = (0..10)
            .map(|i| {
                let (t, r) = (Arc::clone(&told), Arc::clone(&ran));
                let cbs =
                    Callbacks::new().on_error(move |e: &Error| t.lock().unwrap().push(e.clone()));
                p.apply_async_with(
                    move || {
                        bump(&r);
                        i
                    },
                    cbs,
                )
                .unwrap()
            })
            .collect();
        let t = Instant::now();
        p.terminate(); // the gate is still closed: terminate must not wait for the running task
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "terminate returns promptly"
        );
        assert!(p.is_terminated() && p.is_closed());
        for h in queued {
            assert_eq!(get(h), Err(Error::Terminated));
        }
        assert_eq!(*told.lock().unwrap(), vec![Error::Terminated; 10]);
        assert!(!running.ready(), "the running task goes on");
        gate.open();
        assert_eq!(get(running), Ok("ran"), "running tasks finish");
        p.join_timeout(LONG).unwrap();
        assert_eq!(count(&ran), 0, "queued tasks never started");
    });
}

#[test]
fn terminate_reaches_continuations_of_queued_work() {
    within(BODY, || {
        let p = pool(1);
        let (gate, _running) = block_workers(&p, 1);
        let ran = counter();
        let r = Arc::clone(&ran);
        let mapped = p.apply_async(|| 1).unwrap().map(move |x| {
            bump(&r);
            x + 1
        });
        p.terminate();
        assert_eq!(get(mapped), Err(Error::Terminated));
        gate.open();
        p.join_timeout(LONG).unwrap();
        assert_eq!(count(&ran), 0);
    });
}

#[test]
fn submit_after_terminate_is_refused() {
    let p = pool(1);
    p.terminate();
    p.terminate(); // idempotent
    let e = p.apply_async(|| 1).unwrap_err();
    assert!(matches!(e, Error::Terminated | Error::Closed), "{e:?}");
    p.join_timeout(LONG).unwrap();
}

#[test]
fn terminate_from_inside_a_task_works() {
    within(BODY, || {
        let p = pool(2);
        let (gate, _blockers) = block_workers(&p, 1);
        let q = p.clone();
        let (tx, rx) = mpsc::channel();
        let gate2 = Gate::new();
        let g2 = Arc::clone(&gate2);
        let terminator = p
            .apply_async(move || {
                tx.send(()).unwrap();
                g2.wait();
                q.terminate();
                "terminated"
            })
            .unwrap();
        recv(&rx, "terminator running");
        // Both workers busy: these are queued.
        let queued: Vec<_> = (0..5).map(|i| p.apply_async(move || i).unwrap()).collect();
        gate2.open();
        assert_eq!(get(terminator), Ok("terminated"));
        for h in queued {
            assert_eq!(get(h), Err(Error::Terminated));
        }
        gate.open();
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn terminate_from_inside_a_callback_works() {
    within(BODY, || {
        let p = pool(1);
        let q = p.clone();
        let gate = Gate::new();
        let g = Arc::clone(&gate);
        let cbs = Callbacks::new().on_success(move |_: &()| q.terminate());
        let first = p.apply_async_with(move || g.wait(), cbs).unwrap();
        let queued = p.apply_async(|| 2).unwrap();
        gate.open();
        assert_eq!(get(first), Ok(()));
        assert_eq!(get(queued), Err(Error::Terminated));
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn join_after_terminate_waits_only_for_running_tasks() {
    within(BODY, || {
        let p = pool(1);
        let (gate, running) = block_workers(&p, 1);
        for _ in 0..100 {
            drop(
                p.apply_async(|| std::thread::sleep(Duration::from_millis(50)))
                    .unwrap(),
            );
        }
        p.terminate();
        assert_eq!(
            p.join_timeout(Duration::from_millis(10)),
            Err(Error::Timeout),
            "the running task still runs"
        );
        gate.open();
        let t = Instant::now();
        p.join_timeout(LONG).unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the 100 queued 50 ms tasks were not run"
        );
        for h in running {
            assert_eq!(get(h), Ok(()));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Dropping the last handle
// ---------------------------------------------------------------------------------------------

#[test]
fn dropping_the_last_pool_handle_waits_for_accepted_work() {
    guarded(|| {
        let p = pool(2);
        let done = counter();
        for _ in 0..50 {
            let d = Arc::clone(&done);
            p.spawn(move || {
                std::thread::sleep(Duration::from_micros(200));
                bump(&d);
            })
            .unwrap();
        }
        // Follow-ups issued by accepted work count too. (The task must not hold a pool
        // handle, or `drop(p)` below would not drop the last one: a group holds none.)
        let (group, d) = (p.group(), Arc::clone(&done));
        let g2 = group.clone();
        group
            .spawn(move || {
                for _ in 0..10 {
                    let d = Arc::clone(&d);
                    g2.spawn(move || {
                        std::thread::sleep(Duration::from_micros(200));
                        bump(&d);
                    })
                    .unwrap();
                }
            })
            .unwrap();
        let kept = p.apply_async(|| 99).unwrap();
        drop(p);
        assert_eq!(count(&done), 60, "nothing accepted was lost");
        assert!(kept.ready());
        assert_eq!(get(kept), Ok(99), "handles outlive the pool");
    });
}

#[test]
fn dropping_the_last_handle_lets_the_worker_threads_exit() {
    if !std::path::Path::new("/proc/self/task").exists() {
        return;
    }
    let (p, prefix) = named_pool(2, "drop");
    p.map(|x: u8| x, 0..10).unwrap();
    within(BODY, move || drop(p));
    assert!(
        eventually(Duration::from_secs(2), || live_threads_named(&prefix)
            .is_empty()),
        "left after drop: {:?}",
        live_threads_named(&prefix)
    );
}

#[test]
fn dropping_the_last_handle_inside_a_task_does_not_hang() {
    let (p, prefix) = named_pool(2, "dint");
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let (q, g) = (p.clone(), Arc::clone(&gate));
    let done = counter();
    let d = Arc::clone(&done);
    p.spawn(move || {
        g.wait();
        // Accepted work issued just before: the pool must still run it.
        let d2 = Arc::clone(&d);
        q.spawn(move || bump(&d2)).unwrap();
        drop(q); // the last handle, dropped on a worker
        tx.send(()).unwrap();
    })
    .unwrap();
    drop(p); // not the last handle: the task holds one
    gate.open();
    recv(&rx, "the task that dropped the last handle");
    assert!(
        eventually(LONG, || count(&done) == 1),
        "the work issued before the drop still ran"
    );
    if std::path::Path::new("/proc/self/task").exists() {
        assert!(
            eventually(LONG, || live_threads_named(&prefix).is_empty()),
            "workers exit once the work is done: {:?}",
            live_threads_named(&prefix)
        );
    }
}

#[test]
fn dropping_a_clone_does_not_close_the_pool() {
    let p = pool(1);
    drop(p.clone());
    assert!(!p.is_closed());
    assert_eq!(p.apply(|| 1), Ok(1));
}

#[test]
fn debug_shows_the_state() {
    let p = pool(2);
    assert!(format!("{p:?}").contains("RUN"));
    p.close();
    assert!(format!("{p:?}").contains("CLOSE"));
    p.terminate();
    assert!(format!("{p:?}").contains("TERMINATE"));
    p.join_timeout(LONG).unwrap();
}
