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
        let mut socket =
            PubSocket::open(ctx, &format!("output `{}`", config.name), &config.socket)?;
        if config.socket.mode == DeliveryMode::Block {
            socket.set_send_timeout(Some(BLOCK_SLICE))?;
        }
        Ok(Output {
            name: config.name.clone(),
            socket,
        })
    }

    /// The live counters.
    pub(crate) fn counters(&self) -> Arc<OutputCounters> {
        self.socket.counters()
    }

    /// Stamps and sends one event. `body` is moved (a received frame: no
    /// copy) or copied (a slice). Returns whether it was sent; an event that
    /// found a full queue (drop mode), or that block mode gave up at
    /// shutdown, is counted as `dropped_hwm`.
    ///
    /// In block mode the send waits in slices until there is room or `stop`
    /// is set, calling `while_stalled` between slices (stats lines and
    /// warnings go on while an output is stuck). Once `stop` is set, a send
    /// never waits: shutdown is bounded however many events are queued.
    #[inline]
    pub(crate) fn send<B: Into<zmq::Message>>(
        &mut self,
        topic: &[u8],
        body: B,
        stop: &AtomicBool,
        while_stalled: WhileStalled<'_>,
    ) -> Result<bool> {
        match self.socket.mode() {
            DeliveryMode::Drop => {
                if self.socket.try_send(topic, body, zmq::DONTWAIT)?.is_sent() {
                    return Ok(true);
                }
            }
            DeliveryMode::Block if stop.load(Ordering::Relaxed) => {
                if self.socket.try_send(topic, body, zmq::DONTWAIT)?.is_sent() {
                    return Ok(true);
                }
            }
            DeliveryMode::Block => {
                let mut since: Option<Instant> = None;
                let mut warned: Option<Instant> = None;
                let mut body = body;
                loop {
                    body = match self.socket.try_send(topic, body, 0)? {
                        TrySend::Full(back) => back,
                        TrySend::Sent => {
                            if warned.is_some() {
                                tracing::info!(output = %self.name, "output no longer stalled");
                            }
                            return Ok(true);
                        }
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
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
        self.socket.count_dropped(topic);
        Ok(false)
    }
}
