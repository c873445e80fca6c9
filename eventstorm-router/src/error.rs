//! Errors of `eventstorm-router`.

use eventstorm_core::config::ConfigError;

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
    /// A ZeroMQ call of the router's own (polling) failed.
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
