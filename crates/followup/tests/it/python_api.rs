//! Python's `ThreadPool` API in Rust: construction, `apply`/`apply_async`, the handle's
//! `get`/`wait`/`ready`/`successful`, callbacks, `map`/`map_async`/starmap, many concurrent
//! submitters, and blocking waits inside the pool (§8.1, §8.7, §8.8, §8.10).

use crate::util::*;
use followup::{AsyncResult, Callbacks, Error, MapOptions, ThreadPool};
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

#[test]
fn default_workers_is_available_parallelism() {
    let want = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(ThreadPool::new().unwrap().workers(), want);
    assert_eq!(ThreadPool::builder().build().unwrap().workers(), want);
}

#[test]
fn explicit_worker_count_is_kept() {
    assert_eq!(pool(3).workers(), 3);
}

#[test]
fn zero_workers_is_invalid_argument() {
    assert!(matches!(
        ThreadPool::with_workers(0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        ThreadPool::builder().workers(0).build(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn builder_thread_name_prefix_is_visible_in_tasks() {
    let (pool, prefix) = named_pool(2, "name");
    let names = pool.map(|_: u32| thread_name(), 0..16).unwrap();
    for n in names {
        assert!(n.starts_with(&prefix), "{n:?} lacks prefix {prefix:?}");
        let index: usize = n[prefix.len()..].parse().expect("prefix then worker index");
        assert!(index < 2);
    }
}

#[test]
fn default_thread_names_start_with_followup() {
    let p = pool(1);
    let name = p.apply(thread_name).unwrap();
    assert_eq!(name, "followup-0");
}

#[test]
fn stack_size_is_honoured_by_a_task_using_a_big_stack_array() {
    const BIG: usize = 16 << 20;
    let pool = ThreadPool::builder()
        .workers(1)
        .stack_size(64 << 20)
        .build()
        .unwrap();
    let v = pool
        .apply(|| {
            let mut big = [0u8; BIG];
            big[0] = 1;
            big[BIG - 1] = 2;
            let big = std::hint::black_box(&mut big);
            usize::from(big[0]) + usize::from(big[BIG - 1])
        })
        .unwrap();
    assert_eq!(v, 3);
}

#[test]
fn initializer_runs_once_per_worker_before_build_returns() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let pool = ThreadPool::builder()
        .workers(3)
        .initializer(move |i| c.lock().unwrap().push((i, thread_name())))
        .thread_name_prefix("init-")
        .build()
        .unwrap();
    let mut seen = calls.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (0, "init-0".to_string()),
            (1, "init-1".to_string()),
            (2, "init-2".to_string())
        ],
        "each worker ran the initializer once, on its own thread, before build returned"
    );
    // No more initializer calls afterwards, however much work runs.
    pool.map(|x: u32| x, 0..100).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 3);
}

thread_local! {
    static INITIALIZED_AS: Cell<Option<usize>> = const { Cell::new(None) };
}

#[test]
fn tasks_observe_initialized_thread_local_state() {
    let pool = ThreadPool::builder()
        .workers(2)
        .initializer(|i| INITIALIZED_AS.with(|c| c.set(Some(i))))
        .build()
        .unwrap();
    let seen = pool
        .map_with(
            |_: u32| INITIALIZED_AS.with(Cell::get),
            0..64,
            MapOptions::new().chunksize(1),
        )
        .unwrap();
    assert!(
        seen.iter().all(|s| matches!(s, Some(0 | 1))),
        "every task ran on an initialized worker: {seen:?}"
    );
    assert_eq!(INITIALIZED_AS.with(Cell::get), None, "not on this thread");
}

#[test]
fn initializer_panic_makes_build_fail_with_initializer_panicked() {
    let prefix = unique_prefix("ipan");
    let r = ThreadPool::builder()
        .workers(3)
        .thread_name_prefix(prefix.clone())
        .initializer(|i| {
            if i == 1 {
                panic!("init boom {i}");
            }
        })
        .build();
    match r {
        Err(Error::InitializerPanicked { worker, message }) => {
            assert_eq!(worker, 1);
            assert_eq!(message, "init boom 1");
        }
        other => panic!("expected InitializerPanicked, got {other:?}"),
    }
    // The workers whose initializer succeeded do not linger.
    assert!(
        eventually(LONG, || live_threads_named(&prefix).is_empty()),
        "threads left: {:?}",
        live_threads_named(&prefix)
    );
}

// ---------------------------------------------------------------------------------------------
// Auto traits
// ---------------------------------------------------------------------------------------------

fn is_send_sync_clone<T: Send + Sync + Clone>() {}
fn is_send<T: Send>() {}
fn is_send_sync<T: Send + Sync>() {}

#[test]
fn handles_have_the_auto_traits_tasks_need() {
    // Checked at compile time; the calls just make the assertion a named test.
    is_send_sync_clone::<ThreadPool>();
    is_send::<AsyncResult<u32>>();
    is_send::<AsyncResult<Vec<String>>>();
    is_send_sync_clone::<followup::Canceller>();
    is_send_sync_clone::<followup::TaskGroup>();
    is_send_sync_clone::<followup::Adder<u32>>();
    is_send_sync::<Error>();
    is_send::<Callbacks<u32>>();
    is_send::<MapOptions<u32>>();
    fn is_std_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_std_error::<Error>();
}

// ---------------------------------------------------------------------------------------------
// apply / apply_async and the handle
// ---------------------------------------------------------------------------------------------

#[test]
fn apply_returns_the_value() {
    let p = pool(2);
    assert_eq!(p.apply(|| 6 * 7), Ok(42));
}

#[test]
fn apply_async_get_returns_the_value() {
    let p = pool(2);
    let h = p.apply_async(|| "hello".to_string()).unwrap();
    assert_eq!(get(h), Ok("hello".to_string()));
}

#[test]
fn get_timeout_keeps_the_handle_usable_and_a_later_get_succeeds() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut h = p
        .apply_async(move || {
            g.wait();
            5
        })
        .unwrap();
    assert_eq!(h.get_timeout(Duration::from_millis(5)), Err(Error::Timeout));
    assert!(!h.ready());
    assert_eq!(h.get_timeout(Duration::from_millis(1)), Err(Error::Timeout));
    gate.open();
    assert_eq!(h.get_timeout(LONG), Ok(5));
}

