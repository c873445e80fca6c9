//! [`ConnectMonitor`]: the connect and accept events of a receiving socket;
//! [`PeerMonitor`]: the connections of a publishing socket, by file
//! descriptor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Result, TransportError};
use super::receive::SubSocket;
use super::zap::SecurityCounters;

/// The handshake failures a CURVE server's monitor counts: a peer without
/// CURVE, or with another server key (refusals by the allow-list are
/// counted by the ZAP handler).
fn handshake_failures() -> u16 {
    zmq::SocketEvent::HANDSHAKE_FAILED_NO_DETAIL.to_raw()
        | zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw()
}

/// Counts a handshake failure, with the endpoint it happened on; true when
/// `event` was one.
fn count_failure(event: u16, endpoint: &[u8], counters: Option<&SecurityCounters>) -> bool {
    let Some(counters) = counters else {
        return false;
    };
    if event & handshake_failures() == 0 {
        return false;
    }
    counters.handshake_failed.inc();
    tracing::debug!(
        endpoint = %String::from_utf8_lossy(endpoint),
        "CURVE handshake failed (a peer without CURVE, or with another server key)"
    );
    true
}

/// Tells when a peer connected to, or was accepted by, a [`SubSocket`]
/// (libzmq's socket monitor, read through an inproc PAIR socket).
///
/// A router uses it to send its subscriptions upstream again when a
/// publisher connects. Open it with [`SubSocket::monitor_connections`]; it
/// lives on the socket's thread (`Send`, not `Sync`).
///
/// ```
/// use eventstorm_core::transport::{ReceiveConfig, ReceiveKind, SubSocket};
///
/// let ctx = zmq::Context::new();
/// let socket = SubSocket::open(&ctx, "example", ReceiveKind::XSub, &ReceiveConfig::bind("tcp://127.0.0.1:*"))?;
/// let mut monitor = socket.monitor_connections(&ctx)?;
/// assert!(!monitor.peer_connected()); // nobody connected yet
/// # Ok::<(), eventstorm_core::transport::TransportError>(())
/// ```
pub struct ConnectMonitor {
    pair: zmq::Socket,
    endpoint: String,
    /// Where handshake failures are counted (a CURVE server).
    security: Option<Arc<SecurityCounters>>,
}

impl std::fmt::Debug for ConnectMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectMonitor")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Starts libzmq's monitor of `socket` for `events` and connects a PAIR
/// socket to it, holding at most `hwm` unread events.
fn open_monitor(
    ctx: &zmq::Context,
    socket: &zmq::Socket,
    events: u16,
    hwm: i32,
) -> Result<(zmq::Socket, String)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let endpoint = format!(
        "inproc://eventstorm-monitor-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    socket
        .monitor(&endpoint, i32::from(events))
        .map_err(|e| TransportError::socket("monitoring a socket", e))?;
    let pair = ctx
        .socket(zmq::PAIR)
        .map_err(|e| TransportError::socket("creating a monitor socket", e))?;
    pair.set_linger(0)
        .map_err(|e| TransportError::socket("setting linger", e))?;
    pair.set_rcvhwm(hwm)
        .map_err(|e| TransportError::socket("setting the monitor's high-water mark", e))?;
    pair.connect(&endpoint)
        .map_err(|e| TransportError::socket("connecting the monitor socket", e))?;
    Ok((pair, endpoint))
}

/// Reads one monitor event without waiting: its number and value (libzmq's
/// first frame: 2 bytes of event, 4 of value, little-endian), and the
/// endpoint it happened on (the second frame). Handshake failures are
/// counted into `security` and skipped.
fn next_event(pair: &zmq::Socket, security: Option<&SecurityCounters>) -> Option<(u16, u32)> {
    loop {
        let parts = match pair.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => parts,
            Err(zmq::Error::EINTR) => continue,
            Err(_) => return None,
        };
        if let Some(first) = parts.first()
            && first.len() >= 6
        {
            let event = u16::from_le_bytes([first[0], first[1]]);
            let value = u32::from_le_bytes([first[2], first[3], first[4], first[5]]);
            let endpoint = parts.get(1).map_or(&[][..], Vec::as_slice);
            if count_failure(event, endpoint, security) {
                continue;
            }
            return Some((event, value));
        }
    }
}

