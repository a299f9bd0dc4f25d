//! Tasks and their handles: the state machine between "issued" and "result taken".
//!
//! One allocation per task ([`task::Task`]) holds the result cell, the closure, its input, its
//! callbacks and its group; the engine queues it as a `JobRef` and the caller holds it as an
//! [`AsyncResult`]. Results that no single closure produces (a `map`'s vector, a fan-in) use a
//! [`task::Promise`] with the same cell.
//!
//! The layers above (`followups/`, `pool/`) reach the engine only through [`Scheduler`]
//! (issue, wait or receive while helping, make handles for promises) and learn of an outcome
//! only through `AsyncResult::on_outcome`: the cell and the handle's fields stay in here.

pub(crate) mod callbacks;
pub(crate) mod cell;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod handle;
pub(crate) mod issue;
mod scheduler;
pub(crate) mod shared;
mod spare;
pub(crate) mod tracker;
pub(crate) mod waiters;

use crate::sync::Arc;
use cell::Cell;
use tracker::Tracker;

pub use callbacks::Callbacks;
pub use context::is_cancelled;
pub use handle::{AsyncResult, Canceller};
pub(crate) use scheduler::Scheduler;
pub use shared::SharedResult;

/// What a handle needs from the thing it points at, whatever produces the result.
pub(crate) trait Completion<T>: Send + Sync {
    fn cell(&self) -> &Cell<T>;
    /// Cancels the work if it has not started; true if this call cancelled it.
    fn cancel(&self) -> bool;
    /// Claims and runs the work on this thread if it is still queued; true if it ran here.
    fn run_inline(self: Arc<Self>) -> bool;
    /// The group the work belongs to, inherited by its continuations.
    fn tracker(&self) -> Option<Arc<Tracker>>;
    /// Identity of the allocation, to detect a task waiting on itself.
    fn id(&self) -> *const ();
}
