//! A syslog listener: UDP and TCP sockets whose messages are parsed into
//! events (by default with the `syslog` parser: RFC 5424 or RFC 3164, detected
//! per message).
//!
//! - **UDP**: one datagram is one message (RFC 5426).
//! - **TCP**: each connection is framed by octet counting (`LEN SP MSG`) or by
//!   newlines (RFC 6587), detected from its first byte: a digit means octet
//!   counting, `<` newline framing. A bad length prefix closes the connection.
//!
//! Socket threads parse and feed a bounded channel (capacity and
//! [`WhenFull`] are configuration) that [`poll`](EventSource::poll) reads.
//! Each event's body gets the sender's address as `peer` (unless
//! [`add_peer`](SyslogConfig::add_peer) is false).
//!
//! Counters ([`SyslogCounters`]): `received` (messages framed), `events`
//! (parsed), `rejected` (parser errors, over-long messages, bad framing),
//! `dropped` (queue full), `connections`, `connections_refused`. Every message
//! received is an event, rejected, or dropped:
//! `received = events + rejected` and `dropped <= events`.
//!
//! ```
//! use std::time::Duration;
//! use eventstorm_core::EventSource;
//! use eventstorm_source::syslog_listener::{SyslogConfig, SyslogSource};
//!
//! let mut source = SyslogSource::new(SyslogConfig::default().with_udp("127.0.0.1:0"))?;
//! let addr = source.udp_addr().unwrap();
//! let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
//! client.send_to(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", addr)?;
//! let mut out = Vec::new();
//! source.poll(&mut out, 10, Duration::from_secs(5))?;
//! assert_eq!(out[0].event_type(), "syslog.auth");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod framing;
mod ingest;
mod tcp;
mod udp;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eventstorm_core::{Event, EventSource, SourceStatus, Stats};

pub use config::{SyslogConfig, WhenFull};

use crate::error::{Error, Result};
use crate::parse::parser_by_name;
use ingest::Ingest;

eventstorm_core::counters! {
    /// The counters of a [`SyslogSource`], readable from any thread.
    pub struct SyslogCounters {
        /// Messages received (framed).
        received,
        /// Messages parsed into events.
        events,
        /// Messages rejected: parser errors, too long, bad framing.
        rejected,
        /// Events dropped because the queue was full.
        dropped,
        /// TCP connections accepted.
        connections,
        /// TCP connections refused (over `max_connections`).
        connections_refused,
    }
}

/// Listens for syslog messages: see the [module docs](self).
#[derive(Debug)]
pub struct SyslogSource {
    name: String,
    rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    counters: Arc<SyslogCounters>,
}

impl SyslogSource {
    /// Builds the parser, binds the sockets and starts their threads. Fails on
    /// an unknown parser, an address that cannot be bound, or no address.
    pub fn new(config: SyslogConfig) -> Result<SyslogSource> {
        if config.udp.is_none() && config.tcp.is_none() {
            return Err(Error::config(
                "udp",
                "expected a `udp` or a `tcp` address to listen on",
            ));
        }
        if config.channel_capacity == 0 {
            return Err(Error::config("channel_capacity", "expected at least 1"));
        }
        let parser = parser_by_name(&config.parser, &config.parser_options)
            .map_err(|e| Error::config("parser", e.to_string()))?;
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(SyslogCounters::default());
        let ingest = Arc::new(Ingest::new(
            config.name.clone(),
            parser,
            tx,
            config.when_full,
            config.add_peer,
            Arc::clone(&counters),
            Arc::clone(&stop),
        ));
        let mut source = SyslogSource {
            name: config.name.clone(),
            rx,
            stop,
            threads: Vec::new(),
            udp_addr: None,
            tcp_addr: None,
            counters,
        };
        let max = config.max_message_bytes;
        if let Some(addr) = &config.udp {
            let socket = UdpSocket::bind(addr).map_err(|e| bind_error("udp", addr, &e))?;
            source.udp_addr = socket.local_addr().ok();
            let ingest = Arc::clone(&ingest);
            source.spawn("syslog-udp", move || udp::run(&socket, &ingest, max))?;
        }
        if let Some(addr) = &config.tcp {
            let listener = TcpListener::bind(addr).map_err(|e| bind_error("tcp", addr, &e))?;
            source.tcp_addr = listener.local_addr().ok();
            let ingest = Arc::clone(&ingest);
            let max_connections = config.max_connections;
            source.spawn("syslog-tcp", move || {
                tcp::accept_loop(&listener, &ingest, max, max_connections)
            })?;
        }
        tracing::info!(source = %source.name, udp = ?source.udp_addr, tcp = ?source.tcp_addr, "syslog listening");
        Ok(source)
    }

    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
        let thread = eventstorm_core::ThreadError::spawn(name, f)?;
        self.threads.push(thread);
        Ok(())
    }

    /// The bound UDP address (with the port resolved), if listening on UDP.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The bound TCP address (with the port resolved), if listening on TCP.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The live counters (clone the `Arc` before handing the source to a runner).
    pub fn counters(&self) -> Arc<SyslogCounters> {
        Arc::clone(&self.counters)
    }
}

fn bind_error(key: &str, addr: &str, e: &std::io::Error) -> Error {
    Error::config(
        key,
        format!("cannot listen on {addr}: {e} (is the address valid and free?)"),
    )
}

impl EventSource for SyslogSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<SourceStatus> {
        if max == 0 {
            return Ok(SourceStatus::Ready);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(event) => out.push(event),
            Err(RecvTimeoutError::Timeout) => return Ok(SourceStatus::Idle),
            Err(RecvTimeoutError::Disconnected) => return Ok(SourceStatus::Finished),
        }
        out.extend(self.rx.try_iter().take(max - 1));
        Ok(SourceStatus::Ready)
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(&self.name)
    }
}

impl Drop for SyslogSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
