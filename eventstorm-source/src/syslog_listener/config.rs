//! Configuration of a [`SyslogSource`](super::SyslogSource).

use eventstorm_core::auth::{TokenStore, TokensConfig, check_tenant};
use serde::Deserialize;

use super::tenancy::{Tenancy, check_sd_name};
use crate::error::{Error, Result};
use crate::parse::ParserConfig;
use crate::validate::in_range;

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
    /// TCP connections served at once ([`Self::DEFAULT_MAX_CONNECTIONS`]). At
    /// the limit, a new connection is still accepted: the connection that
    /// has been idle the longest is closed for it (counted in
    /// `connections_evicted`), so idle connections cannot lock active
    /// senders out.
    pub max_connections: usize,
    /// A TCP connection that sends nothing for this long is closed (counted in
    /// `connections_idle_closed`; [`Self::DEFAULT_IDLE_TIMEOUT_MS`]).
    pub idle_timeout_ms: u64,
    /// The UDP socket's kernel receive buffer, in bytes
    /// ([`Self::DEFAULT_RECV_BUFFER_BYTES`]): what absorbs a burst while
    /// the listener is busy. Set with `SO_RCVBUFFORCE` when the process may
    /// (`CAP_NET_ADMIN`), else with `SO_RCVBUF`, which the kernel caps at
    /// `net.core.rmem_max`; the size obtained is logged at start. Datagrams
    /// the kernel drops when it is full are counted in `dropped_kernel`.
    pub recv_buffer_bytes: usize,
    /// Adds the sender's address as the body field `peer` (default true).
    pub add_peer: bool,
    /// A tenant stamped on every event of this listener (default: none).
    /// An event whose parser found another tenant is refused (counted in
    /// `tenant_mismatch`). Excludes `auth`.
    pub tenant: Option<String>,
    /// The SD-ID of the RFC 5424 structured-data element that carries the
    /// tenant and its token, `[meniscus tenant="acme" token="..."]`
    /// ([`Self::DEFAULT_TENANT_ELEMENT`]). Read only with `auth`.
    pub tenant_element: String,
    /// The tenants' tokens (`tokens`, `tokens_file`; see [`TokensConfig`]).
    /// With tokens, every message must carry the `tenant_element` with a
    /// valid `token` (its `tenant`, if given, must be the token's); others
    /// are refused and counted in `unauthorized`. The token's tenant is
    /// stamped on the event and the element is removed from it. Default:
    /// none, messages are not checked.
    pub auth: TokensConfig,
}

impl SyslogConfig {
    /// Default queue capacity, in messages.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 10_000;
    /// Default longest message, in bytes (64 KiB).
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
    /// Default limit of simultaneous TCP connections.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// Default idle time after which a TCP connection is closed (10 minutes).
    pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 600_000;
    /// Default SD-ID of the element that carries the tenant and its token.
    pub const DEFAULT_TENANT_ELEMENT: &'static str = "meniscus";
    /// Default UDP receive buffer (8 MiB: a burst of about 10,000 typical
    /// messages; the kernel reports twice this, its bookkeeping included).
    pub const DEFAULT_RECV_BUFFER_BYTES: usize = 8 << 20;

    /// Largest `channel_capacity`.
    pub const MAX_CHANNEL_CAPACITY: usize = 10_000_000;
    /// Largest `max_message_bytes` (16 MiB).
    pub const MAX_MESSAGE_BYTES_LIMIT: usize = 16 << 20;
    /// Largest `max_connections` (each connection has a thread).
    pub const MAX_CONNECTIONS_LIMIT: usize = 16_384;
    /// Largest `idle_timeout_ms` (one day).
    pub const MAX_IDLE_TIMEOUT_MS: u64 = 86_400_000;
    /// Smallest `recv_buffer_bytes`.
    pub const MIN_RECV_BUFFER_BYTES: usize = 1024;
    /// Largest `recv_buffer_bytes` (1 GiB).
    pub const MAX_RECV_BUFFER_BYTES: usize = 1 << 30;

