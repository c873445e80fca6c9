//! Configuration of a [`TailSource`](super::TailSource).

use std::path::PathBuf;

use serde::Deserialize;

use crate::parse::ParserConfig;

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

impl TailConfig {
    /// Default longest line, in bytes (1 MiB).
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
    /// Default idle check interval, in milliseconds.
    pub const DEFAULT_POLL_INTERVAL_MS: u64 = 100;
    /// Default time an old file is drained after a rotation, in milliseconds.
    pub const DEFAULT_ROTATE_WAIT_MS: u64 = 1_000;

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

    /// The source's name: [`name`](Self::name), else the file name.
    pub fn source_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map_or_else(|| "tail".to_string(), |n| n.to_string_lossy().into_owned())
        })
    }
}
