//! followup with its natural idioms, each a row of its own:
//!
//! - `followup-spawn`: `ThreadPool::spawn` from main; the follow-up is `pool.spawn` from the
//!   worker (the task reaches the pool through a leaked `&'static ThreadPool`, so no `Arc`
//!   clone per task, the same rule as the harness's other shared state).
//! - `followup-apply_async`: the same with `apply_async` (handle dropped, or `get` in W2).
//! - `followup-spawn(free fn)`: as `followup-spawn`, but the follow-up is the free function
//!   `followup::spawn`, which finds the pool from the worker thread (like `rayon::spawn`), so
//!   the task carries nothing. Only in the instruction counts (`--instructions`, W4).
//! - `followup-callback`: `apply_async_with` + `Callbacks::on_success`, the callback (on the
//!   worker) issuing the next task (W4, W7).
//! - `followup-continuation`: `AsyncResult::map` continuations declared up front (W4, W7).
//! - `followup-imap_unordered` with its default chunking and with chunksize 1 (W3), with its
//!   default chunking over the same items from an input of unknown length (`filter`, W3), and
//!   with chunksize ceil(n/8) (W3c); `followup-imap(cs=n/8)` (ordered, W3c); `followup-map`
//!   (`ThreadPool::map`, default chunksize ceil(n / (4 x workers)) = ceil(n/8) with 2
//!   workers) for W3c.
//!
//! A session's pool is shut down with `close()` + `join()`, which waits for its workers.

use super::{Peer, Session, SpawnSession, Spawner};
use crate::harness::{leak, Measured};
use crate::workloads::{self, check, sum_squares, wsum, Ctx, Sizes, Workload};
use crossbeam_channel::unbounded;
use followup::{Callbacks, ImapOptions, MapOptions, ThreadPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

fn build_pool(workers: usize) -> (ThreadPool, &'static ThreadPool) {
    let pool = ThreadPool::with_workers(workers).expect("followup pool");
    let me = leak(pool.clone());
    (pool, me)
}

fn close_and_join(pool: &ThreadPool) {
    pool.close();
    pool.join().expect("followup join");
}

/// `ThreadPool::spawn`, follow-ups by `pool.spawn` from the worker.
pub struct FollowupSpawn {
    pool: ThreadPool,
    me: &'static ThreadPool,
}

impl FollowupSpawn {
    /// The pool (for the idioms built on this spawner).
    pub fn pool(&self) -> &'static ThreadPool {
        self.me
    }
}

impl Spawner for FollowupSpawn {
    const NAME: &'static str = "followup-spawn";
    const FOLLOWUP: bool = true;
    type Carry = &'static ThreadPool;

    fn build(workers: usize) -> Self {
        let (pool, me) = build_pool(workers);
        FollowupSpawn { pool, me }
    }

    fn carry(&self) -> Self::Carry {
        self.me
    }

    fn recarry(c: &Self::Carry) -> Self::Carry {
        c
    }

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.spawn(f).expect("followup spawn");
    }

    fn follow_up<F: FnOnce() + Send + 'static>(c: &Self::Carry, f: F) {
        c.spawn(f).expect("followup spawn");
    }

    fn results(&self, _: u64) -> u64 {
        unreachable!("spawn has no handle")
    }

    fn supports(w: Workload) -> Result<(), &'static str> {
        match w {
            Workload::W2 => Err("spawn returns no handle"),
            _ => Ok(()),
        }
    }

    fn shutdown(self) {
        close_and_join(&self.pool);
    }
}

/// `ThreadPool::spawn` from main, follow-ups by the free `followup::spawn` on the worker.
pub struct FollowupSpawnFn {
    pool: ThreadPool,
}

impl Spawner for FollowupSpawnFn {
    const NAME: &'static str = "followup-spawn(free fn)";
    const FOLLOWUP: bool = true;
    const IDLES: bool = false;
    type Carry = ();

    fn build(workers: usize) -> Self {
        FollowupSpawnFn {
            pool: ThreadPool::with_workers(workers).expect("followup pool"),
        }
    }

    fn carry(&self) -> Self::Carry {}

