//! [`ConnectMonitor`]: the connect and accept events of a receiving socket.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Result, TransportError};
use super::receive::SubSocket;

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
}

impl std::fmt::Debug for ConnectMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectMonitor")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl SubSocket {
    /// Starts reporting the connect and accept events of this socket.
    pub fn monitor_connections(&self, ctx: &zmq::Context) -> Result<ConnectMonitor> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let endpoint = format!(
            "inproc://eventstorm-monitor-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let events = zmq::SocketEvent::CONNECTED.to_raw() | zmq::SocketEvent::ACCEPTED.to_raw();
        self.socket()
            .monitor(&endpoint, i32::from(events))
            .map_err(|e| TransportError::socket("monitoring a receiving socket", e))?;
        let pair = ctx
            .socket(zmq::PAIR)
            .map_err(|e| TransportError::socket("creating a monitor socket", e))?;
        pair.set_linger(0)
            .map_err(|e| TransportError::socket("setting linger", e))?;
        pair.connect(&endpoint)
            .map_err(|e| TransportError::socket("connecting the monitor socket", e))?;
        Ok(ConnectMonitor { pair, endpoint })
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
        while let Ok(parts) = self.pair.recv_multipart(zmq::DONTWAIT) {
            // The first frame is the event number (2 bytes, little-endian)
            // and its value (4 bytes).
            if let Some(first) = parts.first()
                && first.len() >= 2
            {
                let event = u16::from_le_bytes([first[0], first[1]]);
                connected |= event == zmq::SocketEvent::CONNECTED.to_raw()
                    || event == zmq::SocketEvent::ACCEPTED.to_raw();
            }
        }
        connected
    }
}
