//! Appends events to a JSON-lines file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};

use super::json::write_json_line;
use crate::error::{Error, Result};

/// Appends each event as one line of JSON (relaxed extended JSON) to a file.
///
/// Lines are buffered and flushed when the runtime is idle and at shutdown.
/// A batch is written whole or, on an I/O error, reported as failed whole.
#[derive(Debug)]
pub struct JsonLinesFileSink {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    written: u64,
    bytes: u64,
}

impl JsonLinesFileSink {
    /// Opens (creating or appending to) the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                context: format!("opening {} for appending", path.display()),
                source,
            })?;
        Ok(JsonLinesFileSink {
            path,
            out: BufWriter::with_capacity(256 * 1024, file),
            line: Vec::with_capacity(1024),
            written: 0,
            bytes: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl EventSink for JsonLinesFileSink {
    fn name(&self) -> &str {
        "jsonl-file"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.line.clear();
        for event in batch {
            write_json_line(&mut self.line, event);
        }
        self.out.write_all(&self.line).map_err(|e| {
            SinkError::permanent(batch.len(), format!("writing {}: {e}", self.path.display()))
        })?;
        self.written += batch.len() as u64;
        self.bytes += self.line.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .map_err(|e| SinkError::permanent(0, format!("flushing {}: {e}", self.path.display())))
    }

    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        self.out
            .get_ref()
            .metadata()
            .map(|_| ())
            .map_err(|e| eventstorm_core::Error::io(format!("checking {}", self.path.display()), e))
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new("jsonl-file");
        stats
            .push("written", self.written)
            .push("bytes", self.bytes);
        stats
    }
}
