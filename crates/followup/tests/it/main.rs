//! Integration tests of the `followup` crate, in one test binary.
//!
//! Each module pins one area of the contract (the Python-compatible API, the documented
//! differences from Python in `python-threadpool.md` §8, and the follow-up primitives). Every
//! blocking wait is bounded: a test that would hang fails instead (see [`util`]).

mod edges;
mod followups;
mod lifecycle;
mod panics;
mod python_api;
mod scheduling;
mod seed_patterns;
mod streaming;
mod timeouts;
mod util;
