//! The way work enters the engine, and the one rule that keeps `join` exact: every accepted
//! job holds one unit of the outstanding count (see `lifecycle`) from admission until it has
//! run or been given up, and that unit is counted out exactly once.
//!
//! Nothing outside the engine counts. It has three ways in:
//! - [`Engine::submit`] / [`Engine::submit_detached`]: a new job. One read of the worker
//!   thread-local decides everything: issued on one of our workers it is a follow-up
//!   (accepted after `close`, pushed on the local deque, its unit taken from the worker's
//!   credit, see `worker`); anywhere else it is external (refused after `close`, injected).
//! - [`Hold`]: a unit as a value, for work that will issue jobs later (a `map` call while it
//!   cuts chunks, a stream's feeder, a continuation waiting for its parent). Its `Drop`
//!   counts out, so every early return and unwind releases it; [`Hold::another`] admits more
//!   while it is held, which `close` cannot refuse (the pool cannot be quiet meanwhile).
//! - [`Engine::submit_held`]: a job that takes over a hold's unit.

use super::worker::{with_worker_in_job, with_worker_of};
use super::{Engine, EngineRef, Job, JobRef, WorkerLocal};
use crate::error::{Error, Result};
use std::sync::Arc;

/// One unit of the pool's outstanding count, held as a value: while it lives, the pool cannot
/// go quiet and `join` waits. Dropping it counts the unit out.
#[must_use = "dropping a Hold at once releases the unit it was taken for"]
pub(crate) struct Hold {
    engine: EngineRef,
    /// The unit went to a job (`pass_on`): dropping the hold no longer counts out.
    passed: bool,
}

impl Hold {
    /// Admits one unit on `engine`: internal (accepted after `close`) when called on one of
    /// its workers, external otherwise.
    pub(crate) fn take(engine: &EngineRef) -> Result<Hold> {
        engine.admit(engine.on_own_worker())?;
        Ok(Hold {
            engine: engine.clone(),
            passed: false,
        })
    }

    /// Admits one more unit while this one is held: internal, so `close` does not refuse it
    /// (only `terminate` does).
    pub(crate) fn another(&self) -> Result<Hold> {
        self.engine.admit(true)?;
        Ok(Hold {
            engine: self.engine.clone(),
            passed: false,
        })
    }

    /// The engine this unit belongs to.
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Gives the unit to a job that is about to be queued (it will count out when it finishes).
    fn pass_on(mut self) {
        self.passed = true;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.passed {
            self.engine.finish_one();
        }
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").finish_non_exhaustive()
    }
}

impl Engine {
    /// Admits and queues the job `make` builds (built only once admitted, so a refused job
    /// never exists); returns it with the engine reference its result handle keeps (this
    /// worker's shard when on one, so handles made here never touch the shared count).
    pub(crate) fn submit<J: Job + 'static>(
        self: &Arc<Self>,
        make: impl FnOnce() -> Arc<J>,
    ) -> Result<(Arc<J>, EngineRef)> {
        self.submit_with(make, |job, worker| {
            let engine = match worker {
                Some(w) => EngineRef::Shard(Arc::clone(&w.shard)),
                None => EngineRef::Shared(Arc::clone(self)),
            };
            (Arc::clone(job), engine)
        })
    }

    /// [`submit`](Self::submit) for a job without a handle: no engine reference is taken, and
    /// the queue's reference is the only one (no count to raise and drop again).
    pub(crate) fn submit_detached<J: Job + 'static>(
        self: &Arc<Self>,
        make: impl FnOnce() -> Arc<J>,
    ) -> Result<()> {
        self.submit_with(make, |_, _| ())
    }

    /// Queues a job that takes over `hold`'s unit.
    pub(crate) fn submit_held(&self, hold: Hold, job: JobRef) {
        debug_assert!(std::ptr::eq(Arc::as_ptr(hold.engine()), self));
        hold.pass_on();
        with_worker_of(self, |w| {
            self.count_submitted(w);
            self.enqueue(job, w)
        });
    }

    /// Takes a [`Hold`] on this engine (see [`Hold::take`]).
    pub(crate) fn hold(self: &Arc<Self>) -> Result<Hold> {
        Hold::take(&EngineRef::Shared(Arc::clone(self)))
    }

    fn submit_with<J: Job + 'static, R>(
        self: &Arc<Self>,
        make: impl FnOnce() -> Arc<J>,
        keep: impl FnOnce(&Arc<J>, Option<&WorkerLocal>) -> R,
    ) -> Result<R> {
        with_worker_in_job(self, |worker| {
            match worker {
                Some(w) => {
                    if self.is_terminated() {
                        return Err(Error::Terminated);
                    }
                    w.admit_here();
                }
                None => self.admit(false)?,
            }
            self.count_submitted(worker);
            let job = make();
            let kept = keep(&job, worker);
            self.enqueue(job, worker);
            Ok(kept)
        })
    }

    #[inline]
    fn count_submitted(&self, worker: Option<&WorkerLocal>) {
        match worker {
            Some(w) => w.counters().submitted.bump(),
            None => self.outside_counters.submitted(),
        }
    }

    /// Queues an admitted job: on `worker`'s local deque when given (the current thread is
    /// that worker), on the shared injector otherwise. After `terminate` the job is given up
    /// instead: at once off the pool; on a worker when it is popped (every worker checks
    /// `terminated` before it runs a job, and empties its deque when it leaves its loop).
    #[inline(always)] // on the follow-up path; LLVM otherwise keeps it out of line
    fn enqueue(&self, job: JobRef, worker: Option<&WorkerLocal>) {
        match worker {
            Some(w) => w.push(job),
            None if self.is_terminated() => self.abandon_now(job),
            None => {
                self.injector.push(job);
                self.sleep.notify_one();
                // `terminate` sets the flag, then drains; we pushed, then look: one of us
                // sees the other.
                if self.is_terminated() {
                    self.drain_injector();
                }
            }
        }
    }
}
