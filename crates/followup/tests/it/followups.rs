//! Follow-up primitives beyond Python: continuations (`map`/`then`/`recover`/`and_then`/
//! `when`), cancellation, `AsCompleted`, `TaskGroup`, fan-in (`all`/`all_settled`/`any`) and
//! the handle as a `Future`.

use crate::util::*;
use followup::{is_cancelled, AsyncResult, Callbacks, Error, ThreadPool};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Continuations
// ---------------------------------------------------------------------------------------------

#[test]
fn map_chains_transform_the_value() {
    let p = pool(2);
    let h = p.apply_async(|| 20).unwrap().map(|v| v + 1).map(|v| v * 2);
    assert_eq!(get(h), Ok(42));
}

#[test]
fn map_can_change_the_type() {
    let p = pool(2);
    let h = p
        .apply_async(|| 7u8)
        .unwrap()
        .map(|v| format!("<{v}>"))
        .map(|s| s.len());
    assert_eq!(get(h), Ok(3));
}

#[test]
fn then_sees_success_and_error() {
    let p = pool(2);
    let ok = p.apply_async(|| 1).unwrap().then(|r| format!("{r:?}"));
    assert_eq!(get(ok), Ok("Ok(1)".to_string()));
    let bad = p
        .apply_async(|| -> u8 { panic!("boom") })
        .unwrap()
        .then(|r| r.unwrap_err().to_string());
    assert_eq!(get(bad), Ok("the task panicked: boom".to_string()));
}

#[test]
fn recover_replaces_an_error_and_passes_success_untouched() {
    let p = pool(2);
    let called = counter();
    let c = Arc::clone(&called);
    let ok = p.apply_async(|| 5).unwrap().recover(move |_| {
        bump(&c);
        -1
    });
    assert_eq!(get(ok), Ok(5));
    assert_eq!(count(&called), 0, "recover's closure not run on success");
    let bad = p
        .apply_async(|| -> i32 { panic!("no") })
        .unwrap()
        .recover(|e| if e.is_panic() { -1 } else { -2 });
    assert_eq!(get(bad), Ok(-1));
}

#[test]
fn errors_skip_map_and_reach_then() {
    let p = pool(2);
    let skipped = counter();
    let (s1, s2) = (Arc::clone(&skipped), Arc::clone(&skipped));
    let h = p
        .apply_async(|| -> u32 { panic!("root") })
        .unwrap()
        .map(move |v| {
            bump(&s1);
            v + 1
        })
        .map(move |v| {
            bump(&s2);
            v * 2
        })
        .then(|r| r);
    assert_eq!(get(h), Ok(Err(panicked("root"))));
    assert_eq!(count(&skipped), 0, "map closures were skipped");
}

#[test]
fn errors_pass_through_map_to_get() {
    let p = pool(2);
    let h = p
        .apply_async(|| -> u32 { panic!("deep") })
        .unwrap()
        .map(|v| v + 1)
        .and_then(|v: u32| -> followup::Result<AsyncResult<u32>> { panic!("not called {v}") })
        .when(|_| true, |v| v);
    assert_eq!(get(h), Err(panicked("deep")));
}

#[test]
fn and_then_flattens_the_issued_work() {
    let p = pool(2);
    let q = p.clone();
    let h = p
        .apply_async(|| 3)
        .unwrap()
        .and_then(move |v| q.apply_async(move || v * 10));
    assert_eq!(get(h), Ok(30));
    // Returning a handle directly works too.
    let q = p.clone();
    let h = p
        .apply_async(|| 4)
        .unwrap()
        .and_then(move |v| q.apply_async(move || v + 1).unwrap().map(|x| x * 2));
    assert_eq!(get(h), Ok(10));
}

#[test]
fn and_then_reports_the_inner_error() {
    let p = pool(2);
    let q = p.clone();
    let h = p
        .apply_async(|| 3)
        .unwrap()
        .and_then(move |_| q.apply_async(|| -> u8 { panic!("inner") }));
    assert_eq!(get(h), Err(panicked("inner")));
    // A step that fails to issue its work: that error becomes the result.
    let h = p
        .apply_async(|| 1)
        .unwrap()
        .and_then(|_| -> followup::Result<AsyncResult<u8>> { Err(Error::Closed) });
    assert_eq!(get(h), Err(Error::Closed));
}

#[test]
fn when_runs_the_follow_up_only_if_the_test_passes() {
    let p = pool(2);
    let big = p
        .apply_async(|| 0.9)
        .unwrap()
        .when(|v| *v > 0.5, |v| v * 2.0);
    let small = p
        .apply_async(|| 0.1)
        .unwrap()
        .when(|v| *v > 0.5, |v| v * 2.0);
    assert_eq!(get(big), Ok(Some(1.8)));
    assert_eq!(get(small), Ok(None));
}

