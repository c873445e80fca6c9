//! A warning that is logged at most once per interval, with the number of
//! occurrences it stands for: bad input is reported, never floods the log.

use std::time::{Duration, Instant};

/// Logs at most one warning per interval; counts the ones it held back.
#[derive(Debug)]
pub(crate) struct RateLimitedWarn {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedWarn {
    /// One warning per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        RateLimitedWarn {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Logs `message` (built lazily) for `source` unless a warning was logged
    /// less than an interval ago.
    pub(crate) fn warn(&mut self, source: &str, message: impl FnOnce() -> String) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            self.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        self.last = Some(now);
        tracing::warn!(source, suppressed, "{}", message());
    }
}

impl Default for RateLimitedWarn {
    fn default() -> Self {
        RateLimitedWarn::new(Duration::from_secs(10))
    }
}
