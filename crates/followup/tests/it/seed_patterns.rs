//! The seed's two follow-up patterns end to end, with deterministic values: the manual one
//! (`imap_unordered` + `apply_async` + `close` + `join`) and the callback one (`map_async`
//! callback + `wait` + `close` + `join`), plus the callback pattern with `close()` called
//! before `wait()`, which Python turns into a trap and this crate does not (§8.3).

use crate::util::*;
use followup::{AsyncResult, MapOptions, ThreadPool};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const N: u32 = 20;
const THRESHOLD: f64 = 0.5;

/// The first task: a deterministic value in [0, 1) from the input.
fn task1(i: u32) -> (u32, f64) {
    std::thread::sleep(Duration::from_micros(u64::from(i % 4) * 300));
    (i, f64::from(i * 7 % N) / f64::from(N))
}

/// The follow-up task.
fn task2(i: u32, v: f64) -> (u32, f64, f64) {
    std::thread::sleep(Duration::from_micros(200));
    (i, v, v * 2.0)
}

/// The inputs whose first result passes the threshold, with that result.
fn expected() -> BTreeMap<u32, f64> {
    (0..N)
        .map(|i| (i, f64::from(i * 7 % N) / f64::from(N)))
        .filter(|&(_, v)| v > THRESHOLD)
        .collect()
}

type Log = Arc<Mutex<Vec<(u32, f64, f64)>>>;

fn check(log: &Log) {
    let mut by_input = BTreeMap::new();
    for &(i, v, doubled) in log.lock().unwrap().iter() {
        assert_eq!(doubled, v * 2.0);
        assert!(
            by_input.insert(i, v).is_none(),
            "follow-up for {i} ran more than once"
        );
    }
    let want = expected();
    assert!(!want.is_empty() && want.len() < N as usize, "a real filter");
    assert_eq!(
        by_input, want,
        "a follow-up ran exactly for the values above the threshold"
    );
}

#[test]
fn manual_pattern_imap_unordered_then_apply_async_then_close_join() {
    guarded(|| {
        let pool = ThreadPool::with_workers(2).unwrap();
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let mut handles: Vec<AsyncResult<()>> = Vec::new();
        let mut firsts = 0;
        let mut it = pool.imap_unordered(task1, 0..N).unwrap();
        while let Some(r) = it.next_timeout(LONG) {
            let (i, v) = r.unwrap();
            firsts += 1;
            if v > THRESHOLD {
                let l = Arc::clone(&log);
                handles.push(
                    pool.apply_async(move || l.lock().unwrap().push(task2(i, v)))
                        .unwrap(),
                );
            }
        }
        drop(it);
        assert_eq!(firsts, N);
        pool.close();
        pool.join_timeout(LONG).unwrap();
        assert_eq!(handles.len(), expected().len());
        assert!(
            handles.iter().all(AsyncResult::ready),
            "join waited for every follow-up"
        );
        check(&log);
    });
}

fn callback_pattern(close_before_wait: bool) {
    let pool = ThreadPool::with_workers(2).unwrap();
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let issue_errors = Arc::new(Mutex::new(Vec::new()));
    let (p, l, errs) = (pool.clone(), Arc::clone(&log), Arc::clone(&issue_errors));
    let opts = MapOptions::new().callback(move |results: &Vec<(u32, f64)>| {
        for &(i, v) in results {
            if v > THRESHOLD {
                let l = Arc::clone(&l);
                if let Err(e) = p.apply_async(move || l.lock().unwrap().push(task2(i, v))) {
                    errs.lock().unwrap().push(e);
                }
            }
        }
    });
    let result = pool.map_async_with(task1, 0..N, opts).unwrap();
    if close_before_wait {
        pool.close(); // Python: every follow-up would now raise "Pool not running"
    }
    assert!(result.wait_timeout(LONG));
    if !close_before_wait {
        pool.close();
    }
    pool.join_timeout(LONG).unwrap();
    assert!(issue_errors.lock().unwrap().is_empty(), "{issue_errors:?}");
    let firsts = get(result).unwrap();
    assert_eq!(firsts.len(), N as usize);
    assert_eq!(
        firsts.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>()
    );
    check(&log);
}

#[test]
fn callback_pattern_map_async_callback_then_wait_then_close_join() {
    guarded(|| callback_pattern(false));
}

#[test]
fn callback_pattern_with_close_before_wait_still_runs_every_follow_up() {
    guarded(|| callback_pattern(true));
}

#[test]
fn callback_pattern_with_per_item_callbacks_starts_follow_ups_early() {
    guarded(|| {
        let pool = ThreadPool::with_workers(2).unwrap();
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let (p, l) = (pool.clone(), Arc::clone(&log));
        let opts =
            MapOptions::new()
                .chunksize(1)
                .on_item(move |_, r: &followup::Result<(u32, f64)>| {
                    let &(i, v) = r.as_ref().unwrap();
                    if v > THRESHOLD {
                        let l = Arc::clone(&l);
                        drop(
                            p.apply_async(move || l.lock().unwrap().push(task2(i, v)))
                                .unwrap(),
                        );
                    }
                });
        let result = pool.map_async_with(task1, 0..N, opts).unwrap();
        pool.close();
        pool.join_timeout(LONG).unwrap();
        assert!(result.ready());
        check(&log);
    });
}

#[test]
fn manual_pattern_with_when_continuations() {
    guarded(|| {
        let pool = ThreadPool::with_workers(2).unwrap();
        let hs: Vec<_> = (0..N)
            .map(|i| {
                pool.apply_async(move || task1(i))
                    .unwrap()
                    .when(|&(_, v)| v > THRESHOLD, |(i, v)| task2(i, v))
            })
            .collect();
        let got: BTreeMap<u32, f64> = hs
            .into_iter()
            .filter_map(|h| get(h).unwrap())
            .map(|(i, v, _)| (i, v))
            .collect();
        assert_eq!(got, expected());
    });
}
