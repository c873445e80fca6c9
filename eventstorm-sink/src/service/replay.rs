//! `eventstorm-sink replay`: the events of a dead-letter file, written again
//! to a configured sink.

use std::fmt;
use std::path::{Path, PathBuf};

use eventstorm_core::RawEvent;

use super::build::build_sink;
use super::config::SinksConfig;
use crate::dead_letter::DeadLetterReader;
use crate::error::{Error, Result};

/// Events replayed per `write`.
const BATCH: usize = 1000;
/// Unreadable lines reported one by one; the rest are only counted.
const REPORTED_LINES: u64 = 10;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplaySummary {
    /// The sink replayed into.
    pub sink: String,
    /// The file replayed.
    pub file: PathBuf,
    /// Dead letters read.
    pub read: u64,
    /// Events the sink confirmed as written.
    pub written: u64,
    /// Events the sink gave up again (refused, or still pending when it
    /// was closed): they are in the sink's dead-letter file, if it has one.
    pub given_up: u64,
    /// Lines that are not dead letters (reported on standard error).
    pub unreadable_lines: u64,
}

impl fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replayed {} into sink `{}`: read={} written={} given_up={} unreadable_lines={}",
            self.file.display(),
            self.sink,
            self.read,
            self.written,
            self.given_up,
            self.unreadable_lines
        )
    }
}

/// Writes every dead letter of `file` to the sink named `sink` of
/// `config`, in order, then flushes and closes it.
///
/// The file is read as it was when opened and is not changed: events given
/// up again go to the sink's dead-letter file (configure a different path
/// from `file`, or replay a rotated file, `PATH.1`). Replaying into MongoDB
/// or CQL is idempotent (events keep their `_id`, so a document is stored
/// once however often it is replayed); into a file sink, replay a file
/// once.
pub fn replay(config: &SinksConfig, sink: &str, file: &Path) -> Result<ReplaySummary> {
    let Some(entry) = config.sinks.iter().find(|s| s.name == sink) else {
        let names: Vec<&str> = config.sinks.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::config(
            "--sink",
            format!(
                "no sink named `{sink}` (the configuration has: {})",
                names.join(", ")
            ),
        ));
    };
    let reader = DeadLetterReader::open(file)?;
    let mut built = build_sink(entry)?;
    let mut summary = ReplaySummary {
        sink: sink.to_owned(),
        file: file.to_path_buf(),
        ..Default::default()
    };
    let mut batch: Vec<RawEvent> = Vec::with_capacity(BATCH);
    let mut write = |batch: &mut Vec<RawEvent>, summary: &mut ReplaySummary| {
        if batch.is_empty() {
            return;
        }
        if let Err(e) = built.sink.write(batch) {
            summary.given_up += e.failed as u64;
            tracing::warn!(sink, "{e}");
        }
        batch.clear();
    };
    for record in reader {
        match record {
            Ok(record) => {
                summary.read += 1;
                batch.push(record.event);
                if batch.len() == BATCH {
                    write(&mut batch, &mut summary);
                }
            }
            Err(e) => {
                summary.unreadable_lines += 1;
                if summary.unreadable_lines <= REPORTED_LINES {
                    eprintln!("skipped: {e}");
                }
            }
        }
    }
    write(&mut batch, &mut summary);
    if let Err(e) = built.sink.flush() {
        summary.given_up += e.failed as u64;
        tracing::warn!(sink, "{e}");
    }
    // What is still pending now is given up when the sink is closed.
    let pending = built.sink.pending() as u64;
    summary.given_up += pending;
    summary.written = summary.read.saturating_sub(summary.given_up);
    drop(built);
    if summary.unreadable_lines > REPORTED_LINES {
        eprintln!(
            "skipped {} more unreadable lines",
            summary.unreadable_lines - REPORTED_LINES
        );
    }
    Ok(summary)
}
