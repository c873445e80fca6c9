//! One router input: an XSUB socket that receives events and carries the
//! downstream subscriptions upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::{ReceiveCounters, SequenceTracker, Stats};

use crate::config::InputConfig;
use crate::error::{Error, Result};

/// Appends an input's counters to a snapshot as `in.NAME.*`.
pub(crate) fn append_input(name: &str, c: &ReceiveCounters, stats: &mut Stats) {
    let mut own = Stats::new(name);
    c.append_to(&mut own);
    for (key, value) in own.entries() {
        stats.push(format!("in.{name}.{key}"), value);
    }
}

/// The three frames of the message being handled, reused from one message
/// to the next.
pub(crate) struct Frames {
    pub(crate) topic: zmq::Message,
    pub(crate) header: zmq::Message,
    pub(crate) body: zmq::Message,
    /// Frames beyond the third (a malformed message).
    pub(crate) extra: usize,
    /// Frames actually received (1 to 3).
    pub(crate) count: usize,
}

pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) socket: zmq::Socket,
    pub(crate) frames: Frames,
    pub(crate) tracker: SequenceTracker,
    pub(crate) counters: Arc<ReceiveCounters>,
    pub(crate) endpoints: Vec<String>,
    /// Subscribe messages sent through this XSUB per prefix (its own trie
    /// counts them; an unsubscribe goes upstream when the count is zero).
    pub(crate) sent: HashMap<Vec<u8>, u32>,
    /// Receives connect/accept events when resubscribing on connect.
    pub(crate) monitor: Option<zmq::Socket>,
    last_warning: Option<Instant>,
    suppressed: u64,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Binds and connects `socket`, returning the endpoints with `*` ports resolved.
pub(crate) fn attach(
    socket: &zmq::Socket,
    side: &'static str,
    name: &str,
    bind: &[String],
    connect: &[String],
) -> Result<Vec<String>> {
    let mut endpoints = Vec::new();
    for endpoint in bind {
        socket.bind(endpoint).map_err(|source| Error::Endpoint {
            action: "bind",
            side,
            name: name.to_string(),
            endpoint: endpoint.clone(),
            source,
        })?;
        endpoints.push(
            socket
                .get_last_endpoint()
                .ok()
                .and_then(|e| e.ok())
                .unwrap_or_else(|| endpoint.clone()),
        );
    }
    for endpoint in connect {
        socket.connect(endpoint).map_err(|source| Error::Endpoint {
            action: "connect",
            side,
            name: name.to_string(),
            endpoint: endpoint.clone(),
            source,
        })?;
        endpoints.push(endpoint.clone());
    }
    Ok(endpoints)
}

const WARN_INTERVAL: Duration = Duration::from_secs(10);

impl Input {
    pub(crate) fn open(ctx: &zmq::Context, config: &InputConfig, monitor: bool) -> Result<Input> {
        let socket = ctx
            .socket(zmq::XSUB)
            .map_err(|e| Error::zmq("creating an XSUB socket", e))?;
        socket
            .set_rcvhwm(config.hwm)
            .map_err(|e| Error::zmq("setting the high-water mark", e))?;
        socket
            .set_linger(0)
            .map_err(|e| Error::zmq("setting linger", e))?;
        let monitor = if monitor {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let endpoint = format!(
                "inproc://eventstorm-router-monitor-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let events = zmq::SocketEvent::CONNECTED.to_raw() | zmq::SocketEvent::ACCEPTED.to_raw();
            socket
                .monitor(&endpoint, i32::from(events))
                .map_err(|e| Error::zmq("monitoring an input socket", e))?;
            let pair = ctx
                .socket(zmq::PAIR)
                .map_err(|e| Error::zmq("creating a monitor socket", e))?;
            pair.connect(&endpoint)
                .map_err(|e| Error::zmq("connecting the monitor socket", e))?;
            Some(pair)
        } else {
            None
        };
        let endpoints = attach(
            &socket,
            "input",
            &config.name,
            &config.bind,
            &config.connect,
        )?;
        Ok(Input {
            name: config.name.clone(),
            socket,
            frames: Frames {
                topic: zmq::Message::new(),
                header: zmq::Message::new(),
                body: zmq::Message::new(),
                extra: 0,
                count: 0,
            },
            tracker: SequenceTracker::default(),
            counters: Arc::new(ReceiveCounters::default()),
            endpoints,
            sent: HashMap::new(),
            monitor,
            last_warning: None,
            suppressed: 0,
        })
    }

    /// Receives one message into `frames` without waiting; false when none is queued.
    #[inline]
    pub(crate) fn recv(&mut self) -> Result<bool> {
        let f = &mut self.frames;
        match self.socket.recv(&mut f.topic, zmq::DONTWAIT) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => return Ok(false),
            Err(e) => return Err(Error::zmq("receiving", e)),
        }
        f.count = 1;
        f.extra = 0;
        if !f.topic.get_more() {
            return Ok(true);
        }
        self.socket
            .recv(&mut f.header, 0)
            .map_err(|e| Error::zmq("receiving", e))?;
        f.count = 2;
        if !f.header.get_more() {
            return Ok(true);
        }
        self.socket
            .recv(&mut f.body, 0)
            .map_err(|e| Error::zmq("receiving", e))?;
        f.count = 3;
        let mut more = f.body.get_more();
        while more {
            let extra = self
                .socket
                .recv_msg(0)
                .map_err(|e| Error::zmq("receiving", e))?;
            f.extra += 1;
            more = extra.get_more();
        }
        Ok(true)
    }

    /// Counts an undecodable message and logs at most once per interval.
    pub(crate) fn undecodable(&mut self, reason: &dyn std::fmt::Display) {
        self.counters.undecodable.inc();
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= WARN_INTERVAL)
        {
            tracing::warn!(
                input = %self.name,
                "undecodable message skipped: {reason} ({} similar warnings suppressed since the last)",
                self.suppressed
            );
            self.last_warning = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }

    /// Sends a subscribe message upstream.
    pub(crate) fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let mut msg = Vec::with_capacity(prefix.len() + 1);
        msg.push(1);
        msg.extend_from_slice(prefix);
        self.socket
            .send(msg, 0)
            .map_err(|e| Error::zmq("sending a subscription upstream", e))?;
        *self.sent.entry(prefix.to_vec()).or_insert(0) += 1;
        Ok(())
    }

    /// Cancels a prefix upstream (as many times as it was sent).
    pub(crate) fn unsubscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let times = self.sent.remove(prefix).unwrap_or(0);
        let mut msg = Vec::with_capacity(prefix.len() + 1);
        msg.push(0);
        msg.extend_from_slice(prefix);
        for _ in 0..times {
            self.socket
                .send(&msg[..], 0)
                .map_err(|e| Error::zmq("sending an unsubscription upstream", e))?;
        }
        Ok(())
    }

    /// Drains the monitor socket; true when a peer connected or was accepted.
    pub(crate) fn peer_connected(&mut self) -> bool {
        let Some(monitor) = &self.monitor else {
            return false;
        };
        let mut connected = false;
        while let Ok(parts) = monitor.recv_multipart(zmq::DONTWAIT) {
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
