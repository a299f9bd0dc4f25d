//! `rusty_pool` (0.7): core = max = workers, `execute`; a follow-up is `execute` on a pool clone
//! carried by the task; the W2 handle is `evaluate()`'s `JoinHandle` (a futures oneshot).

use super::Spawner;

/// rusty_pool's pool.
pub struct RustyPool {
    pool: rusty_pool::ThreadPool,
}

impl Spawner for RustyPool {
    const NAME: &'static str = "rusty_pool";
    type Carry = rusty_pool::ThreadPool;

    fn build(workers: usize) -> Self {
        RustyPool {
            pool: rusty_pool::Builder::new()
                .core_size(workers)
                .max_size(workers)
                .build(),
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
        let handles: Vec<_> = (0..n).map(|i| self.pool.evaluate(move || i)).collect();
        handles.into_iter().map(|h| h.await_complete()).sum()
    }

    fn shutdown(self) {
        self.pool.shutdown_join();
    }
}
