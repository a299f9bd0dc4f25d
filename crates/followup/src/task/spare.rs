//! A few spare detached jobs per thread, taken over by the next detached jobs of the same type
//! built on that thread.
//!
//! Follow-ups repeat their type: a task issuing its next step, a recursive fan-out, a loop of
//! `spawn`s of one closure. Each step's allocation is freed just as the next one is made, and
//! glibc's `malloc` + `free` of it cost ~210 instructions (callgrind, chain case): more than
//! the rest of a follow-up. So a finished detached job that nobody else holds is kept here,
//! and the next one of its type reuses the allocation.
//!
//! A ring of [`SPARES`], not one slot: in a fan-out the jobs that issue nothing (the leaves)
//! free theirs while others still wait in the deque, and the next ones issued take them
//! back. A job kept into a full ring takes the place of (and frees) the oldest, so jobs of a
//! type no longer issued cannot clog it; `take` only looks at the newest (a job of another
//! type there is a miss). Jobs larger than [`LARGEST`] bytes are not kept, so a thread holds
//! at most `SPARES` × `LARGEST` bytes this way.
//!
//! # Safety argument
//! A job enters the ring only from [`keep`], which owns an `Arc` to it and sees the strong
//! count at 1, followed by an Acquire fence: the same test `Arc`'s own drop makes before it
//! frees, so every access by the job's earlier holders (released by their decrements)
//! happens before what follows. No `Weak` to a job ever exists, so nobody else can reach it
//! any more; the ring turns the `Arc` into a raw pointer, and is thread-local. [`take`] hands
//! that one reference back, as an `Arc` of the type recorded with it (`TypeId`), so the caller
//! holds the only reference and may write the job's cells before publishing it again.

use crate::sync::Arc;
use std::any::TypeId;
use std::cell::Cell;
use std::sync::atomic::{fence, Ordering};

/// A kept job: the raw form of its one `Arc`, its type, and how to free it.
#[derive(Clone, Copy)]
struct Spare {
    ty: TypeId,
    ptr: *const (),
    free: unsafe fn(*const ()),
}

/// How many jobs a thread keeps at most.
const SPARES: usize = 16;

/// Jobs larger than this (a closure that captures a big value inline) are not kept, so a
/// thread's spares stay within `SPARES` × this many bytes.
const LARGEST: usize = 512;

/// The ring: `items[top]` is the newest job (or empty: the ring is), the ones before it
/// (wrapping) are older. `take` empties the newest and steps
/// back, so the next `keep` steps forward into that empty slot; only in a full ring does it
/// land on the oldest.
struct Spares {
    top: Cell<usize>,
    items: [Cell<Option<Spare>>; SPARES],
}

impl Drop for Spares {
    fn drop(&mut self) {
        for item in &self.items {
            if let Some(s) = item.take() {
                // SAFETY: `s` came from `keep`, which stored the raw form of an `Arc` of its
                // recorded type.
                unsafe { (s.free)(s.ptr) }
            }
        }
    }
}

crate::sync::thread_local! {
    static SPARES_HERE: Spares = const {
        Spares {
            top: Cell::new(0),
            items: [const { Cell::new(None) }; SPARES],
        }
    };
}

/// Frees a kept `Arc<T>`.
///
/// # Safety
/// `ptr` must come from `Arc::<T>::into_raw`, and be freed once.
unsafe fn free<T>(ptr: *const ()) {
    // SAFETY: as the caller promises.
    drop(unsafe { Arc::from_raw(ptr.cast::<T>()) });
}

/// Keeps `job` as the newest spare of this thread if nobody else holds it (in a full ring,
/// in place of the oldest, which is freed); otherwise just drops this reference. The caller
/// has emptied the job of its work.
#[inline]
pub(super) fn keep<T: Send + Sync + 'static>(job: Arc<T>) {
    if std::mem::size_of::<T>() > LARGEST || Arc::strong_count(&job) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    let spare = Spare {
        ty: TypeId::of::<T>(),
        ptr: Arc::into_raw(job).cast(),
        free: free::<T>,
    };
    let replaced = match SPARES_HERE.try_with(|r| {
        let top = (r.top.get() + 1) % SPARES;
        r.top.set(top);
        r.items[top].replace(Some(spare))
    }) {
        Ok(replaced) => replaced,
        Err(_) => Some(spare), // the thread is exiting: free it now
    };
    if let Some(old) = replaced {
        // SAFETY: `old` is the raw form of an `Arc` of its recorded type, out of the ring now.
        unsafe { (old.free)(old.ptr) }
    }
}

