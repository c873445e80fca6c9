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

/// How a router input binds each event's `tenant` to the CURVE key that
/// sent it (`tenant_from_key`; needs `security.curve_allow_list`, whose
/// entries give each key its tenant).
///
/// Either way, an event that claims another tenant than its key's is
/// refused and counted (`in.NAME.refused_tenant`), and so is every event
/// from a key without a tenant. Keys marked `trusted` on the allow-list
/// (other routers, Eventstorm's own components) are not bound: their events
/// keep the tenant they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantBinding {
    /// An event without a `tenant` gets its key's (the event is re-encoded);
    /// one with its key's tenant passes unchanged.
    Set,
    /// Only events that already carry their key's tenant pass; an event
    /// without one is refused too.
    Verify,
}

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
    ///
    /// On an input with `security.curve_allow_list`, trust comes from the
    /// keys instead (their `trusted` on the allow-list), and this must stay
    /// `false`.
    pub trusted: bool,
    /// Binds each event's `tenant` to the CURVE key that sent it: `"set"`
    /// or `"verify"` ([`TenantBinding`]). Default: none (events keep the
    /// tenant they carry). Needs `security.curve_allow_list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_from_key: Option<TenantBinding>,
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
            tenant_from_key: None,
            socket: ReceiveConfig::bind(endpoint),
        }
    }

    /// An input named `name` that connects to `endpoint`, with the defaults.
    pub fn connect(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        InputConfig {
            name: name.into(),
            trusted: false,
            tenant_from_key: None,
            socket: ReceiveConfig::connect(endpoint),
        }
    }

    /// Sets whether events of the reserved types (`_eventstorm.*`) from
    /// this input are forwarded (see the `trusted` field).
    pub fn with_trusted(mut self, trusted: bool) -> Self {
        self.trusted = trusted;
        self
    }

    /// Binds each event's tenant to the CURVE key that sent it (see the
    /// `tenant_from_key` field).
    pub fn with_tenant_from_key(mut self, binding: TenantBinding) -> Self {
        self.tenant_from_key = Some(binding);
        self
    }
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            name: "input".into(),
            trusted: false,
            tenant_from_key: None,
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
