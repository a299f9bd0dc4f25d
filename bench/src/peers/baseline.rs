//! `baseline-chan`: the hand-written floor. Worker threads pull boxed closures from one
//! crossbeam unbounded channel; a follow-up is a send from the worker; the per-task handle is
//! the harness [`Slot`].

use super::Spawner;
use crate::harness::{leak, Slot};
use crossbeam_channel::{unbounded, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// A queued closure; `None` tells one worker to exit.
type Job = Option<Box<dyn FnOnce() + Send>>;

/// The channel pool.
pub struct BaselineChan {
    tx: &'static Sender<Job>,
    threads: Vec<JoinHandle<()>>,
}

impl Spawner for BaselineChan {
    const NAME: &'static str = "baseline-chan";
    type Carry = &'static Sender<Job>;

    fn build(workers: usize) -> Self {
        let (tx, rx) = unbounded::<Job>();
        let threads = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || {
                    while let Ok(Some(job)) = rx.recv() {
                        job();
                    }
                })
            })
            .collect();
        BaselineChan {
            tx: leak(tx),
            threads,
        }
    }

    fn carry(&self) -> Self::Carry {
        self.tx
    }

    fn recarry(c: &Self::Carry) -> Self::Carry {
        c
    }

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.tx.send(Some(Box::new(f))).expect("baseline send");
    }

    fn follow_up<F: FnOnce() + Send + 'static>(c: &Self::Carry, f: F) {
        c.send(Some(Box::new(f))).expect("baseline send");
    }

    fn results(&self, n: u64) -> u64 {
        let slots: Vec<Arc<Slot<u64>>> = (0..n)
            .map(|i| {
                let slot = Arc::new(Slot::default());
                let s = Arc::clone(&slot);
                self.submit(move || s.put(i));
                slot
            })
            .collect();
        slots.iter().map(|s| s.take()).sum()
    }

    fn shutdown(self) {
        for _ in &self.threads {
            self.tx.send(None).expect("baseline stop");
        }
        for t in self.threads {
            t.join().expect("baseline worker");
        }
    }
}
