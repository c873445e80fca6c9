//! [`DeadLetterFile`]: dead letters appended to a file, bounded in size and
//! rotated.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstorm_core::Stats;
use serde::{Deserialize, Serialize};

use super::record::write_line;
use super::{DeadLetter, DeadLetterHandler, GiveUp};

/// Where and how much a sink keeps of the events it gives up
/// (`[sinks.dead_letter]` in the sink binary's configuration).
///
/// The file holds one JSON line per event (see
/// `docs/sink-binary.md#dead-letters`). When it would grow past
/// `max_file_bytes` it is renamed `PATH.1` (an older `PATH.1` becomes
/// `PATH.2`, and so on) and a new file is started; beyond `max_files`
/// rotated files the oldest is deleted and its events counted as
/// `discarded`. So the dead letters of one sink take at most
/// `max_file_bytes × (max_files + 1)` bytes of disk.
///
/// ```
/// use eventstorm_sink::DeadLetterConfig;
///
/// let config: DeadLetterConfig = toml::from_str(r#"
///     path = "/var/lib/eventstorm/archive.dead.jsonl"
///     max_file_bytes = 104857600
///     queue_full = true
/// "#)?;
/// assert_eq!(config.max_files, DeadLetterConfig::DEFAULT_MAX_FILES);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadLetterConfig {
    /// The file dead letters are appended to (created with its directory).
    pub path: PathBuf,
    /// Size at which the file is rotated ([`Self::DEFAULT_MAX_FILE_BYTES`]).
    pub max_file_bytes: u64,
    /// Rotated files kept ([`Self::DEFAULT_MAX_FILES`]); 0 keeps none: a full
    /// file is then deleted when rotated.
    pub max_files: usize,
    /// Also keep the events dropped because the runtime's queue was full
    /// (`when_full = "drop"`; default false: they are only counted, as a
    /// sink that sheds load under overload usually wants).
    pub queue_full: bool,
}

impl DeadLetterConfig {
    /// Default rotation size: 64 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
    /// Default number of rotated files kept.
    pub const DEFAULT_MAX_FILES: usize = 10;
    /// Largest `max_files`.
    pub const MAX_MAX_FILES: usize = 1000;
    /// Smallest `max_file_bytes`: one line of a large event fits.
    pub const MIN_MAX_FILE_BYTES: u64 = 64 * 1024;

    /// A configuration writing to `path`, with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DeadLetterConfig {
            path: path.into(),
            ..Default::default()
        }
    }

    /// Checks the settings: `(key, what was expected)` on error.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.path.as_os_str().is_empty() {
            return Err(("path".into(), "a file path is required".into()));
        }
        if self.max_file_bytes < Self::MIN_MAX_FILE_BYTES {
            return Err((
                "max_file_bytes".into(),
                format!("expected at least {}", Self::MIN_MAX_FILE_BYTES),
            ));
        }
        if self.max_files > Self::MAX_MAX_FILES {
            return Err((
                "max_files".into(),
                format!("expected at most {}", Self::MAX_MAX_FILES),
            ));
        }
        Ok(())
    }
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            path: PathBuf::new(),
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            max_files: Self::DEFAULT_MAX_FILES,
            queue_full: false,
        }
    }
}

eventstorm_core::counters! {
    /// What a [`DeadLetterFile`] counts.
    pub struct DeadLetterCounters {
        /// Dead letters appended to the file.
        written,
        /// Dead letters that could not be appended (the disk is full, the
        /// directory is gone): lost, and logged.
        write_errors,
        /// Dead letters in rotated files deleted to stay within `max_files`.
        discarded,
        /// Times the file was rotated.
        rotations,
    }
}

/// Appends dead letters to a file (a [`DeadLetterHandler`]); cheap to clone,
/// every clone writes to the same file, from any thread.
///
/// Each line is written with one `write` call to a file opened for
/// appending, so it is in the file (the operating system's cache) when the
/// handler returns.
#[derive(Debug, Clone)]
pub struct DeadLetterFile {
    inner: Arc<Mutex<Inner>>,
    counters: Arc<DeadLetterCounters>,
    queue_full: bool,
}

