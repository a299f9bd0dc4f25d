//! loom models of the protocols that synchronise through atomics and custom parking.
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p followup --lib --release loom_tests`.
