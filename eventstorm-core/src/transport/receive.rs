//! [`SubSocket`]: the receiving side every component shares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Result, TransportError};
use super::receive_config::ReceiveConfig;
use super::security::Applied;
use super::zap::{SecurityCounters, SocketSecurity, TENANT_PROPERTY, TRUSTED_PROPERTY};
use crate::wire::{self, BatchCursor, Message};
use crate::{DecodeError, RawEventRef, ReceiveCounters, SequenceTracker, Stats};

/// Which kind of receiving socket.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiveKind {
    /// A SUB socket subscribed to these type prefixes (`""`: everything).
    Sub {
        /// The type prefixes.
        subscribe: Vec<String>,
    },
    /// An XSUB socket: subscriptions are sent by the caller
    /// ([`SubSocket::send_subscription`]), as a router forwards its
    /// subscribers' upstream.
    XSub,
}

/// What one received message turned out to be.
#[derive(Debug, Clone, Copy)]
pub enum Received<'a> {
    /// An event, validated, counted and accounted for; its bytes borrow the
    /// socket's frame buffer until the next receive.
    Event(RawEventRef<'a>),
    /// A sequence mark: counted and accounted for.
    Mark,
    /// A message that is not an event: counted as `undecodable` and logged
    /// (at most once per interval).
    Undecodable,
}

/// Who sent a message, as the CURVE server's allow-list said when it
/// accepted the sender's connection (ZAP metadata, read from the message).
/// Known only on a socket with `security.curve_allow_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerIdentity {
    /// The client's name on the allow-list (its `User-Id`).
    pub user_id: String,
    /// The tenant the allow-list gives the client's key.
    pub tenant: Option<String>,
    /// Whether the allow-list trusts the key with Eventstorm's own
    /// `_eventstorm.*` events.
    pub trusted: bool,
}

/// How often an undecodable-message warning is logged at most.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// One SUB or XSUB socket: bind/connect with `*` ports resolved, the frame
/// reader (reused buffers, at most four frames kept however many arrive),
/// then decode → loss accounting → counters for every message.
///
/// Every message is checked: three frames, a known header version, a BSON
/// body whose whole structure is valid, an envelope whose type equals the
/// topic. Anything else is counted as `undecodable` and logged at most once
/// per 10 seconds; it never stops the socket. Sequence gaps per (publisher,
/// type) are counted as `lost`. It lives on one thread (`Send`, not `Sync`).
///
/// ```
/// use eventstorm_core::transport::{ReceiveConfig, ReceiveKind, SubSocket};
///
/// let ctx = zmq::Context::new();
/// let kind = ReceiveKind::Sub { subscribe: vec!["volume.".into()] };
/// let mut socket = SubSocket::open(&ctx, "example", kind, &ReceiveConfig::bind("tcp://127.0.0.1:*"))?;
/// assert!(socket.try_recv()?.is_none()); // nothing sent yet
/// # Ok::<(), eventstorm_core::transport::TransportError>(())
/// ```
pub struct SubSocket {
    socket: zmq::Socket,
    name: String,
    /// Frame buffers reused from message to message; the fourth holds any
    /// frames beyond the third.
    frames: [zmq::Message; 4],
    /// Frames in the last message.
    count: usize,
    /// The batch being read (wire version 2): its events are returned one
    /// per receive.
    batch: Option<Batch>,
    /// The bytes of the last event in the body frame (all of it for a
    /// version-1 message).
    current: std::ops::Range<usize>,
    tracker: SequenceTracker,
    counters: Arc<ReceiveCounters>,
    endpoints: Vec<String>,
    warnings: Warnings,
    security: SocketSecurity,
    /// The sender of the last message, when the socket has an allow-list.
    peer: Option<PeerIdentity>,
    /// Kept as long as the socket, dropped after it.
    applied: Applied,
}

/// A batch being read: its publisher, where reading stands, and whether
/// its sender's identity is known (see [`SubSocket::try_recv_from`]).
#[derive(Debug)]
struct Batch {
    publisher: u64,
    cursor: BatchCursor,
    known: bool,
}

/// The rate limit of undecodable-message warnings.
#[derive(Debug, Default)]
struct Warnings {
    last: Option<Instant>,
    suppressed: u64,
}

