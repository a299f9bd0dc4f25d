//! Promises at the edges (issue 13): huge timeouts mean no limit, user code whose `Drop`
//! panics never leaves a handle or a group unresolved nor unwinds into a caller that did not
//! run it, failed handles read the same error every time, and panic payloads are kept.

use crate::util::*;
use followup::{Callbacks, Error, ImapOptions};
use std::error::Error as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// A value whose `Drop` panics (unless the thread is already unwinding, which would abort).
struct DropPanics;

impl DropPanics {
    /// Used by closures so that they capture the value.
    fn touch(&self) {}
}

impl Drop for DropPanics {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("DropPanics was dropped");
        }
    }
}

// ---- A huge timeout is no limit -------------------------------------------------------------

#[test]
fn get_timeout_and_wait_timeout_take_duration_max_as_no_limit() {
    guarded(|| {
        let p = pool(1);
        let mut h = p.apply_async(|| 3).unwrap();
        assert!(h.wait_timeout(Duration::MAX));
        assert_eq!(h.get_timeout(Duration::MAX), Ok(3));
        let mut pending = p.apply_async(|| 4).unwrap();
        assert_eq!(pending.get_timeout(Duration::MAX), Ok(4));
    });
}

#[test]
fn waiting_with_duration_max_inside_a_task_helps_and_returns() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let outer = p
            .apply_async(move || {
                let mut inner = q.apply_async(|| 5).unwrap();
                inner.get_timeout(Duration::MAX)
            })
            .unwrap();
        assert_eq!(get(outer), Ok(Ok(5)));
    });
}

#[test]
fn a_duration_max_deadline_never_expires() {
    guarded(|| {
        let p = pool(1);
        let h = p.apply_async(|| 6).unwrap().timeout(Duration::MAX);
        assert_eq!(get(h), Ok(6));
    });
}

#[test]
fn group_wait_timeout_takes_duration_max_as_no_limit() {
    guarded(|| {
        let p = pool(2);
        let group = p.group();
        let c = counter();
        let c2 = std::sync::Arc::clone(&c);
        group.spawn(move || bump(&c2)).unwrap();
        assert_eq!(group.wait_timeout(Duration::MAX), Ok(()));
        assert_eq!(count(&c), 1);
    });
}

#[test]
fn stream_next_timeout_takes_duration_max_as_no_limit() {
    guarded(|| {
        let p = pool(2);
        let mut ordered = p.imap(|x: u32| x * 2, 0..3).unwrap();
        assert_eq!(ordered.next_timeout(Duration::MAX), Some(Ok(0)));
        let opts = ImapOptions::new().chunksize(2);
        let mut unordered = p.imap_unordered_with(|x: u32| x, 0..1, opts).unwrap();
        assert_eq!(unordered.next_timeout(Duration::MAX), Some(Ok(0)));
        assert_eq!(unordered.next_timeout(Duration::MAX), None);
        drop(ordered);
    });
}

#[test]
fn as_completed_next_timeout_takes_duration_max_as_no_limit() {
    guarded(|| {
        let p = pool(2);
        let mut set = p.as_completed();
        set.submit(|| 9).unwrap();
        assert_eq!(set.next_timeout(Duration::MAX), Some(Ok(9)));
        assert_eq!(set.next_timeout(Duration::MAX), None);
    });
}

#[test]
fn join_timeout_takes_duration_max_as_no_limit() {
    guarded(|| {
        let p = pool(2);
        let h = p.apply_async(|| 1).unwrap();
        p.close();
        assert_eq!(p.join_timeout(Duration::MAX), Ok(()));
        assert!(h.ready());
    });
}

// ---- Panicking drops of payloads, closures and callbacks ------------------------------------

#[test]
fn a_panic_whose_payload_panics_when_dropped_still_resolves_the_handle() {
    guarded(|| {
        let p = pool(1);
        let h = p
            .apply_async(|| -> u8 { std::panic::panic_any(DropPanics) })
            .unwrap();
        let e = get(h).unwrap_err();
        assert_eq!(e, panicked("<non-string panic payload>"));
        // Dropping the error drops the payload; its panic is contained there.
        drop(e);
        assert_eq!(p.apply(|| 1), Ok(1), "the pool is unharmed");
    });
}

#[test]
fn a_spawned_group_task_whose_payload_panics_when_dropped_still_lets_the_group_finish() {
    guarded(|| {
        let p = pool(1);
        let group = p.group();
        group.spawn(|| std::panic::panic_any(DropPanics)).unwrap();
        assert_eq!(
            group.wait_timeout(LONG),
            Err(panicked("<non-string panic payload>"))
        );
    });
}

#[test]
fn cancelling_a_queued_task_whose_closure_panics_when_dropped_resolves_it_without_unwinding() {
    guarded(|| {
        let p = pool(1);
        let (gate, _blockers) = block_workers(&p, 1);
        let bomb = DropPanics;
        let h = p
            .apply_async(move || {
                bomb.touch();
                1
            })
            .unwrap();
        let cancelled = catch_unwind(AssertUnwindSafe(|| h.cancel()));
        assert!(
            matches!(cancelled, Ok(true)),
            "cancel() must neither unwind into its caller nor fail to cancel"
        );
        assert!(h.ready(), "the handle resolves at once");
        assert_eq!(get(h), Err(Error::Cancelled));
        gate.open();
    });
}