#[test]
fn continuation_on_an_already_finished_handle_runs_on_a_pool_worker() {
    let (p, prefix) = named_pool(2, "fin");
    let h = p.apply_async(|| 1).unwrap();
    assert!(h.wait_timeout(LONG));
    let here = std::thread::current().id();
    let m = h.map(move |_| (thread_name(), std::thread::current().id()));
    let (name, id) = get(m).unwrap();
    assert!(name.starts_with(&prefix), "ran on {name:?}");
    assert_ne!(id, here, "not inline on the registering thread");

    let h = p.apply_async(|| -> u8 { panic!("x") }).unwrap();
    assert!(h.wait_timeout(LONG));
    let t = h.then(|_| thread_name());
    assert!(get(t).unwrap().starts_with(&prefix));
}

#[test]
fn continuation_runs_after_the_parents_callback() {
    let p = pool(2);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l1, l2) = (Arc::clone(&log), Arc::clone(&log));
    let cbs = Callbacks::new().on_success(move |_: &u8| l1.lock().unwrap().push("callback"));
    let h = p
        .apply_async_with(|| 1u8, cbs)
        .unwrap()
        .map(move |_| l2.lock().unwrap().push("continuation"));
    get(h).unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["callback", "continuation"]);
}

#[test]
fn a_million_map_continuations_complete_without_stack_overflow() {
    within(Duration::from_secs(60), || {
        let p = pool(2);
        let gate = Gate::new();
        let g = Arc::clone(&gate);
        // The root waits, so the whole chain is built before anything resolves.
        let mut h = p
            .apply_async(move || {
                g.wait();
                0u64
            })
            .unwrap();
        for _ in 0..1_000_000 {
            h = h.map(|x| x + 1);
        }
        gate.open();
        assert_eq!(h.get_timeout(Duration::from_secs(50)), Ok(1_000_000));
    });
}