#[derive(Debug)]
struct Inner {
    config: DeadLetterConfig,
    sink: String,
    file: Option<File>,
    size: u64,
    line: Vec<u8>,
    last_error_log: Option<Instant>,
}

/// Least time between two logged write errors.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl DeadLetterFile {
    /// Opens (creating it and its directory) the dead-letter file of the
    /// sink named `sink`.
    pub fn open(config: DeadLetterConfig, sink: impl Into<String>) -> std::io::Result<Self> {
        if let Err((key, message)) = config.validate() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("dead_letter.{key}: {message}"),
            ));
        }
        let file = open_append(&config.path)?;
        let size = file.metadata()?.len();
        let queue_full = config.queue_full;
        Ok(DeadLetterFile {
            inner: Arc::new(Mutex::new(Inner {
                config,
                sink: sink.into(),
                file: Some(file),
                size,
                line: Vec::with_capacity(4096),
                last_error_log: None,
            })),
            counters: Arc::default(),
            queue_full,
        })
    }

    /// The counters, readable from any thread.
    pub fn counters(&self) -> Arc<DeadLetterCounters> {
        Arc::clone(&self.counters)
    }

    /// The counters as `Stats` (`written`, `write_errors`, `discarded`,
    /// `rotations`).
    pub fn stats(&self) -> Stats {
        self.counters.snapshot("dead_letter")
    }

    /// Whether events dropped at a full runtime queue are kept too.
    pub fn keeps_queue_full(&self) -> bool {
        self.queue_full
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.lock().config.path.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one dead letter.
    pub fn append(&self, letter: &DeadLetter) {
        let mut inner = self.lock();
        let at = bson::DateTime::now()
            .try_to_rfc3339_string()
            .unwrap_or_default();
        let mut line = std::mem::take(&mut inner.line);
        line.clear();
        let sink = inner.sink.clone();
        write_line(&mut line, &sink, &at, letter);
        match inner.append(&line, &self.counters) {
            Ok(()) => self.counters.written.inc(),
            Err(e) => {
                self.counters.write_errors.inc();
                inner.file = None; // reopened by the next append
                let now = Instant::now();
                if inner
                    .last_error_log
                    .is_none_or(|last| now.duration_since(last) >= ERROR_LOG_INTERVAL)
                {
                    inner.last_error_log = Some(now);
                    tracing::error!(
                        sink = %inner.sink,
                        file = %inner.config.path.display(),
                        cause = %letter.cause,
                        error = %e,
                        "cannot append to the dead-letter file: the event is lost (counted in `dead_letter.write_errors`)"
                    );
                }
            }
        }
        inner.line = line;
        // Keep the buffer of a huge event from staying allocated.
        if inner.line.capacity() > 1024 * 1024 {
            inner.line = Vec::with_capacity(4096);
        }
    }
}

impl DeadLetterHandler for DeadLetterFile {
    fn dead_letter(&mut self, letter: DeadLetter) {
        if letter.cause == GiveUp::DroppedQueueFull && !self.queue_full {
            return;
        }
        self.append(&letter);
    }
}

impl Inner {
    fn append(&mut self, line: &[u8], counters: &DeadLetterCounters) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.config.max_file_bytes {
            self.rotate(counters)?;
        }
        if self.file.is_none() {
            let file = open_append(&self.config.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            unreachable!("opened above")
        };
        file.write_all(line)?;
        self.size += len;
        Ok(())
    }

    /// `PATH` → `PATH.1`, `PATH.1` → `PATH.2`, ...; the one past
    /// `max_files` is deleted, its lines counted as discarded.
    fn rotate(&mut self, counters: &DeadLetterCounters) -> std::io::Result<()> {
        self.file = None;
        let path = &self.config.path;
        let keep = self.config.max_files;
        let oldest = numbered(path, keep.max(1));
        let doomed = if keep == 0 { path.clone() } else { oldest };
        if doomed.exists() {
            counters.discarded.add(count_lines(&doomed));
            std::fs::remove_file(&doomed)?;
        }
        for n in (1..keep).rev() {
            let from = numbered(path, n);
            if from.exists() {
                std::fs::rename(&from, numbered(path, n + 1))?;
            }
        }
        if keep > 0 {
            std::fs::rename(path, numbered(path, 1))?;
        }
        counters.rotations.inc();
        self.size = 0;
        Ok(())
    }
}

