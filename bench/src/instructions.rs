//! Instructions per task, counted by valgrind's callgrind (`--instructions`): a cost figure
//! that machine load does not move, unlike the wall-clock tables, so runs on a busy 2-core VM
//! can still be compared with each other.
//!
//! Every case (a workload run by one peer) runs in a child process, this binary re-executed
//! with the hidden `--instructions-child PEER CASE N`, under `valgrind --tool=callgrind`,
//! which counts the instructions of every thread of the child. Each case runs at two task
//! counts N1 < N2: (I(N2) - I(N1)) / (N2 - N1) is the cost of one more task, and cancels all
//! that does not grow with N (loading the binary, building and warming the pool, shutting it down).
//!
//! The count is only repeatable if no two threads race, because valgrind runs one thread at a
//! time and hands over partly by real time (when the kernel wakes a thread blocked in a
//! syscall). So every pool has one worker (with more, a worker out of work spins or yields for
//! as long as the interleaving makes it), `--fair-sched=yes` hands over in a fixed order, and
//! each case keeps the threads from overlapping. Every case is measured twice (`--quick`:
//! once), and the report shows how far the two figures differ.
//!
//! The cases reuse the timing suite's workloads and peer adapters unchanged:
//! - `chain` is W4 with one root and N - 1 follow-ups: task k issues task k + 1 from inside
//!   itself (rayon-scope: `s.spawn` inside `s.spawn`; followup-callback: the success callback
//!   issues it; followup-continuation: `.map` continuations declared by main), while main
//!   sleeps on the latch.
//! - `external` is W1g: main submits N tasks from outside the pool while a gate task holds the
//!   worker, then releases it and waits once. (Plain W1 lets the worker run dry, sleep and be
//!   woken a timing-dependent number of times: its counts fall into a few modes some 4%
//!   apart.)
//! - `fanout` is W5: one root, each task issues two children, down to a depth; N is the tree's
//!   size, so its task counts are the full trees nearest N1 and N2 (2^k - 1).

use crate::harness::{fmt_num, render, Json};
use crate::peers::{self, followup::FollowupSpawnFn, Peer, SpawnPeer};
use crate::workloads::{Sizes, Workload};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// The workloads measured, with their names in the table.
const CASES: [(Workload, &str); 3] = [
    (Workload::W4, "chain"),
    (Workload::W1g, "external"),
    (Workload::W5, "fanout"),
];

/// The task counts a case runs at: `counts` itself, or for `fanout` the full binary trees of
/// (about) that many tasks.
fn case_counts(case: &str, counts: [usize; 2]) -> [usize; 2] {
    match case {
        "fanout" => counts.map(|n| (n + 1).next_power_of_two() - 1),
        _ => counts,
    }
}

/// The peers compared against in the ratio columns.
const REFERENCES: [&str; 2] = ["rayon-spawn", "rayon-scope"];

/// Task counts N1 < N2 and runs per case: full run and `--quick`. A valgrind child costs
/// about a second whatever N, so `--quick` saves by running each case once; with its smaller
/// N (shorter queues) the figures are up to ~10% off the full run's.
fn plan(quick: bool) -> ([usize; 2], usize) {
    if quick {
        ([1_000, 3_000], 1)
    } else {
        ([2_000, 12_000], 2)
    }
}

/// The timing suite's peers, plus `followup::spawn` (the free function), which only differs
/// from `followup-spawn` in how a task reaches its pool, a difference only counting shows.
fn contenders() -> Vec<Box<dyn Peer>> {
    let mut v = peers::all();
    let at = v
        .iter()
        .position(|p| p.name() == "followup-spawn")
        .map_or(v.len(), |i| i + 1);
    v.insert(at, SpawnPeer::<FollowupSpawnFn>::boxed());
    v
}

