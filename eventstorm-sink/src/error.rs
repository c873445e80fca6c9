//! Errors of `eventstorm-sink`.

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when subscribing or running a sink.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An endpoint could not be bound or connected.
    #[error(
        "cannot {action} {endpoint}: {source} (is the address valid and, for bind, not in use?)"
    )]
    Endpoint {
        /// `bind` or `connect`.
        action: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// Another ZeroMQ operation failed.
    #[error("ZeroMQ error while {context}: {source}")]
    Zmq {
        /// What was being done.
        context: &'static str,
        /// The ZeroMQ error.
        #[source]
        source: zmq::Error,
    },
    /// Invalid configuration.
    #[error("invalid configuration at `{key}`: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A runtime thread could not be started or ended abnormally.
    #[error("runtime thread: {0}")]
    Thread(#[source] std::io::Error),
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
    /// An error from the core.
    #[error(transparent)]
    Core(#[from] eventstorm_core::Error),
}

impl Error {
    pub(crate) fn zmq(context: &'static str, source: zmq::Error) -> Self {
        Error::Zmq { context, source }
    }

    pub(crate) fn endpoint(action: &'static str, endpoint: &str, source: zmq::Error) -> Self {
        Error::Endpoint {
            action,
            endpoint: endpoint.to_string(),
            source,
        }
    }

    pub(crate) fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}