#[test]
fn get_timeout_after_the_result_was_taken_is_result_taken() {
    let p = pool(1);
    let mut h = p.apply_async(|| 1).unwrap();
    assert_eq!(h.get_timeout(LONG), Ok(1));
    assert_eq!(h.get_timeout(LONG), Err(Error::ResultTaken));
    assert!(h.ready());
    assert_eq!(h.successful(), Some(true), "kept after the value was taken");
}

#[test]
fn wait_returns_once_ready() {
    guarded(|| {
        let p = pool(2);
        let h = p
            .apply_async(|| {
                std::thread::sleep(Duration::from_millis(2));
                3
            })
            .unwrap();
        h.wait();
        assert!(h.ready());
        assert_eq!(h.get(), Ok(3));
    });
}

#[test]
fn wait_timeout_returns_whether_it_finished() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let h = p.apply_async(move || g.wait()).unwrap();
    assert!(!h.wait_timeout(Duration::from_millis(5)));
    gate.open();
    assert!(h.wait_timeout(LONG));
    assert!(h.wait_timeout(Duration::ZERO), "already ready");
}

#[test]
fn ready_and_successful_track_the_outcome() {
    let p = pool(1);
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let ok = p
        .apply_async(move || {
            g.wait();
            1
        })
        .unwrap();
    assert!(!ok.ready());
    assert_eq!(ok.successful(), None, "None before ready (Python raises)");
    gate.open();
    assert!(ok.wait_timeout(LONG));
    assert!(ok.ready());
    assert_eq!(ok.successful(), Some(true));

    let bad = p.apply_async(|| -> u8 { panic!("nope") }).unwrap();
    assert!(bad.wait_timeout(LONG));
    assert_eq!(bad.successful(), Some(false));
    assert!(get(bad).unwrap_err().is_panic());
}

