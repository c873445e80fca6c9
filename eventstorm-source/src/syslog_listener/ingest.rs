//! What the socket threads share: the parser, the channel to the source's
//! `poll`, the counters and the stop flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};
use eventstorm_core::Event;

use super::SyslogCounters;
use super::config::WhenFull;
use crate::parse::Parser;
use crate::ratelimit::RateLimitedWarn;

/// Shared by every socket thread of one source.
#[derive(Debug)]
pub(crate) struct Ingest {
    pub(crate) name: String,
    pub(crate) parser: Box<dyn Parser>,
    pub(crate) tx: Sender<Event>,
    pub(crate) when_full: WhenFull,
    pub(crate) add_peer: bool,
    pub(crate) counters: Arc<SyslogCounters>,
    pub(crate) stop: Arc<AtomicBool>,
    warn: Mutex<RateLimitedWarn>,
}

impl Ingest {
    pub(crate) fn new(
        name: String,
        parser: Box<dyn Parser>,
        tx: Sender<Event>,
        when_full: WhenFull,
        add_peer: bool,
        counters: Arc<SyslogCounters>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Ingest {
            name,
            parser,
            tx,
            when_full,
            add_peer,
            counters,
            stop,
            warn: Mutex::new(RateLimitedWarn::default()),
        }
    }

    /// Whether the source is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A rate-limited warning.
    pub(crate) fn warn(&self, message: impl FnOnce() -> String) {
        if let Ok(mut warn) = self.warn.lock() {
            warn.warn(&self.name, message);
        }
    }

    /// A message was rejected before parsing (too long, bad framing).
    pub(crate) fn reject(&self, message: impl FnOnce() -> String) {
        self.counters.received.inc();
        self.counters.rejected.inc();
        self.warn(message);
    }

    /// Parses one message from `peer` and queues the event.
    pub(crate) fn message(&self, bytes: &[u8], peer: SocketAddr) {
        self.counters.received.inc();
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches(['\n', '\r', '\0']);
        let mut event = match self.parser.parse(text) {
            Ok(event) => event,
            Err(e) => {
                self.counters.rejected.inc();
                self.warn(|| {
                    format!(
                        "message from {peer} rejected by the {} parser: {e}",
                        self.parser.name()
                    )
                });
                return;
            }
        };
        if self.add_peer {
            event.body_mut().insert("peer", peer.to_string());
        }
        self.counters.events.inc();
        self.send(event);
    }

    fn send(&self, event: Event) {
        match self.when_full {
            WhenFull::Drop => match self.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.inc();
                    self.warn(|| {
                        "queue full: messages dropped (raise channel_capacity?)".to_string()
                    });
                }
                Err(TrySendError::Disconnected(_)) => self.counters.dropped.inc(),
            },
            WhenFull::Block => {
                let mut event = event;
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
