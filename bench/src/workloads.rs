//! The workloads of peer-benchmarks.md (W1-W7, W3c, W4x, W7x): their sizes, units and
//! descriptions, the result checks, and the generic implementations every [`Spawner`] peer
//! shares (peers with their own idioms implement the same workloads in their modules).

use crate::harness::{leak, Latch};
use crate::peers::Spawner;
use crossbeam_channel::unbounded;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// One workload of the peer benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Submit many empty tasks, then wait.
    W1,
    /// W1 with every worker held busy while main submits (not in [`Workload::ALL`]: the
    /// instruction counts' external case).
    W1g,
    /// Tasks return their index through a per-task handle, read in submission order.
    W2,
    /// Unordered map, one task per item, consumed while submitted.
    W3,
    /// W3 in 8 chunks.
    W3c,
    /// Follow-up chains issued from inside the finishing task.
    W4,
    /// Follow-up chains issued by a dispatcher (main) thread on a completion notice.
    W4x,
    /// Binary fan-out tree, children spawned from inside the parent.
    W5,
    /// Io-bound: sleeping tasks on 100 workers.
    W6,
    /// Follow-up latency, issued inside the finishing task, on an idle pool.
    W7,
    /// Follow-up latency through a dispatcher thread.
    W7x,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 10] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W3c,
        Workload::W4,
        Workload::W4x,
        Workload::W5,
        Workload::W6,
        Workload::W7,
        Workload::W7x,
    ];

    /// Short id, as in peer-benchmarks.md.
    pub fn id(self) -> &'static str {
        match self {
            Workload::W1 => "W1",
            Workload::W1g => "W1g",
            Workload::W2 => "W2",
            Workload::W3 => "W3",
            Workload::W3c => "W3c",
            Workload::W4 => "W4",
            Workload::W4x => "W4x",
            Workload::W5 => "W5",
            Workload::W6 => "W6",
            Workload::W7 => "W7",
            Workload::W7x => "W7x",
        }
    }

    /// Parses an id (case-insensitive).
    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.id().eq_ignore_ascii_case(s))
    }

    /// Title, as in peer-benchmarks.md.
    pub fn title(self) -> &'static str {
        match self {
            Workload::W1 => "spawn",
            Workload::W1g => "spawn, workers held",
            Workload::W2 => "results",
            Workload::W3 => "unordered map",
            Workload::W3c => "chunked map",
            Workload::W4 => "follow-up chains",
            Workload::W4x => "follow-up chains via a dispatcher thread",
            Workload::W5 => "fan-out tree",
            Workload::W6 => "io-bound",
            Workload::W7 => "follow-up latency",
            Workload::W7x => "follow-up latency via a dispatcher thread",
        }
    }

    /// Unit of the table's numbers.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::W3 | Workload::W3c => "ns/item",
            Workload::W6 => "wall ms",
            Workload::W7 | Workload::W7x => "µs",
            _ => "ns/task",
        }
    }

    /// True for the latency workloads (one run of many samples per peer).
    pub fn is_latency(self) -> bool {
        matches!(self, Workload::W7 | Workload::W7x)
    }

    /// Worker threads for this workload.
    pub fn workers(self, sizes: &Sizes) -> usize {
        if self == Workload::W6 {
            sizes.w6_workers
        } else {
            sizes.workers
        }
    }

    /// Tasks (or items) the timed region handles, to turn a wall time into a per-task cost.
    pub fn count(self, s: &Sizes) -> usize {
        match self {
            Workload::W1 | Workload::W1g => s.w1_tasks,
            Workload::W2 => s.w2_tasks,
            Workload::W3 | Workload::W3c => s.w3_items,
            Workload::W4 | Workload::W4x => s.w4_tasks(),
            Workload::W5 => s.w5_tasks(),
            Workload::W6 => s.w6_tasks,
            Workload::W7 | Workload::W7x => s.w7_samples,
        }
    }

    /// Converts a timed region's wall time to this workload's unit.
    pub fn scale(self, d: Duration, s: &Sizes) -> f64 {
        match self {
            Workload::W6 => d.as_secs_f64() * 1e3,
            Workload::W7 | Workload::W7x => d.as_secs_f64() * 1e6,
            _ => d.as_secs_f64() * 1e9 / self.count(s) as f64,
        }
    }

    /// One paragraph saying what is measured, with this run's sizes.
    pub fn describe(self, s: &Sizes) -> String {
        match self {
            Workload::W1 => format!(
                "Submit {} empty tasks (relaxed atomic increment) from main, then wait; {} workers.",
                s.w1_tasks, s.workers
            ),
            Workload::W1g => format!(
                "As W1 ({} tasks, {} workers), but a gate task holds every worker until main has submitted them all.",
                s.w1_tasks, s.workers
            ),
            Workload::W2 => format!(
                "{} tasks return their index through a per-task handle; handles read in submission order and summed.",
                s.w2_tasks
            ),
            Workload::W3 => format!(
                "x*x over {} items, one task per item; a feeder thread submits while main consumes in completion order (followup: imap_unordered, input pulled by the stream's feeder thread).",
                s.w3_items
            ),
            Workload::W3c => format!(
                "As W3 in {} chunks of {} items (one task per chunk; followup: map / imap_unordered with that chunksize).",
                s.w3c_chunks,
                s.w3c_chunk()
            ),
            Workload::W4 => format!(
                "{} roots, each finishing task issues its follow-up from inside the task, 1 + {} tasks per chain = {} tasks; wait for quiescence.",
                s.w4_roots, s.chain_len, s.w4_tasks()
            ),
            Workload::W4x => format!(
                "As W4, but each task sends a completion notice to main, which issues the follow-up ({} tasks).",
                s.w4_tasks()
            ),
            Workload::W5 => format!(
                "One root, each task spawns 2 children down to depth {} = {} tasks.",
                s.w5_depth,
                s.w5_tasks()
            ),
            Workload::W6 => format!(
                "{} tasks each sleeping {} ms on {} workers; wall ms. eff. = ideal {:.1} ms / median; eff. vs floor = calibrated floor {:.2} ms ({} x a measured {:.3} ms sleep) / median.",
                s.w6_tasks,
                s.w6_sleep.as_millis(),
                s.w6_workers,
                s.w6_ideal_ms(),
                s.w6_floor_ms(),
                s.w6_tasks.div_ceil(s.w6_workers),
                s.sleep_ms
            ),
            Workload::W7 => format!(
                "Follow-up issued inside the finishing task on an idle pool; {} samples {} ms apart; µs from the issuing call to the follow-up starting.",
                s.w7_samples,
                s.w7_gap.as_millis()
            ),
            Workload::W7x => format!(
                "The finishing task sends a notice to main, which issues the follow-up; {} samples {} ms apart; µs from the notice to the follow-up starting.",
                s.w7_samples,
                s.w7_gap.as_millis()
            ),
        }
    }
}

