//! [`MongoCounters`]: what the MongoDB sink did with every event.

use std::sync::atomic::{AtomicU64, Ordering};

use eventstorm_core::{Counter, Stats};

/// The sink's counters, readable from any thread while the sink runs (see
/// [`MongoSink::counters`](super::MongoSink::counters)).
///
/// Every event given to `write` ends in exactly one of `written`,
/// `refused`, `dropped_full`, `expired` and `dropped_at_close`, or is still
/// `pending` (an event given twice is stored once and counted in
/// `duplicates_ignored` the second time).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct MongoCounters {
    /// Events stored by this sink (inserted, or found stored by an earlier
    /// attempt whose reply was lost).
    pub written: Counter,
    /// Duplicate-key errors treated as success: retries of events already
    /// stored, and events sent to the sink twice (stored once).
    pub duplicates_ignored: Counter,
    /// `insert_many` calls made (each of at most `batch_size` events).
    pub inserts: Counter,
    /// Write attempts made while the server was unreachable.
    pub retries: Counter,
    /// Times the server became unreachable (each outage is logged once).
    pub outages: Counter,
    /// Events refused for good: by the server (a document too large or too
    /// deep, a namespace it cannot use) or by the sink's own checks of the
    /// collection name. Handed to the refused-event handler, if one is set.
    pub refused: Counter,
    /// Events dropped by `write` because `max_pending` events or
    /// `max_pending_bytes` were already pending (`when_full = "drop"`, or a
    /// block that outlasted `block_timeout_ms`).
    pub dropped_full: Counter,
    /// Events given up because they were pending longer than
    /// `max_pending_age_ms`.
    pub expired: Counter,
    /// Events still pending when the sink was dropped.
    pub dropped_at_close: Counter,
    pub(crate) pending: AtomicU64,
    pub(crate) pending_bytes: AtomicU64,
}

impl MongoCounters {
    /// Events accepted by `write` and not yet written (a gauge).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Bytes of the pending events (a gauge).
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes.load(Ordering::Relaxed)
    }

    /// Events given up, whatever the reason: `dropped_full + expired +
    /// dropped_at_close` (not `refused`).
    pub fn dropped(&self) -> u64 {
        self.dropped_full.get() + self.expired.get() + self.dropped_at_close.get()
    }

    pub(crate) fn set_pending(&self, events: usize, bytes: usize) {
        self.pending.store(events as u64, Ordering::Relaxed);
        self.pending_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// `written, refused, dropped, dropped_full, expired, dropped_at_close,
    /// duplicates_ignored, retries, outages, pending, pending_bytes,
    /// inserts`.
    pub(crate) fn stats(&self, name: &str) -> Stats {
        let mut stats = Stats::new(name);
        stats
            .push("written", self.written.get())
            .push("refused", self.refused.get())
            .push("dropped", self.dropped())
            .push("dropped_full", self.dropped_full.get())
            .push("expired", self.expired.get())
            .push("dropped_at_close", self.dropped_at_close.get())
            .push("duplicates_ignored", self.duplicates_ignored.get())
            .push("retries", self.retries.get())
            .push("outages", self.outages.get())
            .push("pending", self.pending())
            .push("pending_bytes", self.pending_bytes())
            .push("inserts", self.inserts.get());
        stats
    }
}
