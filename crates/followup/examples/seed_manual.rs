//! The tutorial's first program, "manually issuing follow-up tasks", in Rust.
//!
//! Ten first-round tasks run through `imap_unordered`; as each result arrives, the main thread
//! issues a follow-up with `apply_async` if the value is above 0.5. Then `close()` and
//! `join()` wait for the follow-ups, and "All done." is printed.
//!
//! Run it with `cargo run --example seed_manual -p followup`.

use followup::{ImapOptions, ThreadPool};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds slept per unit of random value: the tutorial sleeps `value` seconds (scale 1);
/// 0.2 keeps the example to about a second.
const TIME_SCALE: f64 = 0.2;

/// task executed in a worker thread
fn task2(identifier: u32, result: f64) -> (u32, f64, f64) {
    // generate a random number
    let value = random();
    // block for a moment
    sleep(value);
    // report result
    println!(">>{identifier} with {result}, generated {value}");
    // return result
    (identifier, result, value)
}

/// task executed in a worker thread
fn task1(identifier: u32) -> (u32, f64) {
    // generate a random number
    let value = random();
    // block for a moment
    sleep(value);
    // report result
    println!(">{identifier} generated {value}");
    // return result
    (identifier, value)
}

fn main() -> followup::Result<()> {
    seed_random();
    // create and configure the thread pool (one worker per core, as Python's default)
    let pool = ThreadPool::new()?;
    // issue tasks to the thread pool and handle results; chunks of one item, as Python's
    // imap_unordered, so each result arrives as soon as its task ends
    for result in pool.imap_unordered_with(task1, 0..10, ImapOptions::new().chunksize(1))? {
        let (i, v) = result?;
        // check result
        if v > 0.5 {
            // issue a follow-up task; dropping the handle (Python's `_ = ...`) detaches it,
            // but it still runs and join() still waits for it
            drop(pool.apply_async(move || task2(i, v))?);
        }
    }
    // close the pool
    pool.close();
    // wait for all issued tasks to complete
    pool.join()?;
    // all done
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

/// Seeds [`random`] from the clock, so every run differs (as Python's).
fn seed_random() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    STATE.store(nanos as u64, Ordering::Relaxed);
}