/// Sizes of every workload for one run (full or `--quick`).
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Workers for every workload except W6.
    pub workers: usize,
    /// W1 task count.
    pub w1_tasks: usize,
    /// W2 task count.
    pub w2_tasks: usize,
    /// W3/W3c item count.
    pub w3_items: usize,
    /// W3c chunk count.
    pub w3c_chunks: usize,
    /// W4/W4x chain count.
    pub w4_roots: usize,
    /// Follow-ups per chain (each chain is 1 + this many tasks).
    pub chain_len: u32,
    /// W5 tree depth (depth 0 is the root).
    pub w5_depth: u32,
    /// W6 task count.
    pub w6_tasks: usize,
    /// W6 worker count.
    pub w6_workers: usize,
    /// W6 sleep per task.
    pub w6_sleep: Duration,
    /// W7/W7x sample count.
    pub w7_samples: usize,
    /// Pause between W7 samples (the pool goes idle).
    pub w7_gap: Duration,
    /// Calibrated real length of a 1 ms sleep, in ms.
    pub sleep_ms: f64,
}

impl Sizes {
    /// The sizes of peer-benchmarks.md.
    pub fn full() -> Sizes {
        Sizes {
            workers: 2,
            w1_tasks: 1_000_000,
            w2_tasks: 200_000,
            w3_items: 1_000_000,
            w3c_chunks: 8,
            w4_roots: 10_000,
            chain_len: 10,
            w5_depth: 19,
            w6_tasks: 2_000,
            w6_workers: 100,
            w6_sleep: Duration::from_millis(1),
            w7_samples: 1_000,
            w7_gap: Duration::from_millis(1),
            sleep_ms: 1.0,
        }
    }

