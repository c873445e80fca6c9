//! The [`Subscriber`]: one ZeroMQ SUB socket with loss accounting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::wire::{self, Message};
use eventstorm_core::{RawEvent, ReceiveCounters, SequenceTracker, Stats};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a [`Subscriber`] opens its socket.
///
/// ```
/// use eventstorm_sink::SubscriberConfig;
///
/// let config: SubscriberConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5556"]
///     subscribe = ["compute.instance.", "volume."]
/// "#)?;
/// assert_eq!(config.hwm, SubscriberConfig::DEFAULT_HWM);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriberConfig {
    /// Endpoints to connect to (publishers or a router's backend).
    pub connect: Vec<String>,
    /// Endpoints to bind (publishers then connect to this subscriber).
    pub bind: Vec<String>,
    /// Event type prefixes to receive (default: `[""]`, everything).
    pub subscribe: Vec<String>,
    /// Messages queued per publisher before ZeroMQ stops reading from it
    /// ([`Self::DEFAULT_HWM`]).
    pub hwm: i32,
    /// Publishers whose sequences are remembered at once ([`Self::DEFAULT_MAX_PUBLISHERS`]).
    pub max_publishers: usize,
}

impl SubscriberConfig {
    /// Default receive high-water mark.
    pub const DEFAULT_HWM: i32 = 10_000;
    /// Default number of publishers tracked for loss accounting.
    pub const DEFAULT_MAX_PUBLISHERS: usize = 4096;

    /// A config that connects to `endpoint` and subscribes to everything.
    pub fn connect(endpoint: impl Into<String>) -> Self {
        SubscriberConfig {
            connect: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// A config that binds `endpoint` and subscribes to everything.
    pub fn bind(endpoint: impl Into<String>) -> Self {
        SubscriberConfig {
            bind: vec![endpoint.into()],
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
            connect: Vec::new(),
            bind: Vec::new(),
            subscribe: vec![String::new()],
            hwm: Self::DEFAULT_HWM,
            max_publishers: Self::DEFAULT_MAX_PUBLISHERS,
        }
    }
}

/// How often an undecodable-frame warning is logged at most.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

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
    socket: zmq::Socket,
    tracker: SequenceTracker,
    counters: Arc<ReceiveCounters>,
    endpoints: Vec<String>,
    last_warning: Option<Instant>,
    suppressed: u64,
    /// Frame buffers reused from message to message.
    frames: [zmq::Message; 4],
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Opens the socket, subscribes, binds and connects as configured.
    pub fn new(ctx: &zmq::Context, config: &SubscriberConfig) -> Result<Subscriber> {
        if config.bind.is_empty() && config.connect.is_empty() {
            return Err(Error::config(
                "subscriber",
                "no endpoint: give at least one `bind` or `connect` endpoint",
            ));
        }
        let socket = ctx
            .socket(zmq::SUB)
            .map_err(|e| Error::zmq("creating SUB socket", e))?;
        socket
            .set_rcvhwm(config.hwm)
            .map_err(|e| Error::zmq("setting the high-water mark", e))?;
        socket
            .set_linger(0)
            .map_err(|e| Error::zmq("setting linger", e))?;
        for prefix in &config.subscribe {
            socket
                .set_subscribe(prefix.as_bytes())
                .map_err(|e| Error::zmq("subscribing", e))?;
        }
        let mut endpoints = Vec::new();
        for endpoint in &config.bind {
            socket
                .bind(endpoint)
                .map_err(|e| Error::endpoint("bind", endpoint, e))?;
            endpoints.push(
                socket
                    .get_last_endpoint()
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_else(|| endpoint.clone()),
            );
        }
        for endpoint in &config.connect {
            socket
                .connect(endpoint)
                .map_err(|e| Error::endpoint("connect", endpoint, e))?;
            endpoints.push(endpoint.clone());
        }
        Ok(Subscriber {
            socket,
            tracker: SequenceTracker::new(config.max_publishers),
            counters: Arc::new(ReceiveCounters::default()),
            endpoints,
            last_warning: None,
            suppressed: 0,
            frames: std::array::from_fn(|_| zmq::Message::new()),
        })
    }

    /// The endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Adds a subscription prefix.
    pub fn subscribe(&mut self, prefix: &str) -> Result<()> {
        self.socket
            .set_subscribe(prefix.as_bytes())
            .map_err(|e| Error::zmq("subscribing", e))
    }

    /// Removes a subscription prefix.
    pub fn unsubscribe(&mut self, prefix: &str) -> Result<()> {
        self.socket
            .set_unsubscribe(prefix.as_bytes())
            .map_err(|e| Error::zmq("unsubscribing", e))
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<ReceiveCounters> {
        Arc::clone(&self.counters)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot("subscriber")
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
            if left.is_zero() {
                return Ok(None);
            }
            let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX).max(1);
            let ready = self
                .socket
                .poll(zmq::POLLIN, ms)
                .map_err(|e| Error::zmq("polling", e))?;
            if ready == 0 {
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
            let Some(count) = self.recv_frames()? else {
                return Ok(None);
            };
            match self.accept(count) {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {}
                Err(e) => self.undecodable(&e.to_string()),
            }
        }
    }

    /// Receives one message into the reused frame buffers; returns how many
    /// frames it had (at most one beyond the three expected is kept: enough to
    /// tell the message is malformed without buffering an unbounded number).
    fn recv_frames(&mut self) -> Result<Option<usize>> {
        match self.socket.recv(&mut self.frames[0], zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(None),
            Err(e) => return Err(Error::zmq("receiving", e)),
        }
        let mut count = 1;
        let mut more = self.frames[0].get_more();
        while more {
            let slot = count.min(self.frames.len() - 1);
            self.socket
                .recv(&mut self.frames[slot], 0)
                .map_err(|e| Error::zmq("receiving", e))?;
            more = self.frames[slot].get_more();
            count += 1;
        }
        Ok(Some(count))
    }

    fn accept(&mut self, count: usize) -> Result<Option<RawEvent>, eventstorm_core::DecodeError> {
        if count > 4 {
            return Err(eventstorm_core::DecodeError::FrameCount(count));
        }
        // Only the frames received are looked at (each look is two calls
        // into libzmq).
        let mut slices: [&[u8]; 4] = [&[]; 4];
        for (slice, frame) in slices.iter_mut().zip(&self.frames).take(count) {
            *slice = frame;
        }
        let message = wire::decode_message(&slices[..count])?;
        match message {
            Message::Event(header, raw) => {
                let topic = raw.event_type().as_bytes();
                self.counters.record(self.tracker.observe(&header, topic));
                // Only the thread holding the subscriber writes these.
                self.counters.received.inc_single_writer();
                self.counters
                    .bytes
                    .add_single_writer(raw.as_bytes().len() as u64);
                Ok(Some(raw.to_raw_event()))
            }
            Message::Mark(header, topic) => {
                self.counters.marks.inc();
                let observation = self.tracker.observe_mark(&header, topic);
                self.counters.record(observation);
                Ok(None)
            }
        }
    }

    fn undecodable(&mut self, reason: &str) {
        self.counters.undecodable.inc();
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_INTERVAL)
        {
            tracing::warn!(
                suppressed = self.suppressed,
                "undecodable message skipped: {reason} ({} similar warnings suppressed since the last)",
                self.suppressed
            );
            self.last_warning = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}
