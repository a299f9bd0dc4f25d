//! Giving up waiting (`get_timeout`, `wait_timeout`, `Error::Timeout`: the work goes on) versus
//! a deadline on the work itself (`AsyncResult::timeout`, `Error::DeadlineExceeded`: the work
//! is cancelled or asked to stop).

use crate::util::*;
use followup::{is_cancelled, Callbacks, Error};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn get_timeout_is_timeout_and_the_work_goes_on() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut h = p
        .apply_async(move || {
            g.wait();
            // Giving up waiting did not ask the task to stop.
            is_cancelled()
        })
        .unwrap();
    let t = Instant::now();
    let e = h.get_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(10));
    assert_eq!(e, Error::Timeout);
    assert!(e.is_timeout());
    assert_ne!(e, Error::DeadlineExceeded, "distinct from a deadline");
    gate.open();
    assert_eq!(
        h.get_timeout(LONG),
        Ok(false),
        "the work went on, unbothered"
    );
}

#[test]
fn deadline_exceeded_and_the_running_task_sees_is_cancelled() {
    let p = pool(1);
    let (tx, rx) = mpsc::channel();
    let slow = p
        .apply_async(move || {
            let deadline = Instant::now() + LONG;
            while !is_cancelled() {
                assert!(Instant::now() < deadline, "never asked to stop");
                std::thread::sleep(Duration::from_micros(200));
            }
            tx.send("saw is_cancelled").unwrap();
            "stopped"
        })
        .unwrap();
    let h = slow.timeout(Duration::from_millis(20));
    let t = Instant::now();
    let e = get(h).unwrap_err();
    assert_eq!(e, Error::DeadlineExceeded);
    assert!(e.is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(15));
    assert_eq!(recv(&rx, "the task to notice"), "saw is_cancelled");
}

#[test]
fn deadline_on_a_queued_task_cancels_it_so_it_never_runs() {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    let ran = counter();
    let r = Arc::clone(&ran);
    let (tx, rx) = mpsc::channel();
    let cbs = Callbacks::new().on_error(move |e: &Error| tx.send(e.clone()).unwrap());
    let queued = p.apply_async_with(move || bump(&r), cbs).unwrap();
    let h = queued.timeout(Duration::from_millis(10));
    assert_eq!(get(h), Err(Error::DeadlineExceeded));
    // Open the gate only once the cancellation has certainly happened (see the next test).
    assert_eq!(
        recv(&rx, "error callback of the cancelled task"),
        Error::Cancelled
    );
    gate.open();
    p.close();
    p.join_timeout(LONG).unwrap();
    assert_eq!(count(&ran), 0, "cancelled before it started");
}

#[test]
fn deadline_exceeded_is_reported_only_once_the_queued_work_is_cancelled() {
    // The doc: "if it has not finished within `limit`, the returned handle resolves to
    // DeadlineExceeded and the work is cancelled if it has not started". A caller that sees
    // DeadlineExceeded for work that had not started must be able to rely on it never
    // starting. Look at the work at the very moment the deadline handle resolves: if it can
    // still be cancelled then, a free worker could have started it after the deadline was
    // reported (observed: `deadline_on_a_queued_task...` once saw the task run).
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    let queued = p.apply_async(|| ()).unwrap();
    let probe = queued.canceller();
    let mut h = queued.timeout(Duration::from_millis(10));
    // The waker runs on the resolving thread *after* the outcome is published (the cell wakes
    // it once its lock is released), so `get` may return before the hook has run: the hook
    // reports through a channel, and the test waits (bounded) for that report.
    let (report, still_cancellable) = std::sync::mpsc::channel();
    on_resolve(&mut h, move || {
        let _ = report.send(probe.cancel());
    });
    assert_eq!(get(h), Err(Error::DeadlineExceeded));
    let cancellable = recv(&still_cancellable, "the resolution hook to run");
    gate.open();
    assert!(
        !cancellable,
        "when DeadlineExceeded was published the queued work had not been cancelled yet"
    );
}

#[test]
fn deadline_met_gives_the_value_without_waiting_for_the_deadline() {
    let p = pool(1);
    let h = p
        .apply_async(|| 8)
        .unwrap()
        .timeout(Duration::from_secs(3600));
    let t = Instant::now();
    assert_eq!(get(h), Ok(8));
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn deadline_passes_errors_through_when_on_time() {
    let p = pool(1);
    let h = p
        .apply_async(|| -> u8 { panic!("early fail") })
        .unwrap()
        .timeout(Duration::from_secs(3600));
    assert_eq!(get(h), Err(panicked("early fail")));
}

#[test]
fn deadline_handle_composes_with_continuations() {
    // Two workers: one is held by the slow task, the other runs the continuation.
    let p = pool(2);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let h = p
        .apply_async(move || {
            g.wait();
            1
        })
        .unwrap()
        .timeout(Duration::from_millis(5))
        .recover(|e| if e == Error::DeadlineExceeded { -1 } else { -2 });
    assert_eq!(get(h), Ok(-1));
    gate.open();
}

#[test]
fn wait_timeout_does_not_cancel() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let h = p
        .apply_async(move || {
            g.wait();
            is_cancelled()
        })
        .unwrap();
    assert!(!h.wait_timeout(Duration::from_millis(5)));
    gate.open();
    assert_eq!(get(h), Ok(false));
}

#[test]
fn zero_timeouts_do_not_block() {
    let p = pool(1);
    let (gate, _running) = block_workers(&p, 1);
    let mut h = p.apply_async(|| 1).unwrap();
    let t = Instant::now();
    assert!(!h.wait_timeout(Duration::ZERO));
    assert_eq!(h.get_timeout(Duration::ZERO), Err(Error::Timeout));
    assert!(t.elapsed() < Duration::from_secs(5));
    gate.open();
    assert_eq!(h.get_timeout(LONG), Ok(1));
}

#[test]
fn timeout_errors_say_what_happened() {
    assert!(Error::Timeout.to_string().contains("work goes on"));
    assert!(Error::DeadlineExceeded.to_string().contains("deadline"));
    assert!(!Error::Timeout.is_cancelled());
}
