//! The task cell state machine (`task::cell`), and the task and promise built on it
//! (`task::core`). Each model races the transitions the module docs name and checks that
//! exactly one thread wins, that the outcome reaches its reader exactly once, and that no
//! value is leaked or dropped twice.

use super::{model, Census, Count, Tracked};
use crate::engine::{Job, JobRef};
use crate::error::Error;
use crate::task::callbacks::Callbacks;
use crate::task::cell::{Cell, Taken, QUEUED};
use crate::task::core::{Promise, Task};
use crate::task::Completion;
use loom::thread;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

type Outcome = crate::error::Result<Tracked>;

/// What a continuation (or a fan-in) saw: how often it was called, and with what.
#[derive(Default, Clone)]
struct Seen {
    calls: Count,
    ok: Count,
    cancelled: Count,
    terminated: Count,
    deadline: Count,
    taken: Count,
}

impl Seen {
    fn record(&self, r: &Outcome) {
        self.calls.bump();
        match r {
            Ok(_) => self.ok.bump(),
            Err(Error::Cancelled) => self.cancelled.bump(),
            Err(Error::Terminated) => self.terminated.bump(),
            Err(Error::DeadlineExceeded) => self.deadline.bump(),
            Err(Error::ResultTaken) => self.taken.bump(),
            Err(e) => panic!("unexpected outcome {e}"),
        }
    }

    fn continuation(&self) -> Box<dyn FnOnce(Outcome) + Send> {
        let me = self.clone();
        Box::new(move |r| me.record(&r))
    }
}

/// complete() racing set_next(): the continuation is called exactly once, with the value,
/// whichever comes first; the cell itself keeps no copy.
#[test]
fn complete_races_continuation_registration() {
    model(|| {
        let census = Census::new();
        let cell = Arc::new(Cell::<Tracked>::new(QUEUED));
        assert!(!cell.is_done()); // first touch (see `crate::sync::seq_cst`)
        let seen = Seen::default();
        let (c, cen) = (Arc::clone(&cell), Arc::clone(&census));
        let completer = thread::spawn(move || {
            assert!(c.claim());
            c.complete(Ok(Tracked::new(&cen, 7)));
        });
        cell.set_next(seen.continuation());
        completer.join().unwrap();
        assert_eq!(
            seen.calls.get(),
            1,
            "the continuation must run exactly once"
        );
        assert_eq!(seen.ok.get(), 1, "the continuation must get the value");
        assert!(cell.is_done());
        assert_eq!(cell.succeeded(), Some(true));
        assert!(matches!(cell.take(), Taken::Ready(Err(Error::ResultTaken))));
        drop(cell);
        census.assert_balanced("complete vs set_next");
    });
}

fn blocked_waiters(deadline: bool) {
    model(move || {
        let census = Census::new();
        let cell = Arc::new(Cell::<Tracked>::new(QUEUED));
        assert!(!cell.is_done()); // first touch (see `crate::sync::seq_cst`)
        let (c, cen) = (Arc::clone(&cell), Arc::clone(&census));
        let completer = thread::spawn(move || {
            assert!(c.claim());
            c.complete(Ok(Tracked::new(&cen, 3)));
        });
        // A second waiter, the other kind: one blocks with a deadline and one without.
        let c2 = Arc::clone(&cell);
        let other = thread::spawn(move || {
            // loom's wait_timeout never times out, so a far deadline takes the timed path
            // and still needs the notification: a lost one shows as a loom deadlock.
            c2.block((!deadline).then(|| Instant::now() + Duration::from_secs(3600)));
            assert!(c2.is_done(), "block returned before completion");
        });
        cell.block(deadline.then(|| Instant::now() + Duration::from_secs(3600)));
        assert!(cell.is_done(), "block returned before completion");
        match cell.take() {
            Taken::Ready(Ok(v)) => assert_eq!(v.id, 3),
            _ => panic!("a waiter that saw DONE must find the outcome"),
        }
        completer.join().unwrap();
        other.join().unwrap();
        drop(cell);
        census.assert_balanced("blocked waiters");
    });
}

/// complete() racing waiters blocked without a deadline (main) and with one (second thread):
/// neither misses the notification, and a waiter that saw DONE finds the outcome.
#[test]
fn complete_wakes_blocked_waiter_without_deadline() {
    blocked_waiters(false);
}

/// As above with the roles swapped: main blocks with a deadline.
#[test]
fn complete_wakes_blocked_waiter_with_deadline() {
    blocked_waiters(true);
}

struct Flag(Count);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.bump();
    }
}

