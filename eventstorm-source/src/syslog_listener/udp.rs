//! The UDP listener: one datagram is one message (RFC 5426).
//!
//! The socket's receive buffer is what absorbs a burst while the listener is
//! busy; it is sized at start ([`set_recv_buffer`]). On Linux the kernel's
//! count of datagrams it dropped because that buffer was full arrives with
//! each datagram (`SO_RXQ_OVFL`) and is added to `dropped_kernel`: drops are
//! reported with the next datagram received after them.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use super::ingest::{Ingest, WarnKind};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Asks for a receive buffer of `bytes`: with `SO_RCVBUFFORCE` (allowed with
/// `CAP_NET_ADMIN`, not capped), else `SO_RCVBUF` (capped by the kernel at
/// `net.core.rmem_max`). Returns the size granted: half of what the kernel
/// reports, as Linux doubles the value set to make room for its bookkeeping.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_recv_buffer(socket: &UdpSocket, bytes: usize) -> std::io::Result<usize> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &bytes).is_err() {
        setsockopt(socket, sockopt::RcvBuf, &bytes)?;
    }
    Ok(getsockopt(socket, sockopt::RcvBuf)? / 2)
}

/// Asks for a receive buffer of `bytes` (`SO_RCVBUF`). Returns the size the
/// kernel reports.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_recv_buffer(socket: &UdpSocket, bytes: usize) -> std::io::Result<usize> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    setsockopt(socket, sockopt::RcvBuf, &bytes)?;
    Ok(getsockopt(socket, sockopt::RcvBuf)?)
}

/// Receives datagrams until the source stops.
pub(crate) fn run(socket: &UdpSocket, ingest: &Arc<Ingest>, max_message_bytes: usize) {
    // A read timeout lets the thread see the stop flag.
    if let Err(e) = socket.set_read_timeout(Some(Duration::from_millis(100))) {
        tracing::error!(source = %ingest.name, "cannot set the UDP read timeout: {e}");
        return;
    }
    let mut receiver = Receiver::new(socket, ingest);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !ingest.stopping() {
        match receiver.recv(&mut buf) {
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
                ingest.warn(WarnKind::Udp, || format!("UDP receive failed: {e}"));
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Receives datagrams with the kernel's drop count (`SO_RXQ_OVFL`).
#[cfg(any(target_os = "linux", target_os = "android"))]
struct Receiver<'a> {
    socket: &'a UdpSocket,
    ingest: &'a Ingest,
    /// Room for one `SO_RXQ_OVFL` control message.
    cmsg: Vec<u8>,
    /// The kernel's cumulative drop count last seen.
    kernel_drops: u32,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl<'a> Receiver<'a> {
    fn new(socket: &'a UdpSocket, ingest: &'a Ingest) -> Self {
        use nix::sys::socket::{setsockopt, sockopt};
        if let Err(e) = setsockopt(socket, sockopt::RxqOvfl, &1) {
            tracing::warn!(source = %ingest.name, "cannot enable SO_RXQ_OVFL: datagrams the kernel drops will not be counted: {e}");
        }
        Receiver {
            socket,
            ingest,
            cmsg: nix::cmsg_space!(u32),
            kernel_drops: 0,
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage};

        let mut iov = [IoSliceMut::new(buf)];
        let msg = nix::sys::socket::recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::empty(),
        )?;
        let mut drops = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::RxqOvfl(n) = cmsg {
                    drops = Some(n);
                }
            }
        }
        let peer = msg.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::V4((*v4).into()))
                .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
        });
        let n = msg.bytes;
        let family = msg.address.as_ref().and_then(SockaddrLike::family);
        if let Some(total) = drops {
            self.count_drops(total);
        }
        let peer = peer.ok_or_else(|| {
            std::io::Error::other(format!(
                "datagram from an unexpected address family {family:?}"
            ))
        })?;
        Ok((n, peer))
    }

    /// Adds the drops since the last count the kernel reported (the count is
    /// the socket's total, a `u32` that wraps; a count older than the last
    /// one seen adds nothing).
    fn count_drops(&mut self, total: u32) {
        let new = total.wrapping_sub(self.kernel_drops);
        if new == 0 || new > u32::MAX / 2 {
            return;
        }
        self.kernel_drops = total;
        self.ingest.counters.dropped_kernel.add(u64::from(new));
        self.ingest.warn(WarnKind::Udp, || {
            format!("the kernel dropped {new} datagrams: the receive buffer was full (raise recv_buffer_bytes, see net.core.rmem_max)")
        });
    }
}

/// Receives datagrams (no kernel drop count on this system).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
struct Receiver<'a> {
    socket: &'a UdpSocket,
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl<'a> Receiver<'a> {
    fn new(socket: &'a UdpSocket, _ingest: &'a Ingest) -> Self {
        Receiver { socket }
    }

    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf)
    }
}
