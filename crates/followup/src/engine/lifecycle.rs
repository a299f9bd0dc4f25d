//! Open, closed, terminated, and the outstanding-work counter that makes `join` exact.
//!
//! `outstanding` counts admitted jobs not yet finished, including continuations waiting for
//! their parent, plus the units workers hold as credit (see `worker`: a worker counts its
//! jobs in and out locally, and gives the credit back before it idles). It rises in [`Lifecycle::admit`] before the job can be seen anywhere, and
//! falls in [`Lifecycle::finish`] after the job (and everything it issued, which was admitted
//! first) is done. Work issued from inside the pool is admitted while its issuer is still
//! counted, so the counter cannot touch zero while a follow-up can still appear: that is why
//! `close()` + `join()` waits for the whole follow-up tree.
//!
//! External admission increments *then* checks `closed` (both SeqCst) and backs out if
//! closed; `close()` stores `closed` (SeqCst) *then* reads the counter. Whatever the
//! interleaving, either the submitter sees `closed`, or the closer (and every later `join`)
//! sees the submitter's increment. Likewise `finish` decrements *then* reads `closed`, so the
//! last finisher and a concurrent closer cannot both miss the quiet moment.
//! The loom model in `loom_tests` checks these claims.

use crate::error::Error;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crossbeam_utils::CachePadded;

/// The answer to [`Lifecycle::admit`].
#[must_use]
pub(crate) enum Admission {
    Accepted,
    /// Refused; `now_quiet` means backing out made a closed pool quiet, so the caller must
    /// wake whoever waits for that.
    Refused {
        error: Error,
        now_quiet: bool,
    },
}

pub(crate) struct Lifecycle {
    outstanding: CachePadded<AtomicUsize>,
    closed: AtomicBool,
    terminated: AtomicBool,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            outstanding: CachePadded::new(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
        }
    }

    /// Counts one unit of work in, or refuses it. `internal`: issued from inside the pool,
    /// which `close` does not shut out (`terminate` does).
    pub(crate) fn admit(&self, internal: bool) -> Admission {
        if self.terminated.load(Ordering::Acquire) {
            return Admission::Refused {
                error: Error::Terminated,
                now_quiet: false,
            };
        }
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        if !internal && self.closed.load(Ordering::SeqCst) {
            let now_quiet = self.finish();
            let error = if self.is_terminated() {
                Error::Terminated
            } else {
                Error::Closed
            };
            return Admission::Refused { error, now_quiet };
        }
        Admission::Accepted
    }

    /// Counts `units` in for a worker's credit (`worker`): internal admissions taken ahead,
    /// so like `admit(true)` not refused by `close`; the caller checked `terminated`.
    pub(crate) fn count_in(&self, units: usize) {
        self.outstanding.fetch_add(units, Ordering::SeqCst);
    }

    /// Counts one unit of work out; true if that made a closed pool quiet.
    #[must_use]
    pub(crate) fn finish(&self) -> bool {
        self.finish_many(1)
    }

    /// Counts `units` out at once (a worker's credit); true if that made a closed pool quiet.
    #[must_use]
    pub(crate) fn finish_many(&self, units: usize) -> bool {
        let before = self.outstanding.fetch_sub(units, Ordering::SeqCst);
        debug_assert!(before >= units, "outstanding counter underflow");
        before == units && self.closed.load(Ordering::SeqCst)
    }

    /// Closes; true if the pool is already quiet.
    #[must_use]
    pub(crate) fn close(&self) -> bool {
        self.closed.store(true, Ordering::SeqCst);
        self.outstanding.load(Ordering::SeqCst) == 0
    }

    /// Marks the pool terminated (and closed).
    pub(crate) fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    #[inline]
    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// Workers may exit and `join` may return: terminated, or closed with nothing outstanding.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.is_terminated()
            || (self.closed.load(Ordering::SeqCst) && self.outstanding.load(Ordering::SeqCst) == 0)
    }

    /// Jobs admitted and not finished (for diagnostics).
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }
}
