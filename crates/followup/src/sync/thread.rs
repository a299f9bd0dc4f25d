//! The door to threads: `std::thread` normally, `loom::thread` under `--cfg loom`, so the
//! engine's workers are loom threads in the models. Only what the engine uses: `Builder` (loom's
//! takes a name and a stack size too, and ignores both), `JoinHandle` and `yield_now`.
//!
//! Thread-locals go through [`crate::sync::thread_local!`]: loom's threads are coroutines on
//! one OS thread, so a std thread-local would be one value shared by all of them.

#[cfg(not(loom))]
pub(crate) use std::thread::{yield_now, Builder, JoinHandle};

#[cfg(loom)]
pub(crate) use loom::thread::{yield_now, Builder, JoinHandle};

/// `std::thread_local!` for loom builds: `loom::thread_local!`, which takes no `const { }`
/// initialiser (it is matched as an expression, which an inline `const` block is not in the
/// 2021 edition), so the `const` is dropped here. One declaration per invocation, as the
/// crate writes them.
#[cfg(loom)]
macro_rules! loom_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        loom::thread_local!($(#[$attr])* static $name: $t = $init);
    };
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        loom::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}

#[cfg(loom)]
pub(crate) use loom_thread_local;