#[test]
fn success_callback_runs_before_get_returns() {
    let p = pool(2);
    for _ in 0..50 {
        let flag = counter();
        let f = Arc::clone(&flag);
        let cbs = Callbacks::new().on_success(move |v: &u32| {
            std::thread::sleep(Duration::from_micros(200));
            f.store(*v as usize, Ordering::SeqCst);
        });
        let h = p.apply_async_with(|| 9u32, cbs).unwrap();
        assert_eq!(get(h), Ok(9));
        assert_eq!(
            count(&flag),
            9,
            "the callback had finished when get returned"
        );
    }
}

#[test]
fn callback_runs_before_wait_and_ready_report_completion() {
    let p = pool(2);
    for _ in 0..50 {
        let flag = counter();
        let f = Arc::clone(&flag);
        let cbs = Callbacks::new().on_success(move |_: &()| {
            std::thread::sleep(Duration::from_micros(200));
            bump(&f);
        });
        let h = p.apply_async_with(|| (), cbs).unwrap();
        // Whenever `ready()` first says true, the callback has already returned.
        assert!(eventually(LONG, || h.ready()));
        assert_eq!(count(&flag), 1, "ready only after the callback returned");
        assert!(h.wait_timeout(LONG));
        assert_eq!(count(&flag), 1);
    }
}

#[test]
fn callbacks_run_on_the_worker_thread() {
    let (p, prefix) = named_pool(2, "cbth");
    let (tx, rx) = mpsc::channel();
    let (tx2, rx2) = mpsc::channel();
    let ok = Callbacks::new().on_success(move |_: &u8| tx.send(thread_name()).unwrap());
    let err = Callbacks::new().on_error(move |_: &Error| tx2.send(thread_name()).unwrap());
    let a = p.apply_async_with(|| 1u8, ok).unwrap();
    let b = p.apply_async_with(|| -> u8 { panic!("x") }, err).unwrap();
    let _ = (get(a), get(b));
    assert!(recv(&rx, "success callback").starts_with(&prefix));
    assert!(recv(&rx2, "error callback").starts_with(&prefix));
}

#[test]
fn error_callback_gets_the_error_and_only_it_runs() {
    let p = pool(2);
    let (ok_calls, err_calls) = (counter(), counter());
    let got = Arc::new(Mutex::new(None));
    let (o, e, g) = (
        Arc::clone(&ok_calls),
        Arc::clone(&err_calls),
        Arc::clone(&got),
    );
    let cbs = Callbacks::new()
        .on_success(move |_: &u8| bump(&o))
        .on_error(move |err: &Error| {
            bump(&e);
            *g.lock().unwrap() = Some(err.clone());
        });
    let h = p
        .apply_async_with(|| -> u8 { panic!("bad {}", 7) }, cbs)
        .unwrap();
    let r = get(h);
    let expected = panicked("bad 7");
    assert_eq!(r, Err(expected.clone()), "get gives the same error");
    assert_eq!(got.lock().unwrap().clone(), Some(expected));
    assert_eq!((count(&ok_calls), count(&err_calls)), (0, 1));
}

#[test]
fn success_callback_only_on_success() {
    let p = pool(2);
    let (ok_calls, err_calls) = (counter(), counter());
    let (o, e) = (Arc::clone(&ok_calls), Arc::clone(&err_calls));
    let cbs = Callbacks::new()
        .on_success(move |v: &u8| {
            assert_eq!(*v, 4);
            bump(&o);
        })
        .on_error(move |_| bump(&e));
    assert_eq!(get(p.apply_async_with(|| 4u8, cbs).unwrap()), Ok(4));
    assert_eq!((count(&ok_calls), count(&err_calls)), (1, 0));
}

