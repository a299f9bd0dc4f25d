//! A job's first follow-up borrows the job's unit of the outstanding counter
//! (`engine::job::Loan`, compiled here from its own source file, with the real `Lifecycle`).
//! The counter must never reach zero while the issuer runs or the follow-up is pending, and
//! every unit counted in is counted out exactly once.
//!
//! The driver is a faithful copy of `WorkerLocal::execute`'s loan handling and of
//! `Engine::admit_follow_up`/`schedule_follow_up` (which need the whole engine): the issuer
//! marks the follow-up `lend()` before publishing it and, when it finishes, `settle()`s (its
//! unit passes on) or counts out; whoever executes the follow-up first `claim()`s it and counts
//! a unit in if the issuer still runs; terminate's `abandon_now` counts out without claiming.

use super::engine_job::Loan;
use super::engine_lifecycle::{Admission, Lifecycle};
use super::{model, Count};
use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use loom::thread;
use std::sync::Arc;

struct World {
    lc: Lifecycle,
    loan: Loan,
    issuer_done: AtomicBool,
    followup_done: AtomicBool,
    /// The local deque slot the follow-up is published in.
    slot: Mutex<bool>,
    quiet: Count,
}

impl World {
    fn new() -> Arc<World> {
        let w = Arc::new(World {
            lc: Lifecycle::new(),
            loan: Loan::new(),
            issuer_done: AtomicBool::new(false),
            followup_done: AtomicBool::new(false),
            slot: Mutex::new(false),
            quiet: Count::default(),
        });
        // First touch of every atomic (see `crate::sync::seq_cst`).
        assert_eq!(w.lc.outstanding(), 0);
        assert!(!w.lc.is_closed() && !w.lc.is_terminated());
        assert!(!w.loan.claim());
        assert!(!w.issuer_done.load(Ordering::Relaxed) && !w.followup_done.load(Ordering::Relaxed));
        w
    }

    fn finish(&self) {
        if self.lc.finish() {
            self.quiet.bump();
        }
    }

    /// `WorkerLocal::execute` of the follow-up, by whichever thread takes it from the slot.
    fn execute_followup(&self) {
        if self.loan.claim() {
            self.lc.count_in();
        }
        self.followup_done.store(true, Ordering::SeqCst);
        self.finish(); // it lent nothing itself
    }

    fn take(&self) -> bool {
        std::mem::take(&mut *lock(&self.slot))
    }
}

/// The issuer runs on a worker, lends its unit to its follow-up and publishes it; a thief may
/// steal and run the follow-up while the issuer still runs, or the issuer's worker runs it
/// after the issuer settled. Meanwhile the pool is closed and `is_finished` (join's test) is
/// polled: never true while either is pending; true at the end; the quiet moment signalled.
#[test]
fn loaned_unit_keeps_join_waiting() {
    model(|| {
        let w = World::new();
        // The issuer was admitted from outside before close.
        assert!(matches!(w.lc.admit(false), Admission::Accepted));
        let worker = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                // admit_follow_up: the running job has not lent yet, so the follow-up borrows.
                w.loan.lend();
                *lock(&w.slot) = true; // schedule: published on the local deque
                w.issuer_done.store(true, Ordering::SeqCst);
                // execute() epilogue of the issuer.
                if !w.loan.settle() {
                    w.finish();
                }
                // The worker pops its own deque next.
                if w.take() {
                    w.execute_followup();
                }
            })
        };
        let thief = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                if w.take() {
                    w.execute_followup();
                }
            })
        };
        if w.lc.close() {
            w.quiet.bump();
        }
        if w.lc.is_finished() {
            assert!(
                w.issuer_done.load(Ordering::SeqCst) && w.followup_done.load(Ordering::SeqCst),
                "join could return while the issuer or its borrowing follow-up was pending"
            );
        }
        worker.join().unwrap();
        thief.join().unwrap();
        assert!(
            w.lc.is_finished(),
            "outstanding = {} at the end",
            w.lc.outstanding()
        );
        assert!(w.quiet.get() >= 1, "the quiet moment was never signalled");
    });
}

/// terminate() racing a lent follow-up: `abandon_now` gives the follow-up up and counts a unit
/// out without claiming it, while the issuer settles. Every unit is counted out exactly once
/// (no underflow, nothing left over).
#[test]
fn abandoned_borrower_settles_once() {
    model(|| {
        let w = World::new();
        assert!(matches!(w.lc.admit(false), Admission::Accepted));
        let worker = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                w.loan.lend();
                *lock(&w.slot) = true;
                if !w.loan.settle() {
                    w.finish();
                }
                if w.take() {
                    w.execute_followup();
                }
            })
        };
        // terminate: drain the stealers and abandon what is there (abandon_now: no claim).
        w.lc.terminate();
        if w.take() {
            w.finish();
        }
        worker.join().unwrap();
        assert_eq!(
            w.lc.outstanding(),
            0,
            "units counted in and out do not match"
        );
    });
}
