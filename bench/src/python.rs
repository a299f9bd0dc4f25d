//! Python parity: runs `bench/python/parity.py` (embedded in the binary and fed to `python3 -`
//! on stdin) with CPython's `multiprocessing.pool.ThreadPool`, then followup at the same sizes
//! with the matching idiom, and prints followup's per-task time over Python's.

use crate::harness::{fmt_num, render, Json, Stats, PAUSE};
use crate::peers::followup::{self as fu, FollowupApply, FollowupSpawn};
use crate::peers::{SpawnSession, Spawner};
use crate::workloads::{self, check};
use followup::{MapOptions, ThreadPool};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The parity script, embedded so the binary runs it from anywhere.
pub const SCRIPT: &str = include_str!("../python/parity.py");

/// Sizes of the Python comparison (Python is 30-130x slower per task, so smaller than W1-W4).
#[derive(Debug, Clone, Copy)]
pub struct PySizes {
    /// W1 tasks.
    pub w1: usize,
    /// W2 tasks.
    pub w2: usize,
    /// W3 items.
    pub w3: usize,
    /// W4 roots.
    pub w4_roots: usize,
    /// W4 follow-ups per chain.
    pub chain_len: u32,
    /// First-round tasks of the seed patterns.
    pub seed_tasks: usize,
    /// Repetitions.
    pub reps: usize,
}

impl PySizes {
    /// The sizes of peer-benchmarks.md's Python runs.
    pub fn full() -> PySizes {
        PySizes {
            w1: 100_000,
            w2: 50_000,
            w3: 200_000,
            w4_roots: 1_000,
            chain_len: 10,
            seed_tasks: 20_000,
            reps: 5,
        }
    }

    /// Tiny sizes for `--quick`.
    pub fn quick() -> PySizes {
        PySizes {
            w1: 2_000,
            w2: 1_000,
            w3: 2_000,
            w4_roots: 50,
            chain_len: 10,
            seed_tasks: 500,
            reps: 1,
        }
    }
}

/// One Python row and its followup counterpart.
#[derive(Debug, Clone)]
pub struct PyRow {
    /// Key shared by the script and this module.
    pub key: String,
    /// The Python idiom.
    pub py_label: String,
    /// Python, ns per task.
    pub py: Stats,
    /// The followup idiom.
    pub rust_label: &'static str,
    /// followup, ns per task.
    pub rust: Stats,
}

/// True if `python3` runs here.
pub fn available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the script; returns (key, label, stats) per row.
fn run_script(z: &PySizes) -> Vec<(String, String, Stats)> {
    let mut child = Command::new("python3")
        .arg("-")
        .args(["--reps", &z.reps.to_string()])
        .args(["--w1", &z.w1.to_string()])
        .args(["--w2", &z.w2.to_string()])
        .args(["--w3", &z.w3.to_string()])
        .args(["--w4-roots", &z.w4_roots.to_string()])
        .args(["--chain-len", &z.chain_len.to_string()])
        .args(["--seed-tasks", &z.seed_tasks.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3");
    child
        .stdin
        .take()
        .expect("python stdin")
        .write_all(SCRIPT.as_bytes())
        .expect("feed parity.py to python3");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "parity.py failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 6 || f[0] != "RESULT" {
                return None;
            }
            let num = |s: &str| s.parse::<f64>().expect("number from parity.py");
            Some((
                f[1].to_string(),
                f[5].to_string(),
                Stats {
                    median: num(f[2]),
                    min: num(f[3]),
                    max: num(f[4]),
                    p99: num(f[4]),
                },
            ))
        })
        .collect()
}

/// Times `run` on a fresh, warmed 2-worker pool per repetition; `run` returns the wall time
/// and the task count; the result is ns per task.
fn time_reps<S: Spawner>(reps: usize, run: impl Fn(&S) -> (Duration, usize)) -> Stats {
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        thread::sleep(PAUSE);
        let session = SpawnSession::<S>::start(2, workloads::WARM_TASKS);
        let (d, count) = run(session.spawner());
        drop(session);
        v.push(d.as_secs_f64() * 1e9 / count as f64);
    }
    Stats::of(&v)
}

