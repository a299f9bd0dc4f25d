//! The tutorial's two follow-up patterns written with an as-completed set: results arrive in
//! completion order, follow-ups join the set while it is being iterated, and their results
//! come back through the same loop. No `close()`/`join()` is needed to wait for them.
//!
//! 1. Manual: the loop body submits a follow-up for each first-round value above 0.5.
//! 2. Callback: each first-round task has a success callback that submits its follow-up
//!    through the set's cloneable `Adder`, right when that task finishes.
//!
//! Run it with `cargo run --example as_completed -p followup`.

use followup::{Callbacks, ThreadPool};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds slept per unit of random value (the tutorial's scale is 1).
const TIME_SCALE: f64 = 0.1;

/// A result of either round, so both rounds can share one set.
#[derive(Debug, Clone, Copy)]
enum Round {
    /// A first-round task's id and value.
    First(u32, f64),
    /// A follow-up's id, the first-round value and its own value.
    Second(u32, f64, f64),
}

/// A first-round task: a random value, a nap, a report.
fn task1(identifier: u32) -> Round {
    let value = random();
    sleep(value);
    println!(">{identifier} generated {value}");
    Round::First(identifier, value)
}

/// A follow-up task of first-round task `identifier`, whose value was `result`.
fn task2(identifier: u32, result: f64) -> Round {
    let value = random();
    sleep(value);
    println!(">>{identifier} with {result}, generated {value}");
    Round::Second(identifier, result, value)
}

fn main() -> followup::Result<()> {
    seed_random();
    let pool = ThreadPool::new()?;

    println!("-- 1. follow-ups submitted from the loop body");
    let mut set = pool.as_completed();
    for i in 0..10 {
        set.submit(move || task1(i))?;
    }
    while let Some(result) = set.next() {
        match result? {
            Round::First(i, v) if v > 0.5 => set.submit(move || task2(i, v))?,
            Round::First(..) => {}
            Round::Second(i, v, w) => println!("follow-up {i} came back: ({i}, {v}, {w})"),
        }
    }

    println!("-- 2. follow-ups submitted by each task's success callback");
    let mut set = pool.as_completed();
    for i in 0..10 {
        let adder = set.adder();
        let callbacks = Callbacks::new().on_success(move |round: &Round| {
            if let Round::First(i, v) = *round {
                if v > 0.5 {
                    adder
                        .submit(move || task2(i, v))
                        .expect("a callback may issue follow-ups");
                }
            }
        });
        set.add(pool.apply_async_with(move || task1(i), callbacks)?);
    }
    for result in set {
        if let Round::Second(i, v, w) = result? {
            println!("follow-up {i} came back: ({i}, {v}, {w})");
        }
    }

    pool.close();
    pool.join()?;
    println!("All done.");
    Ok(())
}

/// Sleeps `value × TIME_SCALE` seconds.
fn sleep(value: f64) {
    std::thread::sleep(Duration::from_secs_f64(value * TIME_SCALE));
}

/// Python's `random()`: a float in [0, 1), from SplitMix64 over one shared state.
fn random() -> f64 {
    const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut z = STATE
        .fetch_add(GOLDEN, Ordering::Relaxed)
        .wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

static STATE: AtomicU64 = AtomicU64::new(0);

/// Seeds [`random`] from the clock, so every run differs.
fn seed_random() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    STATE.store(nanos as u64, Ordering::Relaxed);
}