#[test]
fn continuations_issued_inside_a_task_after_close_are_accepted() {
    guarded(|| {
        let p = pool(2);
        let gate = Gate::new();
        let (q, g) = (p.clone(), Arc::clone(&gate));
        let (tx, rx) = mpsc::channel();
        p.spawn(move || {
            g.wait();
            let h = q.apply_async(|| 1).unwrap().map(|x| x + 1).then(move |r| {
                tx.send(r).unwrap();
            });
            drop(h);
        })
        .unwrap();
        p.close();
        gate.open();
        p.join_timeout(LONG).unwrap();
        assert_eq!(
            rx.try_recv(),
            Ok(Ok(2)),
            "join waited for the continuations"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

/// A 1-worker pool whose only worker is held by a gate task.
fn blocked_pool() -> (ThreadPool, Arc<Gate>) {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    (p, gate)
}

#[test]
fn cancel_a_queued_task_it_never_runs_and_get_is_cancelled() {
    let (p, gate) = blocked_pool();
    let ran = counter();
    let told = Arc::new(Mutex::new(Vec::new()));
    let (r, t) = (Arc::clone(&ran), Arc::clone(&told));
    let cbs = Callbacks::new()
        .on_success(|_: &()| panic!("must not succeed"))
        .on_error(move |e: &Error| t.lock().unwrap().push(e.clone()));
    let h = p.apply_async_with(move || bump(&r), cbs).unwrap();
    assert!(h.cancel(), "cancel stopped it from running");
    assert!(!h.cancel(), "a second cancel does nothing");
    assert!(h.ready());
    assert_eq!(h.successful(), Some(false));
    assert_eq!(
        *told.lock().unwrap(),
        vec![Error::Cancelled],
        "error callback told"
    );
    gate.open();
    assert_eq!(get(h), Err(Error::Cancelled));
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(count(&ran), 0);
    assert!(Error::Cancelled.is_cancelled());
}

#[test]
fn cancelled_task_map_continuation_yields_cancelled_without_running() {
    let (p, gate) = blocked_pool();
    let ran = counter();
    let r = Arc::clone(&ran);
    let h = p.apply_async(|| 1).unwrap();
    let c = h.canceller();
    let m = h.map(move |x| {
        bump(&r);
        x + 1
    });
    assert!(c.cancel());
    assert_eq!(get(m), Err(Error::Cancelled));
    gate.open();
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(count(&ran), 0);
}

#[test]
fn cancelled_task_then_and_recover_continuations_still_run() {
    let (p, gate) = blocked_pool();
    let a = p.apply_async(|| 1).unwrap();
    let ca = a.canceller();
    let then = a.then(|r| match r {
        Err(Error::Cancelled) => "saw cancel",
        _ => "other",
    });
    let b = p.apply_async(|| 1).unwrap();
    let cb = b.canceller();
    let recovered = b.map(|x| x * 100).recover(|e| {
        assert_eq!(e, Error::Cancelled);
        -1
    });
    assert!(ca.cancel());
    assert!(cb.cancel());
    gate.open();
    assert_eq!(get(then), Ok("saw cancel"), "cleanup can run");
    assert_eq!(get(recovered), Ok(-1));
    p.close();
    p.join_timeout(LONG).unwrap();
}

#[test]
fn cancel_a_waiting_continuation_directly() {
    let (p, gate) = blocked_pool();
    let ran = counter();
    let r = Arc::clone(&ran);
    let m = p.apply_async(|| 1).unwrap().map(move |x| {
        bump(&r);
        x
    });
    assert!(m.cancel());
    gate.open();
    assert_eq!(get(m), Err(Error::Cancelled));
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(count(&ran), 0);
}

#[test]
fn cancel_after_completion_returns_false() {
    let p = pool(1);
    let mut h = p.apply_async(|| 3).unwrap();
    assert!(h.wait_timeout(LONG));
    assert!(!h.cancel());
    assert_eq!(h.get_timeout(LONG), Ok(3));
}

#[test]
fn cancel_racing_completion_gives_exactly_one_outcome() {
    guarded(|| {
        let p = pool(2);
        let (mut cancelled_wins, mut ran_wins) = (0, 0);
        for i in 0..2000u32 {
            let ran = Arc::new(AtomicBool::new(false));
            let r = Arc::clone(&ran);
            let h = p
                .apply_async(move || r.store(true, Ordering::SeqCst))
                .unwrap();
            for _ in 0..(i % 50) {
                std::hint::spin_loop();
            }
            let cancelled = h.cancel();
            let outcome = get(h);
            let ran = ran.load(Ordering::SeqCst);
            assert!(
                cancelled != ran,
                "iteration {i}: cancelled={cancelled} ran={ran}"
            );
            if cancelled {
                assert_eq!(outcome, Err(Error::Cancelled));
                cancelled_wins += 1;
            } else {
                assert_eq!(outcome, Ok(()));
                ran_wins += 1;
            }
        }
        assert_eq!(cancelled_wins + ran_wins, 2000);
        p.close();
        p.join_timeout(LONG).unwrap();
    });
}

#[test]
fn is_cancelled_turns_true_inside_a_running_task_after_cancel() {
    let p = pool(1);
    let (tx, rx) = mpsc::channel();
    let h = p
        .apply_async(move || {
            assert!(!is_cancelled());
            tx.send(()).unwrap();
            let deadline = Instant::now() + LONG;
            while !is_cancelled() {
                assert!(Instant::now() < deadline, "never saw the cancel request");
                std::thread::sleep(Duration::from_micros(100));
            }
            "stopped early"
        })
        .unwrap();
    recv(&rx, "task running");
    assert!(!h.cancel(), "already running: only asked to stop");
    assert_eq!(
        get(h),
        Ok("stopped early"),
        "a running task's result stands"
    );
}

#[test]
fn is_cancelled_is_false_outside_tasks_and_in_ordinary_tasks() {
    assert!(!is_cancelled());
    let p = pool(1);
    assert_eq!(p.apply(is_cancelled), Ok(false));
}

#[test]
fn canceller_works_after_the_handle_was_consumed() {
    let (p, gate) = blocked_pool();
    let h = p.apply_async(|| 1).unwrap();
    let c = h.canceller();
    let c2 = c.clone();
    let m = h.map(|x| x + 1).map(|x| x * 2);
    assert!(c.cancel());
    assert!(!c2.cancel());
    gate.open();
    assert_eq!(get(m), Err(Error::Cancelled));
}

#[test]
fn canceller_from_another_thread() {
    let (p, gate) = blocked_pool();
    let h = p.apply_async(|| 1).unwrap();
    let c = h.canceller();
    let t = std::thread::spawn(move || c.cancel());
    assert!(t.join().unwrap());
    gate.open();
    assert_eq!(get(h), Err(Error::Cancelled));
}

// ---------------------------------------------------------------------------------------------
// AsCompleted
// ---------------------------------------------------------------------------------------------

#[test]
fn as_completed_yields_in_completion_order() {
    let p = pool(2);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut set = p.as_completed();
    set.submit(move || {
        g.wait();
        "slow"
    })
    .unwrap();
    set.submit(|| "fast").unwrap();
    assert_eq!(set.pending(), 2);
    assert_eq!(set.next_timeout(LONG), Some(Ok("fast")));
    assert_eq!(set.pending(), 1);
    gate.open();
    assert_eq!(set.next_timeout(LONG), Some(Ok("slow")));
    assert_eq!(set.pending(), 0);
    assert_eq!(set.next_timeout(LONG), None);
}

#[test]
fn as_completed_empty_ends_at_once() {
    let p = pool(1);
    let mut set = p.as_completed::<u8>();
    let t = Instant::now();
    assert_eq!(set.next(), None);
    assert_eq!(set.next_timeout(LONG), None);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn as_completed_next_timeout_is_timeout_and_the_set_stays_usable() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut set = p.as_completed();
    set.submit(move || {
        g.wait();
        5
    })
    .unwrap();
    assert_eq!(
        set.next_timeout(Duration::from_millis(5)),
        Some(Err(Error::Timeout))
    );
    assert_eq!(set.pending(), 1, "a timeout yields nothing");
    gate.open();
    assert_eq!(set.next_timeout(LONG), Some(Ok(5)));
    assert_eq!(set.next_timeout(LONG), None);
}

#[test]
fn as_completed_yields_errors_as_items() {
    let p = pool(2);
    let mut set = p.as_completed();
    set.submit(|| -> u8 { panic!("bad") }).unwrap();
    let r = set.next_timeout(LONG).unwrap();
    assert_eq!(r, Err(panicked("bad")));
    assert_eq!(set.next_timeout(LONG), None);
}

#[test]
fn as_completed_accepts_added_handles_even_finished_ones() {
    let p = pool(2);
    let done = p.apply_async(|| 1).unwrap();
    assert!(done.wait_timeout(LONG));
    let mut set = p.as_completed();
    set.add(done);
    set.add(p.apply_async(|| 2).unwrap().map(|x| x * 10));
    let mut got: Vec<_> = std::iter::from_fn(|| set.next_timeout(LONG))
        .map(Result::unwrap)
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 20]);
}

#[test]
fn as_completed_follow_ups_from_the_loop_body() {
    guarded(|| {
        let p = pool(2);
        let mut set = p.as_completed();
        for i in 0..4u32 {
            set.submit(move || i).unwrap();
        }
        let mut seen = Vec::new();
        while let Some(r) = set.next_timeout(LONG) {
            let v = r.unwrap();
            seen.push(v);
            if v < 4 {
                set.submit(move || v + 10).unwrap();
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 10, 11, 12, 13]);
    });
}

#[test]
fn as_completed_follow_ups_from_tasks_via_adder() {
    guarded(|| {
        let p = pool(2);
        let mut set = p.as_completed();
        let adder = set.adder();
        for i in 0..5u32 {
            let a = adder.clone();
            set.submit(move || {
                // A follow-up added from inside the task; it also adds one of its own.
                let a2 = a.clone();
                a.submit(move || {
                    a2.submit(move || i + 200).unwrap();
                    i + 100
                })
                .unwrap();
                i
            })
            .unwrap();
        }
        let mut seen: Vec<u32> = std::iter::from_fn(|| set.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        seen.sort_unstable();
        let mut want: Vec<u32> = (0..5).chain(100..105).chain(200..205).collect();
        want.sort_unstable();
        assert_eq!(seen, want);
        assert_eq!(set.pending(), 0);
    });
}

#[test]
fn as_completed_follow_ups_from_callbacks_via_adder() {
    guarded(|| {
        let p = pool(2);
        let mut set = p.as_completed();
        for i in 0..5u32 {
            let a = set.adder();
            let cbs = Callbacks::new().on_success(move |v: &u32| {
                let v = *v;
                a.submit(move || v + 1000).unwrap();
            });
            let h = p.apply_async_with(move || i, cbs).unwrap();
            set.add(h);
        }
        let mut seen: Vec<u32> = std::iter::from_fn(|| set.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 1000, 1001, 1002, 1003, 1004]);
    });
}

#[test]
fn as_completed_adder_add_from_another_thread() {
    guarded(|| {
        let p = pool(2);
        let mut set = p.as_completed();
        let adder = set.adder();
        let q = p.clone();
        set.submit(move || {
            // Hand a handle to the set from a plain thread, before this task finishes.
            let h = q.apply_async(|| 2).unwrap();
            std::thread::spawn(move || adder.add(h)).join().unwrap();
            1
        })
        .unwrap();
        let mut seen: Vec<i32> = std::iter::from_fn(|| set.next_timeout(LONG))
            .map(Result::unwrap)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2]);
    });
}