    /// Tiny sizes for CI (`--quick`): every code path, no meaningful numbers.
    pub fn quick() -> Sizes {
        Sizes {
            w1_tasks: 20_000,
            w2_tasks: 5_000,
            w3_items: 20_000,
            w4_roots: 500,
            w5_depth: 12,
            w6_tasks: 200,
            w7_samples: 50,
            ..Sizes::full()
        }
    }

    /// W3c items per chunk: ceil(items / chunks).
    pub fn w3c_chunk(&self) -> usize {
        self.w3_items.div_ceil(self.w3c_chunks).max(1)
    }

    /// W4 task count: roots x (1 + chain length).
    pub fn w4_tasks(&self) -> usize {
        self.w4_roots * (self.chain_len as usize + 1)
    }

    /// W5 task count: 2^(depth+1) - 1.
    pub fn w5_tasks(&self) -> usize {
        (1usize << (self.w5_depth + 1)) - 1
    }

    /// W6 ideal wall time: rounds of sleeps x the nominal sleep.
    pub fn w6_ideal_ms(&self) -> f64 {
        self.w6_tasks.div_ceil(self.w6_workers) as f64 * self.w6_sleep.as_secs_f64() * 1e3
    }

    /// W6 practical floor: rounds of sleeps x the calibrated length of a sleep.
    pub fn w6_floor_ms(&self) -> f64 {
        self.w6_tasks.div_ceil(self.w6_workers) as f64
            * self.sleep_ms
            * self.w6_sleep.as_secs_f64()
            * 1e3
    }
}

/// Panics unless `got == want`: every workload checks its result.
pub fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) {
    assert!(
        got == want,
        "wrong result in {what}: got {got:?}, want {want:?}"
    );
}

/// Sum of x*x for x in 0..n, modulo 2^64 (the workloads sum with wrapping `u64` adds, which
/// vectorise, so the check costs the consumer as little as possible).
pub fn sum_squares(n: u64) -> u64 {
    let n = n as u128;
    if n == 0 {
        return 0;
    }
    ((n - 1) * n * (2 * n - 1) / 6) as u64
}

/// Wrapping sum of `values`.
pub fn wsum(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::wrapping_add)
}

/// x*x for the items of chunk `c` (of `chunk` items) of 0..n.
pub fn chunk_squares(c: usize, chunk: usize, n: usize) -> Vec<u64> {
    let lo = (c * chunk) as u64;
    let hi = ((c + 1) * chunk).min(n) as u64;
    (lo..hi).map(|x| x * x).collect()
}

/// Per-run shared state: a completion counter checked afterwards and the latch main waits on.
#[derive(Debug)]
pub struct Ctx {
    /// Tasks that ran.
    pub done: AtomicU64,
    /// Counted down once per task.
    pub latch: Latch,
}

impl Ctx {
    /// Leaked state for a run of `n` tasks, waited on by the current thread.
    pub fn leaked(n: usize) -> &'static Ctx {
        leak(Ctx {
            done: AtomicU64::new(0),
            latch: Latch::new(n),
        })
    }

    /// The body every counted task runs: the relaxed increment, then the latch.
    #[inline]
    pub fn task(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.latch.count_down();
    }

    /// Waits for the latch, then checks the count.
    pub fn wait_and_check(&self, what: &str, n: usize) {
        self.latch.wait();
        check(what, self.done.load(Ordering::Relaxed), n as u64);
    }
}

