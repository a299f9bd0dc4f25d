//! Memory: peak RSS (`VmHWM` in `/proc/self/status`) of followup's `imap` with an explicit
//! chunksize over N lazily produced items, against `map` over the same items collected first.
//! Each case runs in a child process (this binary re-executed with the hidden `--mem-child`
//! subcommand), so peaks do not mix; a `base` case (pool built, nothing run) is the floor.
//! The `imap-straggler` case is `imap` again with one slow item (item 5,000 sleeps 100 ms):
//! with a window of in-flight chunks the peak must stay as flat as plain `imap`'s, since
//! results after the straggler may only be buffered up to the window. `imap-default` is
//! `imap` with the default (adaptive) chunking, and `imap-blocked` the same over an input
//! that blocks now and then: a channel fed by a producer thread that pauses 1 ms every
//! 2^18 items, so the stream's feeder waits in the input while results flow.

use crate::harness::{fmt_num, render, Json};
use crate::workloads::{check, sum_squares, wsum};
use followup::{ImapOptions, ThreadPool};
use std::process::Command;
use std::time::Instant;

/// The chunksize of the `imap` case.
pub const IMAP_CHUNKSIZE: usize = 1024;

/// The straggler of the `imap-straggler` case: this item takes this long.
const STRAGGLER: (u64, std::time::Duration) = (5_000, std::time::Duration::from_millis(100));

/// Reads a `kB` field (such as `VmHWM`) of `/proc/self/status`.
pub fn status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The hidden subcommand: runs one case and prints `hwm_kb=<peak> secs=<time>`.
pub fn child(kind: &str, n: u64) {
    let pool = ThreadPool::with_workers(2).expect("pool");
    let f = |x: u64| x * x;
    let t = Instant::now();
    match kind {
        "base" => {}
        "imap" => {
            let opts = ImapOptions::new().chunksize(IMAP_CHUNKSIZE);
            let mut sum = 0u64;
            for r in pool.imap_with(f, 0..n, opts).expect("imap") {
                sum = sum.wrapping_add(r.expect("item"));
            }
            check("imap sum", sum, sum_squares(n));
        }
        "imap-straggler" => {
            let opts = ImapOptions::new().chunksize(IMAP_CHUNKSIZE);
            let slow = |x: u64| {
                if x == STRAGGLER.0 {
                    std::thread::sleep(STRAGGLER.1);
                }
                x * x
            };
            let mut sum = 0u64;
            for r in pool.imap_with(slow, 0..n, opts).expect("imap") {
                sum = sum.wrapping_add(r.expect("item"));
            }
            check("imap sum", sum, sum_squares(n));
        }
        "imap-default" => {
            let mut sum = 0u64;
            for r in pool.imap(f, 0..n).expect("imap") {
                sum = sum.wrapping_add(r.expect("item"));
            }
            check("imap sum", sum, sum_squares(n));
        }
        "imap-blocked" => {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
            let producer = std::thread::spawn(move || {
                for x in 0..n {
                    if x % (1 << 18) == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    tx.send(x).expect("imap-blocked input");
                }
            });
            let mut sum = 0u64;
            for r in pool.imap(f, rx).expect("imap") {
                sum = sum.wrapping_add(r.expect("item"));
            }
            producer.join().expect("producer");
            check("imap sum", sum, sum_squares(n));
        }
        "map" => {
            let items: Vec<u64> = (0..n).collect();
            let out = pool.map(f, items).expect("map");
            let sum = wsum(out);
            check("map sum", sum, sum_squares(n));
        }
        other => panic!("unknown memory case {other}"),
    }
    let secs = t.elapsed().as_secs_f64();
    pool.close();
    pool.join().expect("join");
    println!(
        "hwm_kb={} secs={secs}",
        status_kb("VmHWM").expect("VmHWM in /proc/self/status")
    );
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct MemRow {
    /// `base`, `imap`, `imap-straggler`, `imap-default`, `imap-blocked` or `map`.
    pub kind: &'static str,
    /// Items.
    pub n: u64,
    /// Peak RSS, MiB.
    pub hwm_mib: f64,
    /// Time of the work, s.
    pub secs: f64,
}

fn run_child(kind: &'static str, n: u64) -> MemRow {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--mem-child", kind, &n.to_string()])
        .output()
        .expect("run memory child");
    assert!(
        out.status.success(),
        "memory child {kind} {n} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("memory child output lacks {name}: {text}"))
    };
    MemRow {
        kind,
        n,
        hwm_mib: field("hwm_kb=") / 1024.0,
        secs: field("secs="),
    }
}

/// Runs the base case and, for each N, the imap and map cases.
pub fn measure(ns: &[u64]) -> Vec<MemRow> {
    let mut rows = vec![run_child("base", 0)];
    for &n in ns {
        rows.push(run_child("imap", n));
        rows.push(run_child("imap-straggler", n));
        rows.push(run_child("imap-default", n));
        rows.push(run_child("imap-blocked", n));
        rows.push(run_child("map", n));
    }
    rows
}

/// True if the peak of `kind` stays flat: every N's peak is within 16 MiB of the `base`
/// case's (a window of 8 chunks of 1,024 results is well under 1 MiB).
pub fn flat(rows: &[MemRow], kind: &str) -> bool {
    let base = rows
        .iter()
        .find(|r| r.kind == "base")
        .map_or(0.0, |r| r.hwm_mib);
    rows.iter()
        .filter(|r| r.kind == kind)
        .all(|r| r.hwm_mib <= base + 16.0)
}

/// Prints the memory table.
pub fn print(rows: &[MemRow]) {
    println!();
    println!("### Memory: peak RSS, imap (chunksize {IMAP_CHUNKSIZE}, lazy input) vs map (input collected)");
    println!(
        "One child process per case; VmHWM from /proc/self/status; base = pool built, nothing run."
    );
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.kind.to_string(),
                format!("{:.0e}", r.n as f64),
                format!("{:.1}", r.hwm_mib),
                format!("{:.3}", r.secs),
                if r.n > 0 {
                    fmt_num(r.secs * 1e9 / r.n as f64)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        render(&["case", "N", "peak RSS MiB", "time s", "ns/item"], &table)
    );
    for kind in ["imap", "imap-straggler", "imap-default", "imap-blocked"] {
        println!(
            "{kind} peak RSS flat as N grows (within 16 MiB of base): {}",
            if flat(rows, kind) { "yes" } else { "NO" }
        );
    }
}

/// The memory rows as JSON.
pub fn json(rows: &[MemRow]) -> Json {
    Json::Arr(
        rows.iter()
            .map(|r| {
                Json::obj(vec![
                    ("case", Json::str(r.kind)),
                    ("n", Json::Num(r.n as f64)),
                    ("peak_rss_mib", Json::Num(r.hwm_mib)),
                    ("secs", Json::Num(r.secs)),
                ])
            })
            .collect(),
    )
}
