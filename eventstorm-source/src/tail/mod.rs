//! A file tail: follows a log file like `tail -F` and parses each line.
//!
//! - **Rotation by rename** (logrotate's default): when another file appears at
//!   the path, the old one is read to its end and drained until it has been
//!   quiet for [`rotate_wait_ms`](TailConfig::rotate_wait_ms), then the new one
//!   is read from its start. A last line without newline in the old file is
//!   taken as complete.
//! - **Copytruncate**: when the file becomes shorter than what was read (or its
//!   first bytes change), reading starts again at 0. Lines written between the
//!   copy and the truncation are lost by the nature of copytruncate, as with
//!   every tail.
//! - **Partial lines** are kept until their newline arrives.
//! - **Restart**: with a [`state_file`](TailConfig::state_file), the device,
//!   inode and offset after the last line are saved only in
//!   [`commit`](EventSource::commit), i.e. once the publisher has accepted the
//!   events, so a restart neither re-sends nor skips. When the file was rotated
//!   while the tail was down, the old file is found by its inode in the same
//!   directory and finished first.
//! - **Bad lines** (the parser rejects them, or longer than
//!   [`max_line_bytes`](TailConfig::max_line_bytes)) are counted as `rejected`
//!   and skipped with a rate-limited warning; blank lines are ignored.
//!
//! - **Reserved types**: a line parsed into an event of a reserved type
//!   (`_eventstorm.*`, Eventstorm's own events) is refused and counted as
//!   `refused_reserved`: `lines = events + rejected + refused_reserved`.
//! - **A missing file or state directory** is warned about at start and
//!   again every [`warn_interval_ms`](TailConfig::warn_interval_ms) while it
//!   lasts; each kind of warning has its own rate limiter.
//!
//! Counters ([`TailCounters`]): `lines`, `events`, `refused_reserved`,
//! `rejected`, `too_long`, `bytes`, `rotations`, `truncations`,
//! `state_errors`.
//!
//! ```
//! use std::io::Write;
//! use std::time::Duration;
//! use eventstorm_core::EventSource;
//! use eventstorm_source::tail::{StartAt, TailConfig, TailSource};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.log");
//! std::fs::write(&path, "{\"type\":\"a\"}\n{\"type\":\"b\"}\n{\"type\":")?;
//! let config = TailConfig::new(&path, "json").with_start_at(StartAt::Beginning);
//! let mut tail = TailSource::new(config)?;
//! let mut out = Vec::new();
//! tail.poll(&mut out, 100, Duration::from_millis(10))?;
//! assert_eq!(out.len(), 2); // the third line is not complete yet
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod file;
mod follow;
mod state;
mod warnings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::event::{BodyWriter, finish_event};
use eventstorm_core::{Event, EventSource, RawEvent, SourceStatus, Stats};

pub use config::{StartAt, TailConfig};

use crate::error::{Error, Result};
use crate::parse::{Parser, parser_by_name};
use crate::reserved::{RESERVED_PREFIX, is_reserved};
use file::{Line, OpenFile};
use state::SavedPosition;
use warnings::Warnings;

eventstorm_core::counters! {
    /// The counters of a [`TailSource`], readable from any thread.
    pub struct TailCounters {
        /// Non-blank lines read.
        lines,
        /// Lines parsed into events.
        events,
        /// Lines parsed into an event of a reserved type (`_eventstorm.*`),
        /// refused.
        refused_reserved,
        /// Lines rejected (by the parser, or too long).
        rejected,
        /// Of the rejected lines, those longer than the limit.
        too_long,
        /// Bytes read.
        bytes,
        /// Rotations by rename followed.
        rotations,
        /// Truncations (copytruncate) followed.
        truncations,
        /// Failed writes of the state file.
        state_errors,
    }
}

