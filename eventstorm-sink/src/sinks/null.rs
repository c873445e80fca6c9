//! Discards events, counting them.

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};

/// Counts events and bytes and discards them: for benchmarks and for measuring
/// a pipeline without a destination.
#[derive(Debug)]
pub struct NullSink {
    name: String,
    events: u64,
    bytes: u64,
}

impl Default for NullSink {
    fn default() -> Self {
        NullSink {
            name: "null".into(),
            events: 0,
            bytes: 0,
        }
    }
}

impl NullSink {
    /// A new null sink.
    pub fn new() -> Self {
        NullSink::default()
    }

    /// Renames the sink (logs and stats; default `null`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl EventSink for NullSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.events += batch.len() as u64;
        self.bytes += batch.iter().map(|e| e.as_bytes().len() as u64).sum::<u64>();
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        stats.push("events", self.events).push("bytes", self.bytes);
        stats
    }
}
