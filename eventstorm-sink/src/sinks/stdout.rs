//! Writes events to standard output.

use std::io::Write;

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};
use serde::{Deserialize, Serialize};

use super::json::{to_json, write_json_line};

/// How [`StdoutSink`] prints events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdoutFormat {
    /// One JSON object per line (relaxed extended JSON). The default.
    #[default]
    JsonLines,
    /// One human-readable line per event: time, severity, type, then the body.
    Pretty,
}

/// Prints each event on standard output.
#[derive(Debug)]
pub struct StdoutSink {
    name: String,
    format: StdoutFormat,
    buf: Vec<u8>,
    written: u64,
}

impl Default for StdoutSink {
    fn default() -> Self {
        StdoutSink::new(StdoutFormat::default())
    }
}

impl StdoutSink {
    /// A sink printing in `format`.
    pub fn new(format: StdoutFormat) -> Self {
        StdoutSink {
            name: "stdout".into(),
            format,
            buf: Vec::with_capacity(64 * 1024),
            written: 0,
        }
    }

    /// Renames the sink (logs and stats; default `stdout`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A sink printing JSON lines.
    pub fn json_lines() -> Self {
        StdoutSink::new(StdoutFormat::JsonLines)
    }

    /// A sink printing human-readable lines.
    pub fn pretty() -> Self {
        StdoutSink::new(StdoutFormat::Pretty)
    }
}

fn write_pretty(out: &mut Vec<u8>, event: &RawEvent) {
    let view = event.view();
    let time = event
        .timestamp()
        .try_to_rfc3339_string()
        .unwrap_or_else(|_| event.timestamp().timestamp_millis().to_string());
    let severity = view.severity().map_or("-", |s| s.as_str());
    let body = to_json(event)
        .get("body")
        .map(ToString::to_string)
        .unwrap_or_else(|| "{}".into());
    let tenant = view
        .tenant()
        .map(|t| format!(" tenant={t}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{time} {severity:<7} {}{tenant} {body}",
        event.event_type()
    );
}

impl EventSink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.buf.clear();
        for event in batch {
            match self.format {
                StdoutFormat::JsonLines => write_json_line(&mut self.buf, event),
                StdoutFormat::Pretty => write_pretty(&mut self.buf, event),
            }
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&self.buf)
            .map_err(|e| SinkError::permanent(batch.len(), format!("writing to stdout: {e}")))?;
        self.written += batch.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        std::io::stdout()
            .flush()
            .map_err(|e| SinkError::permanent(0, format!("flushing stdout: {e}")))
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        stats.push("written", self.written);
        stats
    }
}
