//! A thread pool for ad hoc tasks whose centre is the *follow-up task*: work issued because
//! earlier work finished. It offers all of Python's `multiprocessing.pool.ThreadPool` in
//! idiomatic Rust, and goes beyond it where Python hurts.
//!
//! # The two follow-up patterns
//!
//! **Manual**: iterate `imap_unordered` results as they complete and, where a result passes a
//! test, issue a follow-up with `apply_async`; then `close()` and `join()`.
//!
//! ```
//! use followup::ThreadPool;
//!
//! fn task1(i: u32) -> (u32, f64) { (i, f64::from(i) / 10.0) }
//! fn task2(i: u32, v: f64) -> (u32, f64, f64) { (i, v, v / 2.0) }
//!
//! let pool = ThreadPool::new()?;
//! let mut followups = Vec::new();
//! for r in pool.imap_unordered(task1, 0..10)? {
//!     let (i, v) = r?;
//!     if v > 0.5 {
//!         followups.push(pool.apply_async(move || task2(i, v))?);
//!     }
//! }
//! pool.close();
//! pool.join()?;
//! assert_eq!(followups.len(), 4); // 0.6, 0.7, 0.8, 0.9
//! assert!(followups.iter().all(|h| h.ready()));
//! # Ok::<(), followup::Error>(())
//! ```
//!
//! **Callback**: `map_async` with a callback that issues the follow-ups; wait for the result,
//! then close and join. Unlike Python, closing early is not a trap here: work issued from
//! inside the pool (this callback runs on a worker) is still accepted after `close()`, so
//! `close()` + `join()` waits for the whole follow-up tree.
//!
//! ```
//! use followup::{MapOptions, ThreadPool};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! fn task1(i: u32) -> (u32, f64) { (i, f64::from(i) / 10.0) }
//!
//! let pool = ThreadPool::new()?;
//! let done = Arc::new(AtomicUsize::new(0));
//! let (p, d) = (pool.clone(), Arc::clone(&done));
//! let opts = MapOptions::new().callback(move |results: &Vec<(u32, f64)>| {
//!     for &(i, v) in results {
//!         if v > 0.5 {
//!             let d = Arc::clone(&d);
//!             drop(p.apply_async(move || { d.fetch_add(1, Ordering::SeqCst); (i, v) }).unwrap());
//!         }
//!     }
//! });
//! let result = pool.map_async_with(task1, 0..10, opts)?;
//! pool.close(); // early on purpose: the callback's follow-ups are still accepted
//! result.wait();
//! pool.join()?;
//! assert_eq!(done.load(Ordering::SeqCst), 4);
//! # Ok::<(), followup::Error>(())
//! ```
//!
//! # Beyond Python
//!
//! - **Continuations** on the handle, whose results flow back: [`AsyncResult::map`],
//!   [`then`](AsyncResult::then), [`recover`](AsyncResult::recover),
//!   [`and_then`](AsyncResult::and_then), and the conditional follow-up in one call,
//!   [`when`](AsyncResult::when).
//! - **Per-item callbacks** for `map_async` ([`MapOptions::on_item`]), not only one at the end.
//! - **[`AsCompleted`]** sets you can add follow-ups to while iterating; **[`TaskGroup`]**s
//!   that wait for a growing tree; fan-in with [`ThreadPool::all`], [`ThreadPool::all_settled`],
//!   [`ThreadPool::any`].
//! - **Cancellation** ([`AsyncResult::cancel`], [`is_cancelled`]) and **deadlines**
//!   ([`AsyncResult::timeout`]), named apart from giving up waiting
//!   ([`AsyncResult::get_timeout`]).
//! - **Lazy input with bounded memory** for `imap`/`imap_unordered`.
//! - **Panics never kill a worker or get lost**: they become [`Error::Panicked`] with the
//!   message; a panicking callback becomes [`Error::CallbackPanicked`].
//! - **Waiting inside a task never deadlocks the pool**: the waiter runs the awaited task
//!   itself if it is still queued, or other work meanwhile.
//! - The handle is a [`Future`](std::future::Future), so async code can `.await` pool work;
//!   [`AsyncResult::shared`] makes a cloneable [`SharedResult`] for `Clone` values, read or
//!   awaited from several places.
//! - Tasks returning `Result<U, E>`: [`AsyncResult::flatten`] and [`AsyncResult::try_get`].
//! - Panic payloads are kept ([`Error::take_panic_payload`]), and a huge timeout
//!   (`Duration::MAX`) means no limit wherever a `Duration` is taken.
//!
//! # Layers
//! `pool` (the Python-named façade) → `followups` (continuations, sets, groups, fan-in) →
//! `task` (the per-task allocation, its state machine and handle) → `engine` (worker threads,
//! work-stealing queues, sleeping, lifecycle). Each uses only the layers below it.

#![cfg_attr(not(test), warn(unreachable_pub))]
// Doctests are examples users copy: they must compile without a warning (README's too).
#![doc(test(attr(deny(warnings))))]

// Layers. Imports point one way: pool -> followups -> task -> engine, and `error`, `sync`,
// `payload` and `deadline` are leaves. `engine/` names nothing above it; `task/` nothing from
// `followups/` or `pool/`; `followups/` builds on `task/` only (its view of a pool is
// `task::Scheduler`); `pool/` takes from the engine only construction and lifecycle
// (`Engine`, `EngineConfig`, `Initializer`, `with_current_engine`). `.ci/layers` checks this
// on every CI run (issue 11).
mod deadline;
mod engine;
mod error;
mod followups;
#[cfg(all(test, loom))]
mod loom_tests;
mod payload;
mod pool;
mod stack;
mod stats;
mod sync;
mod task;

pub use error::{Error, Result};
pub use followups::{Adder, AsCompleted, IntoAsyncResult, TaskGroup};
pub use payload::PanicPayload;
pub use pool::{
    follow_up, spawn, Imap, ImapOptions, ImapUnordered, MapOptions, ThreadPool, ThreadPoolBuilder,
};
pub use stats::{PoolStats, WorkerStats};
pub use task::{is_cancelled, AsyncResult, Callbacks, Canceller, SharedResult};

/// The README's Rust snippets, compiled and run as doctests (warnings denied, as for every
/// doctest here), so what a reader copies from it compiles cleanly.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
