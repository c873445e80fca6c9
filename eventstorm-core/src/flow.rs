//! Flow-control vocabulary shared by every component's configuration.
//!
//! Every bounded queue in Eventstorm (a client's queue to its publisher thread,
//! a sink runtime's channel, a database sink's pending events, a syslog
//! listener's channel) says what happens when it is full with [`WhenFull`];
//! every publishing socket (a publisher, a router output) says what happens when
//! a subscriber's queue is full with [`DeliveryMode`]. Each component documents
//! its own default; in TOML both are written in lower case (`"block"`, `"drop"`).

use serde::{Deserialize, Serialize};

/// What a bounded queue does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Wait for room: back-pressure travels upstream and nothing is dropped
    /// here.
    #[default]
    Block,
    /// Drop the event and count it.
    Drop,
}

/// What a publishing socket does when a subscriber's queue (its high-water
/// mark) is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    /// Fire-and-forget: the send never waits; an event that finds a full queue
    /// is dropped and counted by the sender, and seen as a sequence gap by the
    /// subscriber.
    #[default]
    Drop,
    /// Lossless: the send waits until every matching subscriber has room
    /// (back-pressure through `ZMQ_XPUB_NODROP`).
    Block,
}
