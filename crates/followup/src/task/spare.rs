//! One spare detached job per thread, taken over by the next detached job of the same type
//! built on that thread.
//!
//! Follow-ups repeat their type: a task issuing its next step, a recursive fan-out, a loop of
//! `spawn`s of one closure. Each step's allocation is freed just as the next one is made, and
//! glibc's `malloc` + `free` of it cost ~210 instructions (callgrind, chain case): more than
//! the rest of a follow-up. So a finished detached job that nobody else holds is kept here,
//! and the next one of its type reuses the allocation. One slot, not a pool: each thread
//! keeps at most one job's memory, and a job of another type just replaces it.
//!
//! # Safety argument
//! A job enters the slot only from [`keep`], which owns an `Arc` to it and sees the strong
//! count at 1, followed by an Acquire fence: the same test `Arc`'s own drop makes before it
//! frees, so every access by the job's earlier holders (released by their decrements)
//! happens before what follows. No `Weak` to a job ever exists, so nobody else can reach it
//! any more; the slot turns the `Arc` into a raw pointer, and is thread-local. [`take`] hands
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

/// The slot; frees what it holds when the thread exits.
struct Slot(Cell<Option<Spare>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            // SAFETY: `s` came from `keep`, which stored the raw form of an `Arc` of this type.
            unsafe { (s.free)(s.ptr) }
        }
    }
}

thread_local! {
    static SLOT: Slot = const { Slot(Cell::new(None)) };
}

/// Frees a kept `Arc<T>`.
///
/// # Safety
/// `ptr` must come from `Arc::<T>::into_raw`, and be freed once.
unsafe fn free<T>(ptr: *const ()) {
    // SAFETY: as the caller promises.
    drop(unsafe { Arc::from_raw(ptr.cast::<T>()) });
}

/// Keeps `job` as this thread's spare if nobody else holds it (the job it replaces is freed);
/// otherwise just drops this reference. The caller has emptied the job of its work.
#[inline]
pub(super) fn keep<T: Send + Sync + 'static>(job: Arc<T>) {
    if Arc::strong_count(&job) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    let spare = Spare {
        ty: TypeId::of::<T>(),
        ptr: Arc::into_raw(job).cast(),
        free: free::<T>,
    };
    let old = match SLOT.try_with(|s| s.0.replace(Some(spare))) {
        Ok(old) => old,
        Err(_) => Some(spare), // the thread is exiting: free it now
    };
    if let Some(old) = old {
        // SAFETY: `old` is the raw form of an `Arc` of its recorded type, out of the slot now.
        unsafe { (old.free)(old.ptr) }
    }
}

/// This thread's spare, if it is a `T`: the only reference to it (see the module's safety
/// argument), so the caller may refill its cells before it publishes the job.
#[inline]
pub(super) fn take<T: Send + Sync + 'static>() -> Option<Arc<T>> {
    SLOT.try_with(|s| {
        let spare = s.0.get()?;
        if spare.ty != TypeId::of::<T>() {
            return None;
        }
        s.0.set(None);
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
    fn a_replaced_spare_and_the_last_one_at_thread_exit_are_freed() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        std::thread::spawn(|| {
            keep(Arc::new(Counted(&DROPS)));
            keep(Arc::new(Counted(&DROPS))); // replaces the first, which is freed
            assert_eq!(DROPS.load(SeqCst), 1);
        })
        .join()
        .unwrap();
        assert_eq!(DROPS.load(SeqCst), 2, "the thread's spare outlived it");
    }
}