/// complete() racing an async poll: either the poll gets the value, or its waker is woken.
#[test]
fn complete_races_async_poll() {
    model(|| {
        let census = Census::new();
        let cell = Arc::new(Cell::<Tracked>::new(QUEUED));
        assert!(!cell.is_done()); // first touch (see `crate::sync::seq_cst`)
        let (c, cen) = (Arc::clone(&cell), Arc::clone(&census));
        let completer = thread::spawn(move || {
            assert!(c.claim());
            c.complete(Ok(Tracked::new(&cen, 5)));
        });
        let woken = Count::default();
        let waker = Waker::from(Arc::new(Flag(woken.clone())));
        let first = cell.poll_take(&waker);
        completer.join().unwrap();
        match first {
            Taken::Ready(r) => assert_eq!(r.ok().map(|v| v.id), Some(5)),
            Taken::NotReady => {
                assert_eq!(woken.get(), 1, "a pending poll's waker must be woken once");
                assert!(matches!(cell.poll_take(&waker), Taken::Ready(Ok(_))));
            }
        }
        drop(cell);
        census.assert_balanced("async poll");
    });
}

/// A task with counting callbacks, as `issue` builds it.
struct Probe {
    census: Arc<Census>,
    ran: Count,
    on_success: Count,
    on_error: Count,
}

impl Probe {
    fn new() -> Probe {
        Probe {
            census: Census::new(),
            ran: Count::default(),
            on_success: Count::default(),
            on_error: Count::default(),
        }
    }

    #[allow(clippy::type_complexity)]
    fn task(
        &self,
    ) -> Arc<Task<(), Tracked, impl FnOnce(()) -> crate::error::Result<Tracked> + Send + 'static>>
    {
        let (ran, census) = (self.ran.clone(), Arc::clone(&self.census));
        let (s, e) = (self.on_success.clone(), self.on_error.clone());
        let callbacks = Callbacks::new()
            .on_success(move |_: &Tracked| s.bump())
            .on_error(move |_| e.bump());
        Arc::new(Task::runnable(
            (),
            move |()| {
                ran.bump();
                Ok(Tracked::new(&census, 1))
            },
            callbacks,
            None,
        ))
    }
}

/// request_cancel() (handle.cancel()) racing a worker's claim, with the continuation being
/// registered at the same time: exactly one wins, the closure runs at most once, exactly one
/// callback fires, and the continuation gets the matching outcome exactly once.
#[test]
fn cancel_races_claim() {
    model(|| {
        let probe = Probe::new();
        let task = probe.task();
        assert!(!task.cell().is_done()); // first touch (see `crate::sync::seq_cst`)
        let seen = Seen::default();
        let worker = {
            let t = Arc::clone(&task);
            thread::spawn(move || Job::run(t as JobRef))
        };
        let canceller = {
            let t = Arc::clone(&task);
            thread::spawn(move || Completion::cancel(&*t))
        };
        task.cell().set_next(seen.continuation());
        worker.join().unwrap();
        let cancelled = canceller.join().unwrap();
        let ran = probe.ran.get();
        assert_eq!(
            ran + usize::from(cancelled),
            1,
            "exactly one of run and cancel must win"
        );
        assert_eq!(
            seen.calls.get(),
            1,
            "the outcome must be delivered exactly once"
        );
        assert_eq!(seen.ok.get(), ran);
        assert_eq!(seen.cancelled.get(), usize::from(cancelled));
        assert_eq!(probe.on_success.get(), ran);
        assert_eq!(probe.on_error.get(), usize::from(cancelled));
        drop(task);
        probe.census.assert_balanced("cancel vs claim");
    });
}

/// Three claimers: a worker (run), a thread waiting on the handle that runs it inline
/// (run_inline) and terminate (abandon). Exactly one claims; the handle resolves once.
#[test]
fn run_inline_races_worker_and_terminate() {
    model(|| {
        let probe = Probe::new();
        let task = probe.task();
        assert!(!task.cell().is_done()); // first touch (see `crate::sync::seq_cst`)
        let worker = {
            let t = Arc::clone(&task);
            thread::spawn(move || Job::run(t as JobRef))
        };
        let terminator = {
            let t = Arc::clone(&task);
            thread::spawn(move || Job::abandon(t as JobRef))
        };
        let inline = Completion::run_inline(Arc::clone(&task));
        worker.join().unwrap();
        terminator.join().unwrap();
        let ran = probe.ran.get();
        assert!(ran <= 1, "the closure ran {ran} times");
        assert!(
            !inline || ran == 1,
            "run_inline said it ran the task, but it did not run"
        );
        assert!(
            task.cell().is_done(),
            "every claimer path must resolve the handle"
        );
        assert_eq!(probe.on_success.get() + probe.on_error.get(), 1);
        match task.cell().take() {
            Taken::Ready(Ok(_)) => assert_eq!(ran, 1),
            Taken::Ready(Err(Error::Terminated)) => assert_eq!(ran, 0),
            _ => panic!("unexpected outcome"),
        }
        drop(task);
        probe.census.assert_balanced("run_inline vs run vs abandon");
    });
}

