//! Follow-up primitives: continuations on handles, as-completed sets, task groups, fan-in,
//! cancellation and deadlines. Built only on the task layer: work is issued, waited for and
//! given handles through `task::Scheduler`, and outcomes are picked up through
//! `AsyncResult::on_outcome`; nothing here names the engine or the façade (`.ci/layers`).

mod as_completed;
mod continuation;
pub(crate) mod fan_in;
mod group;
mod timer;

pub use as_completed::{Adder, AsCompleted};
pub use continuation::IntoAsyncResult;
pub use group::TaskGroup;
