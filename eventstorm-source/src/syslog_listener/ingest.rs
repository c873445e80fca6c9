//! What the socket threads share: the parser, the channel to the source's
//! `poll`, the counters and the stop flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use eventstorm_core::RawEvent;
use eventstorm_core::event::{BodyWriter, finish_event};

use super::SyslogCounters;
use super::config::WhenFull;
use super::tenancy::{Refusal, Tenancy};
use crate::parse::Parser;
use crate::ratelimit::RateLimitedWarn;
use crate::reserved::{RESERVED_PREFIX, is_reserved};

/// A socket thread's buffers, reused from one message to the next.
#[derive(Debug, Default)]
struct Writer {
    body: BodyWriter,
    /// The last peer's address as text.
    peer_text: (Option<SocketAddr>, String),
}

thread_local! {
    static WRITER: std::cell::RefCell<Writer> = std::cell::RefCell::default();
}

/// Shared by every socket thread of one source.
#[derive(Debug)]
pub(crate) struct Ingest {
    pub(crate) name: String,
    pub(crate) parser: Box<dyn Parser>,
    pub(crate) tx: Sender<RawEvent>,
    pub(crate) when_full: WhenFull,
    pub(crate) add_peer: bool,
    pub(crate) counters: Arc<SyslogCounters>,
    pub(crate) stop: Arc<AtomicBool>,
    /// How the tenant of each message is found ([`Tenancy::Open`] from
    /// `new`).
    pub(crate) tenancy: Tenancy,
    /// One rate limiter per [`WarnKind`].
    warn: [Mutex<RateLimitedWarn>; WarnKind::COUNT],
}

/// The kinds of warning, each rate-limited on its own so that one kind
/// flooding the log never hides another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WarnKind {
    /// Messages rejected: parser errors, over-long, bad framing.
    Rejected,
    /// Events dropped because the queue was full.
    QueueFull,
    /// Events of a reserved type refused.
    Reserved,
    /// TCP connections: accept errors, idle closes, evictions, read errors.
    Connection,
    /// The UDP socket: receive errors, kernel drops.
    Udp,
    /// Messages refused for their tenant or token.
    Unauthorized,
}

impl WarnKind {
    const COUNT: usize = 6;
}

impl Ingest {
    pub(crate) fn new(
        name: String,
        parser: Box<dyn Parser>,
        tx: Sender<RawEvent>,
        when_full: WhenFull,
        add_peer: bool,
        counters: Arc<SyslogCounters>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Ingest {
            tenancy: Tenancy::Open,
            name,
            parser,
            tx,
            when_full,
            add_peer,
            counters,
            stop,
            warn: std::array::from_fn(|_| Mutex::new(RateLimitedWarn::default())),
        }
    }

    /// Whether the source is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A warning, rate-limited per kind.
    pub(crate) fn warn(&self, kind: WarnKind, message: impl FnOnce() -> String) {
        if let Ok(mut warn) = self.warn[kind as usize].lock() {
            warn.warn(&self.name, message);
        }
    }

    /// A message was rejected before parsing (too long, bad framing).
    pub(crate) fn reject(&self, message: impl FnOnce() -> String) {
        self.counters.received.inc();
        self.counters.rejected.inc();
        self.warn(WarnKind::Rejected, message);
    }

    /// Parses one message from `peer` and queues the event, written
    /// straight into its bytes (no `Document`, the thread's buffers reused).
    pub(crate) fn message(&self, bytes: &[u8], peer: SocketAddr) {
        self.counters.received.inc();
        // Valid UTF-8 (nearly every message) is checked by the fast
        // validator and borrowed; only invalid bytes pay for the lossy copy.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let text = text.trim_end_matches(['\n', '\r', '\0']);
        let event = WRITER.with_borrow_mut(|writer| {
            let Writer { body, peer_text } = writer;
            let mut head = match self.parser.parse_into(text, body) {
                Ok(head) => head,
                Err(e) => {
                    self.counters.rejected.inc();
                    self.warn(WarnKind::Rejected, || {
                        format!(
                            "message from {peer} rejected by the {} parser: {e}",
                            self.parser.name()
                        )
                    });
                    return None;
                }
            };
            if let Err(refusal) = self.tenancy.apply(&mut head, body) {
                let reason = match refusal {
                    Refusal::Unauthorized(reason) => {
                        self.counters.unauthorized.inc();
                        reason
                    }
                    Refusal::TenantMismatch(reason) => {
                        self.counters.tenant_mismatch.inc();
                        reason
                    }
                };
                self.warn(WarnKind::Unauthorized, || {
                    format!("message from {peer} refused: {reason}")
                });
                return None;
            }
            if is_reserved(&head.event_type) {
                self.counters.refused_reserved.inc();
                self.warn(WarnKind::Reserved, || {
                    format!(
                        "event of the reserved type {:?} from {peer} refused (types starting with `{RESERVED_PREFIX}` are Eventstorm's own)",
                        head.event_type
                    )
                });
                return None;
            }
            if self.add_peer {
                if peer_text.0 != Some(peer) {
                    *peer_text = (Some(peer), peer.to_string());
                }
                body.str("peer", &peer_text.1);
            }
            match finish_event(&head, body) {
                Ok(event) => Some(event),
                // A body the parser could not encode (a key with a NUL).
                Err(e) => {
                    self.counters.rejected.inc();
                    self.warn(WarnKind::Rejected, || {
                        format!("message from {peer} rejected: {e}")
                    });
                    None
                }
            }
        });
        if let Some(event) = event {
            self.counters.events.inc();
            self.send(event);
        }
    }

    fn send(&self, event: RawEvent) {
        match self.when_full {
            WhenFull::Drop => match self.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.inc();
                    self.warn(WarnKind::QueueFull, || {
                        "queue full: messages dropped (raise channel_capacity?)".to_string()
                    });
                }
                Err(TrySendError::Disconnected(_)) => self.counters.dropped.inc(),
            },
            WhenFull::Block => {
                // Room in the queue (the usual case) costs no clock reading.
                let mut event = match self.tx.try_send(event) {
                    Ok(()) => return,
                    Err(TrySendError::Full(back)) => back,
                    Err(TrySendError::Disconnected(_)) => {
                        self.counters.dropped.inc();
                        return;
                    }
                };
                loop {
                    match self.tx.send_timeout(event, Duration::from_millis(100)) {
                        Ok(()) => return,
                        Err(SendTimeoutError::Timeout(back)) if !self.stopping() => event = back,
                        Err(_) => {
                            self.counters.dropped.inc();
                            return;
                        }
                    }
                }
            }
        }
    }
}