/// Small tasks run by every warm-up.
pub const WARM_TASKS: usize = 2_000;

/// Warm-up, outside the timed region: one 2 ms sleeper per worker (so lazily started threads
/// all exist), then `tasks` small tasks.
pub fn warm<S: Spawner>(s: &S, workers: usize, tasks: usize) {
    let ctx = Ctx::leaked(workers);
    for _ in 0..workers {
        s.submit(move || {
            thread::sleep(Duration::from_millis(2));
            ctx.task();
        });
    }
    ctx.wait_and_check("warm-up sleepers", workers);
    let ctx = Ctx::leaked(tasks);
    for _ in 0..tasks {
        s.submit(move || ctx.task());
    }
    ctx.wait_and_check("warm-up tasks", tasks);
}

/// W1: submit `n` counted tasks from main, wait.
pub fn w1<S: Spawner>(s: &S, n: usize) -> Duration {
    let ctx = Ctx::leaked(n);
    let t = Instant::now();
    for _ in 0..n {
        s.submit(move || ctx.task());
    }
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W1", n);
    d
}

/// W1g: W1 with every worker held by a gate task while main submits, released after. No
/// worker runs out of work mid-submission, so the sleeps and wake-ups of W1 (how many depends
/// on how the threads happen to interleave) stay out: what is left is submission from outside
/// plus running, the same every time, which is what an instruction count needs.
pub fn w1g<S: Spawner>(s: &S, n: usize, workers: usize) -> Duration {
    let gate = leak(Barrier::new(workers + 1));
    for _ in 0..workers {
        s.submit(move || {
            gate.wait(); // held
            gate.wait(); // released
        });
    }
    gate.wait();
    let ctx = Ctx::leaked(n);
    let t = Instant::now();
    for _ in 0..n {
        s.submit(move || ctx.task());
    }
    gate.wait();
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W1g", n);
    d
}

/// W2 through the peer's own per-task handle.
pub fn w2<S: Spawner>(s: &S, n: usize) -> Duration {
    let t = Instant::now();
    let sum = s.results(n as u64);
    let d = t.elapsed();
    check("W2 sum", sum, (n as u64) * (n as u64).saturating_sub(1) / 2);
    d
}

/// W3: a feeder thread submits one task per item (x*x sent to main); main consumes.
pub fn w3<S: Spawner>(s: &S, n: usize) -> Duration {
    let (tx, rx) = unbounded::<u64>();
    let tx = leak(tx);
    let t = Instant::now();
    let sum = thread::scope(|sc| {
        sc.spawn(|| {
            for x in 0..n as u64 {
                s.submit(move || {
                    let _ = tx.send(x * x);
                });
            }
        });
        wsum((0..n).map(|_| rx.recv().expect("W3 channel")))
    });
    let d = t.elapsed();
    check("W3 sum", sum, sum_squares(n as u64));
    d
}

/// W3c: as W3 with one task per chunk, each sending its chunk's results.
pub fn w3c<S: Spawner>(s: &S, n: usize, chunks: usize) -> Duration {
    let chunk = n.div_ceil(chunks).max(1);
    let real_chunks = n.div_ceil(chunk);
    let (tx, rx) = unbounded::<Vec<u64>>();
    let tx = leak(tx);
    let t = Instant::now();
    let sum = thread::scope(|sc| {
        sc.spawn(|| {
            for c in 0..real_chunks {
                s.submit(move || {
                    let _ = tx.send(chunk_squares(c, chunk, n));
                });
            }
        });
        wsum((0..real_chunks).map(|_| wsum(rx.recv().expect("W3c channel"))))
    });
    let d = t.elapsed();
    check("W3c sum", sum, sum_squares(n as u64));
    d
}

fn chain_step<S: Spawner>(c: S::Carry, ctx: &'static Ctx, depth: u32, len: u32) {
    ctx.done.fetch_add(1, Ordering::Relaxed);
    if depth < len {
        let next = S::recarry(&c);
        S::follow_up(&c, move || chain_step::<S>(next, ctx, depth + 1, len));
    }
    ctx.latch.count_down();
}