/// Follows a file and parses its lines: see the [module docs](self).
#[derive(Debug)]
pub struct TailSource {
    name: String,
    config: TailConfig,
    parser: Box<dyn Parser>,
    current: Option<OpenFile>,
    /// The file found at the path after a rotation, read once the current
    /// one is drained.
    next: Option<OpenFile>,
    /// A new file is at the path: since when the old one has been quiet.
    rotated_quiet_since: Option<Instant>,
    /// The last read found the end of the file.
    at_eof: bool,
    last_saved: Option<SavedPosition>,
    counters: Arc<TailCounters>,
    warn: Warnings,
    /// The body being written, reused from one line to the next.
    body: BodyWriter,
    /// Events read for [`poll`](EventSource::poll), before decoding.
    encoded: Vec<RawEvent>,
}

impl TailSource {
    /// Builds the parser and opens the file at its saved position (or where
    /// [`start_at`](TailConfig::start_at) says). A file that does not exist
    /// yet is waited for, with a warning repeated every
    /// [`warn_interval_ms`](TailConfig::warn_interval_ms), as is a missing
    /// state directory. Fails on an unknown parser, an unreadable state file
    /// or a setting out of range ([`TailConfig::validate`]).
    pub fn new(config: TailConfig) -> Result<TailSource> {
        config.validate()?;
        let parser = parser_by_name(&config.parser, &config.parser_options)
            .map_err(|e| Error::config("parser", e.to_string()))?;
        let saved = match &config.state_file {
            Some(path) => state::load(path).map_err(|e| {
                Error::config(
                    "state_file",
                    format!(
                        "cannot read {}: {e} (delete it to start afresh)",
                        path.display()
                    ),
                )
            })?,
            None => None,
        };
        let mut source = TailSource {
            name: config.source_name(),
            parser,
            current: None,
            next: None,
            rotated_quiet_since: None,
            at_eof: false,
            last_saved: saved,
            counters: Arc::new(TailCounters::default()),
            warn: Warnings::new(Duration::from_millis(config.warn_interval_ms)),
            config,
            body: BodyWriter::new(),
            encoded: Vec::new(),
        };
        source.open_first(saved);
        if source.current.is_none() {
            source.warn.file_missing(&source.name, &source.config.path);
        }
        source.check_state_dir();
        Ok(source)
    }

    /// The live counters (clone the `Arc` before handing the source to a runner).
    pub fn counters(&self) -> Arc<TailCounters> {
        Arc::clone(&self.counters)
    }

    /// Warns (once per interval) while the state file's directory is missing.
    fn check_state_dir(&mut self) {
        if let Some(state_file) = &self.config.state_file {
            self.warn.check_state_dir(&self.name, state_file);
        }
    }