#[test]
fn dropped_handle_still_runs_its_callbacks() {
    let p = pool(2);
    let (tx, rx) = mpsc::channel();
    let cbs = Callbacks::new().on_success(move |v: &u32| tx.send(*v).unwrap());
    drop(p.apply_async_with(|| 11u32, cbs).unwrap());
    assert_eq!(recv(&rx, "callback of a detached task"), 11);
}

#[test]
fn spawn_runs_fire_and_forget_work() {
    let p = pool(2);
    let (tx, rx) = mpsc::channel();
    p.spawn(move || tx.send(1).unwrap()).unwrap();
    assert_eq!(recv(&rx, "spawned task"), 1);
}

// ---------------------------------------------------------------------------------------------
// map / map_async / starmap
// ---------------------------------------------------------------------------------------------

#[test]
fn map_returns_results_in_input_order() {
    let p = pool(2);
    // Later items finish first.
    let out = p
        .map_with(
            |i: u64| {
                std::thread::sleep(Duration::from_micros(200 * (10 - i)));
                i * 10
            },
            0..10,
            MapOptions::new().chunksize(1),
        )
        .unwrap();
    assert_eq!(out, (0..10).map(|i| i * 10).collect::<Vec<_>>());
}

#[test]
fn map_chunksize_variants_all_give_input_order() {
    let p = pool(2);
    let want: Vec<u64> = (0..50).map(|x| x * x).collect();
    for cs in [1, 2, 3, 7, 49, 50, 51, 1000] {
        let got = p
            .map_with(|x: u64| x * x, 0..50, MapOptions::new().chunksize(cs))
            .unwrap();
        assert_eq!(got, want, "chunksize {cs}");
    }
    assert_eq!(p.map(|x: u64| x * x, 0..50).unwrap(), want, "default");
}

#[test]
fn map_with_a_huge_chunksize_runs_everything_in_one_task() {
    let (p, _) = named_pool(4, "huge");
    let threads = p
        .map_with(
            |_: u32| std::thread::current().id(),
            0..40,
            MapOptions::new().chunksize(1_000_000),
        )
        .unwrap();
    assert_eq!(threads.len(), 40);
    assert!(
        threads.iter().all(|t| *t == threads[0]),
        "one chunk, one thread"
    );
}

/// Runs a map of `len` items on a pool where only one worker is free, terminates the pool
/// while the first chunk is running, and returns how many items ran: exactly one chunk.
fn items_in_first_chunk(workers: usize, len: usize, chunksize: Option<usize>) -> usize {
    let p = pool(workers);
    let (blockers_gate, _blockers) = block_workers(&p, workers - 1);
    let gate = Gate::new();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let (g, r) = (Arc::clone(&gate), Arc::clone(&ran));
    let tx = Mutex::new(tx);
    let f = move |i: usize| {
        let first = {
            let mut ran = r.lock().unwrap();
            ran.push(i);
            ran.len() == 1
        };
        if first {
            tx.lock().unwrap().send(()).unwrap();
            g.wait();
        }
    };
    let mut opts = MapOptions::new();
    if let Some(cs) = chunksize {
        opts = opts.chunksize(cs);
    }
    let h = p.map_async_with(f, 0..len, opts).unwrap();
    recv(&rx, "first item to start");
    p.terminate();
    gate.open();
    blockers_gate.open();
    match get(h) {
        Ok(v) => assert_eq!(v.len(), len, "a single chunk: nothing was left to give up"),
        Err(e) => assert_eq!(e, Error::Terminated, "the other chunks never ran"),
    }
    p.join_timeout(LONG).unwrap();
    let mut ran = ran.lock().unwrap().clone();
    ran.sort_unstable();
    assert!(
        ran.windows(2).all(|w| w[1] == w[0] + 1),
        "one contiguous chunk ran: {ran:?}"
    );
    ran.len()
}

#[test]
fn map_default_chunksize_follows_pythons_heuristic() {
    // ceil(len / (4 × workers)); inputs chosen so every chunk has the same length.
    assert_eq!(items_in_first_chunk(1, 100, None), 25);
    assert_eq!(items_in_first_chunk(1, 12, None), 3);
    assert_eq!(items_in_first_chunk(1, 4, None), 1);
    assert_eq!(items_in_first_chunk(4, 112, None), 7);
    assert_eq!(items_in_first_chunk(4, 16, None), 1);
}

