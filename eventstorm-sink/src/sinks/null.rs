//! Discards events, counting them.

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};

/// Counts events and bytes and discards them: for benchmarks and for measuring
/// a pipeline without a destination.
#[derive(Debug, Default)]
pub struct NullSink {
    events: u64,
    bytes: u64,
}

impl NullSink {
    /// A new null sink.
    pub fn new() -> Self {
        NullSink::default()
    }
}

impl EventSink for NullSink {
    fn name(&self) -> &str {
        "null"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.events += batch.len() as u64;
        self.bytes += batch.iter().map(|e| e.as_bytes().len() as u64).sum::<u64>();
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new("null");
        stats.push("events", self.events).push("bytes", self.bytes);
        stats
    }
}
