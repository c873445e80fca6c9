//! [`PubSocket`]: the publishing side every component shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Result, TransportError};
use super::monitor::{PeerEvent, PeerMonitor};
use super::peers::{Host, PeerBook, Subscribed};
use super::publish_config::PublishConfig;
use super::security::Applied;
use super::subscriptions::Subscriptions;
use super::zap::{SecurityCounters, SocketSecurity};
use crate::{DeliveryMode, Header, Stamper, Stats};

crate::counters! {
    /// The counters of one publishing socket, readable from any thread.
    pub struct PublishCounters {
        /// Events handed to the socket and accepted.
        sent,
        /// Bytes of the body frames sent.
        bytes,
        /// Events dropped because a subscriber's queue was full (drop mode,
        /// or block mode giving up at shutdown). Each still took its sequence
        /// number, so subscribers count it as a gap too.
        dropped_hwm,
        /// Events lost to a socket error (the context terminated, for example).
        send_errors,
        /// Sequence marks sent.
        marks,
        /// Subscribe messages received from subscribers (every one, repeats
        /// included).
        subscriptions,
        /// Unsubscribe messages received, with the cancels libzmq makes for
        /// each prefix of a subscriber that disconnects.
        unsubscriptions,
        /// Subscribe messages refused: a prefix longer than
        /// `max_subscription_len`, or more than `max_subscriptions` prefixes
        /// on the socket.
        subscriptions_refused,
        /// Subscribe messages refused because the subscriber's host (its IP
        /// address; every ipc peer together; every inproc peer together)
        /// already held `max_subscriptions_per_peer` prefixes.
        subscriptions_refused_peer,
    }
}

/// What [`PubSocket::try_send`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum TrySend<B> {
    /// Accepted for every matching subscriber (or none wanted it).
    Sent,
    /// A subscriber's queue was full: nothing was sent, numbered or counted,
    /// and the body is given back.
    Full(B),
}

impl<B> TrySend<B> {
    /// Whether the event was sent.
    pub fn is_sent(&self) -> bool {
        matches!(self, TrySend::Sent)
    }
}

/// What reading subscription messages changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// The set of distinct prefixes changed.
    pub changed: bool,
}

/// One XPUB socket that stamps and sends events: `ZMQ_XPUB_NODROP` (a full
/// subscriber queue is an error the caller sees, never a silent discard),
/// `ZMQ_XPUB_VERBOSER` (every subscribe and unsubscribe is seen), the
/// high-water mark, linger, per-(publisher, type) sequence numbers, sequence
/// marks, and the subscriptions subscribers sent, bounded per socket and per
/// subscriber host (see [`PublishConfig::max_subscriptions_per_peer`]).
///
/// [`Publisher`](../../eventstorm_source/struct.Publisher.html), the
/// router's outputs and every other publishing component are thin users of
/// it. It lives on one thread (`Send`, not `Sync`).
///
/// ```
/// use eventstorm_core::transport::{PubSocket, PublishConfig};
///
/// let ctx = zmq::Context::new();
/// let mut socket = PubSocket::open(&ctx, "example", &PublishConfig::bind("tcp://127.0.0.1:*"))?;
/// assert!(socket.endpoints()[0].starts_with("tcp://127.0.0.1:"));
/// // Nobody subscribed: the event is accepted and goes nowhere.
/// assert!(socket.try_send(b"app.started", &b"..."[..], zmq::DONTWAIT)?.is_sent());
/// socket.close();
/// # Ok::<(), eventstorm_core::transport::TransportError>(())
/// ```
pub struct PubSocket {
    socket: zmq::Socket,
    name: String,
    mode: DeliveryMode,
    stamper: Stamper,
    counters: Arc<PublishCounters>,
    subscriptions: Arc<Subscriptions>,
    max_subscription_len: usize,
    peers: PeerBook,
    monitor: PeerMonitor,
    /// Prefixes released by connection events that [`Self::tick`] read,
    /// reported by the next [`Self::read_subscriptions`].
    released: bool,
    endpoints: Vec<String>,
    linger_ms: i32,
    mark_interval: Option<Duration>,
    last_mark: Instant,
    marked: HashMap<Box<[u8]>, u64>,
    security: SocketSecurity,
    /// The batch being filled (wire version 2), when `batch_events` > 1.
    pending: Pending,
    batch_events: usize,
    batch_bytes: usize,
    /// Kept as long as the socket, dropped after it.
    _applied: Applied,
}

