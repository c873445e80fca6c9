//! One dead letter as a line of a dead-letter file, and reading such files
//! back (for `eventstorm-sink replay`).
//!
//! A line is one JSON object:
//!
//! ```text
//! {"at":"2026-12-06T04:10:00.123Z","sink":"archive","cause":"refused",
//!  "destination":"ops.acme_events","reason":"...","type":"order.placed",
//!  "id":"6752...","event":{...},"bson":"..."}
//! ```
//!
//! `event` is the event as relaxed extended JSON, for people and `grep`;
//! `bson` is the event's bytes as received, base64-encoded: replay sends
//! exactly those bytes again, so nothing is lost in a JSON round trip.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use eventstorm_core::RawEvent;
use serde::{Deserialize, Serialize};

use super::{DeadLetter, GiveUp};
use crate::sinks::to_json;

/// Longest line read back: an event of 16 MiB (the largest message a
/// receiver accepts by default) base64-encoded, its JSON rendering and the
/// rest of the line, with room to spare. A longer line is an error, not an
/// allocation.
pub(crate) const MAX_LINE_BYTES: usize = 128 * 1024 * 1024;

#[derive(Serialize)]
struct LineOut<'a> {
    at: &'a str,
    sink: &'a str,
    cause: &'a str,
    destination: &'a str,
    reason: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    id: String,
    event: serde_json::Value,
    bson: String,
}

#[derive(Deserialize)]
struct LineIn {
    #[serde(default)]
    at: String,
    #[serde(default)]
    sink: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    reason: String,
    bson: String,
}

/// Appends `letter` as one line (with its `\n`) to `out`.
pub(crate) fn write_line(out: &mut Vec<u8>, sink: &str, at: &str, letter: &DeadLetter) {
    let line = LineOut {
        at,
        sink,
        cause: letter.cause.as_str(),
        destination: &letter.destination,
        reason: &letter.reason,
        event_type: letter.event.event_type(),
        id: letter.event.id().to_hex(),
        event: to_json(&letter.event),
        bson: BASE64.encode(letter.event.as_bytes()),
    };
    // Serialising plain strings and a `serde_json::Value` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
    out.push(b'\n');
}

/// One dead letter read back from a file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeadLetterRecord {
    /// The 1-based line it was read from.
    pub line: usize,
    /// When it was given up (RFC 3339, UTC), as written.
    pub at: String,
    /// The sink that gave it up.
    pub sink: String,
    /// Why, when the line names a known cause.
    pub cause: Option<GiveUp>,
    /// Where it was to be written.
    pub destination: String,
    /// What happened.
    pub reason: String,
    /// The event, its bytes exactly as received, validated again.
    pub event: RawEvent,
}

/// A line of a dead-letter file that cannot be replayed.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
#[non_exhaustive]
pub struct ReadError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Reads a dead-letter file line by line: an iterator of
/// [`DeadLetterRecord`]s, or [`ReadError`]s for lines that are not dead
/// letters (each bad line is one error; the lines after it are still read).
///
/// It reads at most the bytes the file had when it was opened, so a file
/// that is appended to meanwhile (the active dead-letter file of a running
/// sink) is read as it was.
#[derive(Debug)]
pub struct DeadLetterReader {
    path: PathBuf,
    input: BufReader<std::io::Take<File>>,
    line: usize,
    buf: Vec<u8>,
}

