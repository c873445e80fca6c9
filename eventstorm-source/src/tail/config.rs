//! Configuration of a [`TailSource`](super::TailSource).

use std::path::PathBuf;

use serde::Deserialize;

use crate::error::Result;
use crate::parse::ParserConfig;
use crate::validate::in_range;

/// How a [`TailSource`](super::TailSource) follows a file.
///
/// ```
/// use eventstorm_source::tail::TailConfig;
///
/// let config: TailConfig = toml::from_str(r#"
///     path = "/var/log/nginx/access.log"
///     parser = "nginx"
///     state_file = "/var/lib/eventstorm/nginx.state"
/// "#)?;
/// assert_eq!(config.max_line_bytes, TailConfig::DEFAULT_MAX_LINE_BYTES);
/// assert!(config.follow);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// A name for logs and stats (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// The file to follow.
    pub path: PathBuf,
    /// The parser each line goes through (see [`crate::parse`]).
    pub parser: String,
    /// The parser's options.
    #[serde(default)]
    pub parser_options: ParserConfig,
    /// Where the position is saved after each commit (default: none, and a
    /// start without saved position begins at [`start_at`](Self::start_at)).
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// Where to start when no saved position applies ([`StartAt::End`] by default,
    /// like `tail -F`).
    #[serde(default)]
    pub start_at: StartAt,
    /// Keep following the file (`true`, the default); `false` reads to the end
    /// and finishes.
    #[serde(default = "default_follow")]
    pub follow: bool,
    /// Lines longer than this, in bytes, are rejected and skipped without being
    /// held in memory ([`Self::DEFAULT_MAX_LINE_BYTES`]).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// How often the file is checked for new data, rotation and truncation when
    /// idle ([`Self::DEFAULT_POLL_INTERVAL_MS`]).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// After a rotation, how long the old file must stay without new data
    /// before it is closed: writers that reopen their log late (nginx until its
    /// `USR1`) lose nothing ([`Self::DEFAULT_ROTATE_WAIT_MS`]).
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// At most one warning of each kind per this many milliseconds; a lasting
    /// problem (a missing file or state directory) is repeated at this
    /// interval ([`Self::DEFAULT_WARN_INTERVAL_MS`]).
    #[serde(default = "default_warn_interval_ms")]
    pub warn_interval_ms: u64,
}

/// Where a tail starts when it has no saved position for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// At the beginning of the file (the whole file is read).
    Beginning,
    /// At the end (only lines written from now on), like `tail -F`.
    #[default]
    End,
}

fn default_follow() -> bool {
    true
}
fn default_max_line_bytes() -> usize {
    TailConfig::DEFAULT_MAX_LINE_BYTES
}
fn default_poll_interval_ms() -> u64 {
    TailConfig::DEFAULT_POLL_INTERVAL_MS
}
fn default_rotate_wait_ms() -> u64 {
    TailConfig::DEFAULT_ROTATE_WAIT_MS
}
fn default_warn_interval_ms() -> u64 {
    TailConfig::DEFAULT_WARN_INTERVAL_MS
}

impl TailConfig {
    /// Default longest line, in bytes (1 MiB).
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
    /// Default idle check interval, in milliseconds.
    pub const DEFAULT_POLL_INTERVAL_MS: u64 = 100;
    /// Default time an old file is drained after a rotation, in milliseconds.
    pub const DEFAULT_ROTATE_WAIT_MS: u64 = 1_000;
    /// Default interval between two warnings of one kind, in milliseconds.
    pub const DEFAULT_WARN_INTERVAL_MS: u64 = 10_000;

    /// Largest `max_line_bytes` (1 GiB).
    pub const MAX_LINE_BYTES_LIMIT: usize = 1 << 30;
    /// Largest `poll_interval_ms` (10 minutes).
    pub const MAX_POLL_INTERVAL_MS: u64 = 600_000;
    /// Largest `rotate_wait_ms` and `warn_interval_ms` (one day).
    pub const MAX_WAIT_MS: u64 = 86_400_000;
    /// Smallest `warn_interval_ms`.
    pub const MIN_WARN_INTERVAL_MS: u64 = 10;

    /// Checks the numeric settings; the error names the key and the range
    /// expected (`poll_interval_ms = 0` would spin a core).
    ///
    /// ```
    /// use eventstorm_source::tail::TailConfig;
    ///
    /// let config = TailConfig::new("/var/log/app.log", "json").with_poll_interval_ms(0);
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("poll_interval_ms") && err.contains("expected 1 to 600000, got 0"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        in_range(
            "max_line_bytes",
            self.max_line_bytes,
            1,
            Self::MAX_LINE_BYTES_LIMIT,
        )?;
        in_range(
            "poll_interval_ms",
            self.poll_interval_ms,
            1,
            Self::MAX_POLL_INTERVAL_MS,
        )?;
        in_range("rotate_wait_ms", self.rotate_wait_ms, 0, Self::MAX_WAIT_MS)?;
        in_range(
            "warn_interval_ms",
            self.warn_interval_ms,
            Self::MIN_WARN_INTERVAL_MS,
            Self::MAX_WAIT_MS,
        )
    }

    /// A config following `path` through the parser called `parser`, with the
    /// defaults for everything else.
    pub fn new(path: impl Into<PathBuf>, parser: impl Into<String>) -> Self {
        TailConfig {
            name: None,
            path: path.into(),
            parser: parser.into(),
            parser_options: ParserConfig::default(),
            state_file: None,
            start_at: StartAt::End,
            follow: true,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            poll_interval_ms: Self::DEFAULT_POLL_INTERVAL_MS,
            rotate_wait_ms: Self::DEFAULT_ROTATE_WAIT_MS,
            warn_interval_ms: Self::DEFAULT_WARN_INTERVAL_MS,
        }
    }

    /// Saves the position in this file.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// Sets where to start without a saved position.
    pub fn with_start_at(mut self, start_at: StartAt) -> Self {
        self.start_at = start_at;
        self
    }

    /// Follows the file (`true`) or reads it once (`false`).
    pub fn with_follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Sets the longest accepted line.
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Sets the idle check interval.
    pub fn with_poll_interval_ms(mut self, ms: u64) -> Self {
        self.poll_interval_ms = ms;
        self
    }

    /// Sets how long an old file is drained after a rotation.
    pub fn with_rotate_wait_ms(mut self, ms: u64) -> Self {
        self.rotate_wait_ms = ms;
        self
    }

    /// Sets the interval between two warnings of one kind.
    pub fn with_warn_interval_ms(mut self, ms: u64) -> Self {
        self.warn_interval_ms = ms;
        self
    }

    /// The source's name: [`name`](Self::name), else the file name.
    pub fn source_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map_or_else(|| "tail".to_string(), |n| n.to_string_lossy().into_owned())
        })
    }
}
