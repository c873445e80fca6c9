//! One router input: an XSUB socket that receives events and carries the
//! downstream subscriptions upstream.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventstorm_core::transport::{
    ConnectMonitor, PeerIdentity, ReceiveKind, SecurityCounters, SubSocket,
};
use eventstorm_core::{Counter, RawEvent, RawEventRef, ReceiveCounters};

use crate::config::{InputConfig, TenantBinding};
use crate::error::Result;

/// The prefix of the reserved event types: Eventstorm's own events
/// (`_eventstorm.stats`).
pub(crate) const RESERVED_PREFIX: &[u8] = b"_eventstorm.";

/// Least time between two warnings about refused events, per input and
/// cause.
const WARNING_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) socket: SubSocket,
    /// Refuses reserved types unless the input (or the sending key) is
    /// trusted.
    pub(crate) reserved: ReservedFilter,
    /// Binds each event's tenant to the sending key (`tenant_from_key`).
    pub(crate) tenants: Option<TenantFilter>,
    /// Whether connect events trigger a resubscription (the monitor may
    /// also be open only to count failed CURVE handshakes).
    resubscribe: bool,
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
        let resubscribe = monitor;
        // A CURVE server's monitor also counts failed handshakes.
        let monitor = if resubscribe || socket.security_counters().is_some() {
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
                warnings: Warnings::default(),
            },
            tenants: config.tenant_from_key.map(|binding| TenantFilter {
                binding,
                refused: Arc::new(Counter::default()),
                warnings: Warnings::default(),
            }),
            resubscribe,
            sent: HashMap::new(),
            monitor,
        })
    }

    /// The count of events refused by the tenant binding, when it is on.
    pub(crate) fn refused_tenant(&self) -> Option<Arc<Counter>> {
        self.tenants.as_ref().map(|t| Arc::clone(&t.refused))
    }

    /// The CURVE handshake counters, when the input is a CURVE server.
    pub(crate) fn security_counters(&self) -> Option<Arc<SecurityCounters>> {
        self.socket.security_counters()
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

    /// Drains the monitor socket; true when a peer connected or was
    /// accepted and the input resubscribes on connect.
    pub(crate) fn peer_connected(&mut self) -> bool {
        let connected = self
            .monitor
            .as_mut()
            .is_some_and(ConnectMonitor::peer_connected);
        connected && self.resubscribe
    }
}

/// A rate limit for warnings: at most one per [`WARNING_EVERY`], with the
/// count of those not logged since.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    warned: Option<Instant>,
    suppressed: u64,
}

impl Warnings {
    /// `Some(suppressed since the last)` when a warning may be logged now.
    fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .warned
            .is_some_and(|at| now.duration_since(at) < WARNING_EVERY)
        {
            self.suppressed += 1;
            None
        } else {
            self.warned = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        }
    }
}

/// What the tenant binding decided for one event.
#[derive(Debug)]
pub(crate) enum TenantVerdict {
    /// Forward the event as received.
    Keep,
    /// Forward this copy, which carries the key's tenant.
    Set(RawEvent),
    /// Refused (counted and logged).
    Refuse,
}

/// Binds each event's tenant to the CURVE key that sent it.
#[derive(Debug)]
pub(crate) struct TenantFilter {
    binding: TenantBinding,
    /// Events refused: another tenant, no tenant (verify), or a sender
    /// without one.
    refused: Arc<Counter>,
    warnings: Warnings,
}

impl TenantFilter {
    /// Checks `event`, received on input `input` from `peer`.
    pub(crate) fn check(
        &mut self,
        input: &str,
        event: RawEventRef<'_>,
        peer: Option<&PeerIdentity>,
    ) -> TenantVerdict {
        let why = match peer {
            None => "the connection carries no key identity (it did not pass the allow-list)",
            Some(peer) if peer.trusted => return TenantVerdict::Keep,
            Some(PeerIdentity { tenant: None, .. }) => {
                "the sending key has no `tenant` on the allow-list"
            }
            Some(PeerIdentity {
                tenant: Some(own), ..
            }) => match event.tenant() {
                Some(claimed) if claimed == own => return TenantVerdict::Keep,
                Some(_) => "the event claims another tenant than its key's",
                None if self.binding == TenantBinding::Verify => {
                    "the event carries no tenant (`tenant_from_key = \"verify\"`)"
                }
                None => match crate::transform::with_tenant(event, own) {
                    Ok(event) => return TenantVerdict::Set(event),
                    Err(_) => "the event could not be re-encoded with its key's tenant",
                },
            },
        };
        self.refused.inc();
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(
                input,
                sender = peer.map_or("(unknown)", |p| p.user_id.as_str()),
                claimed = event.tenant().unwrap_or("(none)"),
                suppressed,
                "event of type {:?} refused: {why}",
                event.event_type()
            );
        }
        TenantVerdict::Refuse
    }
}

/// Refuses events of the reserved types from an input that is not trusted,
/// unless the key that sent them is.
#[derive(Debug)]
pub(crate) struct ReservedFilter {
    trusted: bool,
    /// Events of a reserved type refused.
    refused: Arc<Counter>,
    warnings: Warnings,
}

impl ReservedFilter {
    /// Whether an event of `event_type` received on input `input` from
    /// `peer` must be refused: a reserved type from an input that is not
    /// trusted, sent by a key the allow-list does not trust. Counts it and
    /// warns (at most once per [`WARNING_EVERY`]).
    #[inline]
    pub(crate) fn refuses(
        &mut self,
        input: &str,
        event_type: &[u8],
        peer: Option<&PeerIdentity>,
    ) -> bool {
        if self.trusted
            || !event_type.starts_with(RESERVED_PREFIX)
            || peer.is_some_and(|p| p.trusted)
        {
            return false;
        }
        self.refused.inc();
        if let Some(suppressed) = self.warnings.allow() {
            tracing::warn!(
                input,
                sender = peer.map_or("(unknown)", |p| p.user_id.as_str()),
                suppressed,
                "event of the reserved type {:?} refused: types starting with `_eventstorm.` are Eventstorm's own, \
                 accepted only from inputs with `trusted = true` or keys the allow-list trusts",
                String::from_utf8_lossy(event_type)
            );
        }
        true
    }
}
