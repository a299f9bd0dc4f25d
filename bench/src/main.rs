//! `followup-bench`: followup against the Rust peer pools (rayon, tokio, threadpool,
//! rusty_pool, a hand-written crossbeam-channel pool) and CPython's ThreadPool, on the
//! workloads of peer-benchmarks.md (W1-W7, W3c, W4x, W7x), plus idle CPU and memory; and,
//! with `--instructions`, instructions per task counted by valgrind's callgrind.
//!
//! ```text
//! cargo run --release -p followup-bench -- [--quick] [--only W1,W2,...] [--reps N] [--json FILE]
//! cargo run --release -p followup-bench -- --instructions [--quick] [--peers LIST] [--json FILE]
//! ```
//!
//! See BENCHMARKS.md at the repository root for what each number means.

mod harness;
mod idle;
mod instructions;
mod memory;
mod peers;
mod python;
mod workloads;

use harness::{fmt_num, render, Json, Table};
use std::process::Command;
use std::time::{Duration, Instant};
use workloads::{Sizes, Workload};

/// The workspace's lock file, for the crate versions in the report.
const CARGO_LOCK: &str = include_str!("../../Cargo.lock");

const USAGE: &str = "\
followup-bench: followup against rayon, tokio, threadpool, rusty_pool, a channel pool and Python

usage: cargo run --release -p followup-bench -- [--quick] [--only LIST] [--reps N] [--json FILE]
       cargo run --release -p followup-bench -- --instructions [--quick] [--peers LIST] [--json FILE]

  --quick        tiny sizes, 1 repetition (for CI: checks every path, numbers meaningless)
  --only LIST    comma-separated parts to run: W1 W2 W3 W3c W4 W4x W5 W6 W7 W7x idle mem python
                 (default: all)
  --reps N       repetitions per Rust workload (default 7; --quick: 1)
  --peers LIST   comma-separated peer names to keep in the Rust tables (exact names, or a
                 prefix ending in '*', e.g. followup*); for profiling one idiom
  --json FILE    also write every result as JSON to FILE
  --instructions instead of the timing suite: instructions per task of each peer on one
                 worker (follow-up chains, external submission), counted by valgrind's
                 callgrind (needs valgrind; --quick: tiny task counts)
";

/// Parsed command line.
#[derive(Debug)]
struct Args {
    quick: bool,
    only: Option<Vec<String>>,
    reps: Option<usize>,
    peers: Option<Vec<String>>,
    json: Option<String>,
    instructions: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        quick: false,
        only: None,
        reps: None,
        peers: None,
        json: None,
        instructions: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--only" => {
                let list = it.next().unwrap_or_else(|| die("--only needs a list"));
                let parts: Vec<String> = list
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for p in &parts {
                    let known = Workload::parse(p).is_some()
                        || ["idle", "mem", "python"].contains(&p.to_ascii_lowercase().as_str());
                    if !known {
                        die(&format!("unknown part {p:?} in --only"));
                    }
                }
                args.only = Some(parts);
            }
            "--reps" => {
                let n = it.next().and_then(|s| s.parse().ok());
                args.reps = Some(
                    n.filter(|&n| n > 0)
                        .unwrap_or_else(|| die("--reps needs N >= 1")),
                );
            }
            "--peers" => {
                let list = it.next().unwrap_or_else(|| die("--peers needs a list"));
                args.peers = Some(list.split(',').map(|s| s.trim().to_string()).collect());
            }
            "--instructions" => args.instructions = true,
            "--instructions-child" => {
                const USE: &str = "--instructions-child PEER CASE N";
                let peer = it.next().unwrap_or_else(|| die(USE));
                let case = it.next().unwrap_or_else(|| die(USE));
                let n = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| die(USE));
                instructions::child(&peer, &case, n);
                std::process::exit(0);
            }
            "--json" => args.json = Some(it.next().unwrap_or_else(|| die("--json needs a file"))),
            "--mem-child" => {
                let kind = it.next().unwrap_or_else(|| die("--mem-child KIND N"));
                let n = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| die("--mem-child KIND N"));
                memory::child(&kind, n);
                std::process::exit(0);
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => die(&format!("unknown argument {other:?}")),
        }
    }
    args
}

fn die(msg: &str) -> ! {
    eprintln!("error: {msg}\n\n{USAGE}");
    std::process::exit(2);
}

