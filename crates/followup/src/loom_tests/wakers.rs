//! The wake-ups a worker waiting inside a task relies on (`WorkerLocal::help_until`): it
//! registers its waker with what it awaits, looks once more, and parks; the event's side
//! publishes, then wakes whoever registered. These models run the real `task::waiters::Waiters`
//! (result channels) and the real `task::tracker::Tracker` (group waits) against a token
//! parker (the contract of crossbeam's `Parker`, as in `sleep`): a lost wake-up leaves the
//! waiter parked forever, which loom reports as a deadlock.

use super::model;
use crate::sync::{AtomicBool, Ordering, Parker, Unparker};
use crate::task::tracker::Tracker;
use crate::task::waiters::Waiters;
use loom::thread;
use std::sync::Arc;
use std::task::{Wake, Waker};

/// The waiting worker's waker: unparks its parker (`engine::worker::UnparkWorker`).
struct UnparkWaiter(Unparker);

impl Wake for UnparkWaiter {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn waker_of(parker: &Parker) -> Waker {
    Waker::from(Arc::new(UnparkWaiter(parker.unparker().clone())))
}

/// `recv_helping` on a worker against a sender: the message is a flag written with a
/// relaxed store (weaker than any channel), so only the fences in `Waiters` order it.
#[test]
fn channel_send_races_a_waiting_receiver() {
    model(|| {
        let waiters = Arc::new(Waiters::new());
        let message = Arc::new(AtomicBool::new(false));
        assert!(!message.load(Ordering::Relaxed)); // first touch (see `crate::sync::seq_cst`)
        waiters.wake_all(); // first touch of its counter: nobody registered, nothing woken
        let sender = {
            let (w, m) = (Arc::clone(&waiters), Arc::clone(&message));
            thread::spawn(move || {
                m.store(true, Ordering::Relaxed);
                w.wake_all();
            })
        };
        let parker = Parker::new();
        let waker = waker_of(&parker);
        // help_until's loop: done? register, look again, park.
        while !message.load(Ordering::Relaxed) {
            waiters.register(&waker);
            if message.load(Ordering::Relaxed) {
                break;
            }
            parker.park();
        }
        sender.join().unwrap();
    });
}

/// A group wait on a worker against the group's last task finishing.
#[test]
fn group_quiet_races_a_waiting_worker() {
    model(|| {
        let group = Arc::new(Tracker::new(None));
        assert!(!group.is_cancelled()); // first touch
        group.enter();
        let last = {
            let g = Arc::clone(&group);
            thread::spawn(move || g.exit(None))
        };
        let parker = Parker::new();
        let waker = waker_of(&parker);
        while group.pending() != 0 {
            group.register_waker(&waker);
            if group.pending() == 0 {
                break;
            }
            parker.park();
        }
        last.join().unwrap();
    });
}