/// Events of one type waiting to go as one batch: their topic, the first
/// one's sequence, and their documents back to back.
#[derive(Debug, Default)]
struct Pending {
    topic: Vec<u8>,
    first: u64,
    count: usize,
    body: Vec<u8>,
}

impl std::fmt::Debug for PubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSocket")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .field("mode", &self.mode)
            .field("publisher_id", &self.stamper.publisher_id())
            .finish_non_exhaustive()
    }
}

/// Room added to `ZMQ_MAXMSGSIZE` on a CURVE socket for the handshake's
/// largest command and the encryption's envelope on each message.
const CURVE_ROOM: usize = 1024;

fn clamp_ms(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}

impl PubSocket {
    /// Opens the socket, binds and connects as configured, and, when
    /// `wait_for_subscriber_ms` is set, waits for a first subscriber (a
    /// warning is logged when none came). `name` says which socket in errors
    /// and logs.
    pub fn open(ctx: &zmq::Context, name: &str, config: &PublishConfig) -> Result<PubSocket> {
        config.validate(name)?;
        let mut socket = ctx
            .socket(zmq::XPUB)
            .map_err(|e| TransportError::socket("creating an XPUB socket", e))?;
        socket
            .set_sndhwm(config.endpoint.hwm)
            .map_err(|e| TransportError::socket("setting the high-water mark", e))?;
        // Not ZMQ_XPUB_MANUAL: in libzmq 4.3.4 it still stores every prefix
        // per subscriber (in a second trie) and passes up every cancel,
        // including those of prefixes other subscribers still hold, so the
        // set of prefixes anyone holds could not be kept exact. VERBOSER
        // reports every subscribe and unsubscribe with the subscriber's
        // metadata, and each prefix of a subscriber that leaves: the
        // per-host reference counts (`PeerBook`) are kept from those.
        super::sys::set_xpub_verboser(&mut socket)
            .map_err(|e| TransportError::socket("setting ZMQ_XPUB_VERBOSER", e))?;
        super::sys::set_xpub_nodrop(&mut socket)
            .map_err(|e| TransportError::socket("setting ZMQ_XPUB_NODROP", e))?;
        let linger_ms = clamp_ms(config.linger_ms);
        socket
            .set_linger(linger_ms)
            .map_err(|e| TransportError::socket("setting linger", e))?;
        // Subscription messages are 1 byte plus the prefix. libzmq applies
        // the limit to what arrives on the wire, CURVE's handshake commands
        // (INITIATE: about 300 bytes) and its per-message envelope
        // included: a CURVE socket needs room for them.
        let curve_room = if config.endpoint.security.uses_curve() {
            CURVE_ROOM
        } else {
            0
        };
        let max_msg = i64::try_from(
            config
                .max_subscription_len
                .saturating_add(1)
                .saturating_add(curve_room),
        )
        .unwrap_or(i64::MAX);
        socket
            .set_maxmsgsize(max_msg)
            .map_err(|e| TransportError::socket("setting ZMQ_MAXMSGSIZE", e))?;
        // Before any bind or connect: every connection must be seen.
        let security = Arc::new(SecurityCounters::default());
        let reports_security = config.endpoint.security.is_curve_server();
        let monitor = PeerMonitor::open(
            ctx,
            &socket,
            reports_security.then(|| Arc::clone(&security)),
        )?;
        let (endpoints, applied) =
            super::endpoint::attach(ctx, &socket, name, &config.endpoint, &security)?;
        let mut publisher = PubSocket {
            socket,
            name: name.to_string(),
            mode: config.mode,
            stamper: Stamper::new(),
            counters: Arc::new(PublishCounters::default()),
            subscriptions: Arc::new(Subscriptions::new(
                config.max_subscriptions,
                config.max_subscription_len,
            )),
            max_subscription_len: config.max_subscription_len,
            peers: PeerBook::new(config.subscriptions_per_peer(), config.max_subscriptions),
            monitor,
            released: false,
            endpoints,
            linger_ms,
            mark_interval: (config.mark_interval_ms > 0)
                .then(|| Duration::from_millis(config.mark_interval_ms)),
            last_mark: Instant::now(),
            marked: HashMap::new(),
            security: SocketSecurity::new(security, reports_security),
            pending: Pending::default(),
            batch_events: config.batch_events(),
            batch_bytes: config.batch_bytes,
            _applied: applied,
        };
        if config.wait_for_subscriber_ms > 0 {
            let wait = Duration::from_millis(config.wait_for_subscriber_ms);
            if !publisher.wait_for_subscribers(1, wait)? {
                tracing::warn!(
                    socket = %publisher.name,
                    endpoints = ?publisher.endpoints,
                    "no subscriber within {} ms; publishing anyway",
                    config.wait_for_subscriber_ms
                );
            }
        }
        Ok(publisher)
    }

