//! The UDP listener: one datagram is one message (RFC 5426).

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use super::ingest::Ingest;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Receives datagrams until the source stops.
pub(crate) fn run(socket: &UdpSocket, ingest: &Arc<Ingest>, max_message_bytes: usize) {
    // A read timeout lets the thread see the stop flag.
    if let Err(e) = socket.set_read_timeout(Some(Duration::from_millis(100))) {
        tracing::error!(source = %ingest.name, "cannot set the UDP read timeout: {e}");
        return;
    }
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !ingest.stopping() {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if n > max_message_bytes {
                    ingest.reject(|| format!("datagram of {n} bytes from {peer} is longer than {max_message_bytes} bytes"));
                } else if n > 0 {
                    ingest.message(&buf[..n], peer);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // ICMP errors and the like: report, keep listening.
                ingest.warn(|| format!("UDP receive failed: {e}"));
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
