//! Appends events to a JSON-lines file, rotated by size and by time, with
//! rotated files optionally gzipped.

mod config;
mod rotate;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};

use super::json::write_json_line;
use crate::dead_letter::{DeadLetterHandler, DeadLetters, GiveUp};
use crate::error::{Error, Result};
use rotate::{Compressor, open_append, rotated_name, unix_now};

pub use config::FileSinkConfig;

eventstorm_core::counters! {
    /// What a [`JsonLinesFileSink`] counts.
    pub struct FileSinkCounters {
        /// Events whose line is in the file.
        written,
        /// Bytes of those lines.
        bytes,
        /// Events whose line could not be written (an I/O error): given up.
        failed,
        /// Files rotated.
        rotations,
        /// Rotated files gzipped.
        compressed,
        /// Rotated files that could not be gzipped (they are kept as they
        /// are).
        compress_errors,
        /// Rotated files deleted to stay within `max_files`.
        removed_files,
    }
}

/// Appends each event as one line of JSON (relaxed extended JSON) to a file;
/// built from a [`FileSinkConfig`].
///
/// Each batch is written with as few `write` calls as its size needs,
/// straight to the file (no user-space buffer), so an event counted as
/// `written` is in the file when `write` returns (in the operating system's
/// cache; `fsync` is left to the system). The file is rotated when a line
/// would take it past `rotate_bytes`, and at each multiple of
/// `rotate_interval_secs` since the Unix epoch (checked at each write and
/// flush): it is renamed `PATH.YYYYMMDDTHHMMSSZ` (the time of the rotation,
/// UTC) and, with `gzip`, compressed on a thread of its own into
/// `PATH.YYYYMMDDTHHMMSSZ.gz`. With `max_files`, the oldest rotated files
/// beyond that number are deleted.
///
/// ```
/// use eventstorm_core::{Event, EventSink, RawEvent};
/// use eventstorm_sink::sinks::{FileSinkConfig, JsonLinesFileSink};
///
/// let dir = tempfile::tempdir()?;
/// let config = FileSinkConfig {
///     rotate_bytes: Some(100 * 1024 * 1024),
///     gzip: true,
///     ..FileSinkConfig::new(dir.path().join("events.jsonl"))
/// };
/// let mut sink = JsonLinesFileSink::new(config)?;
/// let event = Event::builder("order.placed").field("total", 99.5).build();
/// sink.write(&[RawEvent::from_event(&event)?])?;
/// let text = std::fs::read_to_string(dir.path().join("events.jsonl"))?;
/// assert!(text.contains(r#""total":99.5"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesFileSink {
    config: FileSinkConfig,
    name: String,
    file: Option<File>,
    size: u64,
    /// When the current period ends (seconds since the epoch), with
    /// `rotate_interval_secs`.
    period_end: Option<u64>,
    buf: Vec<u8>,
    /// Where each line of `buf` ends.
    ends: Vec<usize>,
    compressor: Option<Compressor>,
    counters: Arc<FileSinkCounters>,
    dead_letters: DeadLetters,
}