impl std::fmt::Debug for SubSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubSocket")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl SubSocket {
    /// Opens the socket, subscribes (SUB), binds and connects as configured.
    /// `name` says which socket in errors and logs.
    pub fn open(
        ctx: &zmq::Context,
        name: &str,
        kind: ReceiveKind,
        config: &ReceiveConfig,
    ) -> Result<SubSocket> {
        config.validate(name)?;
        let socket_type = match kind {
            ReceiveKind::Sub { .. } => zmq::SUB,
            ReceiveKind::XSub => zmq::XSUB,
        };
        let socket = ctx
            .socket(socket_type)
            .map_err(|e| TransportError::socket("creating a receiving socket", e))?;
        socket
            .set_rcvhwm(config.endpoint.hwm)
            .map_err(|e| TransportError::socket("setting the high-water mark", e))?;
        socket
            .set_linger(0)
            .map_err(|e| TransportError::socket("setting linger", e))?;
        // Checked to fit by `validate`.
        let max = i64::try_from(config.max_message_size).unwrap_or(i64::MAX);
        socket
            .set_maxmsgsize(max)
            .map_err(|e| TransportError::socket("setting ZMQ_MAXMSGSIZE", e))?;
        if let ReceiveKind::Sub { subscribe } = &kind {
            for prefix in subscribe {
                socket
                    .set_subscribe(prefix.as_bytes())
                    .map_err(|e| TransportError::socket("subscribing", e))?;
            }
        }
        let security = Arc::new(SecurityCounters::default());
        let (endpoints, applied) =
            super::endpoint::attach(ctx, &socket, name, &config.endpoint, &security)?;
        let has_allow_list = config.endpoint.security.has_allow_list();
        Ok(SubSocket {
            socket,
            name: name.to_string(),
            frames: std::array::from_fn(|_| zmq::Message::new()),
            count: 0,
            batch: None,
            current: 0..0,
            tracker: SequenceTracker::with_window(config.max_publishers, config.sequence_window),
            counters: Arc::new(ReceiveCounters::default()),
            endpoints,
            warnings: Warnings::default(),
            security: SocketSecurity::new(security, config.endpoint.security.is_curve_server()),
            peer: has_allow_list.then(PeerIdentity::default),
            applied,
        })
    }

    /// The socket's name in errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The live counters, readable from any thread.
    pub fn counters(&self) -> Arc<ReceiveCounters> {
        Arc::clone(&self.counters)
    }

    /// A snapshot of the counters under the socket's name (with the
    /// [`SecurityCounters`] of a CURVE server).
    pub fn stats(&self) -> Stats {
        self.security
            .appended_to(self.counters.snapshot(&self.name))
    }

    /// The counters of the CURVE handshakes (`zap_accepted`, `zap_refused`,
    /// ...) when the socket is a CURVE server, readable from any thread.
    pub fn security_counters(&self) -> Option<Arc<SecurityCounters>> {
        self.security.reported()
    }

    /// The socket, for polling it ([`zmq::Socket::as_poll_item`]). For the
    /// router's poll loop and monitor; not part of the public API.
    #[doc(hidden)]
    pub fn socket(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Adds a subscription prefix (SUB sockets).
    pub fn subscribe(&mut self, prefix: &str) -> Result<()> {
        self.socket
            .set_subscribe(prefix.as_bytes())
            .map_err(|e| TransportError::socket("subscribing", e))
    }

    /// Removes a subscription prefix (SUB sockets).
    pub fn unsubscribe(&mut self, prefix: &str) -> Result<()> {
        self.socket
            .set_unsubscribe(prefix.as_bytes())
            .map_err(|e| TransportError::socket("unsubscribing", e))
    }

    /// Sends a subscribe (`true`) or unsubscribe message upstream (XSUB
    /// sockets).
    pub fn send_subscription(&mut self, prefix: &[u8], subscribe: bool) -> Result<()> {
        let mut msg = Vec::with_capacity(prefix.len() + 1);
        msg.push(u8::from(subscribe));
        msg.extend_from_slice(prefix);
        self.socket
            .send(msg, 0)
            .map_err(|e| TransportError::socket("sending a subscription upstream", e))
    }

    /// Waits up to `timeout` for a message to be readable.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        wait_readable(&self.socket, timeout)
    }

    /// Receives one message without waiting, and decodes, accounts for and
    /// counts it. `None` when no message is queued.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Option<Received<'_>>> {
        Ok(self.try_recv_from()?.map(|(received, _)| received))
    }

    /// As [`try_recv`](Self::try_recv), with who sent the message: the
    /// identity the allow-list gave its connection, on a socket with
    /// `security.curve_allow_list` (`None` otherwise, and for a peer that
    /// did not pass the ZAP handler, such as an `inproc://` one).
    #[inline]
    pub fn try_recv_from(&mut self) -> Result<Option<(Received<'_>, Option<&PeerIdentity>)>> {
        if self
            .batch
            .as_ref()
            .is_some_and(|b| !b.cursor.has_next(self.frames[2].len()))
        {
            self.batch = None;
        }
        if let Some(batch) = &mut self.batch {
            // The next event of the batch being read, from the same sender.
            let [topic, _, body, _] = &self.frames;
            let peer = self.peer.as_ref().filter(|_| batch.known);
            let decoded = match batch.cursor.next_range(batch.publisher, topic, body) {
                Some(Ok((header, raw, range))) => {
                    account(
                        &self.counters,
                        &mut self.tracker,
                        &header,
                        topic,
                        range.len(),
                    );
                    self.current = range;
                    Received::Event(raw)
                }
                Some(Err(e)) => {
                    undecodable(&self.name, &self.counters, &mut self.warnings, &e);
                    Received::Undecodable
                }
                // Ruled out by `has_next` above.
                None => Received::Undecodable,
            };
            return Ok(Some((decoded, peer)));
        }
        if !self.recv_frames()? {
            return Ok(None);
        }
        let known = match &mut self.peer {
            Some(peer) => read_identity(&mut self.frames[0], peer),
            None => false,
        };
        let decoded = decode(
            &self.frames,
            self.count,
            &mut self.tracker,
            &self.counters,
            &mut self.batch,
            known,
        );
        if let Ok(Received::Event(raw)) = &decoded {
            let start = raw.as_bytes().as_ptr() as usize - self.frames[2].as_ptr() as usize;
            self.current = start..start + raw.as_bytes().len();
        }
        let peer = self.peer.as_ref().filter(|_| known);
        match decoded {
            Ok(received) => Ok(Some((received, peer))),
            Err(e) => {
                undecodable(&self.name, &self.counters, &mut self.warnings, &e);
                Ok(Some((Received::Undecodable, peer)))
            }
        }
    }

    /// The topic frame of the last message received.
    pub fn topic(&self) -> &[u8] {
        &self.frames[0]
    }

    /// The body of the last event received (in a batch, that event's
    /// document only).
    pub fn body(&self) -> &[u8] {
        self.frames[2].get(self.current.clone()).unwrap_or_default()
    }

    /// Takes the body of the last event received, to forward it: the body
    /// frame itself (no copy) for a version-1 message, a copy of the event's
    /// document for an event of a batch (whose frame holds the next events).
    pub fn take_body(&mut self) -> zmq::Message {
        if self.batch.is_some() {
            return zmq::Message::from(self.body());
        }
        self.current = 0..0;
        std::mem::replace(&mut self.frames[2], zmq::Message::new())
    }

    /// The socket and its endpoints, for a reader of foreign messages
    /// ([`RawSubSocket`](super::RawSubSocket)) opened the same way.
    pub(super) fn into_parts(self) -> (zmq::Socket, Vec<String>, Applied) {
        (self.socket, self.endpoints, self.applied)
    }

    /// Receives one message into the reused frame buffers; false when none
    /// is queued. At most one frame beyond the three expected is kept:
    /// enough to tell the message is malformed without buffering an
    /// unbounded number.
    #[inline]
    fn recv_frames(&mut self) -> Result<bool> {
        self.batch = None;
        loop {
            match self.socket.recv(&mut self.frames[0], zmq::DONTWAIT) {
                Ok(()) => break,
                Err(zmq::Error::EAGAIN) => return Ok(false),
                Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(TransportError::socket("receiving", e)),
            }
        }
        let mut count = 1;
        let mut more = self.frames[0].get_more();
        while more {
            let slot = count.min(self.frames.len() - 1);
            // The rest of a multipart message is already here.
            self.socket
                .recv(&mut self.frames[slot], 0)
                .map_err(|e| TransportError::socket("receiving", e))?;
            more = self.frames[slot].get_more();
            count += 1;
        }
        self.count = count;
        Ok(true)
    }
}

