//! One process-wide timer thread for deadlines (as CompletableFuture keeps one daemon for
//! delays). Started on first use; sleeps until the earliest deadline.

use crate::sync::lock;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Instant;

type Action = Box<dyn FnOnce() + Send>;

struct Entry {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Timer {
    queue: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            queue: Mutex::new((BinaryHeap::new(), 0)),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("followup-timer".into())
            .spawn(move || t.run())
            .expect("cannot start the followup timer thread");
        t
    })
}

impl Timer {
    fn run(&self) {
        let mut q = lock(&self.queue);
        loop {
            let now = Instant::now();
            match q.0.peek() {
                Some(Reverse(e)) if e.at <= now => {
                    let Reverse(e) = q.0.pop().expect("peeked");
                    drop(q);
                    // Actions only resolve promises and flag cancellation: no user code.
                    let escaped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(e.action));
                    if let Err(p) = escaped {
                        crate::payload::drop_quietly(p);
                    }
                    q = lock(&self.queue);
                }
                Some(Reverse(e)) => {
                    let wait = e.at - now;
                    q = match self.changed.wait_timeout(q, wait) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    };
                }
                None => {
                    q = match self.changed.wait(q) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                }
            }
        }
    }
}

/// Runs `action` on the timer thread at `at`.
pub(crate) fn at(at: Instant, action: impl FnOnce() + Send + 'static) {
    let t = timer();
    let mut q = lock(&t.queue);
    q.1 += 1;
    let seq = q.1;
    q.0.push(Reverse(Entry {
        at,
        seq,
        action: Box::new(action),
    }));
    t.changed.notify_one();
}
