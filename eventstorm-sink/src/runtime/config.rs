//! The runtime's configuration.

use std::time::Duration;

use eventstorm_core::transport::ReceiveConfig;
use eventstorm_core::{Matcher, WhenFull};
use serde::{Deserialize, Serialize};

use crate::subscriber::SubscriberConfig;

/// How a [`SinkRuntime`](super::SinkRuntime) receives and batches.
///
/// ```
/// use eventstorm_sink::{RuntimeConfig, WhenFull};
///
/// let config: RuntimeConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5556"]
///     subscribe = ["volume."]
///     filter = 'volume.* where body.size_gb >= 100'
///     channel_capacity = 50000
///     when_full = "drop"
///     batch_max_events = 500
///     batch_max_delay_ms = 50
/// "#)?;
/// assert_eq!(config.when_full, WhenFull::Drop);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// The subscriber's socket (`bind`, `connect`, `hwm`, `max_publishers`,
    /// `max_message_size`: every receiving socket's settings).
    #[serde(flatten)]
    pub socket: ReceiveConfig,
    /// Event type prefixes to receive (default: `[""]`, everything).
    pub subscribe: Vec<String>,
    /// Only events matching this are handed to the sink; the others are
    /// counted as `filtered` (default: all).
    pub filter: Option<Matcher>,
    /// Events queued between the subscriber thread and the sink thread
    /// ([`Self::DEFAULT_CHANNEL_CAPACITY`]). They travel in chunks of up to
    /// 256 events (one channel operation per chunk; never more than a batch);
    /// a chunk waits at most 1 ms (or the batch delay, if shorter) to fill.
    /// With `when_full = "drop"` a chunk that finds no room is dropped whole,
    /// each event counted.
    pub channel_capacity: usize,
    /// What the subscriber thread does when that queue is full (default: block).
    pub when_full: WhenFull,
    /// Most events in one batch ([`Self::DEFAULT_BATCH_MAX_EVENTS`]).
    pub batch_max_events: usize,
    /// Longest a batch waits to fill before it is written
    /// ([`Self::DEFAULT_BATCH_MAX_DELAY_MS`]).
    pub batch_max_delay_ms: u64,
    /// Fail at start when the sink's healthcheck fails (default false: warn and go on).
    pub require_healthy: bool,
    /// At shutdown, how long the subscriber still receives what its socket
    /// already holds and waits for room in the queue to the sink
    /// ([`Self::DEFAULT_DRAIN_TIMEOUT_MS`]); what is left then is counted as
    /// `dropped_queue_full`. So when the publishers stop first, a sink
    /// writes everything they sent.
    pub drain_timeout_ms: u64,
}

impl RuntimeConfig {
    /// Default capacity of the subscriber → sink channel.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 10_000;
    /// Default batch size.
    pub const DEFAULT_BATCH_MAX_EVENTS: usize = 1_000;
    /// Default batch delay, in milliseconds.
    pub const DEFAULT_BATCH_MAX_DELAY_MS: u64 = 100;
    /// Default drain time at shutdown, in milliseconds.
    pub const DEFAULT_DRAIN_TIMEOUT_MS: u64 = 10_000;

    /// A config around a subscriber config, with the other defaults.
    pub fn new(subscriber: SubscriberConfig) -> Self {
        RuntimeConfig {
            socket: subscriber.socket,
            subscribe: subscriber.subscribe,
            ..Default::default()
        }
    }

    /// The subscriber's part of the configuration.
    pub fn subscriber(&self) -> SubscriberConfig {
        SubscriberConfig {
            socket: self.socket.clone(),
            subscribe: self.subscribe.clone(),
        }
    }

    /// Sets the batch limits.
    pub fn with_batch(mut self, max_events: usize, max_delay: Duration) -> Self {
        self.batch_max_events = max_events;
        self.batch_max_delay_ms = max_delay.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Sets the channel capacity and what happens when it is full.
    pub fn with_channel(mut self, capacity: usize, when_full: WhenFull) -> Self {
        self.channel_capacity = capacity;
        self.when_full = when_full;
        self
    }

    /// Sets the filter.
    pub fn with_filter(mut self, filter: Matcher) -> Self {
        self.filter = Some(filter);
        self
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            socket: ReceiveConfig::default(),
            subscribe: SubscriberConfig::default().subscribe,
            filter: None,
            channel_capacity: Self::DEFAULT_CHANNEL_CAPACITY,
            when_full: WhenFull::Block,
            batch_max_events: Self::DEFAULT_BATCH_MAX_EVENTS,
            batch_max_delay_ms: Self::DEFAULT_BATCH_MAX_DELAY_MS,
            require_healthy: false,
            drain_timeout_ms: Self::DEFAULT_DRAIN_TIMEOUT_MS,
        }
    }
}