#[test]
fn map_explicit_chunksize_sets_items_per_task() {
    assert_eq!(items_in_first_chunk(1, 21, Some(7)), 7);
    assert_eq!(items_in_first_chunk(1, 10, Some(1)), 1);
    assert_eq!(items_in_first_chunk(1, 10, Some(500)), 10);
}

#[test]
fn map_chunksize_zero_is_invalid_argument() {
    let p = pool(1);
    let ran = counter();
    let r = Arc::clone(&ran);
    let out = p.map_with(
        move |x: u32| {
            bump(&r);
            x
        },
        vec![1, 2, 3],
        MapOptions::new().chunksize(0),
    );
    assert!(matches!(out, Err(Error::InvalidArgument(_))), "{out:?}");
    let r = p.map_async_with(|x: u32| x, vec![1], MapOptions::new().chunksize(0));
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(count(&ran), 0, "nothing ran (Python returns [None]*n)");
}

#[test]
fn map_on_empty_input_gives_an_empty_vec() {
    let p = pool(2);
    assert_eq!(p.map(|x: u32| x, Vec::new()), Ok(Vec::<u32>::new()));
    assert_eq!(p.map(|x: u32| x, 0..0), Ok(Vec::<u32>::new()));
}

#[test]
fn map_async_on_empty_input_calls_its_callback_once_with_an_empty_vec() {
    let p = pool(2);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let opts = MapOptions::new().callback(move |v: &Vec<u32>| c.lock().unwrap().push(v.len()));
    let h = p.map_async_with(|x: u32| x, Vec::new(), opts).unwrap();
    assert_eq!(get(h), Ok(vec![]));
    assert_eq!(
        *calls.lock().unwrap(),
        vec![0],
        "called exactly once, with []"
    );
}

#[test]
fn map_error_is_the_lowest_failing_index_even_if_it_fails_last() {
    guarded(|| {
        let p = pool(2);
        const N: usize = 8;
        let (tx, rx) = mpsc::channel::<usize>();
        let rx = Mutex::new(rx);
        let tx = Mutex::new(tx);
        let ran = counter();
        let r = Arc::clone(&ran);
        let f = move |i: usize| -> usize {
            bump(&r);
            if i == 0 {
                // Fail only after every other item has finished (one of them failing first).
                let rx = rx.lock().unwrap();
                for _ in 1..N {
                    recv(&rx, "the other items");
                }
                panic!("item 0");
            }
            tx.lock().unwrap().send(i).unwrap();
            if i == 5 || i == 6 {
                panic!("item {i}");
            }
            i
        };
        let out = p.map_with(f, 0..N, MapOptions::new().chunksize(1));
        assert_eq!(out, Err(panicked("item 0")));
        assert_eq!(count(&ran), N, "not fail-fast: every item ran");
    });
}

#[test]
fn map_error_reports_lowest_index_across_chunks() {
    let p = pool(2);
    let out = p.map_with(
        |i: u32| {
            if i % 10 == 7 {
                panic!("bad {i}");
            }
            i
        },
        0..40,
        MapOptions::new().chunksize(3),
    );
    assert_eq!(out, Err(panicked("bad 7")));
}

#[test]
fn map_async_error_callback_gets_the_map_error_once() {
    let p = pool(2);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let oks = counter();
    let (e, o) = (Arc::clone(&errors), Arc::clone(&oks));
    let opts = MapOptions::new()
        .chunksize(2)
        .callback(move |_: &Vec<u32>| bump(&o))
        .error_callback(move |err: &Error| e.lock().unwrap().push(err.clone()));
    let h = p
        .map_async_with(
            |i: u32| {
                if i == 3 || i == 8 {
                    panic!("m{i}");
                }
                i
            },
            0..10,
            opts,
        )
        .unwrap();
    let expected = panicked("m3");
    assert_eq!(get(h), Err(expected.clone()));
    assert_eq!(*errors.lock().unwrap(), vec![expected]);
    assert_eq!(count(&oks), 0);
}