/// `PATH.n`.
pub(crate) fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn count_lines(path: &Path) -> u64 {
    let Ok(file) = File::open(path) else { return 0 };
    let mut reader = BufReader::new(file);
    let mut lines = 0;
    while let Ok(buf) = reader.fill_buf() {
        if buf.is_empty() {
            break;
        }
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let len = buf.len();
        reader.consume(len);
    }
    lines
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::DeadLetterReader;
    use eventstorm_core::{Event, RawEvent};

    fn letter(i: i64, cause: GiveUp) -> DeadLetter {
        let event = Event::builder("order.placed")
            .field("i", i)
            .field("pad", "x".repeat(2000))
            .build();
        DeadLetter::new(
            RawEvent::from_event(&event).unwrap(),
            cause,
            "ops.events",
            "refused",
        )
    }

    #[test]
    fn rotates_keeps_max_files_and_counts_what_it_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dead.jsonl");
        let config = DeadLetterConfig {
            max_file_bytes: DeadLetterConfig::MIN_MAX_FILE_BYTES,
            max_files: 2,
            ..DeadLetterConfig::new(&path)
        };
        let mut file = DeadLetterFile::open(config, "archive").unwrap();
        let total = 200;
        for i in 0..total {
            file.dead_letter(letter(i, GiveUp::Refused));
        }
        let c = file.counters();
        assert_eq!(c.written.get(), total as u64);
        assert_eq!(c.write_errors.get(), 0);
        assert!(c.rotations.get() >= 3, "{}", file.stats());
        let kept: u64 = [path.clone(), numbered(&path, 1), numbered(&path, 2)]
            .iter()
            .map(|p| count_lines(p))
            .sum();
        assert!(!numbered(&path, 3).exists());
        assert_eq!(kept + c.discarded.get(), total as u64, "{}", file.stats());
        for p in [&path, &numbered(&path, 1), &numbered(&path, 2)] {
            assert!(std::fs::metadata(p).unwrap().len() <= DeadLetterConfig::MIN_MAX_FILE_BYTES);
        }
        // The newest events are in the active file, in order.
        let last: Vec<i64> = DeadLetterReader::open(&path)
            .unwrap()
            .map(|r| {
                r.unwrap()
                    .event
                    .view()
                    .get("body.i")
                    .unwrap()
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(*last.last().unwrap(), total - 1);
    }

    #[test]
    fn queue_full_drops_are_kept_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain =
            DeadLetterFile::open(DeadLetterConfig::new(dir.path().join("a")), "a").unwrap();
        plain.dead_letter(letter(1, GiveUp::DroppedQueueFull));
        plain.dead_letter(letter(2, GiveUp::Expired));
        assert_eq!(plain.counters().written.get(), 1);
        let config = DeadLetterConfig {
            queue_full: true,
            ..DeadLetterConfig::new(dir.path().join("b"))
        };
        let mut all = DeadLetterFile::open(config, "b").unwrap();
        all.dead_letter(letter(1, GiveUp::DroppedQueueFull));
        assert_eq!(all.counters().written.get(), 1);
    }

    #[test]
    fn a_write_error_is_counted_and_the_file_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d/dead.jsonl");
        let mut file = DeadLetterFile::open(DeadLetterConfig::new(&path), "s").unwrap();
        std::fs::remove_dir_all(dir.path().join("d")).unwrap();
        // The open file was unlinked: the write succeeds into the unlinked
        // inode. Replace the directory by a file so that reopening fails.
        file.lock().file = None;
        std::fs::write(dir.path().join("d"), b"not a directory").unwrap();
        file.dead_letter(letter(1, GiveUp::Refused));
        assert_eq!(file.counters().write_errors.get(), 1);
        std::fs::remove_file(dir.path().join("d")).unwrap();
        file.dead_letter(letter(2, GiveUp::Refused));
        assert_eq!(file.counters().written.get(), 1);
        assert_eq!(DeadLetterReader::open(&path).unwrap().count(), 1);
    }
}