#[test]
fn as_completed_never_loses_a_follow_up_added_just_before_its_parent_finishes() {
    guarded(|| {
        let p = pool(2);
        for round in 0..500u32 {
            let mut set = p.as_completed();
            let adder = set.adder();
            set.submit(move || {
                adder.submit(move || round + 1).unwrap();
                round
            })
            .unwrap();
            let mut seen = Vec::new();
            while let Some(r) = set.next_timeout(LONG) {
                seen.push(r.unwrap());
            }
            seen.sort_unstable();
            assert_eq!(seen, vec![round, round + 1], "round {round}");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// TaskGroup
// ---------------------------------------------------------------------------------------------

#[test]
fn group_wait_returns_only_after_the_whole_growing_tree() {
    guarded(|| {
        let p = pool(2);
        let group = p.group();
        let nodes = counter();
        let (q, n) = (p.clone(), Arc::clone(&nodes));
        group
            .spawn(move || {
                bump(&n);
                // Children issued from a task join the group.
                for _ in 0..3 {
                    let (q2, n2) = (q.clone(), Arc::clone(&n));
                    // A callback that issues a grandchild.
                    let cbs = Callbacks::new().on_success(move |_: &()| {
                        let n3 = Arc::clone(&n2);
                        q2.spawn(move || {
                            std::thread::sleep(Duration::from_millis(2));
                            bump(&n3);
                        })
                        .unwrap();
                    });
                    let n4 = Arc::clone(&n);
                    let child = q
                        .apply_async_with(
                            move || {
                                std::thread::sleep(Duration::from_millis(1));
                                bump(&n4);
                            },
                            cbs,
                        )
                        .unwrap();
                    // And a continuation of the child.
                    let n5 = Arc::clone(&n);
                    drop(child.map(move |()| {
                        std::thread::sleep(Duration::from_millis(2));
                        bump(&n5);
                    }));
                }
            })
            .unwrap();
        group.wait().unwrap();
        assert_eq!(count(&nodes), 1 + 3 + 3 + 3);
        assert_eq!(group.pending(), 0);
    });
}

#[test]
fn group_wait_with_nothing_issued_is_ok_at_once() {
    let p = pool(1);
    let g = p.group();
    assert_eq!(g.pending(), 0);
    assert_eq!(g.wait(), Ok(()));
    assert_eq!(g.wait_timeout(Duration::ZERO), Ok(()));
}

#[test]
fn group_keeps_the_first_error_and_counts_the_others() {
    guarded(|| {
        let p = pool(2);
        let g = p.group();
        for i in 0..5 {
            g.spawn(move || {
                if i % 2 == 0 {
                    panic!("fail {i}");
                }
            })
            .unwrap();
        }
        match g.wait() {
            Err(Error::Group { first, others }) => {
                assert!(first.is_panic(), "{first:?}");
                assert!(first.to_string().contains("fail"));
                assert_eq!(others, 2, "three failed in all");
            }
            other => panic!("expected Error::Group, got {other:?}"),
        }
    });
}

#[test]
fn group_with_a_single_failure_reports_that_error() {
    let p = pool(2);
    let g = p.group();
    g.spawn(|| panic!("only one")).unwrap();
    g.spawn(|| ()).unwrap();
    assert_eq!(g.wait_timeout(LONG), Err(panicked("only one")));
}

#[test]
fn group_handles_still_give_their_results() {
    let p = pool(2);
    let g = p.group();
    let a = g.apply_async(|| 1).unwrap();
    let (tx, rx) = mpsc::channel();
    let b = g
        .apply_async_with(
            || 2,
            Callbacks::new().on_success(move |v: &i32| tx.send(*v).unwrap()),
        )
        .unwrap();
    g.wait_timeout(LONG).unwrap();
    assert!(a.ready() && b.ready());
    assert_eq!((get(a), get(b)), (Ok(1), Ok(2)));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn group_wait_timeout_gives_up_and_can_wait_again() {
    let p = pool(2);
    let g = p.group();
    let gate = Gate::new();
    let gg = Arc::clone(&gate);
    g.spawn(move || gg.wait()).unwrap();
    assert_eq!(
        g.wait_timeout(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert_eq!(g.pending(), 1);
    gate.open();
    assert_eq!(g.wait_timeout(LONG), Ok(()));
}

#[test]
fn group_cancel_stops_queued_tasks_and_flags_running_ones() {
    guarded(|| {
        let p = pool(2);
        let (blocker_gate, _blocker) = block_workers(&p, 1); // one worker left
        let g = p.group();
        let (tx, rx) = mpsc::channel();
        let running = g
            .apply_async(move || {
                tx.send(()).unwrap();
                let deadline = Instant::now() + LONG;
                while !is_cancelled() {
                    assert!(Instant::now() < deadline, "never saw the group cancel");
                    std::thread::sleep(Duration::from_micros(100));
                }
                "asked to stop"
            })
            .unwrap();
        recv(&rx, "group task running");
        let ran = counter();
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let r = Arc::clone(&ran);
                g.apply_async(move || bump(&r)).unwrap()
            })
            .collect();
        g.cancel();
        assert_eq!(get(running), Ok("asked to stop"));
        for h in queued {
            assert_eq!(get(h), Err(Error::Cancelled));
        }
        assert_eq!(count(&ran), 0);
        match g.wait_timeout(LONG) {
            Err(Error::Group { first, others }) => {
                assert_eq!(*first, Error::Cancelled);
                assert_eq!(others, 4);
            }
            other => panic!("expected the cancellations to be reported, got {other:?}"),
        }
        blocker_gate.open();
        // The pool stays usable; the group's cancel does not leak into other work.
        assert_eq!(p.apply(|| 9), Ok(9));
        assert_eq!(p.apply(is_cancelled), Ok(false));
    });
}

#[test]
fn waiting_on_the_group_from_inside_one_of_its_tasks_is_wait_on_self() {
    guarded(|| {
        let p = pool(2);
        let g = p.group();
        let g2 = g.clone();
        let h = g.apply_async(move || g2.wait()).unwrap();
        assert_eq!(get(h), Ok(Err(Error::WaitOnSelf)));
        // Also from a follow-up of a group task (it belongs to the group too).
        let g3 = g.clone();
        let q = p.clone();
        let h = g
            .apply_async(move || q.apply_async(move || g3.wait_timeout(LONG)).unwrap())
            .unwrap();
        let inner = get(h).unwrap();
        assert_eq!(get(inner), Ok(Err(Error::WaitOnSelf)));
        assert_eq!(g.wait_timeout(LONG), Ok(()));
        assert_eq!(p.apply(|| 1), Ok(1), "the pool stays usable");
    });
}

#[test]
fn a_nested_group_can_be_waited_on_inside_a_task() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let outer = p.group();
        let h = outer
            .apply_async(move || {
                let inner = q.group();
                let c = counter();
                for _ in 0..10 {
                    let c = Arc::clone(&c);
                    inner.spawn(move || bump(&c)).unwrap();
                }
                inner.wait().map(|()| count(&c))
            })
            .unwrap();
        assert_eq!(get(h), Ok(Ok(10)));
        assert_eq!(outer.wait_timeout(LONG), Ok(()));
    });
}

#[test]
fn group_does_not_close_the_pool() {
    let p = pool(1);
    let g = p.group();
    g.spawn(|| ()).unwrap();
    g.wait_timeout(LONG).unwrap();
    assert!(!p.is_closed());
    g.spawn(|| ()).unwrap();
    g.wait_timeout(LONG).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Fan-in
// ---------------------------------------------------------------------------------------------

#[test]
fn all_gives_values_in_input_order() {
    let p = pool(2);
    let hs: Vec<_> = (0..10u64)
        .map(|i| {
            p.apply_async(move || {
                std::thread::sleep(Duration::from_micros(100 * (10 - i)));
                i * i
            })
            .unwrap()
        })
        .collect();
    assert_eq!(get(p.all(hs)), Ok((0..10).map(|i| i * i).collect()));
}

#[test]
fn all_first_error_resolves_it_and_cancels_the_rest() {
    let p = pool(1);
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    let failing = p
        .apply_async(move || -> u32 {
            tx.send(()).unwrap();
            g.wait();
            panic!("first error");
        })
        .unwrap();
    recv(&rx, "failing task running");
    let ran = counter();
    let mut hs = vec![failing];
    for i in 0..3 {
        let r = Arc::clone(&ran);
        hs.push(
            p.apply_async(move || {
                bump(&r);
                i
            })
            .unwrap(),
        );
    }
    let all = p.all(hs);
    gate.open();
    assert_eq!(get(all), Err(panicked("first error")));
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(
        count(&ran),
        0,
        "the rest were cancelled before they started"
    );
}

/// Runs a fan-in over [a task that runs until the gate opens and then returns `outcome`,
/// a queued task], and reports whether the queued task could still be cancelled at the very
/// moment the fan-in handle resolved.
fn queued_input_cancellable_when_fan_in_resolves(fail: bool, use_any: bool) -> Option<bool> {
    let p = pool(1);
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    let first = p
        .apply_async(move || -> u32 {
            tx.send(()).unwrap();
            g.wait();
            if fail {
                panic!("first error");
            }
            1
        })
        .unwrap();
    recv(&rx, "first input running");
    let queued = p.apply_async(|| 2u32).unwrap();
    let probe = queued.canceller();
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    let hook = move || {
        *s.lock().unwrap() = Some(probe.cancel());
    };
    if use_any {
        let mut any = p.any(vec![first, queued]);
        on_resolve(&mut any, hook);
        gate.open();
        assert_eq!(get(any), Ok(1));
    } else {
        let mut all = p.all(vec![first, queued]);
        on_resolve(&mut all, hook);
        gate.open();
        assert!(get(all).unwrap_err().is_panic());
    }
    p.close();
    p.join_timeout(LONG).unwrap();
    let seen = *seen.lock().unwrap();
    seen
}

#[test]
fn all_first_error_cancels_the_rest_before_it_is_reported() {
    // "The first error resolves it at once and cancels the inputs that have not started": a
    // caller that sees the error must be able to rely on the rest never starting. If the
    // rest can still be cancelled at the moment the combined handle resolves, another worker
    // may start one of them after the error was reported.
    assert_eq!(
        queued_input_cancellable_when_fan_in_resolves(true, false),
        Some(false),
        "when all() published its error the queued input had not been cancelled yet"
    );
}

#[test]
fn any_first_success_cancels_the_losers_before_it_is_reported() {
    assert_eq!(
        queued_input_cancellable_when_fan_in_resolves(false, true),
        Some(false),
        "when any() published its value the losing queued input had not been cancelled yet"
    );
}

#[test]
fn all_settled_gives_every_outcome_in_order() {
    let p = pool(2);
    let hs = vec![
        p.apply_async(|| 1).unwrap(),
        p.apply_async(|| -> i32 { panic!("x") }).unwrap(),
        p.apply_async(|| 3).unwrap(),
    ];
    let all = get(p.all_settled(hs)).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], Ok(1));
    assert_eq!(all[1], Err(panicked("x")));
    assert_eq!(all[2], Ok(3));
}

#[test]
fn any_gives_the_first_success_and_cancels_the_losers() {
    let p = pool(1);
    let gate = Gate::new();
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    let winner = p
        .apply_async(move || {
            tx.send(()).unwrap();
            g.wait();
            "winner"
        })
        .unwrap();
    recv(&rx, "winner running");
    let ran = counter();
    let mut hs = vec![winner];
    for _ in 0..3 {
        let r = Arc::clone(&ran);
        hs.push(
            p.apply_async(move || {
                bump(&r);
                "loser"
            })
            .unwrap(),
        );
    }
    let any = p.any(hs);
    gate.open();
    assert_eq!(get(any), Ok("winner"));
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(count(&ran), 0, "the losers were cancelled");
}

#[test]
fn any_skips_failures_until_a_success() {
    let p = pool(2);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let hs = vec![
        p.apply_async(|| -> u8 { panic!("a") }).unwrap(),
        p.apply_async(move || {
            g.wait();
            7
        })
        .unwrap(),
    ];
    let any = p.any(hs);
    gate.open();
    assert_eq!(get(any), Ok(7));
}

#[test]
fn any_with_every_input_failing_gives_the_first_error_with_a_count() {
    let p = pool(2);
    let hs: Vec<_> = (0..3)
        .map(|i| p.apply_async(move || -> u8 { panic!("f{i}") }).unwrap())
        .collect();
    match get(p.any(hs)) {
        Err(Error::Group { first, others }) => {
            assert!(first.is_panic());
            assert_eq!(others, 2);
        }
        other => panic!("expected Error::Group, got {other:?}"),
    }
    let one = vec![p.apply_async(|| -> u8 { panic!("lonely") }).unwrap()];
    assert_eq!(get(p.any(one)), Err(panicked("lonely")));
}

#[test]
fn fan_in_on_empty_inputs() {
    let p = pool(1);
    assert_eq!(get(p.all(Vec::<AsyncResult<u8>>::new())), Ok(vec![]));
    assert_eq!(
        get(p.all_settled(Vec::<AsyncResult<u8>>::new())),
        Ok(vec![])
    );
    assert!(matches!(
        get(p.any(Vec::<AsyncResult<u8>>::new())),
        Err(Error::InvalidArgument(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// AsyncResult as a Future
// ---------------------------------------------------------------------------------------------

struct ParkWaker {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for ParkWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A minimal executor: polls `fut` on this thread, parking between polls; fails the test if
/// it does not resolve within `limit`. Returns the output and how often the waker fired.
fn block_on<F: Future>(fut: F, limit: Duration) -> (F::Output, usize) {
    let mut fut = pin!(fut);
    let waker_state = Arc::new(ParkWaker {
        thread: std::thread::current(),
        wakes: AtomicUsize::new(0),
    });
    let waker = Waker::from(Arc::clone(&waker_state));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + limit;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return (v, waker_state.wakes.load(Ordering::SeqCst));
        }
        let now = Instant::now();
        assert!(now < deadline, "future did not resolve within {limit:?}");
        std::thread::park_timeout(deadline - now);
    }
}

#[test]
fn future_of_a_finished_handle_is_ready() {
    let p = pool(1);
    let h = p.apply_async(|| 5).unwrap();
    assert!(h.wait_timeout(LONG));
    assert_eq!(block_on(h, LONG).0, Ok(5));
}

#[test]
fn future_is_pending_then_woken_when_the_task_finishes() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut h = p
        .apply_async(move || {
            g.wait();
            "done"
        })
        .unwrap();
    let waker_state = Arc::new(ParkWaker {
        thread: std::thread::current(),
        wakes: AtomicUsize::new(0),
    });
    let waker = Waker::from(Arc::clone(&waker_state));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut h).poll(&mut cx).is_pending());
    gate.open();
    assert!(
        eventually(LONG, || waker_state.wakes.load(Ordering::SeqCst) > 0),
        "the waker was called when the result arrived"
    );
    assert_eq!(
        std::pin::Pin::new(&mut h).poll(&mut cx),
        Poll::Ready(Ok("done"))
    );
}

#[test]
fn future_reports_errors() {
    let p = pool(1);
    let h = p.apply_async(|| -> u8 { panic!("async boom") }).unwrap();
    assert_eq!(block_on(h, LONG).0, Err(panicked("async boom")));
}

#[test]
fn handles_can_be_awaited_in_async_code() {
    let p = pool(2);
    let q = p.clone();
    let fut = async move {
        let a = q.apply_async(|| 20).unwrap().await?;
        let b = q.apply_async(move || a + 1).unwrap().map(|x| x * 2).await?;
        let all = q
            .all(vec![
                q.apply_async(|| 1).unwrap(),
                q.apply_async(|| 2).unwrap(),
            ])
            .await?;
        Ok::<_, Error>((b, all))
    };
    assert_eq!(block_on(fut, LONG).0, Ok((42, vec![1, 2])));
}

// ---- Ergonomics: shared handles, flattening ---------------------------------------------------

#[test]
fn a_shared_result_is_read_by_every_clone_any_number_of_times() {
    guarded(|| {
        let p = pool(2);
        let (gate, _blockers) = block_workers(&p, 2);
        let shared = p.apply_async(|| String::from("v")).unwrap().shared();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let s = shared.clone();
                std::thread::spawn(move || (s.get_timeout(LONG), s.get_timeout(LONG)))
            })
            .collect();
        gate.open();
        for r in readers {
            let (a, b) = r.join().unwrap();
            assert_eq!(a.as_deref(), Ok("v"));
            assert_eq!(b.as_deref(), Ok("v"));
        }
        assert!(shared.ready());
        assert_eq!(shared.successful(), Some(true));
        assert_eq!(shared.get().as_deref(), Ok("v"));
    });
}