impl JsonLinesFileSink {
    /// Opens (creating it and its directory, or appending to it) the file
    /// at `path`, never rotated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::new(FileSinkConfig::new(path.as_ref()))
    }

    /// Opens the file `config` names, with its rotation settings.
    pub fn new(config: FileSinkConfig) -> Result<Self> {
        config
            .validate()
            .map_err(|(key, message)| Error::config(format!("file.{key}"), message))?;
        let file = open_append(&config.path).map_err(|source| Error::Io {
            context: format!("opening {} for appending", config.path.display()),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let counters = Arc::new(FileSinkCounters::default());
        let compressor = config
            .gzip
            .then(|| Compressor::start(Arc::clone(&counters)))
            .transpose()
            .map_err(|source| Error::Io {
                context: "starting the gzip thread".into(),
                source,
            })?;
        let period_end = config
            .rotate_interval_secs
            .map(|i| next_boundary(unix_now(), i));
        Ok(JsonLinesFileSink {
            name: "file".into(),
            file: Some(file),
            size,
            period_end,
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
            compressor,
            counters,
            dead_letters: DeadLetters::default(),
            config,
        })
    }

    /// Renames the sink (logs and stats; default `file`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Hands the events whose line could not be written (cause `failed`)
    /// to `handler`.
    pub fn with_dead_letters(mut self, handler: Box<dyn DeadLetterHandler>) -> Self {
        self.dead_letters.set(handler);
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.config.path
    }

    /// The counters, readable from any thread.
    pub fn counters(&self) -> Arc<FileSinkCounters> {
        Arc::clone(&self.counters)
    }

    /// Rotates when the current period is over.
    fn rotate_on_time(&mut self) -> std::io::Result<()> {
        let (Some(end), Some(interval)) = (self.period_end, self.config.rotate_interval_secs)
        else {
            return Ok(());
        };
        let now = unix_now();
        if now < end {
            return Ok(());
        }
        self.period_end = Some(next_boundary(now, interval));
        if self.size > 0 {
            self.rotate()?;
        }
        Ok(())
    }

    /// Renames the file, starts a new one, hands the old one to the
    /// compressor and applies `max_files`.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let target = rotated_name(&self.config.path);
        std::fs::rename(&self.config.path, &target)?;
        self.counters.rotations.inc();
        self.size = 0;
        let file = open_append(&self.config.path)?;
        self.file = Some(file);
        match &self.compressor {
            Some(compressor) => {
                compressor.compress(target, self.config.max_files, &self.config.path)
            }
            None => rotate::remove_oldest(&self.config.path, self.config.max_files, &self.counters),
        }
        Ok(())
    }

    /// Writes `buf[from..to]`; returns how many bytes reached the file.
    fn write_bytes(&mut self, from: usize, to: usize) -> (usize, std::io::Result<()>) {
        if self.file.is_none() {
            match open_append(&self.config.path) {
                Ok(file) => {
                    self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
                    self.file = Some(file);
                }
                Err(e) => return (0, Err(e)),
            }
        }
        let Some(file) = self.file.as_mut() else {
            unreachable!("opened above")
        };
        let mut done = from;
        while done < to {
            match file.write(&self.buf[done..to]) {
                Ok(0) => {
                    return (
                        done - from,
                        Err(std::io::Error::new(
                            std::io::ErrorKind::WriteZero,
                            "the file took no more bytes",
                        )),
                    );
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return (done - from, Err(e)),
            }
        }
        self.size += (to - from) as u64;
        (to - from, Ok(()))
    }

    /// Writes the rendered lines, rotating by size between lines (a file
    /// holds at least one line, however long). Returns how many lines
    /// reached the file, and the error that stopped the others.
    fn write_lines(&mut self) -> (usize, Option<std::io::Error>) {
        let limit = self.config.rotate_bytes.unwrap_or(u64::MAX);
        let ends = std::mem::take(&mut self.ends);
        let mut start = 0; // the first byte not yet written
        let mut first = 0; // the first line not yet written
        let mut stopped = None;
        for (i, &end) in ends.iter().enumerate() {
            let line_start = if i == 0 { 0 } else { ends[i - 1] };
            let before = self.size + (line_start - start) as u64;
            if self.size + (end - start) as u64 > limit && before > 0 {
                let (n, r) = self.write_bytes(start, line_start);
                if let Err(e) = r {
                    stopped = Some((first + lines_in(&ends[first..i], start, n), e));
                    break;
                }
                (first, start) = (i, line_start);
                if let Err(e) = self.rotate() {
                    stopped = Some((first, e));
                    break;
                }
            }
        }
        let result = match stopped {
            Some((n, e)) => (n, Some(e)),
            None => match self.write_bytes(start, self.buf.len()) {
                (_, Ok(())) => (ends.len(), None),
                (n, Err(e)) => (first + lines_in(&ends[first..], start, n), Some(e)),
            },
        };
        self.ends = ends;
        result
    }
}

/// How many of the lines ending at `ends` are whole within `n` bytes from
/// `start`.
fn lines_in(ends: &[usize], start: usize, n: usize) -> usize {
    ends.iter().take_while(|&&end| end <= start + n).count()
}

/// The first multiple of `interval` after `now`.
fn next_boundary(now: u64, interval: u64) -> u64 {
    (now / interval + 1) * interval
}

impl EventSink for JsonLinesFileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        if let Err(e) = self.rotate_on_time() {
            tracing::warn!(sink = %self.name, file = %self.config.path.display(), "cannot rotate: {e}");
        }
        self.buf.clear();
        self.ends.clear();
        for event in batch {
            write_json_line(&mut self.buf, event);
            self.ends.push(self.buf.len());
        }
        let (written, error) = self.write_lines();
        self.counters.written.add(written as u64);
        let bytes = self.ends.get(written.wrapping_sub(1)).copied().unwrap_or(0);
        self.counters.bytes.add(bytes as u64);
        let Some(e) = error else { return Ok(()) };
        let failed = batch.len() - written;
        self.counters.failed.add(failed as u64);
        let reason = format!("writing {}: {e}", self.config.path.display());
        for event in &batch[written..] {
            self.dead_letters.give_up(
                || Some(event.clone()),
                GiveUp::Failed,
                || self.config.path.display().to_string(),
                || reason.clone(),
            );
        }
        // Reopened by the next write: the file may have been removed.
        self.file = None;
        Err(SinkError::permanent(failed, reason))
    }

    /// Lines are in the file once `write` returns; this rotates a file
    /// whose period is over.
    fn flush(&mut self) -> Result<(), SinkError> {
        self.rotate_on_time().map_err(|e| {
            SinkError::permanent(0, format!("rotating {}: {e}", self.config.path.display()))
        })
    }

    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        let dir = match self.config.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&dir)
            .map_err(|e| eventstorm_core::Error::io(format!("checking {}", dir.display()), e))?;
        if meta.permissions().readonly() {
            return Err(eventstorm_core::Error::io(
                format!("checking {}", dir.display()),
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the directory is read-only",
                ),
            ));
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(&self.name)
    }
}

impl Drop for JsonLinesFileSink {
    fn drop(&mut self) {
        // Finishes the compressions already started.
        if let Some(compressor) = self.compressor.take() {
            compressor.finish();
        }
    }
}