#[test]
fn map_async_callback_gets_the_whole_vector_before_get_returns() {
    let p = pool(2);
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    let opts = MapOptions::new().callback(move |v: &Vec<u32>| {
        std::thread::sleep(Duration::from_millis(1));
        *s.lock().unwrap() = Some(v.clone());
    });
    let h = p.map_async_with(|x: u32| x + 1, 0..20, opts).unwrap();
    let want: Vec<u32> = (1..=20).collect();
    assert_eq!(get(h), Ok(want.clone()));
    assert_eq!(seen.lock().unwrap().clone(), Some(want));
}

#[test]
fn map_on_item_fires_for_every_item_with_its_index() {
    let p = pool(2);
    for cs in [1usize, 3, 100] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let opts = MapOptions::new()
            .chunksize(cs)
            .on_item(move |i, r: &followup::Result<u64>| {
                s.lock().unwrap().push((i, r.clone()));
            });
        let out = p
            .map_with(
                |x: u64| {
                    if x == 4 {
                        panic!("four");
                    }
                    x * 3
                },
                0..10,
                opts,
            )
            .unwrap_err();
        assert_eq!(out, panicked("four"));
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_by_key(|(i, _)| *i);
        assert_eq!(seen.len(), 10, "chunksize {cs}: once per item");
        for (i, r) in seen {
            if i == 4 {
                assert!(r.unwrap_err().is_panic());
            } else {
                assert_eq!(r, Ok(i as u64 * 3), "index {i} matches its value");
            }
        }
    }
}

#[test]
fn map_on_item_runs_on_a_worker_before_the_map_completes() {
    let (p, prefix) = named_pool(2, "onit");
    let names = Arc::new(Mutex::new(Vec::new()));
    let n = Arc::clone(&names);
    let opts = MapOptions::new()
        .chunksize(1)
        .on_item(move |_, _: &followup::Result<u8>| n.lock().unwrap().push(thread_name()));
    let h = p.map_async_with(|x: u8| x, 0..8, opts).unwrap();
    assert_eq!(get(h).unwrap().len(), 8);
    let names = names.lock().unwrap();
    assert_eq!(
        names.len(),
        8,
        "all per-item callbacks ran before get returned"
    );
    assert!(names.iter().all(|n| n.starts_with(&prefix)));
}

#[test]
fn starmap_is_map_over_tuples() {
    let p = pool(2);
    let out = p
        .map(
            |(a, b): (u64, u32)| a.pow(b),
            vec![(2, 3), (3, 2), (10, 0), (5, 1)],
        )
        .unwrap();
    assert_eq!(out, vec![8, 9, 1, 5]);
}

#[test]
fn map_accepts_any_into_iterator() {
    let p = pool(2);
    let words = vec!["a".to_string(), "bb".into(), "ccc".into()];
    assert_eq!(p.map(|s: String| s.len(), words), Ok(vec![1, 2, 3]));
    let set: std::collections::BTreeSet<u8> = [3, 1, 2].into_iter().collect();
    assert_eq!(p.map(|x: u8| x * 2, set), Ok(vec![2, 4, 6]));
}

// ---------------------------------------------------------------------------------------------
// Concurrency of submitters
// ---------------------------------------------------------------------------------------------

#[test]
fn many_concurrent_submitters_get_correct_distinct_results() {
    guarded(|| {
        let p = pool(2);
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    let hs: Vec<_> = (0..2000u64)
                        .map(|j| {
                            let v = t * 2000 + j;
                            (v, p.apply_async(move || v * 3).unwrap())
                        })
                        .collect();
                    hs.into_iter()
                        .map(|(v, h)| {
                            let r = get(h).unwrap();
                            assert_eq!(r, v * 3);
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        assert_eq!(all.len(), 16_000);
        let distinct: HashSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), 16_000);
        all.sort_unstable();
        assert_eq!(all, (0..16_000u64).map(|v| v * 3).collect::<Vec<_>>());
    });
}

