//! A worker's credit of units of the outstanding counter (`engine::worker`, "The worker's
//! credit"), with the real `Lifecycle`: a job issued on a worker takes its unit from the
//! credit (an empty credit first takes a batch from the counter), a finished job's unit goes
//! into the credit, and the worker gives the credit back before it idles. The counter must
//! never read zero while a job is pending, must read zero once every credit is back, and the
//! quiet moment must be signalled.
//!
//! The credit itself is a plain local of the worker thread (a `Cell` in `WorkerLocal`): what
//! is modelled is its arithmetic against the shared counter, a faithful copy of
//! `WorkerLocal::admit_here`, `execute`'s epilogue and `flush_credit` (the real ones run in
//! the `sleep` models, which start a real engine).

use super::engine_lifecycle::{Admission, Lifecycle};
use super::{model, Count};
use crate::sync::{lock, AtomicBool, Mutex, Ordering};
use loom::thread;
use std::sync::Arc;

/// The batch a worker takes when its credit is empty (small, so the model stays small; the
/// arithmetic is the same for the real 64).
const BATCH: usize = 2;

struct World {
    lc: Lifecycle,
    issuer_done: AtomicBool,
    followup_done: AtomicBool,
    /// The local deque slot the follow-up is published in.
    slot: Mutex<bool>,
    quiet: Count,
}

/// One worker's credit.
#[derive(Default)]
struct Credit(usize);

impl World {
    fn new() -> Arc<World> {
        let w = Arc::new(World {
            lc: Lifecycle::new(),
            issuer_done: AtomicBool::new(false),
            followup_done: AtomicBool::new(false),
            slot: Mutex::new(false),
            quiet: Count::default(),
        });
        // First touch of every atomic (see `crate::sync::seq_cst`).
        assert_eq!(w.lc.outstanding(), 0);
        assert!(!w.lc.is_closed() && !w.lc.is_terminated());
        assert!(!w.issuer_done.load(Ordering::Relaxed) && !w.followup_done.load(Ordering::Relaxed));
        w
    }

    /// `WorkerLocal::admit_here`.
    fn admit_here(&self, credit: &mut Credit) {
        match credit.0.checked_sub(1) {
            Some(left) => credit.0 = left,
            None => {
                self.lc.count_in(BATCH);
                credit.0 = BATCH - 1;
            }
        }
    }

    /// `WorkerLocal::flush_credit` (and `Engine::wake_for_shutdown`, counted).
    fn flush(&self, credit: &mut Credit) {
        let units = std::mem::take(&mut credit.0);
        if units > 0 && self.lc.finish_many(units) {
            self.quiet.bump();
        }
    }

    /// `WorkerLocal::execute` of the follow-up, by whichever worker takes it from the slot.
    fn execute_followup(&self, credit: &mut Credit) {
        self.followup_done.store(true, Ordering::SeqCst);
        credit.0 += 1;
    }

    fn take(&self) -> bool {
        std::mem::take(&mut *lock(&self.slot))
    }
}

/// The worker running the issuer: it issues the follow-up from its credit, finishes, runs
/// the follow-up unless someone took it, and gives its credit back (out of work).
fn issuer_worker(w: &Arc<World>) -> thread::JoinHandle<()> {
    let w = Arc::clone(w);
    thread::spawn(move || {
        let mut credit = Credit::default();
        w.admit_here(&mut credit); // submit, on the worker
        *lock(&w.slot) = true; // published on the local deque
        w.issuer_done.store(true, Ordering::SeqCst);
        credit.0 += 1; // execute() epilogue of the issuer
        if w.take() {
            w.execute_followup(&mut credit);
        }
        w.flush(&mut credit);
    })
}

/// The issuer runs on a worker and issues a follow-up there (unit from the credit, which
/// takes a batch); a thief may steal and run the follow-up while the issuer still runs, or the
/// issuer's worker runs it next; each worker then gives its credit back. Meanwhile the pool is
/// closed and, if `poll_join`, `is_finished` (join's test) is polled: never true while either
/// job is pending. Always: true at the end, nothing left over, the quiet moment signalled.
fn credit_model(poll_join: bool) {
    model(move || {
        let w = World::new();
        // The issuer was admitted from outside before close.
        assert!(matches!(w.lc.admit(false), Admission::Accepted));
        let worker = issuer_worker(&w);
        let thief = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                let mut credit = Credit::default();
                if w.take() {
                    w.execute_followup(&mut credit);
                }
                w.flush(&mut credit);
            })
        };
        if w.lc.close() {
            w.quiet.bump();
        }
        if poll_join && w.lc.is_finished() {
            assert!(
                w.issuer_done.load(Ordering::SeqCst) && w.followup_done.load(Ordering::SeqCst),
                "join could return while the issuer or its follow-up was pending"
            );
        }
        worker.join().unwrap();
        thief.join().unwrap();
        assert_eq!(w.lc.outstanding(), 0, "units left over at the end");
        assert!(w.lc.is_finished());
        assert!(w.quiet.get() >= 1, "the quiet moment was never signalled");
    });
}

/// Every unit taken as credit comes back exactly once, and the quiet moment is signalled.
#[test]
fn credit_is_given_back_once() {
    credit_model(false);
}

/// The counter never reads zero while the issuer runs or its follow-up is pending, wherever
/// the follow-up's unit and the issuer's finished unit sit (in a credit, in the counter).
#[test]
fn credit_keeps_join_waiting() {
    credit_model(true);
}

/// terminate() racing a follow-up issued from credit: `abandon_now` gives it up and counts
/// its unit out from the counter, while the issuer's worker gives back its credit. Every unit
/// is counted out exactly once (no underflow, nothing left over).
#[test]
fn abandoned_follow_up_and_credit_balance() {
    model(|| {
        let w = World::new();
        assert!(matches!(w.lc.admit(false), Admission::Accepted));
        let worker = issuer_worker(&w);
        // terminate: drain the stealers and abandon what is there (`abandon_now`).
        w.lc.terminate();
        if w.take() && w.lc.finish() {
            w.quiet.bump();
        }
        worker.join().unwrap();
        assert_eq!(
            w.lc.outstanding(),
            0,
            "units counted in and out do not match"
        );
    });
}
