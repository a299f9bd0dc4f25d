//! tokio (rt-multi-thread) two ways: `tokio-spawn` runs each closure as a future on the worker
//! threads (`Runtime::spawn`, follow-up `tokio::spawn` from the worker); `tokio-blocking` uses
//! the blocking pool (`Runtime::spawn_blocking`, follow-up `tokio::task::spawn_blocking` from the
//! blocking thread, `max_blocking_threads` = workers, one idle async worker besides). W2 awaits
//! the `JoinHandle`s in one `block_on`.

use super::Spawner;
use tokio::runtime::{Builder, Runtime};

/// Closures as futures on tokio's async workers.
pub struct TokioSpawn {
    rt: Runtime,
}

impl Spawner for TokioSpawn {
    const NAME: &'static str = "tokio-spawn";
    type Carry = ();

    fn build(workers: usize) -> Self {
        TokioSpawn {
            rt: Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .expect("tokio runtime"),
        }
    }

    fn carry(&self) -> Self::Carry {}

    fn recarry(_: &Self::Carry) -> Self::Carry {}

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        drop(self.rt.spawn(async move { f() }));
    }

    fn follow_up<F: FnOnce() + Send + 'static>(_: &Self::Carry, f: F) {
        drop(tokio::spawn(async move { f() }));
    }

    fn results(&self, n: u64) -> u64 {
        let handles: Vec<_> = (0..n).map(|i| self.rt.spawn(async move { i })).collect();
        self.rt.block_on(async move {
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("tokio task");
            }
            sum
        })
    }

    fn shutdown(self) {
        drop(self.rt);
    }
}

/// Closures on tokio's blocking pool.
pub struct TokioBlocking {
    rt: Runtime,
}

impl Spawner for TokioBlocking {
    const NAME: &'static str = "tokio-blocking";
    type Carry = ();

    fn build(workers: usize) -> Self {
        TokioBlocking {
            rt: Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(workers)
                .build()
                .expect("tokio runtime"),
        }
    }

    fn carry(&self) -> Self::Carry {}

    fn recarry(_: &Self::Carry) -> Self::Carry {}

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        drop(self.rt.spawn_blocking(f));
    }

    fn follow_up<F: FnOnce() + Send + 'static>(_: &Self::Carry, f: F) {
        drop(tokio::task::spawn_blocking(f));
    }

    fn results(&self, n: u64) -> u64 {
        let handles: Vec<_> = (0..n).map(|i| self.rt.spawn_blocking(move || i)).collect();
        self.rt.block_on(async move {
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("tokio blocking task");
            }
            sum
        })
    }

    fn shutdown(self) {
        drop(self.rt);
    }
}