/// The sizes of one child run: one worker, and N tasks in either workload.
fn sizes(n: usize) -> Sizes {
    Sizes {
        workers: 1,
        w1_tasks: n,
        w4_roots: 1,
        chain_len: u32::try_from(n - 1).expect("task count fits u32"),
        // A tree of depth d has 2^(d+1) - 1 tasks (`case_counts` makes n one of those).
        w5_depth: (n + 1).ilog2().saturating_sub(1),
        ..Sizes::quick()
    }
}

/// The hidden subcommand: builds `peer`'s pool with one worker, warms it, runs `case` with
/// `n` tasks (checking its result), shuts the pool down.
pub fn child(peer: &str, case: &str, n: usize) {
    let (w, _) = CASES
        .into_iter()
        .find(|&(_, c)| c == case)
        .unwrap_or_else(|| panic!("unknown case {case}"));
    let p = contenders()
        .into_iter()
        .find(|p| p.name() == peer)
        .unwrap_or_else(|| panic!("unknown peer {peer}"));
    let mut session = p.session(1);
    session.run(w, &sizes(n));
}

/// One measured case.
#[derive(Debug, Clone)]
pub struct Row {
    /// `chain`, `external` or `fanout`.
    pub case: &'static str,
    /// Peer name.
    pub peer: String,
    /// The task counts N1, N2 this case ran at.
    pub counts: [usize; 2],
    /// Instructions of the whole child at N1 and N2 tasks, per run.
    pub totals: Vec<[u64; 2]>,
    /// (I(N2) - I(N1)) / (N2 - N1), per run.
    pub per_task: Vec<f64>,
}

impl Row {
    /// The mean of the runs' instructions per task.
    pub fn mean(&self) -> f64 {
        self.per_task.iter().sum::<f64>() / self.per_task.len() as f64
    }

    /// Run 2 against run 1, in percent of the mean (`None` after one run).
    pub fn spread_pct(&self) -> Option<f64> {
        let [a, b, ..] = self.per_task[..] else {
            return None;
        };
        Some((b - a) / self.mean() * 100.0)
    }
}

/// The whole measurement.
#[derive(Debug)]
pub struct Report {
    /// N1, N2.
    pub counts: [usize; 2],
    /// Every case, in table order.
    pub rows: Vec<Row>,
}

/// `valgrind --version`, or a message saying how to get it.
pub fn valgrind_version() -> Result<String, String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => Err(
            "valgrind not found: the instruction counts need valgrind's callgrind \
                  (e.g. `apt-get install valgrind`)"
                .into(),
        ),
    }
}

/// Runs one child under callgrind and returns its instruction total.
fn count(dir: &Path, job: usize, peer: &str, case: &str, n: usize) -> Result<u64, String> {
    let out_file = dir.join(format!("job{job}.out"));
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--fair-sched=yes")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .args(["--instructions-child", peer, case, &n.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(format!(
            "{peer} {case} n={n} failed ({}):\n{tail}",
            out.status
        ));
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("cannot read {}: {e}", out_file.display()))?;
    let _ = std::fs::remove_file(&out_file);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no totals line in {}", out_file.display()))
}

