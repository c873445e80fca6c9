//! Errors of `eventstorm-source`.

pub use eventstorm_core::ThreadError;
pub use eventstorm_core::transport::TransportError;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when publishing or running a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be opened, bound, connected or used.
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
    /// A configuration file could not be read, had an unset `${VAR}`, or is
    /// not valid TOML of the expected shape (file, line, column and key
    /// named).
    #[error(transparent)]
    File(#[from] eventstorm_core::config::ConfigError),
    /// A thread could not be started, or panicked.
    #[error(transparent)]
    Thread(#[from] ThreadError),
    /// An error from the core (invalid event, encoding).
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