    /// The socket's name in errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoints, with `*` ports resolved to the ports actually bound.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// This socket's publisher id in the headers it stamps.
    pub fn publisher_id(&self) -> u64 {
        self.stamper.publisher_id()
    }

    /// The delivery mode.
    pub fn mode(&self) -> DeliveryMode {
        self.mode
    }

    /// How long [`close`](Self::close) waits to deliver what is queued.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.linger_ms).unwrap_or(0))
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<PublishCounters> {
        Arc::clone(&self.counters)
    }

    /// The prefixes subscribers asked for, readable from any thread.
    pub fn subscriptions(&self) -> Arc<Subscriptions> {
        Arc::clone(&self.subscriptions)
    }

    /// A snapshot of the counters under the socket's name (with the
    /// [`SecurityCounters`] of a CURVE server).
    pub fn stats(&self) -> Stats {
        self.security
            .appended_to(self.counters.snapshot(&self.name))
    }

    /// The counters of the CURVE handshakes (`zap_accepted`, `zap_refused`,
    /// `handshake_failed`, ...) when the socket is a CURVE server, readable
    /// from any thread.
    pub fn security_counters(&self) -> Option<Arc<SecurityCounters>> {
        self.security.reported()
    }

    /// The socket, for polling it ([`zmq::Socket::as_poll_item`]): it is
    /// readable when subscription messages are waiting. For the router's
    /// poll loop; not part of the public API.
    #[doc(hidden)]
    pub fn socket(&self) -> &zmq::Socket {
        &self.socket
    }

    /// The socket's connection monitor, for polling: it is readable when a
    /// subscriber connected or disconnected; call
    /// [`read_subscriptions`](Self::read_subscriptions) then (a subscriber
    /// leaving can release prefixes). For the router's poll loop; not part
    /// of the public API.
    #[doc(hidden)]
    pub fn monitor_socket(&self) -> &zmq::Socket {
        self.monitor.socket()
    }

