//! Polling a condition instead of sleeping as synchronisation.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How long [`holds_within`] sleeps between two checks.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Polls `condition` every few milliseconds until it holds; fails the test,
/// naming `what` it waited for, when `limit` passes first.
///
/// The limit is a hang detector: give a generous one (seconds), the test
/// goes on as soon as the condition holds.
///
/// ```
/// use std::time::Duration;
/// use eventstorm_test_support::wait_for;
///
/// let mut polls = 0;
/// wait_for("the third poll", Duration::from_secs(10), || {
///     polls += 1;
///     polls == 3
/// });
/// ```
///
/// # Panics
///
/// When `condition` does not hold within `limit`.
#[track_caller]
pub fn wait_for(what: impl Display, limit: Duration, condition: impl FnMut() -> bool) {
    if !holds_within(limit, condition) {
        panic!("timed out after {limit:?} waiting for {what}");
    }
}

/// Polls `condition` every few milliseconds until it holds (`true`) or
/// `limit` passes (`false`), for a test that words its own failure.
pub fn holds_within(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