/// Reads the sender's identity from a message's ZAP metadata into `peer`
/// (its strings reused); false when the message carries none.
fn read_identity(frame: &mut zmq::Message, peer: &mut PeerIdentity) -> bool {
    let Some(user_id) = frame.gets("User-Id") else {
        return false;
    };
    peer.user_id.clear();
    peer.user_id.push_str(user_id);
    match frame.gets(TENANT_PROPERTY) {
        Some(tenant) => {
            let own = peer.tenant.get_or_insert_with(String::new);
            own.clear();
            own.push_str(tenant);
        }
        None => peer.tenant = None,
    }
    peer.trusted = frame.gets(TRUSTED_PROPERTY) == Some("true");
    true
}

/// Decodes the frames of one message, accounts for it and counts it. A
/// batch's first event is returned and `batch` set to read the others.
#[inline]
fn decode<'a>(
    frames: &'a [zmq::Message; 4],
    count: usize,
    tracker: &mut SequenceTracker,
    counters: &ReceiveCounters,
    batch: &mut Option<Batch>,
    known: bool,
) -> std::result::Result<Received<'a>, DecodeError> {
    if count != 3 {
        return Err(DecodeError::FrameCount(count));
    }
    // Each frame is looked at once (every look is two calls into libzmq).
    let slices: [&'a [u8]; 3] = [&frames[0], &frames[1], &frames[2]];
    match wire::decode_message(&slices)? {
        Message::Event(header, raw) => {
            account(counters, tracker, &header, slices[0], slices[2].len());
            Ok(Received::Event(raw))
        }
        Message::Mark(header, topic) => {
            counters.marks.inc();
            counters.record(tracker.observe_mark(&header, topic));
            Ok(Received::Mark)
        }
        Message::Batch(header, _) => {
            let mut cursor = BatchCursor::new(header);
            let first = cursor.next(header.publisher, slices[0], slices[2]);
            *batch = Some(Batch {
                publisher: header.publisher,
                cursor,
                known,
            });
            match first {
                // Not empty: checked by `decode_message`.
                None => Err(DecodeError::Batch("no event in the batch".into())),
                Some(Err(e)) => Err(e),
                Some(Ok((header, raw))) => {
                    account(counters, tracker, &header, slices[0], raw.as_bytes().len());
                    Ok(Received::Event(raw))
                }
            }
        }
    }
}

