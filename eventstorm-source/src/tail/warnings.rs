//! The tail's warnings: each kind has its own rate limiter, so that a flood of
//! one kind (bad lines) never hides another (a missing file), and lasting
//! problems are repeated at the interval for as long as they last.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::ratelimit::RateLimitedWarn;

/// One rate limiter per kind of warning.
#[derive(Debug)]
pub(super) struct Warnings {
    /// The file to follow does not exist.
    pub(super) missing_file: RateLimitedWarn,
    /// The state file's directory does not exist.
    pub(super) state_dir: RateLimitedWarn,
    /// A line rejected by the parser.
    pub(super) rejected: RateLimitedWarn,
    /// A line longer than `max_line_bytes`.
    pub(super) too_long: RateLimitedWarn,
    /// An event of a reserved type refused.
    pub(super) reserved: RateLimitedWarn,
    /// A file that cannot be opened, read or checked.
    pub(super) io: RateLimitedWarn,
    /// A position that cannot be saved.
    pub(super) state_save: RateLimitedWarn,
    /// The interval.
    interval: Duration,
    /// When the state directory is looked at next.
    next_state_dir_check: Instant,
}

impl Warnings {
    /// At most one warning of each kind per `interval`.
    pub(super) fn new(interval: Duration) -> Self {
        Warnings {
            missing_file: RateLimitedWarn::new(interval),
            state_dir: RateLimitedWarn::new(interval),
            rejected: RateLimitedWarn::new(interval),
            too_long: RateLimitedWarn::new(interval),
            reserved: RateLimitedWarn::new(interval),
            io: RateLimitedWarn::new(interval),
            state_save: RateLimitedWarn::new(interval),
            interval,
            next_state_dir_check: Instant::now(),
        }
    }

    /// Warns that `path` does not exist (rate-limited: call it whenever the
    /// file is found missing).
    pub(super) fn file_missing(&mut self, source: &str, path: &Path) {
        self.missing_file.warn(source, || {
            format!(
                "{} does not exist (yet): waiting for it (is `path` right?)",
                path.display()
            )
        });
    }

    /// Warns, once per interval, while the directory of `state_file` is
    /// missing: positions cannot be saved.
    pub(super) fn check_state_dir(&mut self, source: &str, state_file: &Path) {
        let now = Instant::now();
        if now < self.next_state_dir_check {
            return;
        }
        self.next_state_dir_check = now + self.interval;
        let dir = match state_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if dir.is_dir() {
            return;
        }
        self.state_dir.warn(source, || {
            format!(
                "the directory {} of state_file {} does not exist: positions cannot be saved, \
                 and a restart re-reads or skips lines (create the directory)",
                dir.display(),
                state_file.display()
            )
        });
    }
}