    /// How long a send with flags 0 waits for room in a full subscriber
    /// queue before it gives up (`None`: forever).
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        let ms = timeout.map_or(-1, |t| {
            i32::try_from(t.as_millis()).unwrap_or(i32::MAX).max(1)
        });
        self.socket
            .set_sndtimeo(ms)
            .map_err(|e| TransportError::socket("setting the send timeout", e))
    }

    /// Stamps and sends one event as three frames `[topic][header][body]`.
    ///
    /// [`TrySend::Full`] when the first frame found a full queue (EAGAIN:
    /// with `zmq::DONTWAIT`, or once the send timeout ran out): nothing was
    /// sent, numbered or counted, the body is given back, and the caller
    /// decides (wait and retry, queue it elsewhere, or count it as dropped).
    /// The sequence number is taken only once the first frame is accepted,
    /// after which libzmq takes the whole message. A socket error loses the
    /// event and is counted as a `send_errors`.
    ///
    /// `body` is moved (a received [`zmq::Message`]: no copy) or copied (a
    /// slice).
    ///
    /// A batch being filled ([`push`](Self::push)) is sent first, so that
    /// each stream's sequences go out in order; when it finds a full queue,
    /// this event is given back as [`TrySend::Full`].
    #[inline]
    pub fn try_send<B: Into<zmq::Message>>(
        &mut self,
        topic: &[u8],
        body: B,
        flags: i32,
    ) -> Result<TrySend<B>> {
        if self.pending.count > 0 && !self.flush(flags)? {
            return Ok(TrySend::Full(body));
        }
        match self.socket.send(topic, flags | zmq::SNDMORE) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Ok(TrySend::Full(body)),
            Err(e) => {
                self.counters.send_errors.inc();
                return Err(TransportError::socket("sending a topic frame", e));
            }
        }
        let header = self.stamper.next(topic).encode();
        let body: zmq::Message = body.into();
        let len = body.len() as u64;
        let rest = self
            .socket
            .send(&header[..], zmq::SNDMORE)
            .and_then(|()| self.socket.send(body, 0));
        if let Err(e) = rest {
            self.counters.send_errors.inc();
            return Err(TransportError::socket(
                "sending the header and body frames",
                e,
            ));
        }
        // One thread at a time holds the socket (`&mut self`).
        self.counters.sent.inc_single_writer();
        self.counters.bytes.add_single_writer(len);
        Ok(TrySend::Sent)
    }

    /// Whether this socket sends events in batches (`batch_events` above 1):
    /// then its owner sends them with [`push`](Self::push) and
    /// [`flush`](Self::flush).
    pub fn batching(&self) -> bool {
        self.batch_events > 1
    }

    /// Events in the batch being filled.
    pub fn pending_events(&self) -> usize {
        self.pending.count
    }

    /// Adds one event to the batch being filled, stamping its sequence
    /// number. The batch is sent first, with `flags`, when it holds another
    /// type or has no room for this event (`batch_events`, `batch_bytes`);
    /// when that send finds a full queue, [`TrySend::Full`] is returned:
    /// this event was not added or numbered, and the batch is kept (send it
    /// again, or give it up with [`drop_pending`](Self::drop_pending)).
    ///
    /// Nothing is sent until the batch is full or the owner calls
    /// [`flush`](Self::flush), which it does whenever it has nothing more
    /// to read. `body` must be a validated event of type `topic`.
    #[inline]
    pub fn push(&mut self, topic: &[u8], body: &[u8], flags: i32) -> Result<TrySend<()>> {
        let pending = &self.pending;
        if pending.count > 0
            && (pending.count >= self.batch_events
                || pending.body.len() + body.len() > self.batch_bytes
                || pending.topic != topic)
            && !self.flush(flags)?
        {
            return Ok(TrySend::Full(()));
        }
        let header = self.stamper.next(topic);
        let pending = &mut self.pending;
        if pending.count == 0 {
            pending.topic.clear();
            pending.topic.extend_from_slice(topic);
            pending.first = header.sequence;
        }
        pending.count += 1;
        pending.body.extend_from_slice(body);
        Ok(TrySend::Sent)
    }

    /// Sends the batch being filled: one message of wire version 2 (a
    /// single event goes as version 1). `Ok(true)` when it was sent or
    /// nothing was pending; `Ok(false)` when the first frame found a full
    /// queue (`flags` as for [`try_send`](Self::try_send)): nothing was
    /// sent and the batch is kept. A socket error loses the batch, counted
    /// as `send_errors` (one per event).
    pub fn flush(&mut self, flags: i32) -> Result<bool> {
        let count = self.pending.count;
        if count == 0 {
            return Ok(true);
        }
        match self
            .socket
            .send(&self.pending.topic[..], flags | zmq::SNDMORE)
        {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Ok(false),
            Err(e) => {
                self.counters.send_errors.add(count as u64);
                self.clear_pending();
                return Err(TransportError::socket("sending a batch's topic frame", e));
            }
        }
        let header = Header {
            publisher: self.stamper.publisher_id(),
            sequence: self.pending.first,
        };
        let header = if count == 1 {
            header.encode()
        } else {
            header.encode_batch()
        };
        // The bytes move into the message (no copy); the next batch gets
        // a buffer of the same size.
        let capacity = self.pending.body.capacity();
        let body = std::mem::replace(&mut self.pending.body, Vec::with_capacity(capacity));
        let len = body.len() as u64;
        self.pending.count = 0;
        let rest = self
            .socket
            .send(&header[..], zmq::SNDMORE)
            .and_then(|()| self.socket.send(body, 0));
        if let Err(e) = rest {
            self.counters.send_errors.add(count as u64);
            return Err(TransportError::socket(
                "sending a batch's header and body frames",
                e,
            ));
        }
        self.counters.sent.add_single_writer(count as u64);
        self.counters.bytes.add_single_writer(len);
        Ok(true)
    }

    /// Gives up the batch being filled: its events are counted as
    /// `dropped_hwm` (they took their sequence numbers, so subscribers
    /// count the gap too). Returns how many there were.
    pub fn drop_pending(&mut self) -> usize {
        let count = self.pending.count;
        self.counters.dropped_hwm.add(count as u64);
        self.clear_pending();
        count
    }

    fn clear_pending(&mut self) {
        self.pending.count = 0;
        self.pending.body.clear();
    }

    /// Counts an event of this type as dropped at a full queue. It still
    /// takes its sequence number, so that subscribers count the gap. For
    /// the crates' own publishers; not part of the public API.
    #[doc(hidden)]
    pub fn count_dropped(&mut self, topic: &[u8]) {
        self.stamper.next(topic);
        self.counters.dropped_hwm.inc();
    }

    /// Counts an event that could not be sent because of a socket error
    /// reported elsewhere (reading subscriptions failed, for example). For
    /// the crates' own publishers; not part of the public API.
    #[doc(hidden)]
    pub fn count_send_error(&mut self) {
        self.counters.send_errors.inc();
    }

    /// Reads the connection events and subscription messages waiting on
    /// the socket.
    ///
    /// Each subscriber host (IP address; every ipc peer together; every
    /// inproc peer together) may hold `max_subscriptions_per_peer` prefixes,
    /// the socket `max_subscriptions`; a prefix stays in the socket's table
    /// while any subscriber holds it, and a host's prefixes are released when
    /// its last connection closes.
    pub fn read_subscriptions(&mut self) -> Result<SubscriptionChange> {
        let mut change = SubscriptionChange {
            changed: std::mem::take(&mut self.released),
        };
        self.read_connections(&mut change);
        loop {
            let mut msg = match self.socket.recv_msg(zmq::DONTWAIT) {
                Ok(msg) => msg,
                Err(zmq::Error::EAGAIN) => return Ok(change),
                Err(zmq::Error::EINTR) => continue,
                Err(e) => return Err(TransportError::socket("reading subscriptions", e)),
            };
            // A subscriber's messages carry its connection's metadata
            // (Socket-Type at least); libzmq's own cancels for a subscriber
            // that left, and inproc peers' messages, carry none.
            let has_metadata = msg.gets("Socket-Type").is_some();
            let host = has_metadata.then(|| Host::from_peer_address(msg.gets("Peer-Address")));
            match (msg.split_first(), host) {
                (Some((1, prefix)), host) => {
                    self.counters.subscriptions.inc();
                    self.subscribe(host.unwrap_or(Host::InProc), prefix, &mut change);
                }
                (Some((0, prefix)), Some(host)) => {
                    self.counters.unsubscriptions.inc();
                    if self.peers.unsubscribe(&host, prefix) {
                        change.changed |= self.subscriptions.remove(prefix);
                    }
                }
                (Some((0, prefix)), None) => {
                    self.counters.unsubscriptions.inc();
                    // The subscriber's disconnect is reported before libzmq
                    // cancels its prefixes.
                    self.read_connections(&mut change);
                    if self.peers.unsubscribe_departed(prefix) {
                        change.changed |= self.subscriptions.remove(prefix);
                    }
                }
                _ => {}
            }
        }
    }

    /// Counts one subscribe from `host`.
    fn subscribe(&mut self, host: Host, prefix: &[u8], change: &mut SubscriptionChange) {
        if prefix.len() > self.max_subscription_len {
            self.counters.subscriptions_refused.inc();
            tracing::debug!(socket = %self.name, peer = %host, len = prefix.len(), "subscription refused: too long");
            return;
        }
        if self.peers.host_len(&host) == 0 && host != Host::InProc {
            // A new connection's host may not be known yet.
            self.read_connections(change);
        }
        match self.peers.subscribe(host.clone(), prefix) {
            Subscribed::New => {
                self.subscriptions.add(prefix);
                change.changed = true;
            }
            Subscribed::Known | Subscribed::Stale => {}
            Subscribed::RefusedHost { first } => {
                self.counters.subscriptions_refused_peer.inc();
                if first {
                    tracing::warn!(
                        socket = %self.name,
                        peer = %host,
                        "subscriber host holds max_subscriptions_per_peer prefixes; \
                         its further subscriptions are refused (subscriptions_refused_peer)"
                    );
                }
            }
            Subscribed::RefusedSocket => {
                self.counters.subscriptions_refused.inc();
                tracing::debug!(socket = %self.name, peer = %host, "subscription refused: max_subscriptions reached");
            }
        }
    }

    /// Reads the connection events waiting: a host's prefixes are released
    /// when its last connection closes.
    fn read_connections(&mut self, change: &mut SubscriptionChange) {
        while let Some(event) = self.monitor.next() {
            let lost = match event {
                PeerEvent::Opened(fd) => {
                    let host = super::sys::peer_ip(fd).map(Host::from_ip);
                    self.peers.connected(fd, host)
                }
                PeerEvent::Closed(fd) => self.peers.disconnected(fd),
            };
            for prefix in lost {
                change.changed |= self.subscriptions.remove(&prefix);
            }
        }
    }

    /// Waits until at least `count` subscribe messages were seen in all, or
    /// `timeout` passes. Returns whether they were.
    pub fn wait_for_subscribers(&mut self, count: u64, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        self.read_subscriptions()?;
        while self.counters.subscriptions.get() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX).max(1);
            match self.socket.poll(zmq::POLLIN, ms) {
                Ok(_) | Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(TransportError::socket("waiting for subscribers", e)),
            }
            self.read_subscriptions()?;
        }
        Ok(true)
    }

    /// Sends sequence marks when the mark interval has passed since the last
    /// ones (never waiting), and reads the socket's connection events. Call
    /// it when idle, at least every few seconds: libzmq's I/O thread waits
    /// once about 11,000 connection events are unread. Prefixes released by
    /// a subscriber that left are reported by the next
    /// [`read_subscriptions`](Self::read_subscriptions).
    pub fn tick(&mut self) -> Result<()> {
        let mut change = SubscriptionChange::default();
        self.read_connections(&mut change);
        self.released |= change.changed;
        if let Some(interval) = self.mark_interval
            && self.last_mark.elapsed() >= interval
        {
            self.send_marks(None)?;
        }
        Ok(())
    }

    /// Time until the next marks are due, if marks are on.
    pub fn next_mark_in(&self) -> Option<Duration> {
        self.mark_interval
            .map(|i| i.saturating_sub(self.last_mark.elapsed()))
    }

    /// Announces the last sequence of every stream that changed since the
    /// last marks, so subscribers can count events lost at the end of a burst.
    /// Never waits without a `deadline`; with one, each mark waits for room
    /// until it (a mark that finds no room is skipped).
    fn send_marks(&mut self, deadline: Option<Instant>) -> Result<()> {
        self.last_mark = Instant::now();
        let publisher = self.stamper.publisher_id();
        // A stream's events waiting in the batch being filled are not sent
        // yet: its mark announces the last one before them.
        let batch = &self.pending;
        let sent = |topic: &[u8], seq: u64| {
            if batch.count > 0 && batch.topic == topic {
                batch.first - 1
            } else {
                seq
            }
        };
        let pending: Vec<(Box<[u8]>, u64)> = self
            .stamper
            .streams()
            .map(|(topic, seq)| (topic, sent(topic, seq)))
            .filter(|(topic, seq)| *seq > 0 && self.marked.get(*topic) != Some(seq))
            .map(|(topic, seq)| (topic.into(), seq))
            .collect();
        for (topic, sequence) in pending {
            let flags = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
                    if ms == 0 || self.socket.set_sndtimeo(ms).is_err() {
                        zmq::DONTWAIT
                    } else {
                        0
                    }
                }
                None => zmq::DONTWAIT,
            };
            let header = Header {
                publisher,
                sequence,
            }
            .encode_mark();
            match self.socket.send(&topic[..], flags | zmq::SNDMORE) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => continue,
                Err(e) => return Err(TransportError::socket("sending a sequence mark", e)),
            }
            self.socket
                .send(&header[..], zmq::SNDMORE)
                .and_then(|()| self.socket.send(&[][..], 0))
                .map_err(|e| TransportError::socket("sending a sequence mark", e))?;
            self.counters.marks.inc();
            self.marked.insert(topic, sequence);
        }
        Ok(())
    }

    /// Sends the final sequence marks, waiting up to the linger for room.
    /// The socket closes when dropped, delivering what is queued within the
    /// linger.
    pub fn close(&mut self) {
        self.close_within(Instant::now() + self.linger());
    }

    /// Sends the final sequence marks, waiting for room until `deadline` at
    /// the latest (or the linger, if sooner), and shortens the linger to
    /// the time left: the socket, once dropped, delivers what is queued
    /// until then and no longer. Several sockets closed against one deadline
    /// are all gone by it, however many of them are stalled.
    pub fn close_within(&mut self, deadline: Instant) {
        let deadline = deadline.min(Instant::now() + self.linger());
        if self.pending.count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let flags = if ms > 0 && self.socket.set_sndtimeo(ms).is_ok() {
                0
            } else {
                zmq::DONTWAIT
            };
            match self.flush(flags) {
                Ok(true) => {}
                Ok(false) => {
                    let n = self.drop_pending();
                    tracing::debug!(socket = %self.name, "{n} batched events given up at close (dropped_hwm)");
                }
                Err(e) => tracing::debug!(socket = %self.name, "last batch not sent: {e}"),
            }
        }
        if let Err(e) = self.send_marks(Some(deadline)) {
            tracing::debug!(socket = %self.name, "final sequence marks not sent: {e}");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        if let Err(e) = self.socket.set_linger(ms) {
            tracing::debug!(socket = %self.name, "linger not shortened: {e}");
        }
    }
}
