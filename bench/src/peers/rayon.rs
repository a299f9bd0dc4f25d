//! rayon (1.12 / rayon-core 1.13) two ways.
//!
//! `rayon-spawn`: `ThreadPool::spawn` from main (the global injector); a follow-up is
//! `rayon::spawn` on the worker (its local deque); the W2 handle is the harness [`Slot`].
//!
//! `rayon-scope`: rayon's own idiom. `ThreadPool::scope` + `Scope::spawn` (the submitting
//! closure runs on a worker; the scope is the wait) for W1/W4/W5/W6;
//! `par_iter().for_each_with(sender)` for W3/W3c; `in_place_scope` driven from main for
//! W4x/W7/W7x. `Scope::spawn` returns no handle, so W2 is n/a. W1g is W1: the scope's closure
//! holds the worker it runs on while it spawns.

use super::{Peer, Session, Spawner};
use crate::harness::{leak, Measured, Slot};
use crate::workloads::{self, check, chunk_squares, sum_squares, wsum, Ctx, Sizes, Workload};
use crossbeam_channel::unbounded;
use rayon::prelude::*;
use rayon::{Scope, ThreadPool, ThreadPoolBuilder};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn build_pool(workers: usize) -> ThreadPool {
    ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon pool")
}

/// `ThreadPool::spawn` / `rayon::spawn`.
pub struct RayonSpawn {
    pool: ThreadPool,
}

impl Spawner for RayonSpawn {
    const NAME: &'static str = "rayon-spawn";
    type Carry = ();

    fn build(workers: usize) -> Self {
        RayonSpawn {
            pool: build_pool(workers),
        }
    }

    fn carry(&self) -> Self::Carry {}

    fn recarry(_: &Self::Carry) -> Self::Carry {}

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.spawn(f);
    }

    fn follow_up<F: FnOnce() + Send + 'static>(_: &Self::Carry, f: F) {
        rayon::spawn(f);
    }

    fn results(&self, n: u64) -> u64 {
        let slots: Vec<Arc<Slot<u64>>> = (0..n)
            .map(|i| {
                let slot = Arc::new(Slot::default());
                let s = Arc::clone(&slot);
                self.pool.spawn(move || s.put(i));
                slot
            })
            .collect();
        slots.iter().map(|s| s.take()).sum()
    }

    fn shutdown(self) {
        drop(self.pool);
    }
}

/// rayon's scope and parallel-iterator idioms.
#[derive(Debug)]
pub struct RayonScope;

impl Peer for RayonScope {
    fn name(&self) -> String {
        "rayon-scope".into()
    }

