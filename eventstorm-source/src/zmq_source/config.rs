//! Configuration of a [`ZmqSource`](super::ZmqSource).

use eventstorm_core::transport::{ReceiveConfig, TransportError};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::parse::ParserConfig;
use crate::validate::in_range;

/// Where a [`ZmqSource`](super::ZmqSource) subscribes and how it parses: a
/// `[[zmq]]` table.
///
/// The socket settings (`connect`, `bind`, `hwm`, `max_message_size`) are
/// those of every receiving socket ([`ReceiveConfig`]), flattened;
/// `max_publishers` and `sequence_window` are accepted there but unused
/// (foreign messages carry no sequence).
///
/// ```
/// use eventstorm_source::zmq_source::ZmqSourceConfig;
///
/// let config: ZmqSourceConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5560"]
///     subscribe = ["syslog"]
/// "#)?;
/// assert_eq!(config.parser, "syslog");
/// assert_eq!(config.max_frames, ZmqSourceConfig::DEFAULT_MAX_FRAMES);
/// assert_eq!(config.socket.max_message_size, 16 * 1024 * 1024);
///
/// // Unknown keys are errors, those of the socket included.
/// assert!(toml::from_str::<ZmqSourceConfig>("conect = []").is_err());
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZmqSourceConfig {
    /// A name for logs and stats (default `zmq`).
    pub name: String,
    /// The SUB socket: `connect` to the foreign PUB endpoints and/or `bind`
    /// endpoints they connect to; `hwm`; `max_message_size` (libzmq's
    /// `ZMQ_MAXMSGSIZE`, per frame: a peer sending a larger frame is
    /// disconnected before it is buffered).
    #[serde(flatten)]
    pub socket: ReceiveConfig,
    /// Topic prefixes to subscribe to, matched against each message's first
    /// frame (default `[""]`: everything).
    pub subscribe: Vec<String>,
    /// The parser each payload goes through (default `syslog`; see
    /// [`crate::parse`]).
    pub parser: String,
    /// The parser's options.
    pub parser_options: ParserConfig,
    /// Messages of more frames are rejected as `bad_framing`
    /// ([`Self::DEFAULT_MAX_FRAMES`]: `[topic][payload]` or a single frame).
    pub max_frames: usize,
    /// Longer payloads are rejected as `too_long` without being parsed
    /// ([`Self::DEFAULT_MAX_PAYLOAD_BYTES`]), so that every event published
    /// stays far below what receivers accept.
    pub max_payload_bytes: usize,
}

impl ZmqSourceConfig {
    /// Default largest number of frames in a message.
    pub const DEFAULT_MAX_FRAMES: usize = 2;
    /// Default largest payload, in bytes (1 MiB).
    pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;
    /// Largest `max_frames`.
    pub const MAX_FRAMES_LIMIT: usize = 1024;
    /// Largest `max_payload_bytes` (8 MiB: the event made of it must fit in
    /// a receiver's default 16 MiB frame).
    pub const MAX_PAYLOAD_BYTES_LIMIT: usize = 8 << 20;

    /// A config that connects to the foreign publisher at `endpoint`, with
    /// the defaults.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        ZmqSourceConfig {
            socket: ReceiveConfig::connect(endpoint),
            ..Default::default()
        }
    }

    /// A config that binds `endpoint` for foreign publishers to connect to,
    /// with the defaults.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        ZmqSourceConfig {
            socket: ReceiveConfig::bind(endpoint),
            ..Default::default()
        }
    }

    /// Sets the parser.
    pub fn with_parser(mut self, parser: impl Into<String>) -> Self {
        self.parser = parser.into();
        self
    }

    /// Replaces the subscriptions with these topic prefixes.
    pub fn with_subscribe<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Checks what serde cannot: an endpoint, the ranges, the socket's
    /// settings. The error names the key and what was expected.
    ///
    /// ```
    /// use eventstorm_source::zmq_source::ZmqSourceConfig;
    ///
    /// let config = ZmqSourceConfig { max_frames: 0, ..ZmqSourceConfig::connect("tcp://127.0.0.1:5560") };
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("max_frames") && err.contains("expected 1 to 1024, got 0"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.socket.endpoint.bind.is_empty() && self.socket.endpoint.connect.is_empty() {
            return Err(Error::config(
                "connect",
                "expected `connect` (the foreign publishers' endpoints) or `bind` endpoints",
            ));
        }
        in_range("max_frames", self.max_frames, 1, Self::MAX_FRAMES_LIMIT)?;
        in_range(
            "max_payload_bytes",
            self.max_payload_bytes,
            1,
            Self::MAX_PAYLOAD_BYTES_LIMIT,
        )?;
        if self.subscribe.is_empty() {
            return Err(Error::config(
                "subscribe",
                "expected at least one topic prefix (\"\" for every message)",
            ));
        }
        self.socket.validate(&self.name).map_err(|e| match e {
            TransportError::Setting { key, message, .. } => Error::config(key, message),
            TransportError::InvalidEndpoint { action, .. } => Error::config(action, e.to_string()),
            other => Error::Transport(other),
        })
    }
}

impl Default for ZmqSourceConfig {
    fn default() -> Self {
        ZmqSourceConfig {
            name: "zmq".to_string(),
            socket: ReceiveConfig::default(),
            subscribe: vec![String::new()],
            parser: "syslog".to_string(),
            parser_options: ParserConfig::default(),
            max_frames: Self::DEFAULT_MAX_FRAMES,
            max_payload_bytes: Self::DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}
