//! The client's configuration and its builder.

use std::time::Duration;

use eventstorm_core::Severity;
use serde::{Deserialize, Serialize};

use super::Client;
use crate::config::{DeliveryMode, PublisherConfig};
use crate::error::Result;

/// How a [`Client`] is set up. Build one with [`Client::builder`] or deserialize
/// it from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// The publisher's socket.
    #[serde(flatten)]
    pub publisher: PublisherConfig,
    /// The logger name stamped on every event (default: the program's name).
    pub logger: String,
    /// Severity of events that do not say ([`Severity::Informational`]).
    pub severity: Severity,
    /// Events queued for the publisher thread
    /// ([`Self::DEFAULT_QUEUE_CAPACITY`]). In drop mode, when it is full the
    /// event is dropped before it is encoded and counted
    /// (`dropped_queue_full`); in block mode a caller waits for room. A
    /// client without batches (`batch_events = 1`) queues only when a caller
    /// finds the publisher busy, and in block mode not at all: a caller then
    /// waits for the publisher.
    pub queue_capacity: usize,
    /// Skip (and count as `unsubscribed`) events no subscriber asked for,
    /// without encoding them (default true).
    pub skip_unsubscribed: bool,
    /// Drop mode: how long the publisher thread waits for room when a
    /// subscriber's queue is full before it drops an event
    /// ([`Self::DEFAULT_DROP_WAIT_MS`]; 0: drop at once). While it waits the
    /// client's queue fills, and further events are dropped by the emitting
    /// call before they are encoded, the cheapest place to shed load.
    pub drop_wait_ms: u64,
}

impl ClientConfig {
    /// Default capacity of the queue to the publisher thread.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
    /// Default wait for a full subscriber queue in drop mode, in milliseconds.
    pub const DEFAULT_DROP_WAIT_MS: u64 = 100;
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            publisher: PublisherConfig::default(),
            logger: program_name(),
            severity: Severity::Informational,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            skip_unsubscribed: true,
            drop_wait_ms: Self::DEFAULT_DROP_WAIT_MS,
        }
    }
}

fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "eventstorm".to_string())
}

/// Builds a [`Client`].
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: ClientConfig,
    context: Option<zmq::Context>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Binds this endpoint (may be called several times).
    pub fn bind(mut self, endpoint: impl Into<String>) -> Self {
        self.config.publisher.endpoint.bind.push(endpoint.into());
        self
    }

    /// Connects to this endpoint (may be called several times).
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.config.publisher.endpoint.connect.push(endpoint.into());
        self
    }

    /// Sets the logger name.
    pub fn logger(mut self, logger: impl Into<String>) -> Self {
        self.config.logger = logger.into();
        self
    }

    /// Sets the default severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.config.severity = severity;
        self
    }

    /// Sets the delivery mode.
    pub fn mode(mut self, mode: DeliveryMode) -> Self {
        self.config.publisher.mode = mode;
        self
    }

    /// Sets the publisher's high-water mark.
    pub fn hwm(mut self, hwm: i32) -> Self {
        self.config.publisher.endpoint.hwm = hwm;
        self
    }

    /// Waits up to `timeout` at start for a first subscriber.
    pub fn wait_for_subscriber(mut self, timeout: Duration) -> Self {
        self.config.publisher.wait_for_subscriber_ms =
            timeout.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Sends up to `events` events of one type per message (wire version 2;
    /// 256 by default; 1: one per message, version 1). A batching client
    /// queues every event, and its publisher thread sends a batch as soon as
    /// the queue is empty, so a batch never waits: see [`Client`]. Every
    /// receiver of this project reads batches; a receiver that reads only
    /// version 1 refuses them, counted.
    pub fn batch_events(mut self, events: usize) -> Self {
        self.config.publisher.batch_events = Some(events);
        self
    }

    /// Sets the capacity of the queue to the publisher thread.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// Sets how long, in drop mode, the publisher thread waits for a full
    /// subscriber queue before dropping (zero: drop at once).
    pub fn drop_wait(mut self, wait: Duration) -> Self {
        self.config.drop_wait_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Uses this ZeroMQ context (needed for `inproc://` endpoints shared with
    /// other sockets of the process).
    pub fn context(mut self, context: zmq::Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the client: opens the publisher on its own thread.
    pub fn build(self) -> Result<Client> {
        let context = self.context.unwrap_or_default();
        Client::with_context(&context, self.config)
    }
}
