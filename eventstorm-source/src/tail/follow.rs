//! Following the file at the path: the first open (resuming a saved
//! position, or the rotated file it is in), rotations by rename and
//! truncations.

use std::path::Path;
use std::time::{Duration, Instant};

use eventstorm_core::RawEvent;

use super::file::OpenFile;
use super::state::{self, FileId, SavedPosition};
use super::{StartAt, TailSource};

impl TailSource {
    /// Opens the file for the first time, resuming from `saved` when it applies.
    pub(super) fn open_first(&mut self, saved: Option<SavedPosition>) {
        let path = self.config.path.clone();
        let Ok(meta) = path.metadata() else {
            // Not there yet: the first file that appears is read from 0.
            return;
        };
        let at_path = FileId::of(&meta);
        let offset = match saved {
            Some(saved) if saved.file == at_path => {
                let same = std::fs::File::open(&path)
                    .and_then(|mut file| saved.fingerprint.matches(&mut file))
                    .unwrap_or(false);
                // Truncated or replaced while we were down: read it all.
                if same && saved.offset <= meta.len() {
                    saved.offset
                } else {
                    0
                }
            }
            Some(saved) => {
                // Rotated while we were down: finish the old file first.
                if let Some(old) = state::find_rotated(&path, saved.file)
                    && let Ok(file) = OpenFile::open(&old, saved.offset)
                {
                    tracing::info!(source = %self.name, file = %old.display(), "resuming the rotated file");
                    self.current = Some(file);
                    self.rotated_quiet_since = Some(Instant::now());
                    return;
                }
                0
            }
            None => match self.config.start_at {
                StartAt::Beginning => 0,
                StartAt::End => meta.len(),
            },
        };
        self.open_at(&path, offset);
    }

    pub(super) fn open_at(&mut self, path: &Path, offset: u64) {
        match OpenFile::open(path, offset) {
            Ok(file) => {
                tracing::debug!(source = %self.name, file = %path.display(), offset, "following");
                self.current = Some(file);
            }
            Err(e) => self.warn.io.warn(&self.name, || {
                format!("cannot open {}: {e}", path.display())
            }),
        }
    }

    /// At the end of the current file: follows a rotation or a truncation.
    /// Returns true when something changed (read again at once).
    pub(super) fn check_path(&mut self, out: &mut Vec<RawEvent>) -> bool {
        let path = self.config.path.clone();
        let Some(file) = self.current.as_mut() else {
            if path.exists() {
                self.open_at(&path, 0);
                return self.current.is_some();
            }
            self.warn.file_missing(&self.name, &path);
            return false;
        };
        let at_path = path.metadata().ok().map(|m| FileId::of(&m));
        if at_path.is_some_and(|id| id != file.id) || self.next.is_some() {
            // Rotated: open the new file now (so that it is read even if it is
            // rotated away in turn), drain the old one until it is quiet.
            if self.next.is_none() {
                match OpenFile::open(&path, 0) {
                    Ok(next) => self.next = Some(next),
                    Err(_) => return false, // gone again: look next time
                }
                self.rotated_quiet_since = Some(Instant::now());
            }
            let quiet_since = *self.rotated_quiet_since.get_or_insert_with(Instant::now);
            if quiet_since.elapsed() < Duration::from_millis(self.config.rotate_wait_ms) {
                return false;
            }
            if let Some(line) = file.take_partial() {
                self.handle_line(&line, out);
            }
            tracing::info!(source = %self.name, file = %path.display(), "file rotated: following the new file");
            self.counters.rotations.inc();
            self.current = self.next.take();
            self.rotated_quiet_since = None;
            return true;
        }
        match file.was_truncated() {
            Ok(true) => {
                let dropped = file.restart().unwrap_or(0);
                self.counters.truncations.inc();
                tracing::info!(source = %self.name, file = %path.display(), dropped_partial_bytes = dropped, "file truncated: reading from the start");
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.warn.io.warn(&self.name, || {
                    format!("cannot check {}: {e}", path.display())
                });
                false
            }
        }
    }
}
