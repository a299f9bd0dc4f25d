//! The measuring machinery shared by every workload: the completion latch and result slot
//! (the harness's only per-task additions, the same for every peer), the rotation of peers
//! across repetitions, statistics, the result tables and a small JSON writer.

use crate::peers::Peer;
use crate::workloads::{Sizes, Workload};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// Pause between two timed runs, so the previous pool's threads are gone and the machine
/// settles.
pub const PAUSE: Duration = Duration::from_millis(20);

/// Moves `value` to the heap for the rest of the process: per-run shared state that tasks
/// reach through a `&'static` instead of cloning an `Arc` per task. Each run leaks a few
/// hundred bytes.
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A one-atomic completion latch: every task counts down once, and the task that reaches zero
/// unparks the thread that created the latch.
#[derive(Debug)]
pub struct Latch {
    remaining: AtomicUsize,
    waiter: Thread,
}

impl Latch {
    /// A latch for `n` count-downs, waited on by the current thread.
    pub fn new(n: usize) -> Latch {
        Latch {
            remaining: AtomicUsize::new(n),
            waiter: thread::current(),
        }
    }

    /// Counts one completion.
    #[inline]
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }

    /// Blocks the creating thread until the count reaches zero.
    pub fn wait(&self) {
        while self.remaining.load(Ordering::Acquire) != 0 {
            thread::park();
        }
    }
}

/// A Mutex + Condvar one-shot result slot: the per-task handle for peers without one.
#[derive(Debug)]
pub struct Slot<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            value: Mutex::new(None),
            ready: Condvar::new(),
        }
    }
}

impl<T> Slot<T> {
    /// Stores the value and wakes the reader.
    pub fn put(&self, v: T) {
        *self.value.lock().unwrap() = Some(v);
        self.ready.notify_one();
    }

    /// Waits for the value and takes it.
    pub fn take(&self) -> T {
        let mut g = self.value.lock().unwrap();
        loop {
            if let Some(v) = g.take() {
                return v;
            }
            g = self.ready.wait(g).unwrap();
        }
    }
}

/// What one timed run produced.
#[derive(Debug, Clone)]
pub enum Measured {
    /// Wall time of the whole timed region.
    Total(Duration),
    /// One latency per sample (W7, W7x).
    Latencies(Vec<Duration>),
}

/// Summary statistics of a set of values.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
}

impl Stats {
    /// Statistics of `values` (which must not be empty).
    pub fn of(values: &[f64]) -> Stats {
        assert!(!values.is_empty(), "no values to summarise");
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
        Stats {
            median,
            min: v[0],
            max: v[n - 1],
            p99: v[rank - 1],
        }
    }
}

/// One row of a workload's table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Peer name as printed.
    pub peer: String,
    /// True for the followup rows (excluded from "best peer").
    pub followup: bool,
    /// The statistics, in the workload's unit; `None` when the peer cannot express the workload.
    pub stats: Option<Stats>,
    /// Why the peer has no numbers here.
    pub na: Option<&'static str>,
    /// Ratio of the median to the best non-followup median.
    pub x_best: f64,
    /// Rank by median among all rows with numbers (1 = fastest).
    pub rank: usize,
}

/// Everything measured for one workload.
#[derive(Debug, Clone)]
pub struct Table {
    /// The workload.
    pub workload: Workload,
    /// Rows in peer-list order.
    pub rows: Vec<Row>,
    /// The calibrated floor for W6 (ms), if any.
    pub floor_ms: Option<f64>,
}

impl Table {
    /// The row of `peer`, if it has numbers.
    pub fn stats(&self, peer: &str) -> Option<Stats> {
        self.rows
            .iter()
            .find(|r| r.peer == peer)
            .and_then(|r| r.stats)
    }

    /// The best (lowest-median) non-followup row.
    pub fn best_peer(&self) -> Option<&Row> {
        self.rows
            .iter()
            .filter(|r| !r.followup && r.stats.is_some())
            .min_by(|a, b| a.stats.unwrap().median.total_cmp(&b.stats.unwrap().median))
    }
}