    /// Checks the numeric settings; the error names the key and the range
    /// expected.
    ///
    /// ```
    /// use eventstorm_source::syslog_listener::SyslogConfig;
    ///
    /// let config = SyslogConfig { max_connections: 0, ..SyslogConfig::default() };
    /// let err = config.validate().unwrap_err().to_string();
    /// assert!(err.contains("max_connections") && err.contains("expected 1 to 16384, got 0"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        in_range(
            "channel_capacity",
            self.channel_capacity,
            1,
            Self::MAX_CHANNEL_CAPACITY,
        )?;
        in_range(
            "max_message_bytes",
            self.max_message_bytes,
            1,
            Self::MAX_MESSAGE_BYTES_LIMIT,
        )?;
        in_range(
            "max_connections",
            self.max_connections,
            1,
            Self::MAX_CONNECTIONS_LIMIT,
        )?;
        in_range(
            "idle_timeout_ms",
            self.idle_timeout_ms,
            1,
            Self::MAX_IDLE_TIMEOUT_MS,
        )?;
        in_range(
            "recv_buffer_bytes",
            self.recv_buffer_bytes,
            Self::MIN_RECV_BUFFER_BYTES,
            Self::MAX_RECV_BUFFER_BYTES,
        )?;
        self.tenancy().map(drop)
    }

    /// How this listener finds the tenant of its messages; errors name the key.
    pub(crate) fn tenancy(&self) -> Result<Tenancy> {
        check_sd_name(&self.tenant_element).map_err(|m| Error::config("tenant_element", m))?;
        match (&self.tenant, self.auth.is_enabled()) {
            (Some(_), true) => Err(Error::config(
                "tenant",
                "a fixed `tenant` and `auth` tokens exclude each other: with tokens, \
                 each message's token says its tenant",
            )),
            (Some(tenant), false) => {
                check_tenant(tenant).map_err(|m| Error::config("tenant", m))?;
                Ok(Tenancy::Fixed(tenant.clone()))
            }
            (None, true) => {
                if !["syslog", "syslog5424"].contains(&self.parser.as_str()) {
                    return Err(Error::config(
                        "auth",
                        format!(
                            "the token is read from RFC 5424 structured data, which the {:?} \
                             parser does not read: use parser \"syslog\" or \"syslog5424\"",
                            self.parser
                        ),
                    ));
                }
                let store = TokenStore::new(&self.auth)
                    .map_err(|e| Error::config(format!("auth.{}", e.key), e.message))?;
                Ok(Tenancy::Tokens {
                    element: self.tenant_element.clone(),
                    store,
                })
            }
            (None, false) => Ok(Tenancy::Open),
        }
    }

    /// Requires a token in each message's `tenant_element`: `token` stands
    /// for `tenant`.
    pub fn with_token(mut self, tenant: impl Into<String>, token: impl Into<String>) -> Self {
        self.auth
            .tokens
            .push(eventstorm_core::auth::TokenEntry::new(tenant, token));
        self
    }

    /// Sets the connection limit and the idle timeout of TCP connections.
    pub fn with_connections(mut self, max_connections: usize, idle_timeout_ms: u64) -> Self {
        self.max_connections = max_connections;
        self.idle_timeout_ms = idle_timeout_ms;
        self
    }

    /// Sets the UDP socket's receive buffer size.
    pub fn with_recv_buffer_bytes(mut self, bytes: usize) -> Self {
        self.recv_buffer_bytes = bytes;
        self
    }

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
            idle_timeout_ms: Self::DEFAULT_IDLE_TIMEOUT_MS,
            recv_buffer_bytes: Self::DEFAULT_RECV_BUFFER_BYTES,
            add_peer: true,
            tenant: None,
            tenant_element: Self::DEFAULT_TENANT_ELEMENT.to_string(),
            auth: TokensConfig::default(),
        }
    }
}
