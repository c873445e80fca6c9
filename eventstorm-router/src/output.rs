//! One router output: a publishing socket that restamps each event's header
//! with this hop's publisher id and per-type sequence, and forwards the body
//! bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::transport::{PubSocket, PublishCounters, TrySend};

use crate::config::{DeliveryMode, OutputConfig};
use crate::error::Result;

/// The counters of one output, readable from any thread: the transport
/// layer's publishing counters, reported as `out.NAME.*`.
pub type OutputCounters = PublishCounters;

/// How long one blocking send waits before checking for shutdown.
const BLOCK_SLICE: Duration = Duration::from_millis(100);
/// How long a block-mode send waits before the output is reported stalled.
const STALL_WARNING_AFTER: Duration = Duration::from_secs(1);
/// Least time between two warnings about the same stall.
const STALL_WARNING_EVERY: Duration = Duration::from_secs(5);

/// What a block-mode output does while its subscribers' queues are full:
/// called every [`BLOCK_SLICE`].
pub(crate) type WhileStalled<'a> = &'a mut dyn FnMut();

pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) socket: PubSocket,
    /// Routes (not stats events) in the batch being filled: counted as
    /// `routed` once the batch is sent.
    pending_routes: u64,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("name", &self.name)
            .field("endpoints", &self.socket.endpoints())
            .finish_non_exhaustive()
    }
}

impl Output {
    pub(crate) fn open(ctx: &zmq::Context, config: &OutputConfig) -> Result<Output> {
        let mut socket = PubSocket::open(
            ctx,
            &format!("output `{}`", config.name),
            // The router sends what an output holds after draining its
            // inputs.
            &config.socket.clone().batching_by_default(),
        )?;
        if config.socket.mode == DeliveryMode::Block {
            socket.set_send_timeout(Some(BLOCK_SLICE))?;
        }
        Ok(Output {
            name: config.name.clone(),
            socket,
            pending_routes: 0,
        })
    }

    /// The live counters.
    pub(crate) fn counters(&self) -> Arc<OutputCounters> {
        self.socket.counters()
    }

    /// Stamps and sends one event. `body` is moved (a received frame: no
    /// copy) or copied (a slice). An event that found a full queue (drop
    /// mode), or that block mode gave up at shutdown, is counted as
    /// `dropped_hwm`. `route` says whether the event is a route (not a stats
    /// event); the routes known to be sent by this call are returned, for
    /// the router's `routed`.
    ///
    /// A batching output (`batch_events` above 1) adds the event to its
    /// batch instead, which goes when full or at [`flush`](Self::flush): its
    /// route is returned by the call that sends it. When the batch before it
    /// finds no room, drop mode gives up that batch (its events counted as
    /// `dropped_hwm`) and starts the next with this event.
    ///
    /// In block mode the send waits in slices until there is room or `stop`
    /// is set, calling `while_stalled` between slices (stats lines and
    /// warnings go on while an output is stuck). Once `stop` is set, a send
    /// never waits: shutdown is bounded however many events are queued.
    #[inline]
    pub(crate) fn send<B: Body>(
        &mut self,
        topic: &[u8],
        body: B,
        route: bool,
        stop: &AtomicBool,
        while_stalled: WhileStalled<'_>,
    ) -> Result<u64> {
        if self.socket.batching() {
            let bytes = body.bytes();
            let before = self.socket.pending_events();
            let queued = self.wait_for_room(stop, while_stalled, |socket, flags| {
                Ok(socket.push(topic, bytes, flags)?.is_sent())
            })?;
            let mut sent = 0;
            if !queued {
                // The batch before this event had no room: it is given up,
                // and this event starts the next one.
                self.socket.drop_pending();
                self.pending_routes = 0;
                let _ = self.socket.push(topic, bytes, zmq::DONTWAIT)?;
            } else if before > 0 && self.socket.pending_events() == 1 {
                // The batch before this event went first.
                sent = std::mem::take(&mut self.pending_routes);
            }
            self.pending_routes += u64::from(route);
            return Ok(sent);
        }
        let mut body = Some(body);
        let sent = self.wait_for_room(stop, while_stalled, |socket, flags| {
            let Some(b) = body.take() else {
                return Ok(true);
            };
            Ok(match socket.try_send(topic, b, flags)? {
                TrySend::Sent => true,
                TrySend::Full(back) => {
                    body = Some(back);
                    false
                }
            })
        })?;
        if !sent {
            self.socket.count_dropped(topic);
        }
        Ok(u64::from(sent && route))
    }

    /// Sends the batch being filled, if any, waiting for room as
    /// [`send`](Self::send) does; a batch given up (drop mode, or block mode
    /// at shutdown) is counted as `dropped_hwm`. Returns the routes it sent.
    pub(crate) fn flush(
        &mut self,
        stop: &AtomicBool,
        while_stalled: WhileStalled<'_>,
    ) -> Result<u64> {
        if self.socket.pending_events() == 0 {
            return Ok(0);
        }
        let sent =
            self.wait_for_room(
                stop,
                while_stalled,
                |socket, flags| Ok(socket.flush(flags)?),
            )?;
        if !sent {
            self.socket.drop_pending();
            self.pending_routes = 0;
            return Ok(0);
        }
        Ok(std::mem::take(&mut self.pending_routes))
    }

    /// Runs `attempt` (with `zmq::DONTWAIT`, or 0 to wait a send slice)
    /// until it succeeds, as the delivery mode says: once in drop mode or
    /// once `stop` is set; in block mode, slice after slice until `stop`.
    /// Returns whether it succeeded.
    fn wait_for_room(
        &mut self,
        stop: &AtomicBool,
        while_stalled: WhileStalled<'_>,
        mut attempt: impl FnMut(&mut PubSocket, i32) -> Result<bool>,
    ) -> Result<bool> {
        if self.socket.mode() == DeliveryMode::Drop || stop.load(Ordering::Relaxed) {
            return attempt(&mut self.socket, zmq::DONTWAIT);
        }
        let mut since: Option<Instant> = None;
        let mut warned: Option<Instant> = None;
        loop {
            if attempt(&mut self.socket, 0)? {
                if warned.is_some() {
                    tracing::info!(output = %self.name, "output no longer stalled");
                }
                return Ok(true);
            }
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let started = *since.get_or_insert_with(Instant::now);
            let waited = started.elapsed();
            if waited >= STALL_WARNING_AFTER
                && warned.is_none_or(|at| at.elapsed() >= STALL_WARNING_EVERY)
            {
                warned = Some(Instant::now());
                tracing::warn!(
                    output = %self.name,
                    "block-mode output stalled for {:.1} s: its subscribers' queues are full, \
                     so the router waits (lossless) and no other output receives events meanwhile",
                    waited.as_secs_f64()
                );
            }
            while_stalled();
        }
    }
}

/// An event's body as the forwarding path holds it: a received frame (moved
/// into the message without a copy), bytes of its own, or a slice.
pub(crate) trait Body: Into<zmq::Message> {
    /// The bytes, for a batch to copy.
    fn bytes(&self) -> &[u8];
}

impl Body for zmq::Message {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Body for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Body for &[u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}