/// A continuation's input arriving (deliver: WAITING -> QUEUED, then scheduled and run)
/// racing cancel() on the continuation's handle. Exactly one wins; when the delivery failed,
/// no input may be left in the task. Before 532c524 (issue A of RELIABILITY.md) `give_up`
/// took `input` while `deliver` could still be writing it, and loom found the input left
/// behind: the write and the take were not ordered, a data race on the `UnsafeCell`.
#[test]
fn deliver_races_cancel_of_waiting_continuation() {
    model(|| {
        let census = Census::new();
        let ran = Count::default();
        let r2 = ran.clone();
        let child = Arc::new(Task::waiting(
            move |input: Outcome| {
                r2.bump();
                input
            },
            None,
        ));
        assert!(!child.cell().is_done()); // first touch (see `crate::sync::seq_cst`)
        let undelivered = Count::default();
        let parent = {
            let (c, cen, u) = (Arc::clone(&child), Arc::clone(&census), undelivered.clone());
            // What the parent's `set_next` closure in `issue::chain` does.
            thread::spawn(move || {
                if c.deliver(Ok(Tracked::new(&cen, 9))) {
                    Job::run(c as JobRef); // scheduled; a worker runs it
                } else {
                    u.bump(); // engine.finish_one()
                }
            })
        };
        let cancelled = Completion::cancel(&*child);
        parent.join().unwrap();
        let ran = ran.get();
        assert_eq!(
            ran + usize::from(cancelled),
            1,
            "exactly one of run and cancel wins"
        );
        assert!(child.cell().is_done());
        match child.cell().take() {
            Taken::Ready(Ok(v)) => assert_eq!((v.id, ran), (9, 1)),
            Taken::Ready(Err(Error::Cancelled)) => {
                assert!(cancelled);
                // Delivered first and then cancelled from QUEUED, the input may stay in the
                // task until the task is dropped; but a failed delivery must leave nothing.
                assert!(
                    undelivered.get() == 0 || census.live() == 0,
                    "cancel won and deliver failed, yet the input is still stored in the \
                     task: Task::deliver wrote `input` after the canceller claimed the task, \
                     unordered with give_up's take of `input` (a data race)"
                );
            }
            _ => panic!("unexpected outcome"),
        }
        drop(child);
        census.assert_balanced("deliver vs cancel");
    });
}

/// make_runnable() racing request_cancel() on the bare cell: exactly one succeeds.
#[test]
fn make_runnable_races_request_cancel() {
    model(|| {
        let cell = Arc::new(Cell::<()>::new(crate::task::cell::WAITING));
        assert!(!cell.is_done()); // first touch (see `crate::sync::seq_cst`)
        let c = Arc::clone(&cell);
        let deliverer = thread::spawn(move || c.make_runnable());
        let cancelled = cell.request_cancel();
        let runnable = deliverer.join().unwrap();
        if runnable {
            // Delivered first: cancel may still claim the queued task; a worker then loses.
            assert_eq!(
                cancelled,
                !cell.claim(),
                "cancel and claim must not both win"
            );
        } else {
            assert!(cancelled, "delivery can only fail because cancel won");
            assert!(!cell.claim());
        }
        assert!(cell.cancel_requested());
    });
}

/// A promise (timeout, fan-in, map) fulfilled on time, fulfilled by the deadline, and
/// cancelled, all at once: exactly one wins; the loser's value is dropped, not leaked.
#[test]
fn promise_fulfil_races_deadline_and_cancel() {
    model(|| {
        let census = Census::new();
        let promise = Arc::new(Promise::<Tracked>::new(None));
        assert!(!promise.cell().is_done()); // first touch (see `crate::sync::seq_cst`)
        let seen = Seen::default();
        promise.cell().set_next(seen.continuation());
        let on_time = {
            let (p, cen) = (Arc::clone(&promise), Arc::clone(&census));
            thread::spawn(move || p.fulfil(Ok(Tracked::new(&cen, 4))))
        };
        let deadline = {
            let p = Arc::clone(&promise);
            thread::spawn(move || p.fulfil(Err(Error::DeadlineExceeded)))
        };
        let cancelled = Completion::cancel(&*promise);
        let wins = usize::from(on_time.join().unwrap())
            + usize::from(deadline.join().unwrap())
            + usize::from(cancelled);
        assert_eq!(wins, 1, "exactly one resolution must win");
        assert_eq!(
            seen.calls.get(),
            1,
            "the continuation must be called exactly once"
        );
        assert_eq!(seen.cancelled.get(), usize::from(cancelled));
        drop(promise);
        census.assert_balanced("promise");
    });
}