/// Accounts for one event received under `header` (its stream's
/// sequence) and counts it with its `len` bytes.
#[inline]
fn account(
    counters: &ReceiveCounters,
    tracker: &mut SequenceTracker,
    header: &crate::Header,
    topic: &[u8],
    len: usize,
) {
    counters.record(tracker.observe(header, topic));
    // Only the thread holding the socket writes these.
    counters.received.inc_single_writer();
    counters.bytes.add_single_writer(len as u64);
}

/// Counts an undecodable message and logs at most once per interval.
fn undecodable(
    name: &str,
    counters: &ReceiveCounters,
    warnings: &mut Warnings,
    reason: &DecodeError,
) {
    counters.undecodable.inc();
    let now = Instant::now();
    if warnings
        .last
        .is_none_or(|at| now.duration_since(at) >= WARN_INTERVAL)
    {
        tracing::warn!(
            socket = %name,
            "undecodable message skipped: {reason} ({} similar warnings suppressed since the last)",
            warnings.suppressed
        );
        warnings.last = Some(now);
        warnings.suppressed = 0;
    } else {
        warnings.suppressed += 1;
    }
}

/// Waits up to `timeout` (at least 1 ms) for `socket` to be readable; an
/// interrupted wait is "not yet".
pub(super) fn wait_readable(socket: &zmq::Socket, timeout: Duration) -> Result<bool> {
    let ms = i64::try_from(timeout.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    match socket.poll(zmq::POLLIN, ms) {
        Ok(n) => Ok(n > 0),
        Err(zmq::Error::EINTR) => Ok(false),
        Err(e) => Err(TransportError::socket("polling", e)),
    }
}
