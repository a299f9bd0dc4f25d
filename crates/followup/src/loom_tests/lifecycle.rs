//! The close/join quiescence counter (`engine::lifecycle`, compiled here from its own source
//! file). `is_finished` is what `join` and the workers' exit test read.

use super::engine_lifecycle::{Admission, Lifecycle};
use super::{model, Count};
use crate::error::Error;
use crate::sync::{AtomicBool, Ordering};
use loom::thread;
use std::sync::Arc;

/// A new lifecycle, its atomics touched first (see `crate::sync::seq_cst`).
fn lifecycle() -> Arc<Lifecycle> {
    let lc = Arc::new(Lifecycle::new());
    assert_eq!(lc.outstanding(), 0);
    assert!(!lc.is_closed() && !lc.is_terminated());
    lc
}

/// An external task (admitted before close) issues a follow-up from inside the pool while
/// another thread closes and polls `is_finished` (join's test). `is_finished` is never true
/// while the follow-up is pending; it is true once everything finished; and the quiet moment
/// is signalled (by `close` or the last `finish`), so a sleeping `join` is woken.
#[test]
fn join_waits_for_internal_followup() {
    model(|| {
        let lc = lifecycle();
        assert!(matches!(lc.admit(false), Admission::Accepted));
        let quiet = Count::default();
        let followup_done = Arc::new(AtomicBool::new(false));
        assert!(!followup_done.load(Ordering::Relaxed));
        let worker = {
            let (lc, quiet, done) = (Arc::clone(&lc), quiet.clone(), Arc::clone(&followup_done));
            thread::spawn(move || {
                // The task runs and issues a follow-up from inside the pool.
                assert!(
                    matches!(lc.admit(true), Admission::Accepted),
                    "a follow-up from inside the pool must be accepted after close"
                );
                if lc.finish() {
                    quiet.bump(); // the task is done
                }
                done.store(true, Ordering::SeqCst); // the follow-up runs
                if lc.finish() {
                    quiet.bump();
                }
            })
        };
        if lc.close() {
            quiet.bump();
        }
        if lc.is_finished() {
            assert!(
                followup_done.load(Ordering::SeqCst),
                "join could return while a follow-up was pending"
            );
        }
        worker.join().unwrap();
        assert!(
            lc.is_finished(),
            "all work finished and the pool is closed, but join would still wait (outstanding = {})",
            lc.outstanding()
        );
        assert!(
            quiet.get() >= 1,
            "nobody signalled the quiet moment: a join sleeping on the condvar is never woken"
        );
    });
}

/// An external submitter racing close(): either it is refused with `Closed`, or it was counted
/// before close's check, so a join that saw the pool finished never misses its work.
#[test]
fn external_admit_races_close() {
    model(|| {
        let lc = lifecycle();
        let quiet = Count::default();
        let work_done = Arc::new(AtomicBool::new(false));
        assert!(!work_done.load(Ordering::Relaxed));
        let submitter = {
            let (lc, quiet, done) = (Arc::clone(&lc), quiet.clone(), Arc::clone(&work_done));
            thread::spawn(move || match lc.admit(false) {
                Admission::Accepted => {
                    done.store(true, Ordering::SeqCst);
                    if lc.finish() {
                        quiet.bump();
                    }
                    true
                }
                Admission::Refused { error, now_quiet } => {
                    assert_eq!(error, Error::Closed);
                    if now_quiet {
                        quiet.bump();
                    }
                    false
                }
            })
        };
        if lc.close() {
            quiet.bump();
        }
        let finished_before_work = lc.is_finished() && !work_done.load(Ordering::SeqCst);
        let accepted = submitter.join().unwrap();
        assert!(
            !(finished_before_work && accepted),
            "join saw a quiet pool, then an external task was accepted anyway"
        );
        assert!(
            lc.is_finished(),
            "outstanding = {} after everything finished",
            lc.outstanding()
        );
        assert!(quiet.get() >= 1, "the quiet moment was never signalled");
    });
}

/// A submitter racing terminate(): refused with `Terminated` (never `Closed`), or accepted and
/// counted; the pool is finished at once either way (terminate does not wait for the queue).
#[test]
fn external_admit_races_terminate() {
    model(|| {
        let lc = lifecycle();
        let submitter = {
            let lc = Arc::clone(&lc);
            thread::spawn(move || match lc.admit(false) {
                Admission::Accepted => {
                    let _ = lc.finish();
                }
                Admission::Refused { error, .. } => assert_eq!(error, Error::Terminated),
            })
        };
        lc.terminate();
        assert!(lc.is_finished() && lc.is_closed() && lc.is_terminated());
        submitter.join().unwrap();
        assert_eq!(lc.outstanding(), 0);
    });
}
