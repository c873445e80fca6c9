//! The [`Publisher`]: one publishing socket that stamps and sends events.

use std::sync::Arc;
use std::time::Duration;

use eventstorm_core::event::validate_type;
use eventstorm_core::transport::{PubSocket, PublishCounters};
use eventstorm_core::{Event, RawEvent, Stats};

use crate::config::{DeliveryMode, PublisherConfig};
use crate::error::Result;

pub use eventstorm_core::transport::Subscriptions;

/// The publisher's counters, shared with other threads through
/// [`Publisher::counters`] (the transport layer's publishing counters).
pub type PublisherCounters = PublishCounters;

/// What happened to one event handed to [`Publisher::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for every matching subscriber (or no subscriber wanted it).
    Sent,
    /// A subscriber's queue was full in [`DeliveryMode::Drop`]: dropped and
    /// counted. Subscribers count it as a sequence gap too.
    Dropped,
}

/// Sends events on one XPUB socket, stamping each with this publisher's id and
/// the event's sequence in its (publisher, type) stream.
///
/// A `Publisher` owns a ZeroMQ socket, so it lives on one thread (it is `Send`,
/// not `Sync`). Applications that emit from many threads use a
/// [`Client`](crate::Client).
///
/// ```
/// use eventstorm_core::Event;
/// use eventstorm_source::{Publisher, PublisherConfig};
///
/// let ctx = zmq::Context::new();
/// let mut publisher = Publisher::new(&ctx, &PublisherConfig::bind("tcp://127.0.0.1:*"))?;
/// println!("publishing on {:?}", publisher.endpoints());
/// publisher.send(&Event::builder("app.started").build())?;
/// let stats = publisher.close(); // the final counters, marks included
/// assert_eq!(stats.get("sent"), Some(1));
/// # Ok::<(), eventstorm_source::Error>(())
/// ```
#[derive(Debug)]
pub struct Publisher {
    socket: PubSocket,
    buf: Vec<u8>,
    sends_since_poll: u32,
    /// Drop mode: whether a send may wait (up to the socket's send timeout)
    /// for a full subscriber queue before dropping; see [`Publisher::set_drop_wait`].
    drop_wait: bool,
    /// Drop mode with a wait: the last send timed out, so sends drop at once
    /// until one goes through (a stuck subscriber costs one wait, not one
    /// per event).
    congested: bool,
}

/// How many sends between two polls of the socket for subscription messages.
const POLL_EVERY: u32 = 256;

impl Publisher {
    /// Opens the socket, binds and connects as configured, and, when
    /// `wait_for_subscriber_ms` is set, waits for a first subscriber.
    pub fn new(ctx: &zmq::Context, config: &PublisherConfig) -> Result<Publisher> {
        Ok(Publisher {
            socket: PubSocket::open(ctx, "publisher", config)?,
            buf: Vec::with_capacity(1024),
            sends_since_poll: 0,
            drop_wait: false,
            congested: false,
        })
    }

    /// The endpoints, with `*` ports resolved to the ports actually bound.
    pub fn endpoints(&self) -> &[String] {
        self.socket.endpoints()
    }

    /// This publisher's id in event headers.
    pub fn publisher_id(&self) -> u64 {
        self.socket.publisher_id()
    }

    /// The delivery mode.
    pub fn mode(&self) -> DeliveryMode {
        self.socket.mode()
    }

