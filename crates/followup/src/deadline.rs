//! Turning a timeout into a deadline, where a timeout too large for the clock means no limit.
//!
//! `Instant + Duration` panics when the sum overflows the clock (`Duration::MAX` does), while
//! std's and crossbeam's own waits read such a timeout as "wait for ever". Every API of this
//! crate that takes a `Duration` goes through [`deadline`], so all of them agree.

use std::time::{Duration, Instant};

/// The instant `timeout` from now, or `None` (no limit) when that instant is beyond what the
/// clock can represent.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_timeout_is_no_limit() {
        assert_eq!(deadline(Duration::MAX), None);
        let soon = deadline(Duration::from_secs(1)).expect("one second is representable");
        assert!(soon > Instant::now());
    }
}
