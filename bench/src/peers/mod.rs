//! The contenders: one module per peer pool, and followup with its natural idioms.
//!
//! Most peers are a [`Spawner`]: a way to submit a closure from outside the pool and a way to
//! issue a follow-up from inside a running task. The generic workloads in
//! [`crate::workloads`] are monomorphised per spawner, so every peer runs the same code with
//! its own native calls and no extra boxing. Peers whose idiom differs (rayon's scopes,
//! followup's callbacks, continuations, `imap_unordered` and `map`) implement [`Peer`] and
//! [`Session`] directly.

pub mod baseline;
pub mod followup;
pub mod rayon;
pub mod rusty;
pub mod threadpool;
pub mod tokio;

use crate::harness::Measured;
use crate::workloads::{self, Sizes, Workload};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// One row of the tables: a pool and an idiom.
pub trait Peer {
    /// Name as printed.
    fn name(&self) -> String;
    /// True for followup's rows, which are compared against the best *other* peer.
    fn is_followup(&self) -> bool {
        false
    }
    /// `Err(why)` if the peer cannot express the workload.
    fn supports(&self, w: Workload) -> Result<(), &'static str>;
    /// True if the idle-CPU workload runs this peer.
    fn idles(&self) -> bool {
        false
    }
    /// Builds a pool with `workers` threads and warms it up (outside the timed region).
    fn session(&self, workers: usize) -> Box<dyn Session>;
}

/// A built, warmed pool. Dropping it shuts the pool down (outside the timed region).
pub trait Session {
    /// Runs one timed repetition of `w` and checks its result.
    fn run(&mut self, w: Workload, sizes: &Sizes) -> Measured;
    /// Submits one tiny task that increments `counter` (idle-CPU workload); false if this
    /// session cannot.
    fn submit_tiny(&self, counter: &'static AtomicU64) -> bool {
        let _ = counter;
        false
    }
}

/// A pool driven through plain submission: the generic workloads run on any of these.
pub trait Spawner: Sync + Sized + 'static {
    /// Name as printed.
    const NAME: &'static str;
    /// True for followup's spawners.
    const FOLLOWUP: bool = false;
    /// True if the idle-CPU workload runs this peer.
    const IDLES: bool = true;
    /// What a task carries so it can issue follow-ups: a pool clone (threadpool, rusty_pool,
    /// as their docs do it), a leaked reference, or nothing (rayon and tokio find their pool
    /// from the worker thread).
    type Carry: Send + 'static;
    /// Builds the pool (not yet warmed).
    fn build(workers: usize) -> Self;
    /// A carry for a root task, made on the submitting thread.
    fn carry(&self) -> Self::Carry;
    /// A carry for a follow-up, made inside a task from that task's carry.
    fn recarry(c: &Self::Carry) -> Self::Carry;
    /// Submits `f` from outside the pool.
    fn submit<F: FnOnce() + Send + 'static>(&self, f: F);
    /// Issues `f` from inside a running task of this pool.
    fn follow_up<F: FnOnce() + Send + 'static>(c: &Self::Carry, f: F);
    /// W2: submits tasks `0..n` returning their index through a per-task handle, reads the
    /// handles in submission order and returns the sum.
    fn results(&self, n: u64) -> u64;
    /// Which workloads it runs (default: all).
    fn supports(w: Workload) -> Result<(), &'static str> {
        let _ = w;
        Ok(())
    }
    /// Shuts the pool down, waiting for its threads where the pool allows it.
    fn shutdown(self);
}

/// The [`Peer`] of a [`Spawner`].
pub struct SpawnPeer<S>(PhantomData<fn() -> S>);

impl<S> SpawnPeer<S> {
    /// The peer, boxed for the peer list.
    pub fn boxed() -> Box<dyn Peer>
    where
        S: Spawner,
    {
        Box::new(SpawnPeer::<S>(PhantomData))
    }
}

impl<S: Spawner> Peer for SpawnPeer<S> {
    fn name(&self) -> String {
        S::NAME.to_string()
    }

    fn is_followup(&self) -> bool {
        S::FOLLOWUP
    }

    fn supports(&self, w: Workload) -> Result<(), &'static str> {
        S::supports(w)
    }

    fn idles(&self) -> bool {
        S::IDLES
    }

    fn session(&self, workers: usize) -> Box<dyn Session> {
        Box::new(SpawnSession::<S>::start(workers, workloads::WARM_TASKS))
    }
}

/// A built and warmed [`Spawner`] pool.
pub struct SpawnSession<S: Spawner> {
    s: Option<S>,
}

impl<S: Spawner> SpawnSession<S> {
    /// Builds the pool and warms it with `warm_tasks` small tasks.
    pub fn start(workers: usize, warm_tasks: usize) -> Self {
        let s = S::build(workers);
        workloads::warm(&s, workers, warm_tasks);
        SpawnSession { s: Some(s) }
    }

    /// The spawner.
    pub fn spawner(&self) -> &S {
        self.s.as_ref().expect("session already shut down")
    }
}

impl<S: Spawner> Drop for SpawnSession<S> {
    fn drop(&mut self) {
        if let Some(s) = self.s.take() {
            s.shutdown();
        }
    }
}

impl<S: Spawner> Session for SpawnSession<S> {
    fn run(&mut self, w: Workload, z: &Sizes) -> Measured {
        let s = self.spawner();
        match w {
            Workload::W1 => Measured::Total(workloads::w1(s, z.w1_tasks)),
            Workload::W1g => Measured::Total(workloads::w1g(s, z.w1_tasks, z.workers)),
            Workload::W2 => Measured::Total(workloads::w2(s, z.w2_tasks)),
            Workload::W3 => Measured::Total(workloads::w3(s, z.w3_items)),
            Workload::W3c => Measured::Total(workloads::w3c(s, z.w3_items, z.w3c_chunks)),
            Workload::W4 => Measured::Total(workloads::w4(s, z.w4_roots, z.chain_len)),
            Workload::W4x => Measured::Total(workloads::w4x(s, z.w4_roots, z.chain_len)),
            Workload::W5 => Measured::Total(workloads::w5(s, z.w5_depth)),
            Workload::W6 => Measured::Total(workloads::w6(s, z.w6_tasks, z.w6_sleep)),
            Workload::W7 => Measured::Latencies(workloads::w7(s, z.w7_samples, z.w7_gap)),
            Workload::W7x => Measured::Latencies(workloads::w7x(s, z.w7_samples, z.w7_gap)),
        }
    }

    fn submit_tiny(&self, counter: &'static AtomicU64) -> bool {
        self.spawner().submit(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        true
    }
}

/// Every peer, in table order: the others first, then followup's idioms.
pub fn all() -> Vec<Box<dyn Peer>> {
    let mut v: Vec<Box<dyn Peer>> = vec![
        SpawnPeer::<baseline::BaselineChan>::boxed(),
        SpawnPeer::<rayon::RayonSpawn>::boxed(),
        Box::new(rayon::RayonScope),
        SpawnPeer::<threadpool::Threadpool>::boxed(),
        SpawnPeer::<rusty::RustyPool>::boxed(),
        SpawnPeer::<tokio::TokioBlocking>::boxed(),
        SpawnPeer::<tokio::TokioSpawn>::boxed(),
    ];
    v.extend(followup::peers());
    v
}
