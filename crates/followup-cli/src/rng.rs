//! Seeded randomness without a dependency.
//!
//! Every random value of a demo is a pure function of `(seed, task id, round)`: the seed and
//! the draw's coordinates are mixed with SplitMix64's finaliser (a bijection on 64 bits with
//! good avalanche), and the top 53 bits become a float in `[0, 1)`, like Python's `random()`.
//! So a seeded run prints the same values whatever thread runs which task, and in whatever
//! order.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// The 64-bit golden ratio, SplitMix64's stream increment.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's finaliser: mixes all 64 bits of `z` into all 64 bits of the output.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The top 53 bits of `bits` as a float in `[0, 1)`, evenly spaced by 2⁻⁵³.
fn unit_f64(bits: u64) -> f64 {
    // 53 bits fit an f64 mantissa exactly, so the conversion is exact.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The random value in `[0, 1)` of draw `round` of task `task` under `seed`.
pub fn value_for(seed: u64, task: u32, round: u8) -> f64 {
    let coordinates = (u64::from(task) << 8) | u64::from(round);
    let z = mix64(seed.wrapping_add(GOLDEN));
    unit_f64(mix64(z ^ mix64(coordinates.wrapping_mul(GOLDEN))))
}

/// A fresh seed for an unseeded run: the clock mixed with the per-process random keys that
/// std draws for its hash maps.
pub fn fresh_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_a_function_of_seed_task_and_round() {
        assert_eq!(value_for(7, 3, 1), value_for(7, 3, 1));
        assert_ne!(value_for(7, 3, 1), value_for(7, 3, 2));
        assert_ne!(value_for(7, 3, 1), value_for(7, 4, 1));
        assert_ne!(value_for(7, 3, 1), value_for(8, 3, 1));
    }

    #[test]
    fn values_are_uniform_enough_in_the_unit_interval() {
        let n = 100_000u32;
        let mut sum = 0.0;
        let mut above = 0u32;
        for task in 0..n {
            let v = value_for(42, task, 1);
            assert!((0.0..1.0).contains(&v), "{v} out of range");
            sum += v;
            above += u32::from(v > 0.5);
        }
        let mean = sum / f64::from(n);
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        let frac = f64::from(above) / f64::from(n);
        assert!((frac - 0.5).abs() < 0.01, "fraction above 0.5: {frac}");
    }

    #[test]
    fn unit_f64_spans_the_half_open_interval() {
        assert_eq!(unit_f64(0), 0.0);
        assert!(unit_f64(u64::MAX) < 1.0);
    }
}
