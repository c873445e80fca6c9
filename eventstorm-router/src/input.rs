//! One router input: an XSUB socket that receives events and carries the
//! downstream subscriptions upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::transport::{ConnectMonitor, ReceiveKind, SubSocket};
use eventstorm_core::{Counter, ReceiveCounters};

use crate::config::InputConfig;
use crate::error::Result;

/// The prefix of the reserved event types: Eventstorm's own events
/// (`_eventstorm.stats`).
pub(crate) const RESERVED_PREFIX: &[u8] = b"_eventstorm.";

/// Least time between two warnings about refused reserved events.
const RESERVED_WARNING_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) socket: SubSocket,
    /// Refuses reserved types unless the input is trusted.
    pub(crate) reserved: ReservedFilter,
    /// Subscribe messages sent through this XSUB per prefix (its own trie
    /// counts them; an unsubscribe goes upstream when the count is zero).
    sent: HashMap<Vec<u8>, u32>,
    /// Receives connect/accept events when resubscribing on connect.
    pub(crate) monitor: Option<ConnectMonitor>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("endpoints", &self.socket.endpoints())
            .finish_non_exhaustive()
    }
}

impl Input {
    pub(crate) fn open(ctx: &zmq::Context, config: &InputConfig, monitor: bool) -> Result<Input> {
        let socket = SubSocket::open(
            ctx,
            &format!("input `{}`", config.name),
            ReceiveKind::XSub,
            &config.socket,
        )?;
        let monitor = if monitor {
            Some(socket.monitor_connections(ctx)?)
        } else {
            None
        };
        Ok(Input {
            name: config.name.clone(),
            socket,
            reserved: ReservedFilter {
                trusted: config.trusted,
                refused: Arc::new(Counter::default()),
                warned: None,
                suppressed: 0,
            },
            sent: HashMap::new(),
            monitor,
        })
    }

    /// The live counters.
    pub(crate) fn counters(&self) -> Arc<ReceiveCounters> {
        self.socket.counters()
    }

    /// The count of reserved-type events refused.
    pub(crate) fn refused_reserved(&self) -> Arc<Counter> {
        Arc::clone(&self.reserved.refused)
    }

    /// Sends a subscribe message upstream.
    pub(crate) fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        self.socket.send_subscription(prefix, true)?;
        *self.sent.entry(prefix.to_vec()).or_insert(0) += 1;
        Ok(())
    }

    /// Cancels a prefix upstream (as many times as it was sent).
    pub(crate) fn unsubscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let times = self.sent.remove(prefix).unwrap_or(0);
        for _ in 0..times {
            self.socket.send_subscription(prefix, false)?;
        }
        Ok(())
    }

    /// Drains the monitor socket; true when a peer connected or was accepted.
    pub(crate) fn peer_connected(&mut self) -> bool {
        self.monitor
            .as_mut()
            .is_some_and(ConnectMonitor::peer_connected)
    }
}

/// Refuses events of the reserved types from an input that is not trusted.
#[derive(Debug)]
pub(crate) struct ReservedFilter {
    trusted: bool,
    /// Events of a reserved type refused.
    refused: Arc<Counter>,
    /// When the last warning was logged, and how many refusals were not
    /// logged since.
    warned: Option<Instant>,
    suppressed: u64,
}

impl ReservedFilter {
    /// Whether an event of `event_type` received on input `input` must be
    /// refused: a reserved type from an input that is not trusted. Counts
    /// it and warns (at most once per [`RESERVED_WARNING_EVERY`]).
    #[inline]
    pub(crate) fn refuses(&mut self, input: &str, event_type: &[u8]) -> bool {
        if self.trusted || !event_type.starts_with(RESERVED_PREFIX) {
            return false;
        }
        self.refused.inc();
        let now = Instant::now();
        if self
            .warned
            .is_some_and(|at| now.duration_since(at) < RESERVED_WARNING_EVERY)
        {
            self.suppressed += 1;
        } else {
            tracing::warn!(
                input,
                suppressed = std::mem::take(&mut self.suppressed),
                "event of the reserved type {:?} refused: types starting with `_eventstorm.` are Eventstorm's own, \
                 accepted only from inputs with `trusted = true`",
                String::from_utf8_lossy(event_type)
            );
            self.warned = Some(now);
        }
        true
    }
}
