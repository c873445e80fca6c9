//! One open file being tailed: reads chunks, splits complete lines, keeps a
//! partial last line until its newline arrives, and never holds more than
//! `max_line_bytes` plus one chunk of a line in memory.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::state::{FINGERPRINT_LEN, FileId, Fingerprint};

/// Bytes read per `read` call.
const CHUNK: usize = 64 * 1024;

/// What [`OpenFile::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A complete line, without its `\n` / `\r\n`.
    Complete(Vec<u8>),
    /// A line longer than the limit was dropped (its rest is skipped up to the
    /// next newline).
    TooLong,
}

/// A file being read.
#[derive(Debug)]
pub(crate) struct OpenFile {
    file: File,
    /// Where it was opened (for logs).
    pub(crate) path: PathBuf,
    /// Device and inode.
    pub(crate) id: FileId,
    /// Fingerprint of the first bytes, grown as the file grows.
    pub(crate) fingerprint: Fingerprint,
    /// The next byte to read.
    read_offset: u64,
    /// Offset just after the last consumed (returned or skipped) line; `buf`
    /// holds the bytes from here to `read_offset` unless `skipping`.
    pub(crate) consumed: u64,
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    /// Discarding the rest of an over-long line.
    skipping: bool,
}

impl OpenFile {
    /// Opens `path` and positions it at `offset` (clamped to the file's size).
    pub(crate) fn open(path: &Path, offset: u64) -> io::Result<OpenFile> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let offset = offset.min(meta.len());
        let fingerprint = Fingerprint::read(&mut file, meta.len())?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(OpenFile {
            file,
            path: path.to_path_buf(),
            id: FileId::of(&meta),
            fingerprint,
            read_offset: offset,
            consumed: offset,
            buf: Vec::new(),
            scanned: 0,
            skipping: false,
        })
    }

    /// The next complete line in what was read, if any.
    pub(crate) fn next_line(&mut self) -> Option<Line> {
        let newline = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p + self.scanned);
        let Some(at) = newline else {
            self.scanned = self.buf.len();
            return None;
        };
        let mut line: Vec<u8> = self.buf.drain(..=at).collect();
        self.scanned = 0;
        self.consumed += line.len() as u64;
        if std::mem::take(&mut self.skipping) {
            return Some(Line::TooLong);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(Line::Complete(line))
    }

    /// Reads one chunk. Returns the bytes read (0 at the end of the file) and
    /// whether an over-long line started being skipped.
    pub(crate) fn fill(&mut self, max_line_bytes: usize) -> io::Result<(usize, bool)> {
        let start = self.buf.len();
        self.buf.resize(start + CHUNK, 0);
        let n = match self.file.read(&mut self.buf[start..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(start);
                return Err(e);
            }
        };
        self.buf.truncate(start + n);
        self.read_offset += n as u64;
        let mut started_skipping = false;
        if self.skipping {
            // Drop everything before the next newline; keep the newline so
            // that next_line ends the skipped line there.
            let keep_from = self.buf.iter().position(|&b| b == b'\n');
            let dropped = keep_from.unwrap_or(self.buf.len());
            self.buf.drain(..dropped);
            self.consumed += dropped as u64;
            self.scanned = 0;
        } else if self.buf.len() > max_line_bytes && !self.buf[..=max_line_bytes].contains(&b'\n') {
            self.skipping = true;
            started_skipping = true;
            let dropped = self
                .buf
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(self.buf.len());
            self.buf.drain(..dropped);
            self.consumed += dropped as u64;
            self.scanned = 0;
        }
        if self.fingerprint.len < FINGERPRINT_LEN {
            let size = self.read_offset.max(self.fingerprint.len);
            self.fingerprint = Fingerprint::read(&mut self.file, size)?;
        }
        Ok((n, started_skipping))
    }

    /// The partial last line (bytes after the last newline), taken out; used
    /// when a file is finished (rotated away, or read once without follow).
    pub(crate) fn take_partial(&mut self) -> Option<Vec<u8>> {
        if self.skipping || self.buf.is_empty() {
            return None;
        }
        self.consumed += self.buf.len() as u64;
        self.scanned = 0;
        let mut line = std::mem::take(&mut self.buf);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    /// Whether the file was truncated (copytruncate) or rewritten in place: it
    /// is now shorter than what was read, or its first bytes changed.
    pub(crate) fn was_truncated(&mut self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        if size < self.read_offset {
            return Ok(true);
        }
        Ok(!self.fingerprint.matches(&mut self.file)?)
    }

    /// Starts again at offset 0 (after a truncation); the partial line, which
    /// is gone from the file, is dropped. Returns the bytes dropped.
    pub(crate) fn restart(&mut self) -> io::Result<usize> {
        let dropped = self.buf.len();
        self.file.seek(SeekFrom::Start(0))?;
        let size = self.file.metadata()?.len();
        self.fingerprint = Fingerprint::read(&mut self.file, size)?;
        self.buf.clear();
        self.scanned = 0;
        self.skipping = false;
        self.read_offset = 0;
        self.consumed = 0;
        Ok(dropped)
    }
}
