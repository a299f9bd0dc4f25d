//! Which workers may have work in their deques: a bitmap, so that an idle worker looks at
//! those deques only, not at every sibling's (with 100 workers, a search round and the last
//! look before sleeping used to read 99 deques each).
//!
//! Only a worker sets or clears its own bit, and it keeps a copy of it (`WorkerLocal`), so a
//! push costs a read of that copy: the bit is set on a push into a deque whose bit is clear
//! (before the job is published), and cleared when the owner finds its deque empty. Since
//! only the owner pushes, a deque that holds a job has its bit set; a set bit over an empty
//! deque (its jobs were stolen, or its owner has not looked yet) only costs a look.
//!
//! The no-lost-wake-up argument of `sleep` carries over: a pusher sets the bit and pushes
//! *before* its SeqCst fence and its look at the sleepers; a sleeper registers, fences, then
//! reads the bits and the deques. Either the sleeper's look sees bit and job, or the
//! pusher's look sees the sleeper.

use crate::sync::{AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

const BITS: usize = usize::BITS as usize;

/// One bit per worker.
pub(crate) struct Advertised {
    words: Box<[CachePadded<AtomicUsize>]>,
}

impl Advertised {
    /// All clear, for `workers` workers.
    pub(crate) fn new(workers: usize) -> Advertised {
        Advertised {
            words: (0..workers.div_ceil(BITS).max(1))
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        }
    }

    /// Touches every word (loom creates its atomics on first use; see `crate::sync`).
    #[cfg(loom)]
    pub(crate) fn first_touch(&self) {
        for w in self.words.iter() {
            let _ = w.load(Ordering::SeqCst);
        }
    }

    /// Worker `i` may have work (called by worker `i` only).
    pub(crate) fn set(&self, i: usize) {
        self.words[i / BITS].fetch_or(1 << (i % BITS), Ordering::SeqCst);
    }

    /// Worker `i` found its deque empty (called by worker `i` only).
    pub(crate) fn clear(&self, i: usize) {
        self.words[i / BITS].fetch_and(!(1 << (i % BITS)), Ordering::SeqCst);
    }

    /// Calls `f` with each advertised worker but `me`, the ones after `me` first (wrapping
    /// round), until it returns `Some`.
    pub(crate) fn find_map<R>(
        &self,
        me: usize,
        mut f: impl FnMut(usize) -> Option<R>,
    ) -> Option<R> {
        let n = self.words.len();
        let (home, bit) = (me / BITS, me % BITS);
        let above = if bit + 1 == BITS { 0 } else { !0 << (bit + 1) };
        let below = (1 << bit) - 1;
        // The home word twice: its bits above `me` first, its bits below `me` last.
        for k in 0..=n {
            let w = (home + k) % n;
            let mut bits = self.words[w].load(Ordering::SeqCst);
            if k == 0 {
                bits &= above;
            } else if k == n {
                bits &= below;
            }
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(r) = f(w * BITS + b) {
                    return Some(r);
                }
            }
        }
        None
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Advertised, BITS};

    fn order(a: &Advertised, me: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        a.find_map(me, |i| {
            seen.push(i);
            None::<()>
        });
        seen
    }

    #[test]
    fn visits_every_advertised_sibling_once_after_me_first() {
        let n = 2 * BITS + 5;
        let a = Advertised::new(n);
        let on = [0, 3, BITS - 1, BITS, BITS + 7, 2 * BITS + 4];
        for &i in &on {
            a.set(i);
        }
        assert_eq!(
            order(&a, 3),
            vec![BITS - 1, BITS, BITS + 7, 2 * BITS + 4, 0]
        );
        assert_eq!(
            order(&a, BITS - 1),
            vec![BITS, BITS + 7, 2 * BITS + 4, 0, 3]
        );
        assert_eq!(
            order(&a, 2 * BITS + 4),
            vec![0, 3, BITS - 1, BITS, BITS + 7]
        );
        a.clear(BITS);
        a.clear(0);
        assert_eq!(order(&a, 5), vec![BITS - 1, BITS + 7, 2 * BITS + 4, 3]);
        assert_eq!(a.find_map(5, |i| (i > BITS).then_some(i)), Some(BITS + 7));
    }

    #[test]
    fn one_worker_never_sees_itself() {
        let a = Advertised::new(1);
        a.set(0);
        assert!(order(&a, 0).is_empty());
    }
}