    fn supports(&self, w: Workload) -> Result<(), &'static str> {
        match w {
            Workload::W2 => Err("Scope::spawn returns no per-task handle"),
            _ => Ok(()),
        }
    }

    fn session(&self, workers: usize) -> Box<dyn Session> {
        let pool = build_pool(workers);
        pool.scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| thread::sleep(Duration::from_millis(2)));
            }
        });
        let ctx = Ctx::leaked(0);
        pool.scope(|s| {
            for _ in 0..workloads::WARM_TASKS {
                s.spawn(move |_| {
                    ctx.done.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        check(
            "rayon-scope warm-up",
            ctx.done.load(Ordering::Relaxed),
            workloads::WARM_TASKS as u64,
        );
        Box::new(ScopeSession { pool })
    }
}

struct ScopeSession {
    pool: ThreadPool,
}

fn scope_chain<'s>(s: &Scope<'s>, ctx: &'static Ctx, depth: u32, len: u32) {
    ctx.done.fetch_add(1, Ordering::Relaxed);
    if depth < len {
        s.spawn(move |s| scope_chain(s, ctx, depth + 1, len));
    }
}

fn scope_node<'s>(s: &Scope<'s>, ctx: &'static Ctx, depth: u32, max: u32) {
    ctx.done.fetch_add(1, Ordering::Relaxed);
    if depth < max {
        s.spawn(move |s| scope_node(s, ctx, depth + 1, max));
        s.spawn(move |s| scope_node(s, ctx, depth + 1, max));
    }
}

fn done(ctx: &Ctx) -> u64 {
    ctx.done.load(Ordering::Relaxed)
}

impl ScopeSession {
    fn w1(&self, n: usize) -> Duration {
        let ctx = Ctx::leaked(0);
        let t = Instant::now();
        self.pool.scope(|s| {
            for _ in 0..n {
                s.spawn(move |_| {
                    ctx.done.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        let d = t.elapsed();
        check("W1", done(ctx), n as u64);
        d
    }

    fn w3(&self, n: usize) -> Duration {
        let (tx, rx) = unbounded::<u64>();
        let tx = leak(tx);
        let t = Instant::now();
        let sum = thread::scope(|sc| {
            sc.spawn(|| {
                self.pool.install(|| {
                    (0..n as u64).into_par_iter().for_each_with(tx, |tx, x| {
                        let _ = tx.send(x * x);
                    })
                })
            });
            wsum((0..n).map(|_| rx.recv().expect("W3 channel")))
        });
        let d = t.elapsed();
        check("W3 sum", sum, sum_squares(n as u64));
        d
    }

    fn w3c(&self, n: usize, chunks: usize) -> Duration {
        let chunk = n.div_ceil(chunks).max(1);
        let real = n.div_ceil(chunk);
        let (tx, rx) = unbounded::<Vec<u64>>();
        let tx = leak(tx);
        let t = Instant::now();
        let sum = thread::scope(|sc| {
            sc.spawn(|| {
                self.pool.install(|| {
                    (0..real).into_par_iter().for_each_with(tx, |tx, c| {
                        let _ = tx.send(chunk_squares(c, chunk, n));
                    })
                })
            });
            wsum((0..real).map(|_| wsum(rx.recv().expect("W3c channel"))))
        });
        let d = t.elapsed();
        check("W3c sum", sum, sum_squares(n as u64));
        d
    }

    fn w4(&self, roots: usize, len: u32) -> Duration {
        let total = roots * (len as usize + 1);
        let ctx = Ctx::leaked(0);
        let t = Instant::now();
        self.pool.scope(|s| {
            for _ in 0..roots {
                s.spawn(move |s| scope_chain(s, ctx, 0, len));
            }
        });
        let d = t.elapsed();
        check("W4", done(ctx), total as u64);
        d
    }

    fn w4x(&self, roots: usize, len: u32) -> Duration {
        let total = roots * (len as usize + 1);
        let ctx = Ctx::leaked(0);
        let (tx, rx) = unbounded::<u32>();
        let tx = leak(tx);
        let t = Instant::now();
        self.pool.in_place_scope(|s| {
            for _ in 0..roots {
                s.spawn(move |_| {
                    ctx.done.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(0);
                });
            }
            for _ in 0..total {
                let depth = rx.recv().expect("W4x notices");
                if depth < len {
                    s.spawn(move |_| {
                        ctx.done.fetch_add(1, Ordering::Relaxed);
                        let _ = tx.send(depth + 1);
                    });
                }
            }
        });
        let d = t.elapsed();
        check("W4x", done(ctx), total as u64);
        d
    }

    fn w5(&self, max: u32) -> Duration {
        let total = (1usize << (max + 1)) - 1;
        let ctx = Ctx::leaked(0);
        let t = Instant::now();
        self.pool
            .scope(|s| s.spawn(move |s| scope_node(s, ctx, 0, max)));
        let d = t.elapsed();
        check("W5", done(ctx), total as u64);
        d
    }

    fn w6(&self, n: usize, sleep: Duration) -> Duration {
        let ctx = Ctx::leaked(0);
        let t = Instant::now();
        self.pool.scope(|s| {
            for _ in 0..n {
                s.spawn(move |_| {
                    thread::sleep(sleep);
                    ctx.done.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        let d = t.elapsed();
        check("W6", done(ctx), n as u64);
        d
    }

    fn w7(&self, samples: usize, gap: Duration) -> Vec<Duration> {
        let (tx, rx) = unbounded::<Duration>();
        let tx = leak(tx);
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            self.pool.in_place_scope(|s| {
                s.spawn(move |s| {
                    let t0 = Instant::now();
                    s.spawn(move |_| {
                        let _ = tx.send(t0.elapsed());
                    });
                });
            });
            out.push(rx.recv().expect("W7 sample"));
            thread::sleep(gap);
        }
        out
    }

    fn w7x(&self, samples: usize, gap: Duration) -> Vec<Duration> {
        let (ntx, nrx) = unbounded::<Instant>();
        let (rtx, rrx) = unbounded::<Duration>();
        let (ntx, rtx) = (leak(ntx), leak(rtx));
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            self.pool.in_place_scope(|s| {
                s.spawn(move |_| {
                    let _ = ntx.send(Instant::now());
                });
                let t0 = nrx.recv().expect("W7x notice");
                s.spawn(move |_| {
                    let _ = rtx.send(t0.elapsed());
                });
            });
            out.push(rrx.recv().expect("W7x sample"));
            thread::sleep(gap);
        }
        out
    }
}

impl Session for ScopeSession {
    fn run(&mut self, w: Workload, z: &Sizes) -> Measured {
        match w {
            // The scope's closure already runs on a worker, which it holds while it spawns.
            Workload::W1 | Workload::W1g => Measured::Total(self.w1(z.w1_tasks)),
            Workload::W2 => unreachable!("rayon-scope has no W2"),
            Workload::W3 => Measured::Total(self.w3(z.w3_items)),
            Workload::W3c => Measured::Total(self.w3c(z.w3_items, z.w3c_chunks)),
            Workload::W4 => Measured::Total(self.w4(z.w4_roots, z.chain_len)),
            Workload::W4x => Measured::Total(self.w4x(z.w4_roots, z.chain_len)),
            Workload::W5 => Measured::Total(self.w5(z.w5_depth)),
            Workload::W6 => Measured::Total(self.w6(z.w6_tasks, z.w6_sleep)),
            Workload::W7 => Measured::Latencies(self.w7(z.w7_samples, z.w7_gap)),
            Workload::W7x => Measured::Latencies(self.w7x(z.w7_samples, z.w7_gap)),
        }
    }
}
