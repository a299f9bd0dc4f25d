//! The door to the engine's work-stealing queues: crossbeam-deque's `Worker` (a worker's own
//! LIFO deque), `Stealer` (the other end of it, shared) and `Injector` (the pool's shared
//! queue), re-exported as they are; under `--cfg loom`, stand-ins with the same API (as far as
//! the engine uses it) and the same memory orderings, built on loom's atomics, so the loom
//! models run the real worker loop over queues whose every synchronising access is explored.
//!
//! # The loom stand-ins
//! Modelled on crossbeam-deque 0.8.8, `src/deque.rs` (the version in `Cargo.lock`; the line
//! numbers below are that file's). Only the index protocol is modelled, access by access, with
//! crossbeam's orderings; what crossbeam does with memory is not:
//! - the payload sits in a std `Mutex<Vec<Option<T>>>` indexed by absolute position, not in a
//!   ring buffer. It is not a modelled synchronisation point: loom runs one thread at a time,
//!   and the lock is never held across a loom operation. So there is no buffer to grow or
//!   swap, and neither the buffer pointer's release swap (`resize`, line 330) nor the
//!   stealer's re-check of it (lines 680–686) is modelled; a slot is taken only after the
//!   CAS that wins it (crossbeam reads it before, and forgets it if the CAS fails), with no
//!   loom operation in between, so no other thread runs meanwhile. A slot taken twice or
//!   found empty panics: the index protocol would be broken.
//! - the injector is one flat run of slots with plain `head`/`tail` counters, not a list of
//!   63-slot blocks with `SHIFT`/`HAS_NEXT` bits: a model pushes a handful of jobs, which
//!   crossbeam keeps in one block, where `HAS_NEXT` is never set and the block-boundary code
//!   never runs. Its capacity is [`INJECTOR_SLOTS`] pushes over its whole life. The slots'
//!   `WRITE` flags *are* modelled (the release that hands a pushed job to its stealer); their
//!   `READ`/`DESTROY` bits (freeing blocks) are not.
//! - epoch pinning (`Stealer::steal`) is its `SeqCst` fence (crossbeam issues one, or `pin`
//!   does, lines 660–668).
//!
//! `SeqCst` accesses go through `crate::sync`'s atomics, which precede each with a `SeqCst`
//! fence so that loom treats them as sequentially consistent (see there).

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use model::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod model {
    use crate::sync::{fence, AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Pushes an injector can take over its life (see the module docs).
    pub(crate) const INJECTOR_SLOTS: usize = 8;

    /// `crossbeam_deque::Steal`.
    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        Retry,
    }

    /// Payload slots by absolute index (see the module docs: not a synchronisation point).
    struct Slots<T>(Mutex<Vec<Option<T>>>);

    impl<T> Slots<T> {
        fn new() -> Self {
            Slots(Mutex::new(Vec::new()))
        }

        fn put(&self, i: usize, task: T) {
            let mut slots = self.0.lock().unwrap();
            if slots.len() <= i {
                slots.resize_with(i + 1, || None);
            }
            assert!(slots[i].is_none(), "deque model: slot {i} overwritten");
            slots[i] = Some(task);
        }

        fn take(&self, i: usize) -> T {
            let mut slots = self.0.lock().unwrap();
            match slots.get_mut(i).and_then(Option::take) {
                Some(task) => task,
                None => panic!("deque model: slot {i} taken twice or never written"),
            }
        }
    }

    /// `b - f` as crossbeam computes it (`isize` indices, wrapping).
    fn len(b: usize, f: usize) -> isize {
        b.wrapping_sub(f) as isize
    }

    struct Inner<T> {
        front: AtomicUsize,
        back: AtomicUsize,
        slots: Slots<T>,
    }

    /// `crossbeam_deque::Worker`, LIFO flavour only (the engine uses no other).
    pub(crate) struct Worker<T> {
        inner: Arc<Inner<T>>,
    }

    /// `crossbeam_deque::Stealer`.
    pub(crate) struct Stealer<T> {
        inner: Arc<Inner<T>>,
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer {
                inner: Arc::clone(&self.inner),
            }
        }
    }

    impl<T> Worker<T> {
        /// `Worker::new_lifo` (line 271).
        pub(crate) fn new_lifo() -> Worker<T> {
            let inner = Inner {
                front: AtomicUsize::new(0),
                back: AtomicUsize::new(0),
                slots: Slots::new(),
            };
            // First touch, on the creating thread (see `crate::sync::seq_cst`).
            inner.front.load(Ordering::Relaxed);
            inner.back.load(Ordering::Relaxed);
            Worker {
                inner: Arc::new(inner),
            }
        }

        /// `Worker::stealer` (line 300).
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer {
                inner: Arc::clone(&self.inner),
            }
        }

        /// `Worker::is_empty` (lines 378–382): back relaxed, front `SeqCst`.
        pub(crate) fn is_empty(&self) -> bool {
            let b = self.inner.back.load(Ordering::Relaxed);
            let f = self.inner.front.load(Ordering::SeqCst);
            len(b, f) <= 0
        }

        /// `Worker::push` (lines 414–447): back relaxed, front acquire (crossbeam's capacity
        /// check), write the slot, release fence, relaxed store of `back + 1`.
        pub(crate) fn push(&self, task: T) {
            let b = self.inner.back.load(Ordering::Relaxed);
            let _f = self.inner.front.load(Ordering::Acquire);
            self.inner.slots.put(b, task);
            fence(Ordering::Release);
            self.inner.back.store(b.wrapping_add(1), Ordering::Relaxed);
        }

        /// `Worker::pop`, LIFO branch (lines 465–474, 503–553): relaxed loads of back and
        /// front; store `back - 1` (relaxed), `SeqCst` fence, relaxed load of front; the last
        /// task is won by a `SeqCst` CAS on front against the stealers, and back is restored.
        pub(crate) fn pop(&self) -> Option<T> {
            let inner = &*self.inner;
            let b = inner.back.load(Ordering::Relaxed);
            let f = inner.front.load(Ordering::Relaxed);
            if len(b, f) <= 0 {
                return None;
            }
            let b = b.wrapping_sub(1);
            inner.back.store(b, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let f = inner.front.load(Ordering::Relaxed);
            let len = len(b, f);
            if len < 0 {
                inner.back.store(b.wrapping_add(1), Ordering::Relaxed);
                None
            } else if len == 0 {
                let won = inner
                    .front
                    .compare_exchange(f, f.wrapping_add(1), Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok();
                let task = won.then(|| inner.slots.take(b));
                inner.back.store(b.wrapping_add(1), Ordering::Relaxed);
                task
            } else {
                Some(inner.slots.take(b))
            }
        }

        /// `Worker::reserve` (lines 344–349) as `steal_batch_and_pop` calls it: its loads only
        /// (there is no buffer to grow).
        fn reserve(&self, reserve_cap: usize) {
            if reserve_cap > 0 {
                let _b = self.inner.back.load(Ordering::Relaxed);
                let _f = self.inner.front.load(Ordering::SeqCst);
            }
        }
    }

    impl<T> Stealer<T> {
        /// `Stealer::is_empty` (lines 613–618): acquire, `SeqCst` fence, acquire.
        pub(crate) fn is_empty(&self) -> bool {
            let f = self.inner.front.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.inner.back.load(Ordering::Acquire);
            len(b, f) <= 0
        }

        /// `Stealer::steal` (lines 656–699): front acquire, `SeqCst` fence (the epoch pin's),
        /// back acquire; a `SeqCst` CAS on front wins the oldest task, a lost CAS is `Retry`.
        pub(crate) fn steal(&self) -> Steal<T> {
            let inner = &*self.inner;
            let f = inner.front.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = inner.back.load(Ordering::Acquire);
            if len(b, f) <= 0 {
                return Steal::Empty;
            }
            if inner
                .front
                .compare_exchange(f, f.wrapping_add(1), Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                return Steal::Retry;
            }
            Steal::Success(inner.slots.take(f))
        }
    }

    /// `crossbeam_deque::Injector` (see the module docs for what is flattened).
    pub(crate) struct Injector<T> {
        head: AtomicUsize,
        tail: AtomicUsize,
        /// Each slot's `WRITE` bit (`Slot::state`, line 1234).
        written: Box<[AtomicBool]>,
        slots: Slots<T>,
    }

    impl<T> Injector<T> {
        /// `Injector::new` (line 1387).
        pub(crate) fn new() -> Injector<T> {
            let q = Injector {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                written: (0..INJECTOR_SLOTS)
                    .map(|_| AtomicBool::new(false))
                    .collect(),
                slots: Slots::new(),
            };
            // First touch, on the creating thread (see `crate::sync::seq_cst`).
            q.head.load(Ordering::Relaxed);
            q.tail.load(Ordering::Relaxed);
            for w in q.written.iter() {
                w.load(Ordering::Relaxed);
            }
            q
        }

        /// `Injector::push` (lines 1402–1462): tail acquire, a `SeqCst` CAS reserves the slot
        /// (retried if it loses), write the slot, set its `WRITE` bit (release).
        pub(crate) fn push(&self, task: T) {
            let mut tail = self.tail.load(Ordering::Acquire);
            loop {
                assert!(
                    tail < INJECTOR_SLOTS,
                    "injector model: more than {INJECTOR_SLOTS} pushes"
                );
                match self.tail.compare_exchange(
                    tail,
                    tail + 1,
                    Ordering::SeqCst,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(t) => tail = t,
                }
            }
            self.slots.put(tail, task);
            self.written[tail].fetch_or(true, Ordering::Release);
        }

        /// `Slot::wait_write` (lines 1239–1244): spins (here: yields to loom) until the pusher
        /// that reserved slot `i` has written it.
        fn wait_write(&self, i: usize) {
            while !self.written[i].load(Ordering::Acquire) {
                loom::thread::yield_now();
            }
        }

        /// `Injector::steal` (lines 1477–1553): head acquire, `SeqCst` fence, tail relaxed; a
        /// `SeqCst` CAS on head wins the slot (a lost one is `Retry`); wait for its write.
        pub(crate) fn steal(&self) -> Steal<T> {
            let head = self.head.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return Steal::Empty;
            }
            if self
                .head
                .compare_exchange(head, head + 1, Ordering::SeqCst, Ordering::Acquire)
                .is_err()
            {
                return Steal::Retry;
            }
            self.wait_write(head);
            Steal::Success(self.slots.take(head))
        }

        /// `Injector::steal_batch_and_pop` (lines 964–966 with the injector's limit
        /// `MAX_BATCH + 1` = 33, body lines 1817–1979): as `steal`, but the CAS takes half of
        /// the queued tasks; the first is returned, the rest are written on `dest` (LIFO
        /// order, so they pop oldest first), published by a release fence and a relaxed store
        /// of `dest`'s back.
        pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            const LIMIT: usize = 33;
            let head = self.head.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return Steal::Empty;
            }
            let advance = (tail - head).div_ceil(2).min(LIMIT);
            if self
                .head
                .compare_exchange(head, head + advance, Ordering::SeqCst, Ordering::Acquire)
                .is_err()
            {
                return Steal::Retry;
            }
            let batch = advance - 1;
            dest.reserve(batch);
            let dest_b = dest.inner.back.load(Ordering::Relaxed);
            self.wait_write(head);
            let task = self.slots.take(head);
            for i in 0..batch {
                self.wait_write(head + 1 + i);
                let t = self.slots.take(head + 1 + i);
                dest.inner.slots.put(dest_b.wrapping_add(batch - 1 - i), t);
            }
            fence(Ordering::Release);
            dest.inner
                .back
                .store(dest_b.wrapping_add(batch), Ordering::Relaxed);
            Steal::Success(task)
        }

        /// `Injector::is_empty` (lines 1982–1986): both indices `SeqCst`.
        pub(crate) fn is_empty(&self) -> bool {
            let head = self.head.load(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::SeqCst);
            head == tail
        }
    }
}