impl SubSocket {
    /// Starts reporting the connect and accept events of this socket.
    /// On a CURVE server, it also counts failed handshakes
    /// ([`SecurityCounters::handshake_failed`]).
    pub fn monitor_connections(&self, ctx: &zmq::Context) -> Result<ConnectMonitor> {
        let security = self.security_counters();
        let mut events = zmq::SocketEvent::CONNECTED.to_raw() | zmq::SocketEvent::ACCEPTED.to_raw();
        if security.is_some() {
            events |= handshake_failures();
        }
        let (pair, endpoint) = open_monitor(ctx, self.socket(), events, 1000)?;
        Ok(ConnectMonitor {
            pair,
            endpoint,
            security,
        })
    }
}

impl ConnectMonitor {
    /// A poll item for the monitor: readable when events are waiting.
    pub fn as_poll_item(&self, events: zmq::PollEvents) -> zmq::PollItem<'_> {
        self.pair.as_poll_item(events)
    }

    /// Reads every event waiting, without blocking; true when a peer
    /// connected or was accepted since the last call.
    pub fn peer_connected(&mut self) -> bool {
        let mut connected = false;
        while let Some((event, _)) = next_event(&self.pair, self.security.as_deref()) {
            connected |= event == zmq::SocketEvent::CONNECTED.to_raw()
                || event == zmq::SocketEvent::ACCEPTED.to_raw();
        }
        connected
    }
}

/// A connection of a publishing socket opened or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerEvent {
    /// Accepted or connected, on this file descriptor.
    Opened(i32),
    /// Closed, on this file descriptor.
    Closed(i32),
}

/// The connections of a [`PubSocket`](super::PubSocket), from libzmq's
/// socket monitor: it reports each by the file descriptor libzmq uses for
/// it, before the connection's first message.
pub(crate) struct PeerMonitor {
    pair: zmq::Socket,
    /// Where handshake failures are counted (a CURVE server).
    security: Option<Arc<SecurityCounters>>,
}

impl std::fmt::Debug for PeerMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerMonitor").finish_non_exhaustive()
    }
}

impl PeerMonitor {
    /// Unread events held before libzmq's I/O thread waits for them to be
    /// read: the socket's owner reads them whenever it reads subscriptions,
    /// and the router polls for them.
    const HWM: i32 = 10_000;

    /// Starts monitoring `socket`'s connections. Call it before the socket
    /// binds or connects, so that every connection is seen.
    /// With `security` (a CURVE server), failed handshakes are counted there.
    pub(crate) fn open(
        ctx: &zmq::Context,
        socket: &zmq::Socket,
        security: Option<Arc<SecurityCounters>>,
    ) -> Result<PeerMonitor> {
        let mut events = zmq::SocketEvent::CONNECTED.to_raw()
            | zmq::SocketEvent::ACCEPTED.to_raw()
            | zmq::SocketEvent::DISCONNECTED.to_raw();
        if security.is_some() {
            events |= handshake_failures();
        }
        let (pair, _) = open_monitor(ctx, socket, events, Self::HWM)?;
        Ok(PeerMonitor { pair, security })
    }

    /// The monitor's socket, for polling.
    pub(crate) fn socket(&self) -> &zmq::Socket {
        &self.pair
    }

    /// The next event waiting, without blocking.
    pub(crate) fn next(&self) -> Option<PeerEvent> {
        while let Some((event, value)) = next_event(&self.pair, self.security.as_deref()) {
            let fd = i32::try_from(value).unwrap_or(-1);
            if event == zmq::SocketEvent::DISCONNECTED.to_raw() {
                return Some(PeerEvent::Closed(fd));
            }
            if event == zmq::SocketEvent::CONNECTED.to_raw()
                || event == zmq::SocketEvent::ACCEPTED.to_raw()
            {
                return Some(PeerEvent::Opened(fd));
            }
        }
        None
    }
}
