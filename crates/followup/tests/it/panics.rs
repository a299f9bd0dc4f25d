//! Panics (§8.2): a panicking task becomes `Error::Panicked` with its message and the worker
//! survives; a panicking callback becomes `Error::CallbackPanicked` and the pool stays healthy.

use crate::util::*;
use followup::{Callbacks, Error, MapOptions};
use std::sync::mpsc;
use std::sync::Arc;

#[test]
fn task_panic_becomes_panicked_with_its_message() {
    let p = pool(1);
    let h = p.apply_async(|| -> u32 { panic!("boom {}", 42) }).unwrap();
    let e = get(h).unwrap_err();
    assert_eq!(e, panicked("boom 42"));
    assert!(e.is_panic());
    assert_eq!(e.to_string(), "the task panicked: boom 42");
}

#[test]
fn static_str_panic_message_is_kept() {
    let p = pool(1);
    let e = p.apply(|| -> u8 { panic!("static text") }).unwrap_err();
    assert_eq!(e, panicked("static text"));
}

#[test]
fn non_string_panic_payload_still_becomes_panicked() {
    let p = pool(1);
    let e = p
        .apply(|| -> u8 { std::panic::panic_any(17u64) })
        .unwrap_err();
    assert!(matches!(e, Error::Panicked { .. }), "{e:?}");
}

#[test]
fn worker_survives_many_panics() {
    let (p, prefix) = named_pool(1, "surv");
    for i in 0..20 {
        assert!(p
            .apply(move || -> u8 { panic!("p{i}") })
            .unwrap_err()
            .is_panic());
    }
    // Still the same single worker, still working.
    assert_eq!(p.apply(thread_name).unwrap(), format!("{prefix}0"));
    assert_eq!(p.map(|x: u32| x + 1, 0..10).unwrap().len(), 10);
}

#[test]
fn success_callback_panic_becomes_callback_panicked_and_the_pool_stays_healthy() {
    let p = pool(2);
    let cbs = Callbacks::new().on_success(|_: &u8| panic!("cb boom"));
    let h = p.apply_async_with(|| 1u8, cbs).unwrap();
    let e = get(h).unwrap_err();
    assert_eq!(e, callback_panicked("cb boom", None));
    assert!(e.is_panic());
    // Later jobs are unaffected.
    for i in 0..20u32 {
        assert_eq!(p.apply(move || i * 2), Ok(i * 2));
    }
    assert_eq!(p.map(|x: u32| x, 0..100).unwrap().len(), 100);
    p.close();
    p.join_timeout(LONG).unwrap();
}

#[test]
fn error_callback_panic_becomes_callback_panicked() {
    let p = pool(2);
    let cbs = Callbacks::new().on_error(|e: &Error| panic!("while handling: {e}"));
    let h = p
        .apply_async_with(|| -> u8 { panic!("first") }, cbs)
        .unwrap();
    assert_eq!(
        get(h),
        Err(callback_panicked(
            "while handling: the task panicked: first",
            Some(panicked("first"))
        ))
    );
    assert_eq!(p.apply(|| 5), Ok(5));
}

#[test]
fn map_item_panic_does_not_stop_the_other_items() {
    let p = pool(2);
    let ran = counter();
    let r = Arc::clone(&ran);
    let out = p.map_with(
        move |x: u32| {
            bump(&r);
            if x == 3 {
                panic!("three");
            }
            x
        },
        0..10,
        MapOptions::new().chunksize(5),
    );
    assert!(out.unwrap_err().is_panic());
    assert_eq!(count(&ran), 10, "the rest of the chunk still ran");
}

#[test]
fn map_whole_result_callback_panic_becomes_callback_panicked() {
    let p = pool(2);
    let opts = MapOptions::new().callback(|_: &Vec<u32>| panic!("map cb"));
    let h = p.map_async_with(|x: u32| x, 0..10, opts).unwrap();
    assert_eq!(get(h), Err(callback_panicked("map cb", None)));
    assert_eq!(p.map(|x: u32| x, 0..3), Ok(vec![0, 1, 2]));
}

#[test]
fn map_on_item_callback_panic_makes_that_item_callback_panicked() {
    let p = pool(2);
    let opts = MapOptions::new()
        .chunksize(2)
        .on_item(|i, _: &followup::Result<u32>| {
            if i == 6 {
                panic!("item cb {i}");
            }
        });
    let out = p.map_with(|x: u32| x, 0..10, opts);
    assert_eq!(out, Err(callback_panicked("item cb 6", None)));
}

#[test]
fn continuation_panic_becomes_panicked_for_that_step() {
    let p = pool(2);
    let h = p
        .apply_async(|| 1u32)
        .unwrap()
        .map(|_| -> u32 { panic!("in map") })
        .map(|x| x + 1);
    assert_eq!(get(h), Err(panicked("in map")));
}

#[test]
fn imap_item_panic_is_an_error_item_and_the_stream_goes_on() {
    let p = pool(2);
    let out: Vec<_> = p
        .imap(
            |x: i32| {
                if x == 2 {
                    panic!("two");
                }
                x
            },
            vec![0, 1, 2, 3],
        )
        .unwrap()
        .collect();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], Ok(0));
    assert_eq!(out[2], Err(panicked("two")));
    assert_eq!(out[3], Ok(3));
}

#[test]
fn panicking_spawned_task_does_not_hurt_join() {
    let p = pool(2);
    p.spawn(|| panic!("fire and forget")).unwrap();
    let (tx, rx) = mpsc::channel();
    p.spawn(move || tx.send(1).unwrap()).unwrap();
    assert_eq!(recv(&rx, "second spawn"), 1);
    p.close();
    p.join_timeout(LONG).unwrap();
}

#[test]
fn a_task_returning_a_result_is_its_value_not_a_pool_error() {
    // §8.12: "the task said no" is a value; "the task blew up" is an Error.
    let p = pool(1);
    let said_no = p
        .apply(|| -> Result<u8, String> { Err("no".into()) })
        .unwrap();
    assert_eq!(said_no, Err("no".to_string()));
}