/// Deterministic stand-in for `random()`: a splitmix64 hash of `i` mapped to [0, 1).
fn unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn task1(i: u64) -> (u64, f64) {
    (i, unit(i))
}

fn task2(i: u64, v: f64, done: &AtomicU64) -> (u64, f64, f64) {
    done.fetch_add(1, Ordering::Relaxed);
    (i, v, unit(i ^ 0xDEAD_BEEF))
}

fn expected_followups(n: usize) -> u64 {
    (0..n as u64).filter(|&i| unit(i) > 0.5).count() as u64
}

/// The seed's manual pattern in followup: `imap_unordered` (default chunking), follow-ups by
/// `apply_async` from the consuming loop, then `close` + `join`.
fn seed_manual(pool: &'static ThreadPool, n: usize) -> (Duration, usize) {
    let done: &'static AtomicU64 = crate::harness::leak(AtomicU64::new(0));
    let t = Instant::now();
    let mut issued = 0;
    for r in pool
        .imap_unordered(task1, 0..n as u64)
        .expect("imap_unordered")
    {
        let (i, v) = r.expect("task1");
        if v > 0.5 {
            drop(
                pool.apply_async(move || task2(i, v, done))
                    .expect("apply_async"),
            );
            issued += 1;
        }
    }
    pool.close();
    pool.join().expect("join");
    let d = t.elapsed();
    check(
        "seed manual follow-ups",
        done.load(Ordering::Relaxed),
        issued,
    );
    check("seed manual issued", issued, expected_followups(n));
    (d, n + issued as usize)
}

/// The seed's callback pattern in followup: `map_async` whose callback (on a worker) issues
/// the follow-ups; wait, `close`, `join`.
fn seed_callback(pool: &'static ThreadPool, n: usize) -> (Duration, usize) {
    let done: &'static AtomicU64 = crate::harness::leak(AtomicU64::new(0));
    let t = Instant::now();
    let opts = MapOptions::new().callback(move |results: &Vec<(u64, f64)>| {
        for &(i, v) in results {
            if v > 0.5 {
                drop(
                    pool.apply_async(move || task2(i, v, done))
                        .expect("apply_async"),
                );
            }
        }
    });
    let result = pool
        .map_async_with(task1, 0..n as u64, opts)
        .expect("map_async_with");
    result.wait();
    pool.close();
    pool.join().expect("join");
    let d = t.elapsed();
    let issued = expected_followups(n);
    check(
        "seed callback follow-ups",
        done.load(Ordering::Relaxed),
        issued,
    );
    (d, n + issued as usize)
}

