//! Ports and connections, observed rather than guessed.

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// A loopback TCP port on which nothing listens, for as long as this value
/// lives: a client connecting to it is refused at once.
///
/// The port is bound (so no other socket can take it) but never listened
/// on, unlike a "free port" that is bound, released and then raced for.
///
/// ```
/// let closed = eventstorm_test_support::ClosedPort::new();
/// assert!(std::net::TcpStream::connect(closed.addr()).is_err());
/// ```
#[derive(Debug)]
pub struct ClosedPort {
    _socket: Socket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// Reserves a port on 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When no socket can be bound.
    pub fn new() -> ClosedPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("binding 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .expect("the bound address");
        ClosedPort {
            _socket: socket,
            addr,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}

/// How many TCP connections process `pid` has accepted on local `port` and
/// holds open (Linux: its sockets in `/proc/PID/fd` that `/proc/PID/net/tcp`
/// and `tcp6` list as established on that port). A connection still
/// waiting in the listen backlog is not counted: this tells whether a
/// server really took its clients in.
///
/// # Errors
///
/// When `/proc` cannot be read (not Linux, or the process is gone).
pub fn accepted_connections(pid: u32, port: u16) -> io::Result<usize> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue; // closed meanwhile
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_string());
        }
    }
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let text = match std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound && table == "tcp6" => continue,
            Err(e) => return Err(e),
        };
        count += text
            .lines()
            .skip(1)
            .filter(|line| established_on(line, port, &inodes))
            .count();
    }
    Ok(count)
}

/// State `01` of `/proc/net/tcp`: established.
const ESTABLISHED: &str = "01";

/// Whether a `/proc/net/tcp` row is an established connection on local
/// `port` whose socket is one of `inodes`.
fn established_on(line: &str, port: u16, inodes: &HashSet<String>) -> bool {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9))
    else {
        return false;
    };
    let local_port = local
        .rsplit(':')
        .next()
        .and_then(|p| u16::from_str_radix(p, 16).ok());
    local_port == Some(port) && *state == ESTABLISHED && inodes.contains(*inode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn a_closed_port_refuses() {
        let closed = ClosedPort::new();
        let err = TcpStream::connect(closed.addr()).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn only_accepted_connections_are_counted() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let pid = std::process::id();
        let _waiting = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        assert_eq!(accepted_connections(pid, port).expect("proc"), 0);
        let (accepted, _) = listener.accept().expect("accept");
        assert_eq!(accepted_connections(pid, port).expect("proc"), 1);
        drop(accepted);
        assert_eq!(accepted_connections(pid, port).expect("proc"), 0);
    }
}
