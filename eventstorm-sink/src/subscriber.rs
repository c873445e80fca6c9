//! The [`Subscriber`]: one SUB socket with loss accounting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::transport::{ReceiveConfig, ReceiveKind, Received, SubSocket};
use eventstorm_core::{RawEvent, ReceiveCounters, Stats};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// How a [`Subscriber`] opens its socket: the transport layer's one
/// receiving-socket configuration (`bind`, `connect`, `hwm`,
/// `max_publishers`, `max_message_size`, `sequence_window`, and the
/// `security` table: a ZAP domain today, CURVE keys later) plus the type
/// prefixes to receive.
///
/// ```
/// use eventstorm_sink::SubscriberConfig;
///
/// let config: SubscriberConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5556"]
///     subscribe = ["compute.instance.", "volume."]
/// "#)?;
/// assert_eq!(config.socket.endpoint.hwm, SubscriberConfig::DEFAULT_HWM);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriberConfig {
    /// The socket.
    #[serde(flatten)]
    pub socket: ReceiveConfig,
    /// Event type prefixes to receive (default: `[""]`, everything).
    pub subscribe: Vec<String>,
}

impl SubscriberConfig {
    /// Default receive high-water mark.
    pub const DEFAULT_HWM: i32 = ReceiveConfig::DEFAULT_HWM;
    /// Default number of publishers tracked for loss accounting.
    pub const DEFAULT_MAX_PUBLISHERS: usize = ReceiveConfig::DEFAULT_MAX_PUBLISHERS;

    /// A config that connects to `endpoint` and subscribes to everything.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        SubscriberConfig {
            socket: ReceiveConfig::connect(endpoint),
            ..Default::default()
        }
    }

    /// A config that binds `endpoint` and subscribes to everything.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        SubscriberConfig {
            socket: ReceiveConfig::bind(endpoint),
            ..Default::default()
        }
    }

    /// Replaces the subscriptions with these type prefixes.
    pub fn subscribe<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe = prefixes.into_iter().map(Into::into).collect();
        self
    }
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        SubscriberConfig {
            socket: ReceiveConfig::default(),
            subscribe: vec![String::new()],
        }
    }
}

/// Receives events on a SUB socket, validates them, and counts what it missed.
///
/// Every message is checked: three frames, a known header version, a BSON body
/// with a valid envelope whose type equals the topic. Anything else is counted
/// as `undecodable` and logged at most once per 10 seconds; it never stops the
/// subscriber. Sequence gaps per (publisher, type) are counted as `lost`.
///
/// ```no_run
/// use std::time::Duration;
/// use eventstorm_sink::{Subscriber, SubscriberConfig};
///
/// let ctx = zmq::Context::new();
/// let config = SubscriberConfig::connect("tcp://127.0.0.1:5556").subscribe(["volume."]);
/// let mut subscriber = Subscriber::new(&ctx, &config)?;
/// while let Some(event) = subscriber.recv(Duration::from_secs(1))? {
///     println!("{} {:?}", event.event_type(), event.get("body.size_gb"));
/// }
/// println!("{}", subscriber.stats());
/// # Ok::<(), eventstorm_sink::Error>(())
/// ```
pub struct Subscriber {
    socket: SubSocket,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("endpoints", &self.socket.endpoints())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Opens the socket, subscribes, binds and connects as configured.
    pub fn new(ctx: &zmq::Context, config: &SubscriberConfig) -> Result<Subscriber> {
        let kind = ReceiveKind::Sub {
            subscribe: config.subscribe.clone(),
        };
        Ok(Subscriber {
            socket: SubSocket::open(ctx, "subscriber", kind, &config.socket)?,
        })
    }

    /// The endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        self.socket.endpoints()
    }

    /// Adds a subscription prefix.
    pub fn subscribe(&mut self, prefix: &str) -> Result<()> {
        Ok(self.socket.subscribe(prefix)?)
    }

    /// Removes a subscription prefix.
    pub fn unsubscribe(&mut self, prefix: &str) -> Result<()> {
        Ok(self.socket.unsubscribe(prefix)?)
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<ReceiveCounters> {
        self.socket.counters()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.socket.stats()
    }

    /// Waits up to `timeout` for the next event. Sequence marks and undecodable
    /// messages are counted and skipped. `None` when the timeout passed.
    pub fn recv(&mut self, timeout: Duration) -> Result<Option<RawEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.try_recv()? {
                return Ok(Some(event));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !self.socket.wait(left)? {
                return Ok(None);
            }
        }
    }

    /// Receives every event already queued, up to `max`, without waiting.
    pub fn recv_batch(&mut self, out: &mut Vec<RawEvent>, max: usize) -> Result<usize> {
        let mut n = 0;
        while n < max {
            match self.try_recv()? {
                Some(event) => {
                    out.push(event);
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }

    /// Receives one event if a message is queued. Marks and undecodable messages
    /// are consumed and counted; it keeps reading until an event or an empty queue.
    fn try_recv(&mut self) -> Result<Option<RawEvent>> {
        loop {
            match self.socket.try_recv()? {
                None => return Ok(None),
                Some(Received::Event(raw)) => return Ok(Some(raw.to_raw_event())),
                Some(Received::Mark | Received::Undecodable) => {}
            }
        }
    }
}
