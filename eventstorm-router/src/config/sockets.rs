//! Inputs and outputs: a name plus the transport layer's one socket
//! configuration, flattened into the `[[inputs]]` and `[[outputs]]` tables.

use eventstorm_core::transport::{PublishConfig, ReceiveConfig};
use serde::{Deserialize, Serialize};

/// What an output does when a subscriber's queue is full: `drop` (the
/// default) never waits, an event that finds a full queue is dropped and
/// counted (`dropped_hwm`) and subscribers see it as a sequence gap; `block`
/// waits for room (`ZMQ_XPUB_NODROP` back-pressure): lossless, but a slow
/// subscriber slows the whole router.
pub use eventstorm_core::DeliveryMode;

/// One input: an XSUB socket that binds and/or connects (`[[inputs]]`).
///
/// Its socket settings (`bind`, `connect`, `hwm`, `max_publishers`,
/// `max_message_size`) are those of every receiving socket
/// ([`ReceiveConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Name in logs and stats (default `input`; names must be unique).
    pub name: String,
    /// Whether events of the reserved types (`_eventstorm.*`, Eventstorm's
    /// own events such as `_eventstorm.stats`) are accepted from this input
    /// (default `false`: they are refused and counted as
    /// `in.NAME.refused_reserved`, so that a forged stats event cannot pass
    /// for a router's own). Set it on an input that reads another router
    /// whose stats events should travel on.
    pub trusted: bool,
    /// The socket.
    #[serde(flatten)]
    pub socket: ReceiveConfig,
}

impl InputConfig {
    /// Default receive high-water mark.
    pub const DEFAULT_HWM: i32 = ReceiveConfig::DEFAULT_HWM;

    /// An input named `name` that binds `endpoint`, with the defaults.
    pub fn bind(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        InputConfig {
            name: name.into(),
            trusted: false,
            socket: ReceiveConfig::bind(endpoint),
        }
    }

    /// An input named `name` that connects to `endpoint`, with the defaults.
    pub fn connect(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        InputConfig {
            name: name.into(),
            trusted: false,
            socket: ReceiveConfig::connect(endpoint),
        }
    }

    /// Sets whether events of the reserved types (`_eventstorm.*`) from
    /// this input are forwarded (see the `trusted` field).
    pub fn with_trusted(mut self, trusted: bool) -> Self {
        self.trusted = trusted;
        self
    }
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            name: "input".into(),
            trusted: false,
            socket: ReceiveConfig::default(),
        }
    }
}

/// One named output: an XPUB socket that binds and/or connects (`[[outputs]]`).
///
/// Its socket settings (`bind`, `connect`, `mode`, `hwm`, `linger_ms`,
/// `mark_interval_ms`, `wait_for_subscriber_ms`, `max_subscriptions`,
/// `max_subscription_len`, `max_subscriptions_per_peer`) are those of every publishing socket
/// ([`PublishConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// The name rules refer to (required, unique).
    pub name: String,
    /// The socket.
    #[serde(flatten)]
    pub socket: PublishConfig,
}

impl OutputConfig {
    /// Default send high-water mark.
    pub const DEFAULT_HWM: i32 = PublishConfig::DEFAULT_HWM;
    /// Default linger on close, in milliseconds.
    pub const DEFAULT_LINGER_MS: u64 = PublishConfig::DEFAULT_LINGER_MS;
    /// Default interval between sequence marks, in milliseconds.
    pub const DEFAULT_MARK_INTERVAL_MS: u64 = PublishConfig::DEFAULT_MARK_INTERVAL_MS;

    /// An output named `name` that binds `endpoint`, with the defaults.
    pub fn bind(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        OutputConfig {
            name: name.into(),
            socket: PublishConfig::bind(endpoint),
        }
    }

    /// An output named `name` that connects to `endpoint`, with the defaults.
    pub fn connect(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        OutputConfig {
            name: name.into(),
            socket: PublishConfig::connect(endpoint),
        }
    }

    /// Sets the delivery mode.
    pub fn with_mode(mut self, mode: DeliveryMode) -> Self {
        self.socket.mode = mode;
        self
    }
}