impl DeadLetterReader {
    /// Opens `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<DeadLetterReader, ReadError> {
        let path = path.as_ref().to_path_buf();
        let fail = |message: String| ReadError {
            file: path.clone(),
            line: 0,
            message,
        };
        let file = File::open(&path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| fail(format!("cannot read: {e}")))?
            .len();
        Ok(DeadLetterReader {
            input: BufReader::with_capacity(256 * 1024, file.take(len)),
            path,
            line: 0,
            buf: Vec::new(),
        })
    }

    fn error(&self, message: impl Into<String>) -> ReadError {
        ReadError {
            file: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    /// Reads the next line into `buf`, at most [`MAX_LINE_BYTES`]; a longer
    /// one is skipped whole and reported. `Ok(false)` at the end.
    fn next_line(&mut self) -> Result<bool, ReadError> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| self.error(format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
            // Skip the rest of the overlong line without keeping it.
            loop {
                let available = match self.input.fill_buf() {
                    Ok(available) => available,
                    Err(e) => return Err(self.error(format!("cannot read: {e}"))),
                };
                if available.is_empty() {
                    break;
                }
                match available.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.input.consume(i + 1);
                        break;
                    }
                    None => {
                        let len = available.len();
                        self.input.consume(len);
                    }
                }
            }
            self.buf.clear();
            return Err(self.error(format!(
                "the line is longer than {MAX_LINE_BYTES} bytes: not a dead letter"
            )));
        }
        Ok(true)
    }

    fn parse(&self) -> Result<DeadLetterRecord, ReadError> {
        let text = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        let line: LineIn = serde_json::from_slice(text).map_err(|e| {
            self.error(format!(
                "not a dead letter (expected a JSON object with a `bson` field): {e}"
            ))
        })?;
        let bytes = BASE64
            .decode(line.bson.as_bytes())
            .map_err(|e| self.error(format!("`bson` is not base64: {e}")))?;
        let event = RawEvent::from_bytes(bytes)
            .map_err(|e| self.error(format!("`bson` is not a valid event: {e}")))?;
        Ok(DeadLetterRecord {
            line: self.line,
            at: line.at,
            sink: line.sink,
            cause: GiveUp::from_name(&line.cause),
            destination: line.destination,
            reason: line.reason,
            event,
        })
    }
}

impl Iterator for DeadLetterReader {
    type Item = Result<DeadLetterRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_line() {
                Ok(false) => return None,
                Err(e) => return Some(Err(e)),
                Ok(true) => {
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(self.parse());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventstorm_core::Event;
    use std::io::Write;

    fn letter() -> DeadLetter {
        let event = Event::builder("order.placed")
            .tenant("acme")
            .field("total", 99.5)
            .field("n", 3_i32)
            .build();
        DeadLetter::new(
            RawEvent::from_event(&event).unwrap(),
            GiveUp::Refused,
            "ops.acme_events",
            "namespace too long \"x\"\nsecond line",
        )
    }

    #[test]
    fn a_line_round_trips_the_exact_bytes() {
        let letter = letter();
        let mut out = Vec::new();
        write_line(&mut out, "archive", "2026-12-06T04:10:00.123Z", &letter);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        let mut file = File::create(&path).unwrap();
        file.write_all(&out).unwrap();
        file.write_all(b"\n   \nnot json\n{\"bson\":\"!!\"}\n{\"bson\":\"AAAA\"}\n")
            .unwrap();
        file.write_all(&out).unwrap();
        let read: Vec<_> = DeadLetterReader::open(&path).unwrap().collect();
        assert_eq!(read.len(), 5);
        let first = read[0].as_ref().unwrap();
        assert_eq!(first.event.as_bytes(), letter.event.as_bytes());
        assert_eq!(first.cause, Some(GiveUp::Refused));
        assert_eq!(first.reason, letter.reason);
        assert_eq!(first.sink, "archive");
        let errors: Vec<String> = read[1..4]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert!(errors[0].contains(":4: not a dead letter"), "{errors:?}");
        assert!(errors[1].contains(":5: `bson` is not base64"), "{errors:?}");
        assert!(
            errors[2].contains(":6: `bson` is not a valid event"),
            "{errors:?}"
        );
        assert_eq!(read[4].as_ref().unwrap().line, 7);
    }

    #[test]
    fn lines_appended_after_opening_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        let mut out = Vec::new();
        write_line(&mut out, "s", "t", &letter());
        std::fs::write(&path, &out).unwrap();
        let reader = DeadLetterReader::open(&path).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&out).unwrap();
        assert_eq!(reader.count(), 1);
    }
}
