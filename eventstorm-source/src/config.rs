//! Configuration of a [`Publisher`](crate::Publisher).

pub use eventstorm_core::DeliveryMode;
use serde::{Deserialize, Serialize};

/// How a [`Publisher`](crate::Publisher) opens its socket.
///
/// ```
/// use eventstorm_source::{DeliveryMode, PublisherConfig};
///
/// let config: PublisherConfig = toml::from_str(r#"
///     bind = ["tcp://127.0.0.1:5555"]
///     mode = "block"
///     hwm = 1000
/// "#)?;
/// assert_eq!(config.mode, DeliveryMode::Block);
/// assert_eq!(config.linger_ms, PublisherConfig::DEFAULT_LINGER_MS);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublisherConfig {
    /// Endpoints to bind (`tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*` for a free
    /// port, `ipc:///tmp/events`, `inproc://events`).
    pub bind: Vec<String>,
    /// Endpoints to connect to (a router's frontend, for example).
    pub connect: Vec<String>,
    /// Drop (default) or block when a subscriber's queue is full.
    pub mode: DeliveryMode,
    /// Messages queued per subscriber before `mode` applies
    /// ([`Self::DEFAULT_HWM`]).
    pub hwm: i32,
    /// When above zero, wait up to this long at start for a first subscriber, so
    /// that the first events are not lost to the slow-joiner effect.
    pub wait_for_subscriber_ms: u64,
    /// How long closing waits to deliver queued events ([`Self::DEFAULT_LINGER_MS`]).
    pub linger_ms: u64,
    /// How often, when idle, the publisher announces the last sequence of each
    /// stream, so subscribers also count losses at the end of a burst
    /// ([`Self::DEFAULT_MARK_INTERVAL_MS`]; 0 disables; marks are always sent on close).
    pub mark_interval_ms: u64,
}

impl PublisherConfig {
    /// Default high-water mark, in messages per subscriber.
    pub const DEFAULT_HWM: i32 = 10_000;
    /// Default linger on close, in milliseconds.
    pub const DEFAULT_LINGER_MS: u64 = 2_000;
    /// Default interval between sequence marks, in milliseconds.
    pub const DEFAULT_MARK_INTERVAL_MS: u64 = 1_000;

    /// A config that binds `endpoint`.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        PublisherConfig {
            bind: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// A config that connects to `endpoint`.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        PublisherConfig {
            connect: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// Sets the delivery mode.
    pub fn with_mode(mut self, mode: DeliveryMode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the high-water mark.
    pub fn with_hwm(mut self, hwm: i32) -> Self {
        self.hwm = hwm;
        self
    }

    /// Waits up to `ms` milliseconds for a first subscriber at start.
    pub fn with_wait_for_subscriber_ms(mut self, ms: u64) -> Self {
        self.wait_for_subscriber_ms = ms;
        self
    }

    /// Sets the linger on close.
    pub fn with_linger_ms(mut self, ms: u64) -> Self {
        self.linger_ms = ms;
        self
    }
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            bind: Vec::new(),
            connect: Vec::new(),
            mode: DeliveryMode::Drop,
            hwm: Self::DEFAULT_HWM,
            wait_for_subscriber_ms: 0,
            linger_ms: Self::DEFAULT_LINGER_MS,
            mark_interval_ms: Self::DEFAULT_MARK_INTERVAL_MS,
        }
    }
}