#[test]
fn a_shared_result_is_awaited_from_several_places_and_every_waiter_is_woken() {
    guarded(|| {
        let p = pool(1);
        let (gate, _blockers) = block_workers(&p, 1);
        let shared = p.apply_async(|| 5u8).unwrap().shared();
        let awaiting: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                std::thread::spawn(move || block_on(s, LONG))
            })
            .collect();
        // Both pollers may or may not have registered before the gate opens; either way each
        // must end with the value (a lost wake-up fails `block_on`'s bound).
        gate.open();
        for a in awaiting {
            assert_eq!(a.join().unwrap().0, Ok(5));
        }
        assert_eq!(block_on(shared.clone(), LONG).0, Ok(5));
    });
}

#[test]
fn a_shared_failure_gives_every_reader_the_error() {
    guarded(|| {
        let p = pool(1);
        let shared = p
            .apply_async(|| -> u8 { panic!("shared") })
            .unwrap()
            .shared();
        let other = shared.clone();
        assert_eq!(shared.get_timeout(LONG), Err(panicked("shared")));
        assert_eq!(other.get_timeout(LONG), Err(panicked("shared")));
        assert_eq!(block_on(other, LONG).0, Err(panicked("shared")));

        let (gate, _blockers) = block_workers(&p, 1);
        let queued = p.apply_async(|| 1u8).unwrap().shared();
        let twin = queued.clone();
        assert!(twin.cancel());
        assert_eq!(queued.get_timeout(LONG), Err(Error::Cancelled));
        assert_eq!(twin.get_timeout(LONG), Err(Error::Cancelled));
        gate.open();
    });
}

