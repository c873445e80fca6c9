//! [`FileSinkConfig`]: where a JSON-lines file sink writes and when it
//! rotates.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Configuration of a [`JsonLinesFileSink`](super::JsonLinesFileSink)
/// (`[sinks.file]` in the sink binary's configuration). Only `path` is
/// required; without rotation settings the file grows for ever (rotate it
/// with `logrotate`'s `copytruncate`, or set `rotate_bytes` or
/// `rotate_interval_secs`).
///
/// ```
/// use eventstorm_sink::sinks::FileSinkConfig;
///
/// let config: FileSinkConfig = toml::from_str(r#"
///     path = "/var/lib/eventstorm/events.jsonl"
///     rotate_bytes = 104857600        # 100 MiB
///     rotate_interval_secs = 3600     # and at every hour
///     gzip = true
///     max_files = 48
/// "#)?;
/// assert_eq!(config.rotate_bytes, Some(100 * 1024 * 1024));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// The file (created with its directory; appended to when it exists).
    pub path: PathBuf,
    /// Rotate before a line would take the file past this many bytes
    /// (default: never by size). At least [`Self::MIN_ROTATE_BYTES`].
    #[serde(default)]
    pub rotate_bytes: Option<u64>,
    /// Rotate at every multiple of this many seconds since the Unix epoch
    /// (3600: on the hour, UTC; 86400: at midnight UTC). Checked at each
    /// write and when the sink is idle, so a file with no new events is
    /// rotated with the next event. Default: never by time.
    #[serde(default)]
    pub rotate_interval_secs: Option<u64>,
    /// Gzip rotated files (`PATH.YYYYMMDDTHHMMSSZ.gz`), on a thread of
    /// their own (default false).
    #[serde(default)]
    pub gzip: bool,
    /// Rotated files kept; older ones are deleted (counted in
    /// `removed_files`). Default: all are kept.
    #[serde(default)]
    pub max_files: Option<usize>,
}

impl FileSinkConfig {
    /// The smallest `rotate_bytes`: 64 KiB.
    pub const MIN_ROTATE_BYTES: u64 = 64 * 1024;
    /// The smallest `rotate_interval_secs`.
    pub const MIN_ROTATE_INTERVAL_SECS: u64 = 1;
    /// The largest `max_files`.
    pub const MAX_MAX_FILES: usize = 100_000;

    /// A file at `path`, never rotated.
    pub fn new(path: impl AsRef<Path>) -> Self {
        FileSinkConfig {
            path: path.as_ref().to_path_buf(),
            rotate_bytes: None,
            rotate_interval_secs: None,
            gzip: false,
            max_files: None,
        }
    }

    /// Checks the settings: `(key, what was expected)` on error.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.path.as_os_str().is_empty() || self.path.file_name().is_none() {
            return Err(("path".into(), "expected the path of a file".into()));
        }
        if let Some(bytes) = self.rotate_bytes
            && bytes < Self::MIN_ROTATE_BYTES
        {
            return Err((
                "rotate_bytes".into(),
                format!("expected at least {} bytes", Self::MIN_ROTATE_BYTES),
            ));
        }
        if let Some(secs) = self.rotate_interval_secs
            && secs < Self::MIN_ROTATE_INTERVAL_SECS
        {
            return Err((
                "rotate_interval_secs".into(),
                format!(
                    "expected at least {} second",
                    Self::MIN_ROTATE_INTERVAL_SECS
                ),
            ));
        }
        if let Some(n) = self.max_files
            && n > Self::MAX_MAX_FILES
        {
            return Err((
                "max_files".into(),
                format!("expected at most {}", Self::MAX_MAX_FILES),
            ));
        }
        Ok(())
    }
}
