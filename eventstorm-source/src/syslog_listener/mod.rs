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
//! `refused_reserved` (events of a reserved `_eventstorm.*` type),
//! `unauthorized` and `tenant_mismatch` (below), `dropped`
//! (queue full), `dropped_kernel` (UDP datagrams the kernel dropped, its
//! receive buffer full), `connections`, `connections_evicted` (closed at
//! `max_connections` to admit a new one), `connections_idle_closed`,
//! `connections_refused` (no thread could serve them). Every message
//! received is an event, rejected, or refused:
//! `received = events + rejected + refused_reserved + unauthorized +
//! tenant_mismatch` and `dropped <= events`;
//! every datagram sent is received or dropped by the kernel:
//! `sent = received + dropped_kernel` (UDP).
//!
//! **Tenants.** By default events keep the tenant their parser found (none
//! for syslog). A listener may stamp a fixed [`tenant`](SyslogConfig::tenant)
//! on every event, or require tokens ([`auth`](SyslogConfig::auth)): then
//! each message carries an RFC 5424 structured-data element, by default
//! `[meniscus tenant="acme" token="..."]`
//! ([`tenant_element`](SyslogConfig::tenant_element)), whose token must be
//! valid (and whose `tenant`, if given, must be the token's). Its tenant is
//! stamped on the event and the element is removed, so tokens are never
//! stored. Messages without a valid one are refused and counted in
//! `unauthorized`.
//!
//! TCP connections are bounded ([`max_connections`](SyslogConfig::max_connections),
//! [`idle_timeout_ms`](SyslogConfig::idle_timeout_ms)): at the limit, the
//! connection idle the longest is closed to admit a new one, so idle
//! connections never lock active senders out.
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
mod tenancy;
mod udp;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eventstorm_core::{Event, EventSource, RawEvent, SourceStatus, Stats};

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
        /// Events of a reserved type (`_eventstorm.*`) refused.
        refused_reserved,
        /// Messages refused because tokens are required and the message's
        /// tenant element is missing, has no valid token, or names another
        /// tenant than its token's.
        unauthorized,
        /// Events refused because their parser found a tenant other than
        /// the listener's fixed `tenant`.
        tenant_mismatch,
        /// Events dropped because the queue was full.
        dropped,
        /// UDP datagrams the kernel dropped because the receive buffer was
        /// full (`SO_RXQ_OVFL`; Linux), counted with the next datagram.
        dropped_kernel,
        /// TCP connections accepted.
        connections,
        /// TCP connections closed at `max_connections` to admit a new one
        /// (the one idle the longest).
        connections_evicted,
        /// TCP connections closed after `idle_timeout_ms` without data.
        connections_idle_closed,
        /// TCP connections that could not be served (no thread could be
        /// started for them).
        connections_refused,
    }
}

/// Listens for syslog messages: see the [module docs](self).
#[derive(Debug)]
pub struct SyslogSource {
    name: String,
    rx: Receiver<RawEvent>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    counters: Arc<SyslogCounters>,
}

impl SyslogSource {
    /// Builds the parser, binds the sockets and starts their threads. Fails on
    /// an unknown parser, an address that cannot be bound, no address, or a
    /// setting out of range ([`SyslogConfig::validate`]).
    pub fn new(config: SyslogConfig) -> Result<SyslogSource> {
        if config.udp.is_none() && config.tcp.is_none() {
            return Err(Error::config(
                "udp",
                "expected a `udp` or a `tcp` address to listen on",
            ));
        }
        config.validate()?;
        let tenancy = config.tenancy()?;
        let parser = parser_by_name(&config.parser, &config.parser_options)
            .map_err(|e| Error::config("parser", e.to_string()))?;
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(SyslogCounters::default());
        let mut ingest = Ingest::new(
            config.name.clone(),
            parser,
            tx,
            config.when_full,
            config.add_peer,
            Arc::clone(&counters),
            Arc::clone(&stop),
        );
        ingest.tenancy = tenancy;
        let ingest = Arc::new(ingest);
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
            log_recv_buffer(&source.name, &socket, config.recv_buffer_bytes);
            let ingest = Arc::clone(&ingest);
            source.spawn("syslog-udp", move || udp::run(&socket, &ingest, max))?;
        }
        if let Some(addr) = &config.tcp {
            let listener = TcpListener::bind(addr).map_err(|e| bind_error("tcp", addr, &e))?;
            source.tcp_addr = listener.local_addr().ok();
            let ingest = Arc::clone(&ingest);
            let limits = tcp::TcpLimits {
                max_message_bytes: max,
                max_connections: config.max_connections,
                idle_timeout: Duration::from_millis(config.idle_timeout_ms),
            };
            source.spawn("syslog-tcp", move || {
                tcp::accept_loop(&listener, &ingest, limits)
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

/// Sizes the UDP receive buffer and logs the size obtained, with a warning
/// when the kernel gave less than asked.
fn log_recv_buffer(name: &str, socket: &UdpSocket, requested: usize) {
    match udp::set_recv_buffer(socket, requested) {
        Ok(effective) if effective >= requested => {
            tracing::info!(source = %name, requested, effective, "UDP receive buffer");
        }
        Ok(effective) => tracing::warn!(
            source = %name,
            requested,
            effective,
            "UDP receive buffer smaller than recv_buffer_bytes: the kernel caps it at net.core.rmem_max \
             (raise it: sysctl -w net.core.rmem_max={requested}, or give the process CAP_NET_ADMIN)"
        ),
        Err(e) => {
            tracing::warn!(source = %name, requested, "cannot set the UDP receive buffer: {e}")
        }
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
        let first = match self.rx.recv_timeout(timeout) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => return Ok(SourceStatus::Idle),
            Err(RecvTimeoutError::Disconnected) => return Ok(SourceStatus::Finished),
        };
        // The events are queued encoded (the runner publishes them as
        // they are, see `poll_raw`); decoded here for other callers.
        let polled = std::iter::once(first).chain(self.rx.try_iter().take(max - 1));
        eventstorm_core::decode_polled(polled, out, |e| {
            self.counters.dropped.inc();
            tracing::error!(source = %self.name, "an event could not be decoded: {e}");
        });
        Ok(SourceStatus::Ready)
    }

    fn poll_raw(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<Option<SourceStatus>> {
        if max == 0 {
            return Ok(Some(SourceStatus::Ready));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(event) => out.push(event),
            Err(RecvTimeoutError::Timeout) => return Ok(Some(SourceStatus::Idle)),
            Err(RecvTimeoutError::Disconnected) => return Ok(Some(SourceStatus::Finished)),
        }
        out.extend(self.rx.try_iter().take(max - 1));
        Ok(Some(SourceStatus::Ready))
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
