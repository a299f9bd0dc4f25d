//! Task-group counting (`task::tracker`): a wait never returns while a task that joined
//! before its parent left is still pending, in nested groups too, and the failures a waiter
//! reads after the wait are complete.

use super::{model, Count};
use crate::engine::{Job, JobRef};
use crate::error::Error;
use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use crate::task::callbacks::Callbacks;
use crate::task::context;
use crate::task::core::Task;
use crate::task::tracker::Tracker;
use loom::thread;
use std::sync::Arc;

/// First touch of a tracker's atomics (see `crate::sync::seq_cst`).
fn touch(t: &Tracker) {
    assert_eq!(t.pending(), 0);
    assert!(!t.is_cancelled());
}

/// A parent in a nested group issues a child (enter) and exits; the child finishes later.
/// Waiters on the inner group (main) and on the outer group (second thread) return only
/// after the child is done, and see its failure.
#[test]
fn waiter_never_returns_while_child_pending() {
    model(|| {
        let outer = Arc::new(Tracker::new(None));
        let inner = Arc::new(Tracker::new(Some(Arc::clone(&outer))));
        let child_done = Arc::new(AtomicBool::new(false));
        touch(&inner);
        touch(&outer);
        assert!(!child_done.load(Ordering::Relaxed));
        // The parent joined when it was issued, before anyone could wait.
        inner.enter();
        let worker = {
            let (g, done) = (Arc::clone(&inner), Arc::clone(&child_done));
            thread::spawn(move || {
                g.enter(); // the parent issues the child...
                g.exit(None); // ...and resolves
                done.store(true, Ordering::Release); // the child runs
                g.exit(Some(&Error::Cancelled)); // and resolves with a failure
            })
        };
        let outer_waiter = {
            let (o, done) = (Arc::clone(&outer), Arc::clone(&child_done));
            thread::spawn(move || {
                o.block(None);
                assert!(
                    done.load(Ordering::Acquire),
                    "outer group wait returned while a child was pending"
                );
                assert_eq!(o.failure(), Some(Error::Cancelled));
            })
        };
        inner.block(None);
        assert!(
            child_done.load(Ordering::Acquire),
            "group wait returned while a child was pending"
        );
        assert_eq!(inner.pending(), 0);
        assert_eq!(inner.failure(), Some(Error::Cancelled));
        worker.join().unwrap();
        outer_waiter.join().unwrap();
    });
}

/// The same through real tasks: a group task's closure issues a child that inherits the group
/// from the running task (`context::current_tracker`, as `issue` does) and parks it in a
/// slot; the worker runs it afterwards, unless a thief steals it first. The group's waiter
/// returns only after the child ran.
#[test]
fn waiter_sees_child_issued_by_running_task() {
    model(|| {
        let group = Arc::new(Tracker::new(None));
        let slot: Arc<Mutex<Option<JobRef>>> = Arc::new(Mutex::new(None));
        let child_ran = Arc::new(AtomicBool::new(false));
        touch(&group);
        assert!(!child_ran.load(Ordering::Relaxed));
        let issued_in_group = Count::default();
        let parent = {
            let (slot, ran, seen) = (
                Arc::clone(&slot),
                Arc::clone(&child_ran),
                issued_in_group.clone(),
            );
            Arc::new(Task::runnable(
                (),
                move |()| {
                    let tracker = context::current_tracker();
                    if tracker.is_some() {
                        seen.bump();
                    }
                    let child: JobRef = Arc::new(Task::runnable(
                        (),
                        move |()| {
                            ran.store(true, Ordering::Release);
                            Ok(())
                        },
                        Callbacks::new(),
                        tracker,
                    ));
                    *lock(&*slot) = Some(child);
                    Ok(())
                },
                Callbacks::new(),
                Some(Arc::clone(&group)),
            ))
        };
        let worker = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                Job::run(parent as JobRef);
                let next = lock(&*slot).take();
                if let Some(child) = next {
                    child.run();
                }
            })
        };
        let thief = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let stolen = lock(&*slot).take();
                if let Some(child) = stolen {
                    child.run();
                }
            })
        };
        group.block(None);
        assert!(
            child_ran.load(Ordering::Acquire),
            "group wait returned before the child issued by its task ran"
        );
        worker.join().unwrap();
        thief.join().unwrap();
        assert_eq!(
            issued_in_group.get(),
            1,
            "the child must inherit the running task's group"
        );
        assert_eq!(group.failure(), None);
    });
}