/// W4: `roots` chains of 1 + `len` tasks, each follow-up issued inside the finishing task.
pub fn w4<S: Spawner>(s: &S, roots: usize, len: u32) -> Duration {
    let total = roots * (len as usize + 1);
    let ctx = Ctx::leaked(total);
    let t = Instant::now();
    for _ in 0..roots {
        let c = s.carry();
        s.submit(move || chain_step::<S>(c, ctx, 0, len));
    }
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W4", total);
    d
}

/// W4x: as W4, but each task notifies main, which issues the follow-up.
pub fn w4x<S: Spawner>(s: &S, roots: usize, len: u32) -> Duration {
    let total = roots * (len as usize + 1);
    let ctx = Ctx::leaked(total);
    let (tx, rx) = unbounded::<u32>();
    let tx = leak(tx);
    let t = Instant::now();
    for _ in 0..roots {
        s.submit(move || {
            ctx.task();
            let _ = tx.send(0);
        });
    }
    for _ in 0..total {
        let depth = rx.recv().expect("W4x notices");
        if depth < len {
            s.submit(move || {
                ctx.task();
                let _ = tx.send(depth + 1);
            });
        }
    }
    let d = t.elapsed();
    ctx.wait_and_check("W4x", total);
    d
}

fn tree_node<S: Spawner>(c: S::Carry, ctx: &'static Ctx, depth: u32, max: u32) {
    ctx.done.fetch_add(1, Ordering::Relaxed);
    if depth < max {
        for _ in 0..2 {
            let child = S::recarry(&c);
            S::follow_up(&c, move || tree_node::<S>(child, ctx, depth + 1, max));
        }
    }
    ctx.latch.count_down();
}

/// W5: a binary tree of tasks down to depth `max`, children issued from inside the parent.
pub fn w5<S: Spawner>(s: &S, max: u32) -> Duration {
    let total = (1usize << (max + 1)) - 1;
    let ctx = Ctx::leaked(total);
    let t = Instant::now();
    let c = s.carry();
    s.submit(move || tree_node::<S>(c, ctx, 0, max));
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W5", total);
    d
}

/// W6: `n` tasks each sleeping `sleep`.
pub fn w6<S: Spawner>(s: &S, n: usize, sleep: Duration) -> Duration {
    let ctx = Ctx::leaked(n);
    let t = Instant::now();
    for _ in 0..n {
        s.submit(move || {
            thread::sleep(sleep);
            ctx.task();
        });
    }
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W6", n);
    d
}

/// W7: per sample, a task issues a follow-up from inside itself; the follow-up reports the
/// time since the issuing call. Samples `gap` apart, so the pool is idle each time.
pub fn w7<S: Spawner>(s: &S, samples: usize, gap: Duration) -> Vec<Duration> {
    let (tx, rx) = unbounded::<Duration>();
    let tx = leak(tx);
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let c = s.carry();
        s.submit(move || {
            let t0 = Instant::now();
            S::follow_up(&c, move || {
                let _ = tx.send(t0.elapsed());
            });
        });
        out.push(rx.recv().expect("W7 sample"));
        thread::sleep(gap);
    }
    check("W7 samples", out.len(), samples);
    out
}

/// W7x: per sample, a task notifies main, which issues the follow-up; the follow-up reports
/// the time since the notice.
pub fn w7x<S: Spawner>(s: &S, samples: usize, gap: Duration) -> Vec<Duration> {
    let (ntx, nrx) = unbounded::<Instant>();
    let (rtx, rrx) = unbounded::<Duration>();
    let (ntx, rtx) = (leak(ntx), leak(rtx));
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        s.submit(move || {
            let _ = ntx.send(Instant::now());
        });
        let t0 = nrx.recv().expect("W7x notice");
        s.submit(move || {
            let _ = rtx.send(t0.elapsed());
        });
        out.push(rrx.recv().expect("W7x sample"));
        thread::sleep(gap);
    }
    check("W7x samples", out.len(), samples);
    out
}