    fn recarry(_: &Self::Carry) -> Self::Carry {}

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.spawn(f).expect("followup spawn");
    }

    fn follow_up<F: FnOnce() + Send + 'static>(_: &Self::Carry, f: F) {
        followup::spawn(f).expect("followup::spawn");
    }

    fn results(&self, _: u64) -> u64 {
        unreachable!("spawn has no handle")
    }

    fn supports(w: Workload) -> Result<(), &'static str> {
        match w {
            Workload::W4 => Ok(()),
            _ => Err("W1 is followup-spawn's; only the follow-up differs"),
        }
    }

    fn shutdown(self) {
        close_and_join(&self.pool);
    }
}

/// `ThreadPool::apply_async` (handle dropped), follow-ups by `apply_async` from the worker;
/// W2 reads each handle with `get`.
pub struct FollowupApply {
    pool: ThreadPool,
    me: &'static ThreadPool,
}

impl Spawner for FollowupApply {
    const NAME: &'static str = "followup-apply_async";
    const FOLLOWUP: bool = true;
    const IDLES: bool = false;
    type Carry = &'static ThreadPool;

    fn build(workers: usize) -> Self {
        let (pool, me) = build_pool(workers);
        FollowupApply { pool, me }
    }

    fn carry(&self) -> Self::Carry {
        self.me
    }

    fn recarry(c: &Self::Carry) -> Self::Carry {
        c
    }

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        drop(self.pool.apply_async(f).expect("followup apply_async"));
    }

    fn follow_up<F: FnOnce() + Send + 'static>(c: &Self::Carry, f: F) {
        drop(c.apply_async(f).expect("followup apply_async"));
    }

    fn results(&self, n: u64) -> u64 {
        let handles: Vec<_> = (0..n)
            .map(|i| self.pool.apply_async(move || i).expect("apply_async"))
            .collect();
        handles
            .into_iter()
            .map(|h| h.get().expect("followup result"))
            .sum()
    }

    fn supports(w: Workload) -> Result<(), &'static str> {
        match w {
            Workload::W1 | Workload::W1g | Workload::W2 | Workload::W4 => Ok(()),
            _ => Err("covered by followup-spawn"),
        }
    }

    fn shutdown(self) {
        close_and_join(&self.pool);
    }
}

/// followup's idioms that are not plain submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idiom {
    /// `apply_async_with` + `Callbacks::on_success` issuing the next task.
    Callback,
    /// `AsyncResult::map` continuations.
    Continuation,
    /// `imap_unordered` with its default chunking.
    ImapDefault,
    /// `imap_unordered_with` chunksize 1.
    ImapOne,
    /// `imap_unordered` with its default chunking over an input of unknown length.
    ImapUnknownLen,
    /// `imap_with` (ordered) chunksize ceil(n/8).
    ImapOrderedChunked,
    /// `imap_unordered_with` chunksize ceil(n/8).
    ImapChunked,
    /// `ThreadPool::map` with its default chunksize.
    Map,
}

impl Idiom {
    fn name(self) -> &'static str {
        match self {
            Idiom::Callback => "followup-callback",
            Idiom::Continuation => "followup-continuation",
            Idiom::ImapDefault => "followup-imap_unordered",
            Idiom::ImapOne => "followup-imap_unordered(cs=1)",
            Idiom::ImapUnknownLen => "followup-imap_unordered(unknown len)",
            Idiom::ImapOrderedChunked => "followup-imap(cs=n/8)",
            Idiom::ImapChunked => "followup-imap_unordered(cs=n/8)",
            Idiom::Map => "followup-map",
        }
    }

    fn supports(self, w: Workload) -> bool {
        matches!(
            (self, w),
            (
                Idiom::Callback | Idiom::Continuation,
                Workload::W4 | Workload::W7
            ) | (
                Idiom::ImapDefault | Idiom::ImapOne | Idiom::ImapUnknownLen,
                Workload::W3
            ) | (
                Idiom::ImapChunked | Idiom::ImapOrderedChunked | Idiom::Map,
                Workload::W3c
            )
        )
    }
}

/// The [`Peer`] of one [`Idiom`].
#[derive(Debug)]
pub struct IdiomPeer(pub Idiom);

impl Peer for IdiomPeer {
    fn name(&self) -> String {
        self.0.name().into()
    }

    fn is_followup(&self) -> bool {
        true
    }

    fn supports(&self, w: Workload) -> Result<(), &'static str> {
        if self.0.supports(w) {
            Ok(())
        } else {
            Err("not this idiom's workload")
        }
    }

    fn session(&self, workers: usize) -> Box<dyn Session> {
        Box::new(IdiomSession {
            idiom: self.0,
            inner: SpawnSession::start(workers, workloads::WARM_TASKS),
        })
    }
}

