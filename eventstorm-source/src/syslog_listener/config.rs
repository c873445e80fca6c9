//! Configuration of a [`SyslogSource`](super::SyslogSource).

use serde::Deserialize;

use crate::parse::ParserConfig;

/// What a socket thread does when the channel to the source's `poll` is full:
/// `drop` (this source's default: a syslog sender is never slowed down) drops
/// the message and counts it in `dropped`; `block` waits for room, so TCP
/// senders are slowed down while UDP datagrams pile up in the kernel, which
/// drops them uncounted when its buffer is full.
pub use eventstorm_core::WhenFull;

/// Where a [`SyslogSource`](super::SyslogSource) listens and how it parses.
///
/// ```
/// use eventstorm_source::syslog_listener::{SyslogConfig, WhenFull};
///
/// let config: SyslogConfig = toml::from_str(r#"
///     udp = "127.0.0.1:5514"
///     tcp = "127.0.0.1:5514"
/// "#)?;
/// assert_eq!(config.parser, "syslog");
/// assert_eq!(config.when_full, WhenFull::Drop);
/// assert_eq!(config.channel_capacity, SyslogConfig::DEFAULT_CHANNEL_CAPACITY);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// A name for logs and stats (default `syslog`).
    pub name: String,
    /// UDP address to listen on (`127.0.0.1:5514`; port 0 picks one).
    pub udp: Option<String>,
    /// TCP address to listen on; each connection uses octet counting
    /// (`LEN SP MSG`, RFC 6587) or newline framing, detected from its first byte.
    pub tcp: Option<String>,
    /// The parser (default `syslog`: RFC 5424 or 3164, detected per message).
    pub parser: String,
    /// The parser's options.
    pub parser_options: ParserConfig,
    /// Messages queued between the socket threads and the source's `poll`
    /// ([`Self::DEFAULT_CHANNEL_CAPACITY`]).
    pub channel_capacity: usize,
    /// Drop (default) or block when that queue is full.
    pub when_full: WhenFull,
    /// Longer messages are rejected ([`Self::DEFAULT_MAX_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// TCP connections served at once; more are refused and counted
    /// ([`Self::DEFAULT_MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Adds the sender's address as the body field `peer` (default true).
    pub add_peer: bool,
}

impl SyslogConfig {
    /// Default queue capacity, in messages.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 10_000;
    /// Default longest message, in bytes (64 KiB).
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
    /// Default limit of simultaneous TCP connections.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

    /// Listens on UDP `addr`.
    pub fn with_udp(mut self, addr: impl Into<String>) -> Self {
        self.udp = Some(addr.into());
        self
    }

    /// Listens on TCP `addr`.
    pub fn with_tcp(mut self, addr: impl Into<String>) -> Self {
        self.tcp = Some(addr.into());
        self
    }

    /// Sets the queue capacity and what happens when it is full.
    pub fn with_channel(mut self, capacity: usize, when_full: WhenFull) -> Self {
        self.channel_capacity = capacity;
        self.when_full = when_full;
        self
    }

    /// Sets the longest accepted message.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            name: "syslog".to_string(),
            udp: None,
            tcp: None,
            parser: "syslog".to_string(),
            parser_options: ParserConfig::default(),
            channel_capacity: Self::DEFAULT_CHANNEL_CAPACITY,
            when_full: WhenFull::Drop,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            add_peer: true,
        }
    }
}
