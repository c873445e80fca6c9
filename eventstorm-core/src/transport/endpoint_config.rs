//! The settings every socket shares, publishing or receiving.

use serde::{Deserialize, Serialize};

use super::error::{Result, TransportError};
use super::security::SecurityConfig;

/// Where a socket binds and connects, how many messages it queues per peer,
/// and its security: the part of [`PublishConfig`](super::PublishConfig) and
/// [`ReceiveConfig`](super::ReceiveConfig) that is the same on both sides.
///
/// It is flattened into them, so its keys stand beside theirs (`bind`,
/// `connect`, `hwm`, and a `security` table); the outer table rejects
/// unknown keys.
///
/// ```
/// use eventstorm_core::transport::ReceiveConfig;
///
/// let config: ReceiveConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5556"]
///     hwm = 1000
///     [security]
///     zap_domain = "global"
/// "#)?;
/// assert_eq!(config.endpoint.hwm, 1000);
/// assert_eq!(config.endpoint.security.zap_domain.as_deref(), Some("global"));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointConfig {
    /// Endpoints to bind (`tcp://127.0.0.1:5555`, `tcp://*:5555`,
    /// `tcp://127.0.0.1:*` for a free port, `ipc:///run/events.sock`,
    /// `inproc://events`).
    pub bind: Vec<String>,
    /// Endpoints to connect to (a router's input or output, a publisher).
    pub connect: Vec<String>,
    /// Messages queued per peer ([`Self::DEFAULT_HWM`]): per subscriber
    /// when publishing (then the delivery mode applies), per publisher when
    /// receiving (then ZeroMQ stops reading from it).
    pub hwm: i32,
    /// The socket's security options (the `security` table).
    pub security: SecurityConfig,
}

impl EndpointConfig {
    /// Default high-water mark, in messages per peer.
    pub const DEFAULT_HWM: i32 = 10_000;

    /// Settings that bind `endpoint`, with the defaults.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        EndpointConfig {
            bind: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// Settings that connect to `endpoint`, with the defaults.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        EndpointConfig {
            connect: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// Sets the security options.
    pub fn with_security(mut self, security: SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// Checks the endpoints, the high-water mark and the security options.
    /// `socket` names the socket in errors.
    pub fn validate(&self, socket: &str) -> Result<()> {
        super::endpoint::check_all(socket, &self.bind, &self.connect)?;
        if self.hwm < 0 {
            return Err(TransportError::setting(
                socket,
                "hwm",
                "must be 0 (no limit) or more",
            ));
        }
        self.security.validate(socket)
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            bind: Vec::new(),
            connect: Vec::new(),
            hwm: Self::DEFAULT_HWM,
            security: SecurityConfig::default(),
        }
    }
}
