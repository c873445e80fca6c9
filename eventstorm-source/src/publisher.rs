//! The [`Publisher`]: one ZeroMQ XPUB socket that stamps and sends events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::event::validate_type;
use eventstorm_core::{Counter, Event, RawEvent, Stamper, Stats};

use crate::config::{DeliveryMode, PublisherConfig};
use crate::error::{Error, Result};
use crate::subscriptions::Subscriptions;

/// What happened to one event handed to [`Publisher::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued for every matching subscriber (or no subscriber wanted it).
    Sent,
    /// A subscriber's queue was full in [`DeliveryMode::Drop`]: dropped and
    /// counted. Subscribers count it as a sequence gap too.
    Dropped,
}

/// The publisher's counters, shared with other threads through
/// [`Publisher::counters`].
#[derive(Debug, Default)]
pub struct PublisherCounters {
    /// Events handed to the socket and accepted.
    pub sent: Counter,
    /// Bytes of the body frames sent.
    pub bytes: Counter,
    /// Events dropped because a subscriber's queue was full (drop mode).
    pub dropped_hwm: Counter,
    /// Sequence marks sent.
    pub marks: Counter,
    /// Subscription messages seen (one per subscriber and prefix).
    pub subscriptions: Counter,
    /// Events lost to a socket error (the context terminated, for example).
    pub send_errors: Counter,
}

impl PublisherCounters {
    /// The counters as a snapshot.
    pub fn snapshot(&self) -> Stats {
        let mut stats = Stats::new("publisher");
        stats
            .push("sent", self.sent.get())
            .push("bytes", self.bytes.get())
            .push("dropped_hwm", self.dropped_hwm.get())
            .push("marks", self.marks.get())
            .push("subscriptions", self.subscriptions.get())
            .push("send_errors", self.send_errors.get());
        stats
    }
}

/// Sends events on one XPUB socket, stamping each with this publisher's id and
/// the event's sequence in its (publisher, type) stream.
///
/// A `Publisher` owns a ZeroMQ socket, so it lives on one thread (it is `Send`,
/// not `Sync`). Applications that emit from many threads use a
/// [`Client`](crate::Client), which owns a publisher on a thread of its own.
///
/// ```
/// use eventstorm_core::Event;
/// use eventstorm_source::{Publisher, PublisherConfig};
///
/// let ctx = zmq::Context::new();
/// let mut publisher = Publisher::new(&ctx, &PublisherConfig::bind("tcp://127.0.0.1:*"))?;
/// println!("publishing on {:?}", publisher.endpoints());
/// publisher.send(&Event::builder("app.started").build())?;
/// publisher.close();
/// # Ok::<(), eventstorm_source::Error>(())
/// ```
pub struct Publisher {
    socket: zmq::Socket,
    mode: DeliveryMode,
    stamper: Stamper,
    counters: Arc<PublisherCounters>,
    subscriptions: Arc<Subscriptions>,
    endpoints: Vec<String>,
    buf: Vec<u8>,
    linger: Duration,
    mark_interval: Option<Duration>,
    last_mark: Instant,
    marked: HashMap<Box<[u8]>, u64>,
    sends_since_poll: u32,
    /// Drop mode: whether a send may wait (up to the socket's send timeout)
    /// for a full subscriber queue before dropping; see [`Publisher::set_drop_wait`].
    drop_wait: bool,
    /// Drop mode with a wait: the last send timed out, so sends drop at once
    /// until one goes through (a stuck subscriber costs one wait, not one
    /// per event).
    congested: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("endpoints", &self.endpoints)
            .field("mode", &self.mode)
            .field("publisher_id", &self.stamper.publisher_id())
            .finish_non_exhaustive()
    }
}

/// How many sends between two polls of the socket for subscription messages.
const POLL_EVERY: u32 = 256;

