//! The runtime's counters and what they add up to.

use std::sync::atomic::{AtomicU64, Ordering};

use eventstorm_core::{Counter, Stats};

/// The runtime's own counters (the subscriber's and the sink's are kept by
/// them).
///
/// Every event the subscriber received is, once nothing is in flight,
/// exactly one of `filtered`, `dropped_queue_full`, `dropped_no_sink` or
/// `handed_over`; and `handed_over` = `written` + `pending` +
/// `dropped_sink`.
#[derive(Debug, Default)]
pub(crate) struct RuntimeCounters {
    pub(crate) filtered: Counter,
    pub(crate) dropped_queue_full: Counter,
    /// Events received after the sink thread had ended (it panicked).
    pub(crate) dropped_no_sink: Counter,
    /// Events passed to the sink's `write`.
    pub(crate) handed_over: Counter,
    /// Events the sink gave up on (refused, or pending beyond its limits).
    pub(crate) dropped_sink: Counter,
    /// Events the sink accepted and has not confirmed yet
    /// ([`EventSink::pending`](eventstorm_core::EventSink::pending)), as of
    /// the last write or flush.
    pub(crate) pending: AtomicU64,
    pub(crate) batches: Counter,
    pub(crate) sink_errors: Counter,
}

impl RuntimeCounters {
    /// Events the sink confirmed as written: handed over, and neither
    /// pending nor given up. The writer raises `dropped_sink` and `pending`
    /// before `handed_over`, and this reads `handed_over` first, so a
    /// reader on another thread may see too few, never too many.
    pub(crate) fn written(&self) -> u64 {
        let handed_over = self.handed_over.get();
        let dropped = self.dropped_sink.get();
        let pending = self.pending.load(Ordering::Acquire);
        handed_over.saturating_sub(dropped).saturating_sub(pending)
    }

    /// The sink's pending count, after a write or flush.
    pub(crate) fn set_pending(&self, pending: usize) {
        self.pending.store(pending as u64, Ordering::Release);
    }

    pub(crate) fn append_to(&self, stats: &mut Stats) {
        let written = self.written();
        stats
            .push("filtered", self.filtered.get())
            .push("dropped_queue_full", self.dropped_queue_full.get())
            .push("dropped_no_sink", self.dropped_no_sink.get())
            .push("handed_over", self.handed_over.get())
            .push("written", written)
            .push("pending", self.pending.load(Ordering::Acquire))
            .push("dropped_sink", self.dropped_sink.get())
            .push("batches", self.batches.get())
            .push("sink_errors", self.sink_errors.get());
    }
}
