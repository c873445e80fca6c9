//! Errors of `eventstorm-router`.

use std::fmt;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when a router is configured, started or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; see [`ConfigError`] for where.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An input's or output's socket could not be opened, bound, connected
    /// or used.
    #[error(transparent)]
    Transport(#[from] eventstorm_core::transport::TransportError),
    /// A ZeroMQ call of the router's own (polling, monitoring) failed.
    #[error("{context}: {source}")]
    Zmq {
        /// What was being done.
        context: String,
        /// What libzmq said.
        #[source]
        source: zmq::Error,
    },
    /// An error from the rules engine or another core operation.
    #[error(transparent)]
    Core(#[from] eventstorm_core::Error),
    /// The router thread could not be started, or panicked.
    #[error(transparent)]
    Thread(#[from] eventstorm_core::ThreadError),
}

impl Error {
    pub(crate) fn zmq(context: impl Into<String>, source: zmq::Error) -> Self {
        Error::Zmq {
            context: context.into(),
            source,
        }
    }
}

/// A configuration error: the file, where in it, the key, and what was expected.
///
/// Displays as `FILE:LINE:COLUMN: KEY: MESSAGE` (the position is left out when
/// unknown, for configurations built in code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the configuration came from (`<config>` when built in code).
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// The key (dotted path such as `rules[2].outputs`), when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error at `key` with no position.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: "<config>".into(),
            line: None,
            column: None,
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// Sets the line and column from a byte offset into `source`.
    pub(crate) fn at_offset(mut self, source: &str, offset: usize) -> Self {
        let before = source.get(..offset).unwrap_or(source);
        self.line = Some(before.matches('\n').count() + 1);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.column = Some(before[line_start..].chars().count() + 1);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}