/// A warmed followup pool running one idiom.
pub struct IdiomSession {
    idiom: Idiom,
    inner: SpawnSession<FollowupSpawn>,
}

impl IdiomSession {
    fn pool(&self) -> &'static ThreadPool {
        self.inner.spawner().pool()
    }
}

impl Session for IdiomSession {
    fn run(&mut self, w: Workload, z: &Sizes) -> Measured {
        let pool = self.pool();
        match (self.idiom, w) {
            (Idiom::Callback, Workload::W4) => {
                Measured::Total(w4_callback(pool, z.w4_roots, z.chain_len))
            }
            (Idiom::Continuation, Workload::W4) => {
                Measured::Total(w4_continuation(pool, z.w4_roots, z.chain_len))
            }
            (Idiom::Callback, Workload::W7) => {
                Measured::Latencies(w7_callback(pool, z.w7_samples, z.w7_gap))
            }
            (Idiom::Continuation, Workload::W7) => {
                Measured::Latencies(w7_continuation(pool, z.w7_samples, z.w7_gap))
            }
            (Idiom::ImapDefault, Workload::W3) => {
                Measured::Total(imap_unordered(pool, z.w3_items, None))
            }
            (Idiom::ImapOne, Workload::W3) => {
                Measured::Total(imap_unordered(pool, z.w3_items, Some(1)))
            }
            (Idiom::ImapUnknownLen, Workload::W3) => {
                Measured::Total(imap_unordered_unknown_len(pool, z.w3_items))
            }
            (Idiom::ImapOrderedChunked, Workload::W3c) => {
                Measured::Total(imap_ordered(pool, z.w3_items, z.w3c_chunk()))
            }
            (Idiom::ImapChunked, Workload::W3c) => {
                Measured::Total(imap_unordered(pool, z.w3_items, Some(z.w3c_chunk())))
            }
            (Idiom::Map, Workload::W3c) => Measured::Total(map(pool, z.w3_items, None)),
            (idiom, w) => unreachable!("{idiom:?} does not run {w:?}"),
        }
    }
}

/// The rows this module contributes, in table order.
pub fn peers() -> Vec<Box<dyn Peer>> {
    vec![
        super::SpawnPeer::<FollowupSpawn>::boxed(),
        super::SpawnPeer::<FollowupApply>::boxed(),
        Box::new(IdiomPeer(Idiom::Callback)),
        Box::new(IdiomPeer(Idiom::Continuation)),
        Box::new(IdiomPeer(Idiom::ImapDefault)),
        Box::new(IdiomPeer(Idiom::ImapOne)),
        Box::new(IdiomPeer(Idiom::ImapUnknownLen)),
        Box::new(IdiomPeer(Idiom::ImapChunked)),
        Box::new(IdiomPeer(Idiom::ImapOrderedChunked)),
        Box::new(IdiomPeer(Idiom::Map)),
    ]
}

fn callback_chain(pool: &'static ThreadPool, ctx: &'static Ctx, depth: u32, len: u32) {
    let callbacks = Callbacks::new().on_success(move |_: &()| {
        if depth < len {
            callback_chain(pool, ctx, depth + 1, len);
        }
    });
    drop(
        pool.apply_async_with(move || ctx.task(), callbacks)
            .expect("apply_async_with"),
    );
}

/// W4 with callbacks: each task's success callback (run on the worker) issues the next.
pub fn w4_callback(pool: &'static ThreadPool, roots: usize, len: u32) -> Duration {
    let total = roots * (len as usize + 1);
    let ctx = Ctx::leaked(total);
    let t = Instant::now();
    for _ in 0..roots {
        callback_chain(pool, ctx, 0, len);
    }
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W4 callback", total);
    d
}

/// W4 with continuations: each chain is `apply_async(task).map(task)...` declared by main.
pub fn w4_continuation(pool: &'static ThreadPool, roots: usize, len: u32) -> Duration {
    let total = roots * (len as usize + 1);
    let ctx = Ctx::leaked(total);
    let body = move || ctx.task();
    let t = Instant::now();
    for _ in 0..roots {
        let mut h = pool.apply_async(body).expect("apply_async");
        for _ in 0..len {
            h = h.map(move |()| body());
        }
        drop(h);
    }
    ctx.latch.wait();
    let d = t.elapsed();
    ctx.wait_and_check("W4 continuation", total);
    d
}