/// Runs `workload` for every peer: each repetition runs every peer once, in an order rotated by
/// one per repetition, with a pause before each run; the pool is built and warmed before and
/// dropped after the timed region. W7/W7x run once per peer (1,000 samples each).
pub fn measure(workload: Workload, peers: &[Box<dyn Peer>], sizes: &Sizes, reps: usize) -> Table {
    let active: Vec<usize> = (0..peers.len())
        .filter(|&i| peers[i].supports(workload).is_ok())
        .collect();
    let reps = if workload.is_latency() { 1 } else { reps };
    let workers = workload.workers(sizes);
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
    for rep in 0..reps {
        for k in 0..active.len() {
            let i = active[(k + rep) % active.len()];
            let mut session = peers[i].session(workers);
            thread::sleep(PAUSE);
            let measured = session.run(workload, sizes);
            drop(session);
            match measured {
                Measured::Total(d) => values[i].push(workload.scale(d, sizes)),
                Measured::Latencies(l) => {
                    values[i].extend(l.iter().map(|d| d.as_secs_f64() * 1e6));
                }
            }
        }
    }
    let mut rows: Vec<Row> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| Row {
            peer: p.name(),
            followup: p.is_followup(),
            stats: (!values[i].is_empty()).then(|| Stats::of(&values[i])),
            na: peers[i].supports(workload).err(),
            x_best: f64::NAN,
            rank: 0,
        })
        .collect();
    rank_rows(&mut rows);
    Table {
        workload,
        rows,
        floor_ms: None,
    }
}

/// Fills `x_best` (against the best non-followup median) and `rank` (among all rows).
pub fn rank_rows(rows: &mut [Row]) {
    let best = rows
        .iter()
        .filter(|r| !r.followup)
        .filter_map(|r| r.stats.map(|s| s.median))
        .fold(f64::INFINITY, f64::min);
    let mut medians: Vec<f64> = rows
        .iter()
        .filter_map(|r| r.stats.map(|s| s.median))
        .collect();
    medians.sort_by(f64::total_cmp);
    for r in rows.iter_mut() {
        if let Some(s) = r.stats {
            r.x_best = s.median / best;
            r.rank = medians.iter().position(|&m| m == s.median).unwrap_or(0) + 1;
        }
    }
}

/// Formats a number with three significant digits (at most two decimals), as the reference
/// tables do.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// True if a cell reads as a number (possibly with a unit suffix such as `%` or `x`).
fn numeric(cell: &str) -> bool {
    let t = cell.trim_end_matches(['%', 'x']);
    t == "-" || t.parse::<f64>().is_ok()
}

