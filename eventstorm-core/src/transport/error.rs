//! Errors of the transport layer.

/// A ZeroMQ socket operation that failed, with what was being done.
///
/// Every component wraps it in its own error (`#[from]`), so a caller matches
/// on [`TransportError`] wherever a socket is involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A socket has neither a `bind` nor a `connect` endpoint.
    #[error("{socket}: no endpoint: give at least one `bind` or `connect` endpoint")]
    NoEndpoint {
        /// Which socket (`publisher`, `input apps`, ...).
        socket: String,
    },
    /// An endpoint is not well formed (checked before libzmq sees it, so that
    /// `tcp://host:99999` is an error rather than a random port).
    #[error("{socket}: `{endpoint}` is not a valid {action} endpoint: {reason}")]
    InvalidEndpoint {
        /// Which socket.
        socket: String,
        /// `bind` or `connect`.
        action: &'static str,
        /// The endpoint as configured.
        endpoint: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// An endpoint could not be bound or connected.
    #[error(
        "{socket}: cannot {action} {endpoint}: {source} (is the address valid and, for bind, not in use?)"
    )]
    Endpoint {
        /// Which socket.
        socket: String,
        /// `bind` or `connect`.
        action: &'static str,
        /// The endpoint as configured.
        endpoint: String,
        /// What libzmq said.
        #[source]
        source: zmq::Error,
    },
    /// Another socket operation failed.
    #[error("ZeroMQ error while {action}: {source}")]
    Socket {
        /// What was being done (`setting the high-water mark`, `receiving`, ...).
        action: &'static str,
        /// What libzmq said.
        #[source]
        source: zmq::Error,
    },
    /// A setting is out of its range.
    #[error("{socket}: `{key}` {message}")]
    Setting {
        /// Which socket.
        socket: String,
        /// The setting's key.
        key: &'static str,
        /// What is wrong and what was expected.
        message: String,
    },
    /// CURVE is configured, but the linked libzmq was built without it.
    #[error(
        "{socket}: needs CURVE, but this libzmq was built without it (the `zmq` crate's \
         vendored copy has no libsodium): build against a libzmq that has it; from a checkout, \
         `scripts/cargo-curve.sh build --release ...` (docs/security.md, \"Building with CURVE\")"
    )]
    CurveUnavailable {
        /// What needed it (a socket, or key generation).
        socket: String,
    },
    /// A CURVE key file could not be created or read, or is not one.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A CURVE allow-list file could not be read or is not valid.
    #[error("allow-list {path}: {reason}")]
    AllowList {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// The ZAP handler (the thread that checks CURVE clients against the
    /// allow-list) could not be started.
    #[error("ZAP handler: {0}")]
    Zap(String),
}

impl TransportError {
    pub(crate) fn setting(socket: &str, key: &'static str, message: &str) -> Self {
        TransportError::Setting {
            socket: socket.to_string(),
            key,
            message: message.to_string(),
        }
    }

    pub(crate) fn invalid_endpoint(
        socket: &str,
        action: &'static str,
        endpoint: &str,
        reason: String,
    ) -> Self {
        let (socket, endpoint) = (socket.to_string(), endpoint.to_string());
        TransportError::InvalidEndpoint {
            socket,
            action,
            endpoint,
            reason,
        }
    }

    pub(crate) fn endpoint(
        socket: &str,
        action: &'static str,
        endpoint: &str,
        source: zmq::Error,
    ) -> Self {
        let (socket, endpoint) = (socket.to_string(), endpoint.to_string());
        TransportError::Endpoint {
            socket,
            action,
            endpoint,
            source,
        }
    }

    pub(crate) fn socket(action: &'static str, source: zmq::Error) -> Self {
        TransportError::Socket { action, source }
    }

    /// The libzmq error underneath, if there is one.
    pub fn zmq_error(&self) -> Option<zmq::Error> {
        match self {
            TransportError::Endpoint { source, .. } | TransportError::Socket { source, .. } => {
                Some(*source)
            }
            _ => None,
        }
    }
}

/// A `Result` whose error is a [`TransportError`].
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
