//! Errors of `eventstorm-sink`.

pub use eventstorm_core::ThreadError;
pub use eventstorm_core::transport::TransportError;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when subscribing or running a sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The subscriber's socket could not be opened, bound, connected or used.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Invalid configuration.
    #[error("invalid configuration at `{key}`: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A runtime thread could not be started, or panicked.
    #[error(transparent)]
    Thread(#[from] ThreadError),
    /// The sink failed its healthcheck at start and the runtime requires it.
    #[error("sink `{sink}` is not healthy: {source}")]
    Unhealthy {
        /// The sink's name.
        sink: String,
        /// Why.
        #[source]
        source: eventstorm_core::Error,
    },
    /// An I/O error (opening an output file, for example).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A dead-letter file could not be read.
    #[error(transparent)]
    DeadLetterFile(#[from] crate::dead_letter::ReadError),
    /// A configuration file is invalid (file, line, key and what was
    /// expected).
    #[cfg(feature = "service")]
    #[error(transparent)]
    ConfigFile(#[from] eventstorm_core::config::ConfigError),
    /// The HTTP listener (`[http]`) could not start: its settings, its
    /// address, or its threads.
    #[cfg(feature = "service")]
    #[error(transparent)]
    Http(#[from] eventstorm_core::http::HttpError),
    /// An error from the core.
    #[error(transparent)]
    Core(#[from] eventstorm_core::Error),
}

impl Error {
    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}