#[test]
fn flatten_merges_a_task_result_into_the_handle() {
    guarded(|| {
        let p = pool(2);
        let q = p.clone();
        let ok = p.apply_async(move || q.apply(|| 20)).unwrap().flatten();
        assert_eq!(get(ok.map(|v| v + 1)), Ok(21));
        let failed = p
            .apply_async(|| -> followup::Result<u8> { Err(Error::Cancelled) })
            .unwrap()
            .flatten();
        assert_eq!(get(failed), Err(Error::Cancelled));
        let panicked_task = p
            .apply_async(|| -> followup::Result<u8> { panic!("outer") })
            .unwrap()
            .flatten();
        assert_eq!(get(panicked_task), Err(panicked("outer")));
    });
}

#[test]
fn try_get_returns_the_task_error_in_its_own_type() {
    guarded(|| {
        #[derive(Debug, PartialEq)]
        enum Mine {
            Said(&'static str),
            Pool(String),
        }
        impl From<Error> for Mine {
            fn from(e: Error) -> Mine {
                Mine::Pool(e.to_string())
            }
        }
        let p = pool(1);
        let h = p.apply_async(|| -> Result<u8, Mine> { Ok(1) }).unwrap();
        assert_eq!(h.try_get(), Ok(1));
        let h = p
            .apply_async(|| -> Result<u8, Mine> { Err(Mine::Said("no")) })
            .unwrap();
        assert_eq!(h.try_get(), Err(Mine::Said("no")));
        let h = p
            .apply_async(|| -> Result<u8, Mine> { panic!("boom") })
            .unwrap();
        assert_eq!(
            h.try_get(),
            Err(Mine::Pool("the task panicked: boom".into()))
        );
    });
}