/// Renders rows of cells as an aligned plain-text table with a header rule: columns whose
/// cells are all numbers are right-aligned, the others left-aligned.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    let mut right = vec![true; cols];
    right[0] = false;
    for r in rows {
        // A short row (an "n/a (why)" note) lets its last cell overflow.
        let full = r.len() == cols;
        for (c, cell) in r.iter().enumerate().take(cols) {
            if full || c + 1 < r.len() {
                width[c] = width[c].max(cell.chars().count());
            }
            if full && !numeric(cell) {
                right[c] = false;
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate().take(cols) {
            let pad = " ".repeat(width[c].saturating_sub(cell.chars().count()));
            if c > 0 {
                s.push_str("  ");
            }
            if right[c] && (cells.len() == cols || c + 1 < cells.len()) {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let total: usize = width.iter().sum::<usize>() + 2 * (cols - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// Prints one workload's table: peer, median, min, max, ratio to the best non-followup peer,
/// rank; plus p99 for the latency workloads and efficiency for W6.
pub fn print_table(t: &Table, sizes: &Sizes) {
    let w = t.workload;
    println!();
    println!("### {} {} ({})", w.id(), w.title(), w.unit());
    println!("{}", w.describe(sizes));
    let latency = w.is_latency();
    let mut header = vec!["peer", "median"];
    if latency {
        header.push("p99");
    }
    header.extend(["min", "max"]);
    if w == Workload::W6 {
        header.extend(["eff.", "eff. vs floor"]);
    }
    header.extend(["x best peer", "rank"]);
    let mut rows = Vec::new();
    for r in &t.rows {
        let mut cells = vec![r.peer.clone()];
        match r.stats {
            Some(s) => {
                cells.push(fmt_num(s.median));
                if latency {
                    cells.push(fmt_num(s.p99));
                }
                cells.push(fmt_num(s.min));
                cells.push(fmt_num(s.max));
                if w == Workload::W6 {
                    let ideal = sizes.w6_ideal_ms();
                    cells.push(format!("{:.2}", ideal / s.median));
                    cells.push(match t.floor_ms {
                        Some(f) => format!("{:.2}", f / s.median),
                        None => "-".into(),
                    });
                }
                cells.push(if r.x_best.is_finite() && r.x_best > 0.0 {
                    format!("{:.2}", r.x_best)
                } else {
                    "-".into()
                });
                cells.push(r.rank.to_string());
            }
            None => {
                cells.push(format!("n/a ({})", r.na.unwrap_or("not run")));
            }
        }
        rows.push(cells);
    }
    print!("{}", render(&header, &rows));
    if let Some(best) = t.best_peer() {
        println!(
            "best peer (other than followup): {} at {} {}",
            best.peer,
            fmt_num(best.stats.unwrap().median),
            w.unit()
        );
    }
}

/// Measures the real length of `std::thread::sleep(1 ms)` on this machine: the median of
/// `samples` sleeps, in milliseconds.
pub fn calibrate_sleep(samples: usize) -> f64 {
    let mut v = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        thread::sleep(Duration::from_millis(1));
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Stats::of(&v).median
}

/// A minimal JSON value, enough for `--json`.
#[derive(Debug, Clone)]
pub enum Json {
    /// `null`
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (non-finite numbers are written as `null`).
    Num(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from key/value pairs.
    pub fn obj(pairs: Vec<(&str, Json)>) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// Serialises with two-space indentation.
    pub fn write(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent + 1);
        let end = "  ".repeat(indent);
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) if n.is_finite() => {
                let _ = write!(out, "{n}");
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => {
                out.push('"');
                for ch in s.chars() {
                    match ch {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(out, "\\u{:04x}", c as u32);
                        }
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Json::Arr(items) => {
                if items.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push_str("[\n");
                for (k, item) in items.iter().enumerate() {
                    out.push_str(&pad);
                    item.write(out, indent + 1);
                    out.push_str(if k + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push(']');
            }
            Json::Obj(pairs) => {
                if pairs.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push_str("{\n");
                for (k, (key, v)) in pairs.iter().enumerate() {
                    out.push_str(&pad);
                    Json::Str(key.clone()).write(out, indent + 1);
                    out.push_str(": ");
                    v.write(out, indent + 1);
                    out.push_str(if k + 1 < pairs.len() { ",\n" } else { "\n" });
                }
                out.push_str(&end);
                out.push('}');
            }
        }
    }
}

/// A table as JSON.
pub fn table_json(t: &Table) -> Json {
    let rows = t
        .rows
        .iter()
        .map(|r| {
            let mut pairs = vec![("peer", Json::str(&r.peer))];
            pairs.push(("followup", Json::Bool(r.followup)));
            match r.stats {
                Some(s) => {
                    pairs.push(("median", Json::Num(s.median)));
                    pairs.push(("min", Json::Num(s.min)));
                    pairs.push(("max", Json::Num(s.max)));
                    pairs.push(("p99", Json::Num(s.p99)));
                    pairs.push(("x_best_peer", Json::Num(r.x_best)));
                    pairs.push(("rank", Json::Num(r.rank as f64)));
                }
                None => pairs.push(("na", Json::str(r.na.unwrap_or("not run")))),
            }
            Json::obj(pairs)
        })
        .collect();
    Json::obj(vec![
        ("id", Json::str(t.workload.id())),
        ("title", Json::str(t.workload.title())),
        ("unit", Json::str(t.workload.unit())),
        ("floor_ms", t.floor_ms.map_or(Json::Null, Json::Num)),
        ("rows", Json::Arr(rows)),
    ])
}
