//! `threadpool` (1.8): `execute`; a follow-up is `execute` on a pool clone carried by the task;
//! the W2 handle is a per-task `std::sync::mpsc::sync_channel(1)`, the idiom its docs suggest.

use super::Spawner;
use std::sync::mpsc::sync_channel;

/// The threadpool crate's pool.
pub struct Threadpool {
    pool: threadpool::ThreadPool,
}

impl Spawner for Threadpool {
    const NAME: &'static str = "threadpool";
    type Carry = threadpool::ThreadPool;

    fn build(workers: usize) -> Self {
        Threadpool {
            pool: threadpool::ThreadPool::new(workers),
        }
    }

    fn carry(&self) -> Self::Carry {
        self.pool.clone()
    }

    fn recarry(c: &Self::Carry) -> Self::Carry {
        c.clone()
    }

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.execute(f);
    }

    fn follow_up<F: FnOnce() + Send + 'static>(c: &Self::Carry, f: F) {
        c.execute(f);
    }

    fn results(&self, n: u64) -> u64 {
        let rxs: Vec<_> = (0..n)
            .map(|i| {
                let (tx, rx) = sync_channel(1);
                self.pool.execute(move || {
                    let _ = tx.send(i);
                });
                rx
            })
            .collect();
        rxs.iter()
            .map(|rx| rx.recv().expect("threadpool result"))
            .sum()
    }

    fn shutdown(self) {
        self.pool.join();
    }
}