impl Args {
    fn keeps_peer(&self, name: &str) -> bool {
        match &self.peers {
            None => true,
            Some(list) => list.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == p,
            }),
        }
    }

    fn wants(&self, part: &str) -> bool {
        match &self.only {
            None => true,
            Some(list) => list.iter().any(|p| p.eq_ignore_ascii_case(part)),
        }
    }
}

/// Output of a command, trimmed, or `"unknown"`.
fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Version of `name` in Cargo.lock.
fn locked_version(name: &str) -> String {
    let mut lines = CARGO_LOCK.lines();
    while let Some(l) = lines.next() {
        if l == format!("name = \"{name}\"") {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "?".into()
}

/// The machine and build, as printed in the report header.
fn machine() -> Vec<(&'static str, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let crates = [
        "followup",
        "rayon",
        "rayon-core",
        "threadpool",
        "rusty_pool",
        "tokio",
        "crossbeam-channel",
        "crossbeam-deque",
    ]
    .iter()
    .map(|c| format!("{c} {}", locked_version(c)))
    .collect::<Vec<_>>()
    .join(", ");
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let commit = command_output("git", &["-C", repo, "rev-parse", "--short", "HEAD"]);
    let dirty = command_output(
        "git",
        &["-C", repo, "status", "--porcelain", "--", "crates/followup"],
    );
    let library = if dirty.is_empty() || dirty == "unknown" {
        commit
    } else {
        format!("{commit} + uncommitted changes in crates/followup")
    };
    vec![
        ("nproc", command_output("nproc", &[])),
        ("cpu", cpu),
        ("rustc", command_output("rustc", &["--version"])),
        ("python", command_output("python3", &["--version"])),
        ("crates (Cargo.lock)", crates),
        ("library commit", library),
        (
            "load average",
            std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        ),
    ]
}

/// One line of the "followup against the bars" summary.
struct Bar {
    workload: &'static str,
    row: String,
    value: String,
    against: String,
    ratio: f64,
    bar: &'static str,
    met: Option<bool>,
}

fn median_of(tables: &[Table], w: Workload, peer: &str) -> Option<f64> {
    tables
        .iter()
        .find(|t| t.workload == w)?
        .stats(peer)
        .map(|s| s.median)
}

fn best_of(tables: &[Table], w: Workload) -> Option<(String, f64)> {
    let t = tables.iter().find(|t| t.workload == w)?;
    let b = t.best_peer()?;
    Some((b.peer.clone(), b.stats?.median))
}

/// followup's rows against the suggested bars of peer-benchmarks.md (and the brief's callback
/// target), computed from this run's tables.
fn bars(tables: &[Table], sizes: &Sizes) -> Vec<Bar> {
    let mut out = Vec::new();
    let mut ratio_bar =
        |w: Workload, row: &str, against: Option<(String, f64)>, limit: f64, bar: &'static str| {
            let (Some(v), Some((name, base))) = (median_of(tables, w, row), against) else {
                return;
            };
            let ratio = v / base;
            out.push(Bar {
                workload: w.id(),
                row: row.into(),
                value: format!("{} {}", fmt_num(v), w.unit()),
                against: format!("{name} {}", fmt_num(base)),
                ratio,
                bar,
                met: Some(ratio <= limit),
            });
        };
    let peer = |w: Workload, p: &str| median_of(tables, w, p).map(|m| (p.to_string(), m));
    use Workload::*;
    ratio_bar(
        W1,
        "followup-spawn",
        peer(W1, "baseline-chan"),
        1.25,
        "<= 1.25x baseline-chan",
    );
    ratio_bar(
        W1,
        "followup-apply_async",
        peer(W1, "baseline-chan"),
        1.25,
        "<= 1.25x baseline-chan",
    );
    ratio_bar(
        W2,
        "followup-apply_async",
        peer(W2, "baseline-chan"),
        1.3,
        "<= 1.3x baseline-chan",
    );
    ratio_bar(
        W3,
        "followup-imap_unordered(cs=1)",
        peer(W3, "baseline-chan"),
        1.2,
        "<= 1.2x baseline-chan",
    );
    ratio_bar(
        W3,
        "followup-spawn",
        peer(W3, "baseline-chan"),
        1.2,
        "<= 1.2x baseline-chan",
    );
    ratio_bar(
        W3c,
        "followup-map",
        best_of(tables, W3c),
        1.2,
        "within noise (<= 1.2x) of best W3c",
    );
    ratio_bar(
        W3c,
        "followup-imap_unordered(cs=n/8)",
        best_of(tables, W3c),
        1.2,
        "within noise (<= 1.2x) of best W3c",
    );
    ratio_bar(
        W3,
        "followup-imap_unordered",
        best_of(tables, W3c),
        1.2,
        "default chunking within noise of best W3c",
    );
    ratio_bar(
        W4,
        "followup-spawn",
        peer(W4, "baseline-chan"),
        1.2,
        "<= 1.2x baseline-chan",
    );
    ratio_bar(
        W4,
        "followup-apply_async",
        peer(W4, "baseline-chan"),
        1.2,
        "<= 1.2x baseline-chan",
    );
    ratio_bar(
        W4,
        "followup-continuation",
        peer(W4, "baseline-chan"),
        1.2,
        "<= 1.2x baseline-chan",
    );
    ratio_bar(
        W4,
        "followup-callback",
        best_of(tables, W4),
        0.5,
        "<= 0.5x best peer W4 (brief)",
    );
    ratio_bar(
        W4,
        "followup-callback",
        best_of(tables, W4x),
        0.5,
        "<= 0.5x best peer W4x (Python's callback model)",
    );
    ratio_bar(
        W5,
        "followup-spawn",
        peer(W5, "rayon-scope"),
        2.0,
        "<= 2x rayon-scope",
    );
    if let Some(t) = tables.iter().find(|t| t.workload == W6) {
        if let Some(s) = t.stats("followup-spawn") {
            let eff = sizes.w6_ideal_ms() / s.median;
            out.push(Bar {
                workload: "W6",
                row: "followup-spawn".into(),
                value: format!("{} ms", fmt_num(s.median)),
                against: format!("ideal {} ms", fmt_num(sizes.w6_ideal_ms())),
                ratio: eff,
                bar: "efficiency >= 0.88",
                met: Some(eff >= 0.88),
            });
        }
    }
    if let Some(t) = tables.iter().find(|t| t.workload == W7) {
        for row in [
            "followup-spawn",
            "followup-callback",
            "followup-continuation",
        ] {
            if let Some(s) = t.stats(row) {
                let best = t
                    .best_peer()
                    .and_then(|b| Some((b.peer.clone(), b.stats?.median)));
                out.push(Bar {
                    workload: "W7",
                    row: row.into(),
                    value: format!("median {} µs, p99 {} µs", fmt_num(s.median), fmt_num(s.p99)),
                    against: best
                        .as_ref()
                        .map_or("-".into(), |(n, m)| format!("{n} {}", fmt_num(*m))),
                    ratio: best.map_or(f64::NAN, |(_, m)| s.median / m),
                    bar: "median < 1 µs, p99 <= 5 µs",
                    met: Some(s.median < 1.0 && s.p99 <= 5.0),
                });
            }
        }
    }
    out
}