/// This thread's newest spare, if it is a `T`: the only reference to it (see the module's
/// safety argument), so the caller may refill its cells before it publishes the job.
#[inline]
pub(super) fn take<T: Send + Sync + 'static>() -> Option<Arc<T>> {
    SPARES_HERE
        .try_with(|r| {
            let top = r.top.get();
            let spare = r.items[top].get()?;
            if spare.ty != TypeId::of::<T>() {
                return None;
            }
            r.items[top].set(None);
            r.top.set((top + SPARES - 1) % SPARES);
            // SAFETY: the slot held the raw form of an `Arc<T>` (its `TypeId` says so).
            Some(unsafe { Arc::from_raw(spare.ptr.cast::<T>()) })
        })
        .ok()
        .flatten()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{keep, take};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// Counts its drops in the static it is given.
    struct Counted(&'static AtomicUsize);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_kept_job_comes_back_to_its_own_type_only() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let job = Arc::new(Counted(&DROPS));
        let at = Arc::as_ptr(&job);
        keep(job);
        assert!(take::<u64>().is_none(), "another type must not get it");
        let back = take::<Counted>().expect("the kept job");
        assert!(std::ptr::eq(Arc::as_ptr(&back), at), "the same allocation");
        assert!(take::<Counted>().is_none(), "taken once");
        assert_eq!(DROPS.load(SeqCst), 0);
        drop(back);
        assert_eq!(DROPS.load(SeqCst), 1);
    }

    #[test]
    fn a_shared_job_is_not_kept() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let job = Arc::new(Counted(&DROPS));
        let other = Arc::clone(&job);
        keep(job);
        assert!(
            take::<Counted>().is_none(),
            "kept although someone else holds it"
        );
        assert_eq!(
            Arc::strong_count(&other),
            1,
            "the caller's reference was dropped"
        );
    }

    #[test]
    fn a_full_ring_frees_its_oldest_and_the_thread_frees_the_rest_at_exit() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        std::thread::spawn(|| {
            keep(Arc::new(Counted(&DROPS))); // the oldest
            for _ in 1..super::SPARES {
                keep(Arc::new(0u8)); // a type nobody takes again fills the rest
            }
            assert_eq!(DROPS.load(SeqCst), 0);
            keep(Arc::new(1u8)); // full: lands on the oldest
            assert_eq!(DROPS.load(SeqCst), 1, "the oldest is freed");
            assert!(take::<Counted>().is_none());
            keep(Arc::new(Counted(&DROPS)));
            let back = take::<Counted>().expect("a full ring still gives its newest");
            keep(back);
        })
        .join()
        .unwrap();
        assert_eq!(DROPS.load(SeqCst), 2, "the thread's spares outlived it");
    }

    #[test]
    fn a_large_job_is_not_kept() {
        std::thread::spawn(|| {
            keep(Arc::new([0u8; super::LARGEST + 1]));
            assert!(take::<[u8; super::LARGEST + 1]>().is_none());
            keep(Arc::new([0u8; super::LARGEST]));
            assert!(take::<[u8; super::LARGEST]>().is_some());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn take_only_looks_at_the_newest_spare() {
        std::thread::spawn(|| {
            keep(Arc::new(1u32));
            keep(Arc::new(2u64));
            assert!(take::<u32>().is_none(), "the newest is a u64");
            assert_eq!(take::<u64>().as_deref(), Some(&2));
            assert_eq!(take::<u32>().as_deref(), Some(&1));
            assert!(take::<u32>().is_none());
        })
        .join()
        .unwrap();
    }
}