/// Runs `jobs` (peer, case, n) under callgrind, as many at a time as there are cores
/// (each child is one valgrind, which runs one thread at a time), and returns their totals in
/// order.
fn count_all(jobs: &[(String, &str, usize)]) -> Result<Vec<u64>, String> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("followup-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; jobs.len()]);
    let parallel = thread::available_parallelism().map_or(1, |n| n.get());
    thread::scope(|s| {
        for _ in 0..parallel.min(jobs.len()) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some((peer, case, n)) = jobs.get(k) else {
                    break;
                };
                let r = count(&dir, k, peer, case, *n);
                let failed = r.is_err();
                results.lock().unwrap()[k] = Some(r);
                if failed {
                    next.store(jobs.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .flatten()
        .collect::<Result<Vec<u64>, String>>()
        .and_then(|v| {
            if v.len() == jobs.len() {
                Ok(v)
            } else {
                Err("a callgrind run did not finish".into())
            }
        })
}

/// Measures every case of every peer `keep` accepts, twice (`quick`: once).
pub fn measure(quick: bool, keep: impl Fn(&str) -> bool) -> Result<Report, String> {
    let (counts, runs) = plan(quick);
    let mut cases: Vec<(&'static str, String)> = Vec::new();
    for (w, case) in CASES {
        for p in contenders() {
            if p.supports(w).is_ok() && keep(&p.name()) {
                cases.push((case, p.name()));
            }
        }
    }
    // Run 1 of every case, then run 2, so the two runs of a case are apart in time.
    let jobs: Vec<(String, &str, usize)> = (0..runs)
        .flat_map(|_| &cases)
        .flat_map(|(case, peer)| case_counts(case, counts).map(|n| (peer.clone(), *case, n)))
        .collect();
    let totals = count_all(&jobs)?;
    // [N1, N2] pairs, run-major then case.
    let pairs: Vec<[u64; 2]> = totals.chunks(2).map(|t| [t[0], t[1]]).collect();
    let rows = cases
        .iter()
        .enumerate()
        .map(|(k, (case, peer))| {
            let totals: Vec<[u64; 2]> = (0..runs).map(|run| pairs[run * cases.len() + k]).collect();
            let n = case_counts(case, counts);
            let per_task = |t: &[u64; 2]| (t[1] as f64 - t[0] as f64) / (n[1] - n[0]) as f64;
            Row {
                case,
                peer: peer.clone(),
                counts: n,
                per_task: totals.iter().map(per_task).collect(),
                totals,
            }
        })
        .collect();
    Ok(Report { counts, rows })
}

/// `row`'s mean against `peer`'s in the same case.
fn ratio(rows: &[Row], row: &Row, peer: &str) -> f64 {
    rows.iter()
        .find(|r| r.case == row.case && r.peer == peer)
        .map_or(f64::NAN, |r| row.mean() / r.mean())
}

/// Prints the table.
pub fn print(r: &Report) {
    println!();
    println!(
        "### Instructions per task (callgrind, 1 worker): (I(N2) - I(N1)) / (N2 - N1), N1 = {}, N2 = {} (fanout: {:?})",
        r.counts[0], r.counts[1], case_counts("fanout", r.counts)
    );
    println!("(mean of the runs; \"run 2\" is the second run against the first; --quick: one run)");
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.case.to_string(), row.peer.clone(), fmt_num(row.mean())];
            cells.extend(REFERENCES.map(|p| fmt_num(ratio(&r.rows, row, p))));
            cells.push(row.spread_pct().map_or("-".into(), |d| format!("{d:+.2}%")));
            cells
        })
        .collect();
    print!(
        "{}",
        render(
            &[
                "case",
                "peer",
                "instr/task",
                "x rayon-spawn",
                "x rayon-scope",
                "run 2"
            ],
            &rows
        )
    );
}

/// The report as JSON.
pub fn json(r: &Report) -> Json {
    let rows = r.rows.iter().map(|row| {
        Json::obj(vec![
            ("case", Json::str(row.case)),
            ("peer", Json::str(&row.peer)),
            ("n1", Json::Num(row.counts[0] as f64)),
            ("n2", Json::Num(row.counts[1] as f64)),
            ("per_task", Json::Num(row.mean())),
            (
                "per_task_runs",
                Json::Arr(row.per_task.iter().map(|&x| Json::Num(x)).collect()),
            ),
            (
                "totals_n1_n2",
                Json::Arr(
                    row.totals
                        .iter()
                        .map(|t| Json::Arr(t.iter().map(|&x| Json::Num(x as f64)).collect()))
                        .collect(),
                ),
            ),
            (
                "x_rayon_spawn",
                Json::Num(ratio(&r.rows, row, REFERENCES[0])),
            ),
            (
                "x_rayon_scope",
                Json::Num(ratio(&r.rows, row, REFERENCES[1])),
            ),
        ])
    });
    Json::obj(vec![
        ("n1", Json::Num(r.counts[0] as f64)),
        ("n2", Json::Num(r.counts[1] as f64)),
        ("rows", Json::Arr(rows.collect())),
    ])
}