    /// Drop mode: lets a send wait up to `wait` for room in a full subscriber
    /// queue before it drops the event (`None` or zero, the default: drop at
    /// once). When a wait runs out, later sends drop at once until one goes
    /// through again, so a subscriber that stopped reading costs one wait, not
    /// one per event. Block mode ignores it.
    ///
    /// Useful where something cheaper can shed load instead: a [`Client`]'s
    /// publisher thread waits (100 ms by default), its queue fills, and
    /// further events are dropped before they are even encoded.
    ///
    /// [`Client`]: crate::Client
    pub fn set_drop_wait(&mut self, wait: Option<Duration>) -> Result<()> {
        // A send timeout would make block mode's sends give up: drop mode only.
        let wait = wait.filter(|w| !w.is_zero() && self.mode() == DeliveryMode::Drop);
        self.socket.set_send_timeout(wait)?;
        self.drop_wait = wait.is_some();
        self.congested = false;
        Ok(())
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<PublisherCounters> {
        self.socket.counters()
    }

    /// The prefixes subscribers asked for, readable from any thread.
    pub fn subscriptions(&self) -> Arc<Subscriptions> {
        self.socket.subscriptions()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.socket.stats()
    }

    /// Encodes and sends one event.
    pub fn send(&mut self, event: &Event) -> Result<SendOutcome> {
        validate_type(event.event_type())?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let outcome = match event.encode_into(&mut buf) {
            Ok(()) => self.send_bytes(event.event_type(), &buf),
            Err(e) => Err(e.into()),
        };
        self.buf = buf;
        outcome
    }

    /// Sends an event that is already encoded (forwarded bytes, for example).
    pub fn send_raw(&mut self, event: &RawEvent) -> Result<SendOutcome> {
        self.send_bytes(event.event_type(), event.as_bytes())
    }

    /// Sends a body the caller has validated as an event of type `event_type`
    /// (for example with [`eventstorm_core::RawEventRef::from_bytes`]).
    ///
    /// A batching publisher (`batch_events` above 1) adds the event to its
    /// batch (see [`flush`](Self::flush)): [`SendOutcome::Sent`] then means
    /// queued in the batch. When the batch before it finds a full queue in
    /// drop mode, that batch is dropped (its events counted as
    /// `dropped_hwm`) and this event starts the next one.
    pub fn send_bytes(&mut self, event_type: &str, body: &[u8]) -> Result<SendOutcome> {
        let flags = self.send_flags();
        if self.socket.batching() {
            return self.push(event_type, body, flags);
        }
        if self.send_frames(event_type, body, flags)? {
            self.congested = false;
            return Ok(SendOutcome::Sent);
        }
        // With a drop wait, the wait ran out.
        self.congested = self.drop_wait;
        self.count_dropped(event_type);
        Ok(SendOutcome::Dropped)
    }

    /// Block mode waits; drop mode waits only with a drop wait and while
    /// not congested.
    fn send_flags(&self) -> i32 {
        match self.mode() {
            DeliveryMode::Drop if self.drop_wait && !self.congested => 0,
            DeliveryMode::Drop => zmq::DONTWAIT,
            DeliveryMode::Block => 0,
        }
    }

    /// Adds an event to the batch being filled (see [`Self::send_bytes`]).
    fn push(&mut self, event_type: &str, body: &[u8], flags: i32) -> Result<SendOutcome> {
        self.poll_when_due()?;
        let topic = event_type.as_bytes();
        if self.socket.push(topic, body, flags)?.is_sent() {
            self.congested = false;
            return Ok(SendOutcome::Sent);
        }
        self.congested = self.drop_wait;
        self.socket.drop_pending();
        let _ = self.socket.push(topic, body, zmq::DONTWAIT)?;
        Ok(SendOutcome::Sent)
    }

    /// Sends the batch being filled, if any (a batching publisher: see
    /// [`PublisherConfig`]'s `batch_events`). Block mode waits for room;
    /// drop mode drops a batch that finds a full queue (its events counted
    /// as `dropped_hwm`). Call it whenever there is nothing more to send at
    /// once: the source runners do after each poll, so a batch never waits
    /// for events that are not there. [`close`](Self::close) sends the last
    /// one. Returns how many events it sent.
    pub fn flush(&mut self) -> Result<usize> {
        let pending = self.socket.pending_events();
        if pending == 0 {
            return Ok(0);
        }
        let flags = self.send_flags();
        if self.socket.flush(flags)? {
            self.congested = false;
            return Ok(pending);
        }
        self.congested = self.drop_wait;
        self.socket.drop_pending();
        Ok(0)
    }

    /// Counts an event of this type as dropped at a full queue. It still
    /// takes its sequence number, so that subscribers count the gap.
    pub(crate) fn count_dropped(&mut self, event_type: &str) {
        self.socket.count_dropped(event_type.as_bytes());
    }

    /// Sends without waiting in drop mode (block mode waits): `Ok(false)` when
    /// a subscriber's queue is full, in which case nothing was sent, counted
    /// or numbered, and the caller may still queue the event elsewhere.
    pub(crate) fn send_direct(&mut self, event_type: &str, body: &[u8]) -> Result<bool> {
        let flags = match self.mode() {
            DeliveryMode::Drop => zmq::DONTWAIT,
            DeliveryMode::Block => 0,
        };
        self.send_frames(event_type, body, flags)
    }

    /// Reads subscriptions every [`POLL_EVERY`] sends, then sends.
    fn send_frames(&mut self, event_type: &str, body: &[u8], flags: i32) -> Result<bool> {
        self.poll_when_due()?;
        Ok(self
            .socket
            .try_send(event_type.as_bytes(), body, flags)?
            .is_sent())
    }

    /// Counts one send and, every [`POLL_EVERY`] sends, reads the
    /// subscriptions. A failure there is the socket's: the event about to
    /// be sent is lost with it (`send_errors`).
    fn poll_when_due(&mut self) -> Result<()> {
        self.sends_since_poll += 1;
        if self.sends_since_poll >= POLL_EVERY
            && let Err(e) = self.poll_subscriptions()
        {
            self.socket.count_send_error();
            return Err(e);
        }
        Ok(())
    }

    /// Reads pending subscription messages from the socket.
    pub fn poll_subscriptions(&mut self) -> Result<()> {
        self.sends_since_poll = 0;
        self.socket.read_subscriptions()?;
        Ok(())
    }

    /// Waits until at least `count` subscription messages were seen in all, or
    /// `timeout` passes. Returns whether they were.
    pub fn wait_for_subscribers(&mut self, count: u64, timeout: Duration) -> Result<bool> {
        Ok(self.socket.wait_for_subscribers(count, timeout)?)
    }

    /// Sends sequence marks when the mark interval has passed since the last
    /// ones. Call it when idle; [`Client`](crate::Client) and the runners do.
    pub fn tick(&mut self) -> Result<()> {
        self.poll_subscriptions()?;
        Ok(self.socket.tick()?)
    }

    /// Sends final sequence marks (waiting up to the linger for room), then
    /// closes the socket, which delivers queued messages within the linger.
    /// Returns the final counters, which count those marks (a snapshot taken
    /// before `close` does not).
    pub fn close(mut self) -> Stats {
        self.socket.close();
        self.socket.stats()
    }
}