impl Publisher {
    /// Opens the socket, binds and connects as configured, and, when
    /// `wait_for_subscriber_ms` is set, waits for a first subscriber.
    pub fn new(ctx: &zmq::Context, config: &PublisherConfig) -> Result<Publisher> {
        if config.bind.is_empty() && config.connect.is_empty() {
            return Err(Error::config(
                "publisher",
                "no endpoint: give at least one `bind` or `connect` endpoint",
            ));
        }
        let mut socket = ctx
            .socket(zmq::XPUB)
            .map_err(|e| Error::zmq("creating XPUB socket", e))?;
        socket
            .set_sndhwm(config.hwm)
            .map_err(|e| Error::zmq("setting the high-water mark", e))?;
        socket
            .set_xpub_verbose(true)
            .map_err(|e| Error::zmq("setting ZMQ_XPUB_VERBOSE", e))?;
        set_xpub_nodrop(&mut socket).map_err(|e| Error::zmq("setting ZMQ_XPUB_NODROP", e))?;
        socket
            .set_linger(i32::try_from(config.linger_ms).unwrap_or(i32::MAX))
            .map_err(|e| Error::zmq("setting linger", e))?;
        let mut endpoints = Vec::new();
        for endpoint in &config.bind {
            socket
                .bind(endpoint)
                .map_err(|e| Error::endpoint("bind", endpoint, e))?;
            endpoints.push(last_endpoint(&socket).unwrap_or_else(|| endpoint.clone()));
        }
        for endpoint in &config.connect {
            socket
                .connect(endpoint)
                .map_err(|e| Error::endpoint("connect", endpoint, e))?;
            endpoints.push(endpoint.clone());
        }
        let mut publisher = Publisher {
            socket,
            mode: config.mode,
            stamper: Stamper::new(),
            counters: Arc::new(PublisherCounters::default()),
            subscriptions: Arc::new(Subscriptions::default()),
            endpoints,
            buf: Vec::with_capacity(1024),
            linger: Duration::from_millis(config.linger_ms),
            mark_interval: (config.mark_interval_ms > 0)
                .then(|| Duration::from_millis(config.mark_interval_ms)),
            last_mark: Instant::now(),
            marked: HashMap::new(),
            sends_since_poll: 0,
            drop_wait: false,
            congested: false,
        };
        if config.wait_for_subscriber_ms > 0 {
            let waited = publisher
                .wait_for_subscribers(1, Duration::from_millis(config.wait_for_subscriber_ms))?;
            if !waited {
                tracing::warn!(
                    endpoints = ?publisher.endpoints,
                    "no subscriber within {} ms; publishing anyway",
                    config.wait_for_subscriber_ms
                );
            }
        }
        Ok(publisher)
    }

    /// The endpoints, with `*` ports resolved to the ports actually bound.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// This publisher's id in event headers.
    pub fn publisher_id(&self) -> u64 {
        self.stamper.publisher_id()
    }