    /// Parses one line into `out` (written straight into the event's bytes),
    /// or counts it as rejected.
    fn handle_line(&mut self, line: &[u8], out: &mut Vec<RawEvent>) {
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            return;
        }
        self.counters.lines.inc();
        let event = self
            .parser
            .parse_into(&text, &mut self.body)
            .and_then(|head| {
                if is_reserved(&head.event_type) {
                    return Ok(Err(head.event_type.into_owned()));
                }
                finish_event(&head, &mut self.body)
                    .map(Ok)
                    .map_err(|e| crate::parse::ParseError::invalid(&text, 0, e))
            });
        match event {
            Ok(Err(event_type)) => {
                self.counters.refused_reserved.inc();
                self.warn.reserved.warn(&self.name, || {
                    format!(
                        "line with the reserved type {event_type:?} refused (types starting with `{RESERVED_PREFIX}` are Eventstorm's own)"
                    )
                });
            }
            Ok(Ok(event)) => {
                self.counters.events.inc();
                out.push(event);
            }
            Err(e) => {
                self.counters.rejected.inc();
                let name = &self.name;
                self.warn.rejected.warn(name, || {
                    format!("line rejected by the {} parser: {e}", self.parser.name())
                });
            }
        }
    }

    /// Reads a chunk of the current file; false at its end (or without file).
    fn fill_current(&mut self) -> bool {
        let Some(file) = self.current.as_mut() else {
            return false;
        };
        match file.fill(self.config.max_line_bytes) {
            Ok((n, too_long)) => {
                self.counters.bytes.add(n as u64);
                if too_long {
                    self.counters.lines.inc();
                    self.counters.rejected.inc();
                    self.counters.too_long.inc();
                    let limit = self.config.max_line_bytes;
                    self.warn.too_long.warn(&self.name, || {
                        format!("line longer than {limit} bytes rejected")
                    });
                }
                if n > 0 && self.rotated_quiet_since.is_some() {
                    self.rotated_quiet_since = Some(Instant::now());
                }
                n > 0
            }
            Err(e) => {
                let path = file.path.display().to_string();
                self.warn
                    .io
                    .warn(&self.name, || format!("cannot read {path}: {e}"));
                false
            }
        }
    }

    /// Moves complete lines of the current file into `out`.
    fn drain_lines(&mut self, out: &mut Vec<RawEvent>, max: usize) {
        while out.len() < max {
            let Some(file) = self.current.as_mut() else {
                return;
            };
            match file.next_line() {
                Some(Line::Complete(line)) => self.handle_line(&line, out),
                Some(Line::TooLong) => {}
                None => return,
            }
        }
    }
    /// Appends at most `max` events to `out`, waiting at most `timeout`
    /// for some.
    fn read(&mut self, out: &mut Vec<RawEvent>, max: usize, timeout: Duration) -> SourceStatus {
        let deadline = Instant::now() + timeout;
        let start_len = out.len();
        let max = start_len + max;
        loop {
            self.drain_lines(out, max);
            if out.len() >= max {
                return SourceStatus::Ready;
            }
            // New data may follow a truncation or a rotation: look before
            // reading it (a truncated file that grew past our offset would
            // otherwise be read from the middle).
            if std::mem::take(&mut self.at_eof) && self.config.follow && self.check_path(out) {
                continue;
            }
            if self.fill_current() {
                continue;
            }
            self.at_eof = true;
            if !self.config.follow {
                if let Some(line) = self.current.as_mut().and_then(OpenFile::take_partial) {
                    self.handle_line(&line, out);
                }
                return SourceStatus::Finished;
            }
            if out.len() > start_len {
                return SourceStatus::Ready;
            }
            let now = Instant::now();
            self.check_state_dir();
            if now >= deadline {
                return SourceStatus::Idle;
            }
            let interval = Duration::from_millis(self.config.poll_interval_ms);
            std::thread::sleep((deadline - now).min(interval));
        }
    }
}

impl EventSource for TailSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<SourceStatus> {
        // The lines are parsed into encoded events (what the runner
        // publishes, see `poll_raw`), decoded here for other callers.
        let mut encoded = std::mem::take(&mut self.encoded);
        let status = self.read(&mut encoded, max, timeout);
        eventstorm_core::decode_polled(encoded.drain(..), out, |e| {
            self.counters.rejected.inc();
            tracing::error!(source = %self.name, "an event could not be decoded: {e}");
        });
        self.encoded = encoded;
        Ok(status)
    }

    fn poll_raw(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<Option<SourceStatus>> {
        Ok(Some(self.read(out, max, timeout)))
    }

    fn commit(&mut self) -> eventstorm_core::Result<()> {
        let (Some(state_file), Some(file)) = (&self.config.state_file, &self.current) else {
            return Ok(());
        };
        let position = SavedPosition {
            file: file.id,
            fingerprint: file.fingerprint,
            offset: file.consumed,
        };
        if self.last_saved == Some(position) {
            return Ok(());
        }
        // A position that cannot be saved costs duplicates after a restart,
        // not lost lines: warn and go on.
        match state::save(state_file, &position) {
            Ok(()) => self.last_saved = Some(position),
            Err(e) => {
                self.counters.state_errors.inc();
                let path = state_file.display().to_string();
                self.warn.state_save.warn(&self.name, || {
                    format!("cannot save the position in {path}: {e}")
                });
            }
        }
        Ok(())
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(&self.name)
    }
}