// ---------------------------------------------------------------------------------------------
// Blocking waits inside the pool (§8.10)
// ---------------------------------------------------------------------------------------------

#[test]
fn apply_inside_a_task_on_a_one_worker_pool_runs_inline() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let h = p.apply_async(move || q.apply(|| 21).unwrap() * 2).unwrap();
        assert_eq!(get(h), Ok(42));
    });
}

#[test]
fn get_on_a_queued_task_inside_a_task_runs_it_inline() {
    guarded(|| {
        let p = pool(1);
        let (tx, rx) = mpsc::channel::<AsyncResult<u32>>();
        let outer = p
            .apply_async(move || {
                let inner = recv(&rx, "handle of the queued task");
                assert!(!inner.ready(), "still queued behind us");
                get(inner).unwrap() + 1
            })
            .unwrap();
        // Queued behind `outer` on the only worker.
        let inner = p.apply_async(|| 41u32).unwrap();
        tx.send(inner).unwrap();
        assert_eq!(get(outer), Ok(42));
    });
}

#[test]
fn nested_map_inside_a_task_on_a_one_worker_pool_works() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let h = p
            .apply_async(move || q.map(|x: u32| x + 1, 0..100).unwrap().iter().sum::<u32>())
            .unwrap();
        assert_eq!(get(h), Ok((1..=100).sum()));
    });
}

#[test]
fn map_of_tasks_that_each_apply_on_a_one_worker_pool_works() {
    guarded(|| {
        let p = pool(1);
        let q = p.clone();
        let out = p
            .map_with(
                move |x: u32| q.apply(move || x * 2).unwrap(),
                0..20,
                MapOptions::new().chunksize(1),
            )
            .unwrap();
        assert_eq!(out, (0..20).map(|x| x * 2).collect::<Vec<_>>());
    });
}

#[test]
fn every_worker_waiting_on_nested_work_does_not_deadlock() {
    // Python deadlocks when every worker blocks on a nested task (E7).
    guarded(|| {
        let p = pool(2);
        let q = p.clone();
        let out = p
            .map_with(
                move |x: u32| {
                    let inner = q.apply_async(move || x + 100).unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                    get(inner).unwrap()
                },
                0..16,
                MapOptions::new().chunksize(1),
            )
            .unwrap();
        assert_eq!(out, (100..116).collect::<Vec<_>>());
    });
}

#[test]
fn a_task_waiting_on_its_own_handle_gets_wait_on_self() {
    guarded(|| {
        let p = pool(2);
        let (tx, rx) = mpsc::channel::<AsyncResult<u32>>();
        let (back_tx, back_rx) = mpsc::channel();
        let h = p
            .apply_async(move || {
                let mut me = recv(&rx, "own handle");
                let waited = me.wait_timeout(LONG);
                me.wait(); // returns at once instead of hanging
                let got = me.get_timeout(LONG);
                back_tx.send((waited, got, me)).unwrap();
                7
            })
            .unwrap();
        tx.send(h).unwrap();
        let (waited, got, me) = recv(&back_rx, "the task's report");
        assert!(!waited);
        assert_eq!(got, Err(Error::WaitOnSelf));
        assert_eq!(get(me), Ok(7), "the handle still works afterwards");
    });
}

#[test]
fn get_on_own_handle_inside_the_task_is_wait_on_self() {
    guarded(|| {
        let p = pool(1);
        let (tx, rx) = mpsc::channel::<AsyncResult<u32>>();
        let (back_tx, back_rx) = mpsc::channel();
        let h = p
            .apply_async(move || {
                let me = recv(&rx, "own handle");
                back_tx.send(me.get()).unwrap();
                1
            })
            .unwrap();
        tx.send(h).unwrap();
        assert_eq!(recv(&back_rx, "get on self"), Err(Error::WaitOnSelf));
    });
}
