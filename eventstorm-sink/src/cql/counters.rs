//! [`CqlCounters`]: what the CQL sink did with every event.

use std::sync::atomic::{AtomicU64, Ordering};

use eventstorm_core::{Counter, Stats};

/// The sink's counters, readable from any thread while the sink runs (see
/// [`CqlSink::counters`](super::CqlSink::counters); the MongoDB sink's have
/// the same shape).
///
/// Every event given to `write` is `accepted` or `dropped_full`; every
/// accepted event ends in exactly one of `written`, `refused`, `failed`,
/// `expired` and `dropped_at_close`, or is still `pending`.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct CqlCounters {
    /// Events accepted by `write` (handed to an insert task).
    pub accepted: Counter,
    /// Events inserted (acknowledged by the cluster).
    pub written: Counter,
    /// Events refused for good: the cluster (or the driver) refused the
    /// statement or a value, or the event is larger than
    /// `max_pending_bytes`. Handed to the refused-event handler, if one is
    /// set.
    pub refused: Counter,
    /// Events whose insert failed `retry.max_attempts` times with a server
    /// error that is neither an outage nor a refusal.
    pub failed: Counter,
    /// Events dropped by `write` because `max_pending` events or
    /// `max_pending_bytes` were pending (`when_full = "drop"`).
    pub dropped_full: Counter,
    /// Events given up after `max_pending_age_ms` of retries (the cluster
    /// stayed unreachable).
    pub expired: Counter,
    /// Events still pending when the sink was dropped.
    pub dropped_at_close: Counter,
    /// Insert attempts that were retried.
    pub retries: Counter,
    /// Configured columns left null because the field held another type.
    pub column_mismatches: Counter,
    pub(crate) pending: AtomicU64,
    pub(crate) pending_bytes: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
    /// Losses (refused, failed, expired) not yet reported in a `SinkError`.
    pub(crate) unreported: AtomicU64,
}

impl CqlCounters {
    /// Events accepted and not yet written or given up (a gauge).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Bytes of the pending events (a gauge).
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// Insert requests in flight now (a gauge).
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The most insert requests ever in flight at once (never more than
    /// `max_concurrent_requests`).
    pub fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// Events given up, whatever the reason: `dropped_full + failed +
    /// expired + dropped_at_close` (not `refused`).
    pub fn dropped(&self) -> u64 {
        self.dropped_full.get()
            + self.failed.get()
            + self.expired.get()
            + self.dropped_at_close.get()
    }

    /// `accepted, written, refused, failed, dropped_full, expired,
    /// dropped_at_close, retries, column_mismatches, pending, pending_bytes,
    /// in_flight, max_in_flight`.
    pub(crate) fn stats(&self, name: &str) -> Stats {
        let mut stats = Stats::new(name);
        stats
            .push("accepted", self.accepted.get())
            .push("written", self.written.get())
            .push("refused", self.refused.get())
            .push("failed", self.failed.get())
            .push("dropped_full", self.dropped_full.get())
            .push("expired", self.expired.get())
            .push("dropped_at_close", self.dropped_at_close.get())
            .push("retries", self.retries.get())
            .push("column_mismatches", self.column_mismatches.get())
            .push("pending", self.pending())
            .push("pending_bytes", self.pending_bytes())
            .push("in_flight", self.in_flight())
            .push("max_in_flight", self.max_in_flight());
        stats
    }
}