#[test]
fn terminating_a_queued_task_whose_closure_panics_when_dropped_resolves_it() {
    guarded(|| {
        let p = pool(1);
        let (gate, _blockers) = block_workers(&p, 1);
        let bomb = DropPanics;
        let h = p
            .apply_async(move || {
                bomb.touch();
                1
            })
            .unwrap();
        let group = p.group();
        let bomb = DropPanics;
        group.spawn(move || bomb.touch()).unwrap();
        let terminated = catch_unwind(AssertUnwindSafe(|| p.terminate()));
        assert!(terminated.is_ok(), "terminate() must not unwind");
        assert_eq!(get(h), Err(Error::Terminated));
        assert_eq!(group.wait_timeout(LONG), Err(Error::Terminated));
        gate.open();
        assert_eq!(p.join_timeout(LONG), Ok(()));
    });
}

#[test]
fn an_unused_success_callback_that_panics_when_dropped_does_not_hide_the_failure() {
    guarded(|| {
        let p = pool(1);
        let bomb = DropPanics;
        let cbs = Callbacks::new().on_success(move |_: &u8| bomb.touch());
        let h = p
            .apply_async_with(|| -> u8 { panic!("task") }, cbs)
            .unwrap();
        assert_eq!(get(h), Err(panicked("task")));
    });
}

// ---- Failed handles read the same error every time ------------------------------------------

#[test]
fn a_failed_handle_gives_the_same_error_on_every_read() {
    guarded(|| {
        let p = pool(1);
        let mut h = p.apply_async(|| -> u8 { panic!("again") }).unwrap();
        assert_eq!(h.get_timeout(LONG), Err(panicked("again")));
        assert_eq!(h.get_timeout(LONG), Err(panicked("again")));
        assert_eq!(h.successful(), Some(false));
        assert_eq!(get(h), Err(panicked("again")));

        let (gate, _blockers) = block_workers(&p, 1);
        let mut c = p.apply_async(|| 1).unwrap();
        assert!(c.cancel());
        assert_eq!(c.get_timeout(LONG), Err(Error::Cancelled));
        assert_eq!(c.get_timeout(LONG), Err(Error::Cancelled));
        gate.open();
    });
}

#[test]
fn a_value_is_handed_out_once_then_result_taken() {
    guarded(|| {
        let p = pool(1);
        let mut h = p.apply_async(|| 2).unwrap();
        assert_eq!(h.get_timeout(LONG), Ok(2));
        assert_eq!(h.get_timeout(LONG), Err(Error::ResultTaken));
        assert_eq!(h.successful(), Some(true));
    });
}

// ---- Panic payloads are kept ----------------------------------------------------------------

#[test]
fn a_non_string_panic_payload_can_be_taken_back_and_resumed() {
    guarded(|| {
        let p = pool(1);
        let e = p
            .apply(|| -> u8 { std::panic::panic_any(7u32) })
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the task panicked: <non-string panic payload>"
        );
        let payload = e.take_panic_payload().expect("the payload is kept");
        let resumed = catch_unwind(AssertUnwindSafe(move || std::panic::resume_unwind(payload)));
        assert_eq!(resumed.unwrap_err().downcast_ref::<u32>(), Some(&7));
        assert!(e.take_panic_payload().is_none(), "taken once");
    });
}

#[test]
fn a_string_panic_keeps_a_readable_message_and_its_payload() {
    guarded(|| {
        let p = pool(1);
        let e = p.apply(|| -> u8 { panic!("at {}", 3) }).unwrap_err();
        assert_eq!(e.to_string(), "the task panicked: at 3");
        let payload = e.take_panic_payload().unwrap();
        // `panic!` with constant arguments may hand a `&str` instead of a `String`.
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        assert_eq!(text, Some("at 3"));
    });
}

#[test]
fn payloads_survive_groups_and_callbacks() {
    guarded(|| {
        let p = pool(1);
        let group = p.group();
        group.spawn(|| std::panic::panic_any(11i64)).unwrap();
        let e = group.wait_timeout(LONG).unwrap_err();
        let payload = e.take_panic_payload().expect("kept by the group");
        assert_eq!(payload.downcast_ref::<i64>(), Some(&11));

        let cbs = Callbacks::new().on_success(|_: &u8| std::panic::panic_any('c'));
        let e = get(p.apply_async_with(|| 1u8, cbs).unwrap()).unwrap_err();
        assert!(matches!(e, Error::CallbackPanicked { .. }), "{e:?}");
        let payload = e.take_panic_payload().unwrap();
        assert_eq!(payload.downcast_ref::<char>(), Some(&'c'));
    });
}

// ---- A panicking error callback keeps the task's error ---------------------------------------

#[test]
fn a_panicking_error_callback_keeps_the_task_error_reachable() {
    guarded(|| {
        let p = pool(1);
        let cbs = Callbacks::new().on_error(|_: &Error| panic!("handler"));
        let h = p
            .apply_async_with(|| -> u8 { std::panic::panic_any(5u16) }, cbs)
            .unwrap();
        let e = get(h).unwrap_err();
        let Error::CallbackPanicked {
            message,
            task_error,
            ..
        } = &e
        else {
            panic!("expected CallbackPanicked, got {e:?}");
        };
        assert_eq!(message, "handler");
        let original = task_error.as_deref().expect("the task's error is kept");
        assert_eq!(original, &panicked("<non-string panic payload>"));
        let source = e.source().expect("the task's error is the source");
        assert_eq!(source.to_string(), original.to_string());
        // The original panic's payload is reachable too.
        let payload = original.take_panic_payload().unwrap();
        assert_eq!(payload.downcast_ref::<u16>(), Some(&5));
    });
}