/// A failed parent resolving its success-only step at once (`Task::skip`: WAITING -> CLAIMED,
/// as `issue::chain_ok` does) racing cancel() on the step's handle, with a continuation of the
/// step registered meanwhile: exactly one resolves it, the continuation hears once, and the
/// step's closure never runs.
#[test]
fn skip_races_cancel_of_waiting_continuation() {
    model(|| {
        let ran = Count::default();
        let r2 = ran.clone();
        let step = Arc::new(Task::waiting(
            move |input: Outcome| {
                r2.bump();
                input
            },
            None,
        ));
        assert!(!step.cell().is_done()); // first touch (see `crate::sync::seq_cst`)
        let seen = Seen::default();
        let parent = {
            let s = Arc::clone(&step);
            thread::spawn(move || s.skip(Error::Terminated))
        };
        let canceller = {
            let s = Arc::clone(&step);
            thread::spawn(move || Completion::cancel(&*s))
        };
        step.cell().set_next(seen.continuation());
        parent.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert_eq!(ran.get(), 0, "a skipped or cancelled step must not run");
        assert_eq!(
            seen.calls.get(),
            1,
            "the outcome must be delivered exactly once"
        );
        assert_eq!(seen.cancelled.get(), usize::from(cancelled));
        assert_eq!(seen.terminated.get(), usize::from(!cancelled));
    });
}

/// A deadline (`AsyncResult::timeout`) firing while its work is queued and a worker takes it:
/// the timer's `Promise::decide` claims the result, cancels the work, then publishes
/// `DeadlineExceeded`; the work's completion fulfils the same promise. A waiter that sees
/// `DeadlineExceeded` finds the work no longer startable (cancelled, or already claimed by a
/// worker), and cancelled work never runs; one that sees the value saw it run.
#[test]
fn deadline_cancels_before_it_publishes() {
    model(|| {
        let census = Census::new();
        let started = Arc::new(crate::sync::AtomicUsize::new(0));
        assert_eq!(started.load(crate::sync::Ordering::SeqCst), 0); // first touch
        let source = {
            let (st, cen) = (Arc::clone(&started), Arc::clone(&census));
            Arc::new(Task::runnable(
                (),
                move |()| {
                    st.fetch_add(1, crate::sync::Ordering::SeqCst);
                    Ok(Tracked::new(&cen, 2))
                },
                Callbacks::new(),
                None,
            ))
        };
        assert!(!source.cell().is_done()); // first touch
        let promise = Arc::new(Promise::<Tracked>::new(None));
        assert!(!promise.cell().is_done()); // first touch
                                            // What `timeout` wires up: the source's outcome fulfils the promise...
        let on_time = Arc::clone(&promise);
        source.cell().set_next(Box::new(move |outcome| {
            on_time.fulfil(outcome);
        }));
        let worker = {
            let s = Arc::clone(&source);
            thread::spawn(move || Job::run(s as JobRef))
        };
        // ...and the timer decides with a cancel first.
        let stopped = Count::default();
        let timer = {
            let (late, s, stopped) = (Arc::clone(&promise), Arc::clone(&source), stopped.clone());
            thread::spawn(move || {
                late.decide(|| {
                    if Completion::cancel(&*s) {
                        stopped.bump();
                    }
                    Err(Error::DeadlineExceeded)
                })
            })
        };
        promise.cell().block(None);
        let seen_started = started.load(crate::sync::Ordering::SeqCst);
        let startable = source.cell().is_queued();
        let outcome = match promise.cell().take() {
            Taken::Ready(r) => r,
            Taken::NotReady => panic!("block returned before the promise resolved"),
        };
        worker.join().unwrap();
        timer.join().unwrap();
        let started_at_end = started.load(crate::sync::Ordering::SeqCst);
        match outcome {
            Ok(v) => assert_eq!((v.id, seen_started), (2, 1), "a value without a run"),
            Err(Error::DeadlineExceeded) => {
                assert!(
                    !startable,
                    "the work could still start after its deadline was seen"
                );
                if stopped.get() == 1 {
                    assert_eq!(started_at_end, 0, "cancelled by its deadline, yet it ran");
                }
            }
            Err(e) => panic!("unexpected outcome {e}"),
        }
        drop((source, promise));
        census.assert_balanced("deadline");
    });
}
