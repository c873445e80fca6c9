//! Rotated files: their names, the gzip thread, and `max_files`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError, bounded};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::FileSinkCounters;

/// Rotated files waiting for the gzip thread; beyond this they are left
/// uncompressed (counted in `compress_errors`).
const COMPRESS_QUEUE: usize = 64;

/// Seconds since the Unix epoch.
pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens `path` for appending, creating it and its directory.
pub(super) fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// `PATH.YYYYMMDDTHHMMSSZ` for now, with `-N` when that name (or its `.gz`)
/// is taken.
pub(super) fn rotated_name(path: &Path) -> PathBuf {
    let stamp: String = bson::DateTime::now()
        .try_to_rfc3339_string()
        .unwrap_or_default()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .take(15) // YYYYMMDDTHHMMSS
        .collect();
    let base = format!("{}.{stamp}Z", path.display());
    let mut name = PathBuf::from(&base);
    let mut n = 1;
    while name.exists() || gz_of(&name).exists() {
        name = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    name
}

fn gz_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    PathBuf::from(name)
}

/// Whether `name` is a rotated file of `file_name`:
/// `FILE.YYYYMMDDTHHMMSSZ`, optionally `-N`, optionally `.gz`.
fn is_rotated(file_name: &str, name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(file_name)
        .and_then(|r| r.strip_prefix('.'))
    else {
        return false;
    };
    let rest = rest.strip_suffix(".gz").unwrap_or(rest);
    let (stamp, suffix) = rest.split_at(rest.len().min(16));
    let b = stamp.as_bytes();
    let stamp_ok = b.len() == 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z';
    let suffix_ok = suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
    stamp_ok && suffix_ok
}

/// Deletes the oldest rotated files of `path` beyond `max_files`.
pub(super) fn remove_oldest(path: &Path, max_files: Option<usize>, counters: &FileSinkCounters) {
    let Some(max) = max_files else { return };
    let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut rotated: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| is_rotated(file_name, name))
        .collect();
    if rotated.len() <= max {
        return;
    }
    // The timestamps sort by time.
    rotated.sort_by(|a, b| {
        let key = |s: &str| s.strip_suffix(".gz").unwrap_or(s).to_owned();
        key(a).cmp(&key(b))
    });
    let excess = rotated.len() - max;
    for name in &rotated[..excess] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => counters.removed_files.inc(),
            Err(e) => {
                tracing::warn!(file = %dir.join(name).display(), "cannot delete a rotated file: {e}")
            }
        }
    }
}

/// One rotated file to compress, then `max_files` to apply.
struct Job {
    file: PathBuf,
    max_files: Option<usize>,
    base: PathBuf,
}

/// The gzip thread of a file sink.
#[derive(Debug)]
pub(super) struct Compressor {
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<FileSinkCounters>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("file", &self.file).finish()
    }
}

impl Compressor {
    /// Starts the thread.
    pub(super) fn start(counters: Arc<FileSinkCounters>) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Job>(COMPRESS_QUEUE);
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("file-sink-gzip".into())
            .spawn(move || {
                for job in rx {
                    match gzip(&job.file) {
                        Ok(()) => thread_counters.compressed.inc(),
                        Err(e) => {
                            thread_counters.compress_errors.inc();
                            tracing::warn!(file = %job.file.display(), "cannot gzip a rotated file (it is kept as it is): {e}");
                        }
                    }
                    remove_oldest(&job.base, job.max_files, &thread_counters);
                }
            })?;
        Ok(Compressor {
            tx: Some(tx),
            thread: Some(thread),
            counters,
        })
    }

    /// Queues `file` for compression, then `max_files` for `base`.
    pub(super) fn compress(&self, file: PathBuf, max_files: Option<usize>, base: &Path) {
        let Some(tx) = &self.tx else { return };
        let job = Job {
            file,
            max_files,
            base: base.to_path_buf(),
        };
        if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = tx.try_send(job) {
            self.counters.compress_errors.inc();
            tracing::warn!(file = %job.file.display(), "the gzip thread is behind: the rotated file is kept uncompressed");
            remove_oldest(&job.base, job.max_files, &self.counters);
        }
    }

    /// Waits for the queued compressions.
    pub(super) fn finish(mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `FILE` → `FILE.gz` (through `FILE.gz.tmp`, so a crash leaves no partial
/// `.gz`), then `FILE` is removed.
fn gzip(file: &Path) -> std::io::Result<()> {
    let gz = gz_of(file);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut input = BufReader::new(File::open(file)?);
        let out = BufWriter::new(File::create(&tmp)?);
        let mut encoder = GzEncoder::new(out, Compression::default());
        std::io::copy(&mut input, &mut encoder)?;
        let out = encoder.finish()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &gz)?;
        std::fs::remove_file(file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::is_rotated;

    #[test]
    fn rotated_names() {
        for name in [
            "events.jsonl.20261206T041000Z",
            "events.jsonl.20261206T041000Z.gz",
            "events.jsonl.20261206T041000Z-3",
            "events.jsonl.20261206T041000Z-12.gz",
        ] {
            assert!(is_rotated("events.jsonl", name), "{name}");
        }
        for name in [
            "events.jsonl",
            "events.jsonl.1",
            "events.jsonl.20261206T041000Z.gz.tmp",
            "events.jsonl.20261206T041000Z-",
            "other.jsonl.20261206T041000Z",
            "events.jsonl.2026120XT041000Z",
        ] {
            assert!(!is_rotated("events.jsonl", name), "{name}");
        }
    }
}
