//! Metlog-style helpers: logs, counters, gauges and timers.

use std::time::Instant;

use bson::{Bson, Document};
use eventstorm_core::Severity;

use super::Client;

impl Client {
    /// Emits a log message (type `log`, body `{message}`).
    pub fn log(&self, severity: Severity, message: impl Into<String>) -> bool {
        self.emit_with("log", severity, bson::doc! { "message": message.into() })
    }

    /// Adds `n` to a counter (type `counter`, body `{name, value}`).
    pub fn incr(&self, name: &str, n: i64) -> bool {
        self.emit("counter", bson::doc! { "name": name, "value": n })
    }

    /// Reports a gauge's value (type `gauge`, body `{name, value}`).
    pub fn gauge(&self, name: &str, value: f64) -> bool {
        self.emit("gauge", bson::doc! { "name": name, "value": value })
    }

    /// Starts a timer; when the returned guard is dropped it emits the elapsed
    /// time (type `timer`, body `{name, elapsed_ms}`).
    pub fn timer(&self, name: &str) -> Timer {
        Timer {
            client: self.clone(),
            name: name.to_string(),
            start: Instant::now(),
            fields: Document::new(),
        }
    }
}

/// Times a block of code; see [`Client::timer`].
#[derive(Debug)]
pub struct Timer {
    client: Client,
    name: String,
    start: Instant,
    fields: Document,
}

impl Timer {
    /// Adds a field to the timer event.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Bson>) -> Self {
        self.fields.insert(key, value);
        self
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let elapsed_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut fields = std::mem::take(&mut self.fields);
        fields.insert("name", std::mem::take(&mut self.name));
        fields.insert("elapsed_ms", elapsed_ms);
        self.client.emit("timer", fields);
    }
}