    /// The delivery mode.
    pub fn mode(&self) -> DeliveryMode {
        self.mode
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
        let ms = wait
            .filter(|w| !w.is_zero() && self.mode == DeliveryMode::Drop)
            .map(|w| i32::try_from(w.as_millis()).unwrap_or(i32::MAX).max(1));
        self.socket
            .set_sndtimeo(ms.unwrap_or(-1))
            .map_err(|e| Error::zmq("setting the send timeout", e))?;
        self.drop_wait = ms.is_some();
        self.congested = false;
        Ok(())
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<PublisherCounters> {
        Arc::clone(&self.counters)
    }

    /// The prefixes subscribers asked for, readable from any thread.
    pub fn subscriptions(&self) -> Arc<Subscriptions> {
        Arc::clone(&self.subscriptions)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Encodes and sends one event.
    pub fn send(&mut self, event: &Event) -> Result<SendOutcome> {
        validate_type(event.event_type())?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = event.encode_into(&mut buf);
        let outcome = encoded
            .map_err(Error::from)
            .and_then(|()| self.send_bytes(event.event_type(), &buf));
        self.buf = buf;
        outcome
    }

    /// Sends an event that is already encoded (forwarded bytes, for example).
    pub fn send_raw(&mut self, event: &RawEvent) -> Result<SendOutcome> {
        self.send_bytes(event.event_type(), event.as_bytes())
    }

    /// Sends a body the caller has validated as an event of type `event_type`
    /// (for example with [`eventstorm_core::RawEventRef::from_bytes`]).
    pub fn send_bytes(&mut self, event_type: &str, body: &[u8]) -> Result<SendOutcome> {
        let flags = match self.mode {
            DeliveryMode::Drop if self.drop_wait && !self.congested => 0,
            DeliveryMode::Drop => zmq::DONTWAIT,
            DeliveryMode::Block => 0,
        };
        if self.send_frames(event_type, body, flags)? {
            self.congested = false;
            return Ok(SendOutcome::Sent);
        }
        // With a drop wait, the wait ran out.
        self.congested = self.drop_wait;
        self.count_dropped(event_type);
        Ok(SendOutcome::Dropped)
    }

    /// Counts an event of this type as dropped at a full queue. It still
    /// takes its sequence number, so that subscribers count the gap.
    pub(crate) fn count_dropped(&mut self, event_type: &str) {
        self.stamper.next(event_type.as_bytes());
        self.counters.dropped_hwm.inc();
    }

    /// Sends without waiting in drop mode (block mode waits): `Ok(false)` when
    /// a subscriber's queue is full, in which case nothing was sent, counted
    /// or numbered, and the caller may still queue the event elsewhere.
    pub(crate) fn send_direct(&mut self, event_type: &str, body: &[u8]) -> Result<bool> {
        let flags = match self.mode {
            DeliveryMode::Drop => zmq::DONTWAIT,
            DeliveryMode::Block => 0,
        };
        self.send_frames(event_type, body, flags)
    }

    /// Sends the three frames; `Ok(false)` when the first frame finds a full
    /// queue (EAGAIN). The sequence number is taken only once the first frame
    /// is accepted. A socket error loses the event and is counted.
    fn send_frames(&mut self, event_type: &str, body: &[u8], flags: i32) -> Result<bool> {
        self.sends_since_poll += 1;
        if self.sends_since_poll >= POLL_EVERY
            && let Err(e) = self.poll_subscriptions()
        {
            // The socket failed: this event is lost with it.
            self.counters.send_errors.inc();
            return Err(e);
        }
        let topic = event_type.as_bytes();
        match self.socket.send(topic, flags | zmq::SNDMORE) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(false),
            Err(e) => {
                self.counters.send_errors.inc();
                return Err(Error::zmq("sending the topic frame", e));
            }
        }
        let header = self.stamper.next(topic).encode();
        // Once the first frame is accepted, libzmq accepts the rest of the message.
        let rest = self
            .socket
            .send(&header[..], zmq::SNDMORE)
            .and_then(|()| self.socket.send(body, 0));
        if let Err(e) = rest {
            self.counters.send_errors.inc();
            return Err(Error::zmq("sending the header and body frames", e));
        }
        // One thread at a time holds the publisher (`&mut self`).
        self.counters.sent.inc_single_writer();
        self.counters.bytes.add_single_writer(body.len() as u64);
        Ok(true)
    }

    /// Reads pending subscription messages from the socket.
    pub fn poll_subscriptions(&mut self) -> Result<()> {
        self.sends_since_poll = 0;
        loop {
            match self.socket.recv_msg(zmq::DONTWAIT) {
                Ok(msg) => self.on_subscription_message(&msg),
                Err(zmq::Error::EAGAIN) => return Ok(()),
                Err(e) => return Err(Error::zmq("reading subscriptions", e)),
            }
        }
    }

    fn on_subscription_message(&mut self, msg: &[u8]) {
        match msg.split_first() {
            Some((1, prefix)) => {
                self.counters.subscriptions.inc();
                self.subscriptions.add(prefix);
            }
            Some((0, prefix)) => self.subscriptions.remove(prefix),
            _ => {}
        }
    }

    /// Waits until at least `count` subscription messages were seen in all, or
    /// `timeout` passes. Returns whether they were.
    pub fn wait_for_subscribers(&mut self, count: u64, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        self.poll_subscriptions()?;
        while self.counters.subscriptions.get() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX).max(1);
            self.socket
                .poll(zmq::POLLIN, ms)
                .map_err(|e| Error::zmq("waiting for subscribers", e))?;
            self.poll_subscriptions()?;
        }
        Ok(true)
    }

    /// Sends sequence marks when the mark interval has passed since the last
    /// ones. Call it when idle; [`Client`](crate::Client) and the runners do.
    pub fn tick(&mut self) -> Result<()> {
        self.poll_subscriptions()?;
        if let Some(interval) = self.mark_interval
            && self.last_mark.elapsed() >= interval
        {
            self.send_marks(zmq::DONTWAIT)?;
        }
        Ok(())
    }

    /// Announces the last sequence of every stream that changed since the last
    /// marks, so subscribers can count events lost at the end of a burst.
    fn send_marks(&mut self, flags: i32) -> Result<()> {
        self.last_mark = Instant::now();
        let mut pending = Vec::new();
        for (topic, seq) in self.stamper.streams() {
            if self.marked.get(topic) != Some(&seq) {
                pending.push((topic.to_vec(), seq));
            }
        }
        for (topic, sequence) in pending {
            let header = eventstorm_core::Header {
                publisher: self.stamper.publisher_id(),
                sequence,
            }
            .encode_mark();
            match self.socket.send(&topic[..], flags | zmq::SNDMORE) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => continue,
                Err(e) => return Err(Error::zmq("sending a sequence mark", e)),
            }
            self.socket
                .send(&header[..], zmq::SNDMORE)
                .map_err(|e| Error::zmq("sending a sequence mark", e))?;
            self.socket
                .send(&[][..], 0)
                .map_err(|e| Error::zmq("sending a sequence mark", e))?;
            self.counters.marks.inc();
            self.marked.insert(topic.into_boxed_slice(), sequence);
        }
        Ok(())
    }

    /// Sends final sequence marks (waiting up to the linger for room), then
    /// closes the socket, which delivers queued messages within the linger.
    pub fn close(mut self) {
        let linger = i32::try_from(self.linger.as_millis()).unwrap_or(i32::MAX);
        if self.socket.set_sndtimeo(linger).is_ok()
            && let Err(e) = self.send_marks(0)
        {
            tracing::debug!("final sequence marks not sent: {e}");
        }
    }
}

fn last_endpoint(socket: &zmq::Socket) -> Option<String> {
    socket.get_last_endpoint().ok()?.ok()
}

/// Sets `ZMQ_XPUB_NODROP` on an XPUB socket, which the `zmq` crate has no
/// setter for: a full subscriber queue then makes a send fail with EAGAIN (with
/// `DONTWAIT`) or wait, instead of silently discarding the message. Public for
/// programs that build their own XPUB sockets next to Eventstorm's.
#[allow(unsafe_code)]
pub fn set_xpub_nodrop(socket: &mut zmq::Socket) -> zmq::Result<()> {
    let value: std::os::raw::c_int = 1;
    // SAFETY: `socket` is a live XPUB socket we hold exclusively; the option
    // value is a valid c_int whose size is passed alongside it, as
    // zmq_setsockopt requires for ZMQ_XPUB_NODROP; zmq_errno only reads the
    // calling thread's errno.
    let (rc, errno) = unsafe {
        let rc = zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as std::os::raw::c_int,
            (&value as *const std::os::raw::c_int).cast(),
            std::mem::size_of::<std::os::raw::c_int>(),
        );
        (rc, zmq_sys::zmq_errno())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(zmq::Error::from_raw(errno))
    }
}