/// followup's counterpart of a Python row.
fn counterpart(key: &str, z: &PySizes) -> Option<(&'static str, Stats)> {
    let r = z.reps;
    let (roots, len) = (z.w4_roots, z.chain_len);
    let chain_tasks = roots * (len as usize + 1);
    Some(match key {
        "W1.apply_async" => (
            "apply_async (handle dropped)",
            time_reps::<FollowupApply>(r, |s| (workloads::w1(s, z.w1), z.w1)),
        ),
        "W1.map_cs1" => (
            "map_with(chunksize 1)",
            time_reps::<FollowupSpawn>(r, |s| (fu::map(s.pool(), z.w1, Some(1)), z.w1)),
        ),
        "W1.map_default" => (
            "map (default chunksize)",
            time_reps::<FollowupSpawn>(r, |s| (fu::map(s.pool(), z.w1, None), z.w1)),
        ),
        "W2.apply_async_get" => (
            "apply_async + get",
            time_reps::<FollowupApply>(r, |s| (workloads::w2(s, z.w2), z.w2)),
        ),
        "W3.imap_unordered_cs1" => (
            "imap_unordered_with(chunksize 1)",
            time_reps::<FollowupSpawn>(r, |s| (fu::imap_unordered(s.pool(), z.w3, Some(1)), z.w3)),
        ),
        "W3.imap_unordered_chunked" => (
            "imap_unordered_with(chunksize ceil(n/8))",
            time_reps::<FollowupSpawn>(r, |s| {
                (
                    fu::imap_unordered(s.pool(), z.w3, Some(z.w3.div_ceil(8))),
                    z.w3,
                )
            }),
        ),
        "W4.callback" => (
            "apply_async_with + on_success",
            time_reps::<FollowupSpawn>(r, |s| (fu::w4_callback(s.pool(), roots, len), chain_tasks)),
        ),
        "W4.inside_task" => (
            "apply_async from inside the task",
            time_reps::<FollowupApply>(r, |s| (workloads::w4(s, roots, len), chain_tasks)),
        ),
        "seed.manual" => (
            "imap_unordered + apply_async, close, join",
            time_reps::<FollowupSpawn>(r, |s| seed_manual(s.pool(), z.seed_tasks)),
        ),
        "seed.callback" => (
            "map_async_with(callback), wait, close, join",
            time_reps::<FollowupSpawn>(r, |s| seed_callback(s.pool(), z.seed_tasks)),
        ),
        _ => return None,
    })
}

/// Runs Python, then followup at the same sizes. `None` if python3 is missing.
pub fn measure(z: &PySizes) -> Option<Vec<PyRow>> {
    if !available() {
        return None;
    }
    let py = run_script(z);
    assert!(!py.is_empty(), "parity.py printed no results");
    Some(
        py.into_iter()
            .filter_map(|(key, py_label, py)| {
                let (rust_label, rust) = counterpart(&key, z)?;
                Some(PyRow {
                    key,
                    py_label,
                    py,
                    rust_label,
                    rust,
                })
            })
            .collect(),
    )
}

/// Prints the parity table.
pub fn print(rows: Option<&[PyRow]>, z: &PySizes) {
    println!();
    println!(
        "### Python parity (CPython multiprocessing.pool.ThreadPool(2) vs followup, same sizes)"
    );
    let Some(rows) = rows else {
        println!("python3 not found: skipped.");
        return;
    };
    println!(
        "ns per task (per item for map/imap), medians of {} runs; W1 {} tasks, W2 {}, W3 {} items, W4 {} roots x {} tasks, seed patterns {} first-round tasks (+ ~half as many follow-ups). followup/Python < 1 means followup is faster.",
        z.reps,
        z.w1,
        z.w2,
        z.w3,
        z.w4_roots,
        z.chain_len + 1,
        z.seed_tasks
    );
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                r.py_label.clone(),
                fmt_num(r.py.median),
                r.rust_label.to_string(),
                fmt_num(r.rust.median),
                format!("{:.4}", r.rust.median / r.py.median),
                format!("{:.0}x", r.py.median / r.rust.median),
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &[
                "workload",
                "Python idiom",
                "Python ns",
                "followup idiom",
                "followup ns",
                "followup/Python",
                "speed-up",
            ],
            &table
        )
    );
}

/// The parity rows as JSON.
pub fn json(rows: &[PyRow]) -> Json {
    Json::Arr(
        rows.iter()
            .map(|r| {
                Json::obj(vec![
                    ("key", Json::str(&r.key)),
                    ("python", Json::str(&r.py_label)),
                    ("python_median_ns", Json::Num(r.py.median)),
                    ("followup", Json::str(r.rust_label)),
                    ("followup_median_ns", Json::Num(r.rust.median)),
                    (
                        "ratio_followup_over_python",
                        Json::Num(r.rust.median / r.py.median),
                    ),
                ])
            })
            .collect(),
    )
}
