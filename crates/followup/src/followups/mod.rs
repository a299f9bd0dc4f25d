//! Follow-up primitives: continuations on handles, as-completed sets, task groups, fan-in,
//! cancellation and deadlines. Built only on the task layer.

mod as_completed;
mod continuation;
pub(crate) mod fan_in;
mod group;
mod timer;

pub use as_completed::{Adder, AsCompleted};
pub use continuation::IntoAsyncResult;
pub use group::TaskGroup;