/// W7 with a callback: the task returns its finishing instant; its success callback issues
/// the follow-up, which reports the time since.
pub fn w7_callback(pool: &'static ThreadPool, samples: usize, gap: Duration) -> Vec<Duration> {
    let (tx, rx) = unbounded::<Duration>();
    let tx = leak(tx);
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let callbacks = Callbacks::new().on_success(move |t0: &Instant| {
            let t0 = *t0;
            pool.spawn(move || {
                let _ = tx.send(t0.elapsed());
            })
            .expect("spawn");
        });
        drop(
            pool.apply_async_with(Instant::now, callbacks)
                .expect("apply_async_with"),
        );
        out.push(rx.recv().expect("W7 sample"));
        thread::sleep(gap);
    }
    out
}

/// W7 with a continuation registered before the parent finishes (the parent waits for the
/// registration); the parent returns its finishing instant, the continuation reports the time
/// since.
pub fn w7_continuation(pool: &'static ThreadPool, samples: usize, gap: Duration) -> Vec<Duration> {
    let (tx, rx) = unbounded::<Duration>();
    let tx = leak(tx);
    let registered = leak(AtomicBool::new(false));
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        registered.store(false, Ordering::Release);
        let parent = pool
            .apply_async(move || {
                while !registered.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                Instant::now()
            })
            .expect("apply_async");
        let child = parent.map(move |t0| {
            let _ = tx.send(t0.elapsed());
        });
        registered.store(true, Ordering::Release);
        drop(child);
        out.push(rx.recv().expect("W7 sample"));
        thread::sleep(gap);
    }
    out
}

/// W3/W3c with `imap_unordered` (default chunking when `chunksize` is `None`); main consumes.
pub fn imap_unordered(pool: &ThreadPool, n: usize, chunksize: Option<usize>) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    let f = |x: u64| x * x;
    match chunksize {
        None => {
            for r in pool.imap_unordered(f, 0..n as u64).expect("imap_unordered") {
                sum = sum.wrapping_add(r.expect("item"));
            }
        }
        Some(c) => {
            let opts = ImapOptions::new().chunksize(c);
            for r in pool
                .imap_unordered_with(f, 0..n as u64, opts)
                .expect("imap_unordered_with")
            {
                sum = sum.wrapping_add(r.expect("item"));
            }
        }
    }
    let d = t.elapsed();
    check("imap_unordered sum", sum, sum_squares(n as u64));
    d
}

/// W3 with `imap_unordered`'s default chunking over an input whose length is not known
/// (`filter` keeps every item, but its `size_hint` has no exact length).
pub fn imap_unordered_unknown_len(pool: &ThreadPool, n: usize) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    let input = (0..n as u64).filter(|_| true);
    for r in pool
        .imap_unordered(|x: u64| x * x, input)
        .expect("imap_unordered")
    {
        sum = sum.wrapping_add(r.expect("item"));
    }
    let d = t.elapsed();
    check(
        "imap_unordered (unknown len) sum",
        sum,
        sum_squares(n as u64),
    );
    d
}

/// W3c with the ordered `imap` and an explicit chunksize.
pub fn imap_ordered(pool: &ThreadPool, n: usize, chunksize: usize) -> Duration {
    let t = Instant::now();
    let mut sum = 0u64;
    let opts = ImapOptions::new().chunksize(chunksize);
    for r in pool
        .imap_with(|x: u64| x * x, 0..n as u64, opts)
        .expect("imap")
    {
        sum = sum.wrapping_add(r.expect("item"));
    }
    let d = t.elapsed();
    check("imap sum", sum, sum_squares(n as u64));
    d
}

/// W3c (and Python's W1 `map`) with `ThreadPool::map` (default chunksize when `None`).
pub fn map(pool: &ThreadPool, n: usize, chunksize: Option<usize>) -> Duration {
    let t = Instant::now();
    let f = |x: u64| x * x;
    let out = match chunksize {
        None => pool.map(f, 0..n as u64),
        Some(c) => pool.map_with(f, 0..n as u64, MapOptions::new().chunksize(c)),
    }
    .expect("map");
    let sum = wsum(out);
    let d = t.elapsed();
    check("map sum", sum, sum_squares(n as u64));
    d
}
