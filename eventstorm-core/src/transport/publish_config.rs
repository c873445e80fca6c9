//! The configuration of every publishing socket.

use serde::{Deserialize, Serialize};

use crate::DeliveryMode;

/// How a publishing (XPUB) socket is opened: the one shape shared by the
/// application client, source publishers and router outputs.
///
/// ```
/// use eventstorm_core::DeliveryMode;
/// use eventstorm_core::transport::PublishConfig;
///
/// let config: PublishConfig = toml::from_str(r#"
///     bind = ["tcp://127.0.0.1:5555"]
///     mode = "block"
///     hwm = 1000
/// "#)?;
/// assert_eq!(config.mode, DeliveryMode::Block);
/// assert_eq!(config.linger_ms, PublishConfig::DEFAULT_LINGER_MS);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Endpoints to bind (`tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*` for a free
    /// port, `ipc:///tmp/events`, `inproc://events`).
    pub bind: Vec<String>,
    /// Endpoints to connect to (a router's input, for example).
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
    /// How often, when idle, the socket announces the last sequence of each
    /// stream, so subscribers also count losses at the end of a burst
    /// ([`Self::DEFAULT_MARK_INTERVAL_MS`]; 0 disables; marks are always sent on close).
    pub mark_interval_ms: u64,
    /// Most distinct subscription prefixes kept ([`Self::DEFAULT_MAX_SUBSCRIPTIONS`]);
    /// more are refused and counted (`subscriptions_refused`).
    pub max_subscriptions: usize,
    /// Longest subscription prefix accepted, in bytes
    /// ([`Self::DEFAULT_MAX_SUBSCRIPTION_LEN`]); longer ones are refused and counted.
    pub max_subscription_len: usize,
}

impl PublishConfig {
    /// Default high-water mark, in messages per subscriber.
    pub const DEFAULT_HWM: i32 = 10_000;
    /// Default linger on close, in milliseconds.
    pub const DEFAULT_LINGER_MS: u64 = 2_000;
    /// Default interval between sequence marks, in milliseconds.
    pub const DEFAULT_MARK_INTERVAL_MS: u64 = 1_000;
    /// Default bound on distinct subscription prefixes.
    pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 10_000;
    /// Default bound on the length of a subscription prefix, in bytes.
    pub const DEFAULT_MAX_SUBSCRIPTION_LEN: usize = 256;

    /// A config that binds `endpoint`.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        PublishConfig {
            bind: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// A config that connects to `endpoint`.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        PublishConfig {
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

    /// Sets the interval between sequence marks (0: only on close).
    pub fn with_mark_interval_ms(mut self, ms: u64) -> Self {
        self.mark_interval_ms = ms;
        self
    }

    /// Checks the settings serde cannot: endpoints, ranges. `socket` names
    /// the socket in errors.
    pub fn validate(&self, socket: &str) -> super::Result<()> {
        super::endpoint::check_socket(socket, &self.bind, &self.connect, self.hwm)?;
        let setting = |key, message: &str| super::TransportError::setting(socket, key, message);
        if self.max_subscriptions == 0 {
            return Err(setting("max_subscriptions", "must be at least 1"));
        }
        if self.max_subscription_len == 0 {
            return Err(setting("max_subscription_len", "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            bind: Vec::new(),
            connect: Vec::new(),
            mode: DeliveryMode::Drop,
            hwm: Self::DEFAULT_HWM,
            wait_for_subscriber_ms: 0,
            linger_ms: Self::DEFAULT_LINGER_MS,
            mark_interval_ms: Self::DEFAULT_MARK_INTERVAL_MS,
            max_subscriptions: Self::DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscription_len: Self::DEFAULT_MAX_SUBSCRIPTION_LEN,
        }
    }
}