fn print_bars(bars: &[Bar], quick: bool) {
    println!();
    println!("### followup against the bars (peer-benchmarks.md \"Suggested bars\")");
    if quick {
        println!("(--quick: tiny sizes, one repetition; these verdicts mean nothing)");
    }
    let rows: Vec<Vec<String>> = bars
        .iter()
        .map(|b| {
            vec![
                b.workload.to_string(),
                b.row.clone(),
                b.value.clone(),
                b.against.clone(),
                format!("{:.2}", b.ratio),
                b.bar.to_string(),
                match b.met {
                    Some(true) => "met".into(),
                    Some(false) => "MISSED".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        render(
            &[
                "wl",
                "followup row",
                "value",
                "compared to",
                "ratio",
                "bar",
                "verdict"
            ],
            &rows
        )
    );
}

/// `--instructions`: the callgrind table instead of the timing suite.
fn run_instructions(args: &Args) {
    let valgrind = instructions::valgrind_version().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let started = Instant::now();
    let mut info = machine();
    info.push(("valgrind", valgrind));
    println!(
        "# followup-bench --instructions: {} mode",
        if args.quick { "quick" } else { "full" }
    );
    for (k, v) in &info {
        println!("{k}: {v}");
    }
    let report = instructions::measure(args.quick, |p| args.keeps_peer(p)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    instructions::print(&report);
    let total = started.elapsed();
    println!();
    println!("total run time {:.0} s", total.as_secs_f64());
    if let Some(path) = &args.json {
        let doc = Json::obj(vec![
            ("mode", Json::str(if args.quick { "quick" } else { "full" })),
            (
                "machine",
                Json::Obj(
                    info.iter()
                        .map(|(k, v)| (k.to_string(), Json::str(v)))
                        .collect(),
                ),
            ),
            ("instructions", instructions::json(&report)),
            ("total_secs", Json::Num(total.as_secs_f64())),
        ]);
        write_json(path, &doc);
    }
}

fn write_json(path: &str, doc: &Json) {
    let mut s = String::new();
    doc.write(&mut s, 0);
    s.push('\n');
    std::fs::write(path, s).unwrap_or_else(|e| die(&format!("cannot write {path}: {e}")));
    println!("JSON written to {path}");
}

fn main() {
    let args = parse_args();
    if args.instructions {
        run_instructions(&args);
        return;
    }
    let started = Instant::now();
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let reps = args.reps.unwrap_or(if args.quick { 1 } else { 7 });
    let info = machine();
    println!(
        "# followup-bench: {} mode, {} repetitions per workload (W7/W7x: one run of {} samples)",
        if args.quick { "quick" } else { "full" },
        reps,
        sizes.w7_samples
    );
    for (k, v) in &info {
        println!("{k}: {v}");
    }
    sizes.sleep_ms = harness::calibrate_sleep(if args.quick { 20 } else { 200 });
    println!(
        "calibration: std::thread::sleep(1 ms) really takes {:.3} ms here (median)",
        sizes.sleep_ms
    );
    println!("Ratios are to the best peer other than followup (lower is better); rank is among all rows.");

    let mut peers = peers::all();
    peers.retain(|p| args.keeps_peer(&p.name()));
    let mut tables = Vec::new();
    for w in Workload::ALL {
        if !args.wants(w.id()) {
            continue;
        }
        let mut t = harness::measure(w, &peers, &sizes, reps);
        t.rows.retain(|r| r.stats.is_some() || !r.followup);
        if w == Workload::W6 {
            t.floor_ms = Some(sizes.w6_floor_ms());
        }
        harness::print_table(&t, &sizes);
        tables.push(t);
    }
    let bar_rows = bars(&tables, &sizes);
    if !bar_rows.is_empty() {
        print_bars(&bar_rows, args.quick);
    }

    let mut idle_rows = Vec::new();
    if args.wants("idle") {
        let window = if args.quick {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        idle_rows = idle::measure(&peers, window);
        idle::print(&idle_rows, window);
    }

    let mut mem_rows = Vec::new();
    if args.wants("mem") {
        let ns: &[u64] = if args.quick {
            &[100_000, 1_000_000]
        } else {
            &[1_000_000, 10_000_000, 100_000_000]
        };
        mem_rows = memory::measure(ns);
        memory::print(&mem_rows);
    }

    let mut py_rows = None;
    if args.wants("python") {
        let z = if args.quick {
            python::PySizes::quick()
        } else {
            python::PySizes::full()
        };
        py_rows = python::measure(&z);
        python::print(py_rows.as_deref(), &z);
    }

    let total = started.elapsed();
    println!();
    println!(
        "total run time {:.0} s; load average at the end: {}",
        total.as_secs_f64(),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );

    if let Some(path) = &args.json {
        let doc = Json::obj(vec![
            ("mode", Json::str(if args.quick { "quick" } else { "full" })),
            ("reps", Json::Num(reps as f64)),
            (
                "machine",
                Json::Obj(
                    info.iter()
                        .map(|(k, v)| (k.to_string(), Json::str(v)))
                        .collect(),
                ),
            ),
            ("sleep_1ms_real_ms", Json::Num(sizes.sleep_ms)),
            (
                "workloads",
                Json::Arr(tables.iter().map(harness::table_json).collect()),
            ),
            (
                "bars",
                Json::Arr(
                    bar_rows
                        .iter()
                        .map(|b| {
                            Json::obj(vec![
                                ("workload", Json::str(b.workload)),
                                ("row", Json::str(&b.row)),
                                ("ratio", Json::Num(b.ratio)),
                                ("bar", Json::str(b.bar)),
                                ("met", b.met.map_or(Json::Null, Json::Bool)),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("idle", idle::json(&idle_rows)),
            ("memory", memory::json(&mem_rows)),
            (
                "python",
                py_rows.as_deref().map_or(Json::Null, python::json),
            ),
            ("total_secs", Json::Num(total.as_secs_f64())),
        ]);
        write_json(path, &doc);
    }
}
