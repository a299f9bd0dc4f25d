//! The tutorial's two follow-up patterns written with continuations, so the follow-ups'
//! results come back instead of being dropped.
//!
//! 1. Manual, per task: each first-round task carries its conditional follow-up,
//!    `.when(|v| v > 0.5, task2)`, declared up front; the follow-up starts as soon as its own
//!    parent is done, and the handle yields `Some(result)` or `None`.
//! 2. Callback, whole result: `map_async(...).and_then(...)` issues the follow-ups once the
//!    whole first round is done (as the tutorial's result callback), and `pool.all` gathers
//!    their results into one handle.
//!
//! Run it with `cargo run --example continuations -p followup`.

use followup::{AsyncResult, ThreadPool};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds slept per unit of random value (the tutorial's scale is 1).
const TIME_SCALE: f64 = 0.1;

/// A first-round task: a random value, a nap, a report.
fn task1(identifier: u32) -> (u32, f64) {
    let value = random();
    sleep(value);
    println!(">{identifier} generated {value}");
    (identifier, value)
}

/// A follow-up task of first-round task `identifier`, whose value was `result`.
fn task2(identifier: u32, result: f64) -> (u32, f64, f64) {
    let value = random();
    sleep(value);
    println!(">>{identifier} with {result}, generated {value}");
    (identifier, result, value)
}

fn main() -> followup::Result<()> {
    seed_random();
    let pool = ThreadPool::new()?;

    println!("-- 1. a conditional follow-up on each task: .when(test, task2)");
    let mut handles = Vec::new();
    for i in 0..10 {
        let first = pool.apply_async(move || task1(i))?;
        handles.push(first.when(|&(_, v)| v > 0.5, |(i, v)| task2(i, v)));
    }
    for handle in handles {
        if let Some((i, v, w)) = handle.get()? {
            println!("follow-up {i} came back: ({i}, {v}, {w})");
        }
    }

    println!("-- 2. follow-ups of the whole result: map_async(..).and_then(..) + pool.all");
    let issuer = pool.clone();
    let second_round: AsyncResult<Vec<(u32, f64, f64)>> =
        pool.map_async(task1, 0..10)?.and_then(move |results| {
            let mut followups = Vec::new();
            for (i, v) in results {
                if v > 0.5 {
                    followups.push(issuer.apply_async(move || task2(i, v))?);
                }
            }
            Ok::<_, followup::Error>(issuer.all(followups))
        });
    for (i, v, w) in second_round.get()? {
        println!("follow-up {i} came back: ({i}, {v}, {w})");
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
