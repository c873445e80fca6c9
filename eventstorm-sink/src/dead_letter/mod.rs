//! Events a sink gave up on, and where they go: dead letters.
//!
//! A sink gives an event up when it can never store it as it is (the
//! database refused it: a collection or table name the server cannot use, a
//! document too large or too deep, a value the table cannot hold), when it
//! kept it pending beyond its limits during an outage (too many, too many
//! bytes, too old), or when it is closed with events still pending; the sink
//! runtime gives an event up when its queue is full (`when_full = "drop"`).
//! Each such event is counted under a name that says why (`refused`,
//! `expired`, `dropped_full`, ...) and, when a [`DeadLetterHandler`] is set,
//! handed to it with the [`GiveUp`] cause and the reason: a
//! [`DeadLetterFile`] appends it to a file from which
//! `eventstorm-sink replay` writes it again once the cause is fixed.
//!
//! ```
//! use std::sync::mpsc;
//! use eventstorm_sink::{DeadLetter, DeadLetterHandler, GiveUp};
//!
//! // A channel is a handler: a test collects dead letters this way.
//! let (tx, rx) = mpsc::channel::<DeadLetter>();
//! let mut handler: Box<dyn DeadLetterHandler> = Box::new(tx);
//! # let event = eventstorm_core::RawEvent::from_event(&eventstorm_core::Event::builder("a").build()).unwrap();
//! handler.dead_letter(DeadLetter::new(event, GiveUp::Refused, "ops.acme_events", "document too deep"));
//! let letter = rx.recv().unwrap();
//! assert_eq!((letter.cause, letter.reason.as_str()), (GiveUp::Refused, "document too deep"));
//! ```

mod file;
mod record;

use eventstorm_core::RawEvent;

pub use file::{DeadLetterConfig, DeadLetterCounters, DeadLetterFile};
pub use record::{DeadLetterReader, DeadLetterRecord, ReadError};

/// Why an event was given up. Each cause is also the name of the counter
/// that counts it (see `docs/stats.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUp {
    /// The destination refused it for good (the server's error, or the
    /// sink's own check before sending): retrying the same event cannot
    /// succeed.
    Refused,
    /// Writing it failed for a reason that is neither a refusal nor an
    /// outage, after the configured attempts.
    Failed,
    /// It stayed pending longer than the sink's `max_pending_age_ms`.
    Expired,
    /// The sink's pending limits (`max_pending`, `max_pending_bytes`) were
    /// reached during an outage.
    DroppedFull,
    /// The sink was closed with it still pending.
    DroppedAtClose,
    /// The runtime's queue to the sink was full (`when_full = "drop"`, or
    /// a sink stuck at shutdown).
    DroppedQueueFull,
    /// The sink's thread had ended (it panicked) when the event arrived.
    DroppedNoSink,
}

impl GiveUp {
    /// The cause as written in dead-letter files and counter names:
    /// `refused`, `failed`, `expired`, `dropped_full`, `dropped_at_close`,
    /// `dropped_queue_full`, `dropped_no_sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            GiveUp::Refused => "refused",
            GiveUp::Failed => "failed",
            GiveUp::Expired => "expired",
            GiveUp::DroppedFull => "dropped_full",
            GiveUp::DroppedAtClose => "dropped_at_close",
            GiveUp::DroppedQueueFull => "dropped_queue_full",
            GiveUp::DroppedNoSink => "dropped_no_sink",
        }
    }

    /// The cause named by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<GiveUp> {
        Some(match name {
            "refused" => GiveUp::Refused,
            "failed" => GiveUp::Failed,
            "expired" => GiveUp::Expired,
            "dropped_full" => GiveUp::DroppedFull,
            "dropped_at_close" => GiveUp::DroppedAtClose,
            "dropped_queue_full" => GiveUp::DroppedQueueFull,
            "dropped_no_sink" => GiveUp::DroppedNoSink,
            _ => return None,
        })
    }
}

impl std::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event given up, with why and where it was going.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event, its bytes as received.
    pub event: RawEvent,
    /// Why it was given up.
    pub cause: GiveUp,
    /// Where it was to be written (`database.collection`,
    /// `keyspace.table`, a sink's name).
    pub destination: String,
    /// What happened: the server's message, or the limit that was reached.
    pub reason: String,
}

impl DeadLetter {
    /// A dead letter.
    pub fn new(
        event: RawEvent,
        cause: GiveUp,
        destination: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        DeadLetter {
            event,
            cause,
            destination: destination.into(),
            reason: reason.into(),
        }
    }
}

/// Receives every event a sink (or the sink runtime) gives up, once it is
/// counted, on the thread that gave it up.
///
/// It must not block for long: the sink waits for it. A [`DeadLetterFile`]
/// appends the event and its reason; a test collects them on a channel.
pub trait DeadLetterHandler: Send {
    /// Takes one dead letter.
    fn dead_letter(&mut self, letter: DeadLetter);
}

/// Sends each dead letter on the channel (dropped when the receiver is
/// gone).
impl DeadLetterHandler for std::sync::mpsc::Sender<DeadLetter> {
    fn dead_letter(&mut self, letter: DeadLetter) {
        let _ = self.send(letter);
    }
}

/// Sends each dead letter on the channel, waiting for room when it is
/// bounded (dropped when the receiver is gone).
impl DeadLetterHandler for crossbeam_channel::Sender<DeadLetter> {
    fn dead_letter(&mut self, letter: DeadLetter) {
        let _ = self.send(letter);
    }
}

/// Where a sink sends the events it gives up: the handler, if any.
#[derive(Default)]
pub(crate) struct DeadLetters {
    handler: Option<Box<dyn DeadLetterHandler>>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("handler", &self.handler.as_ref().map(|_| "..."))
            .finish()
    }
}

impl DeadLetters {
    /// Sets the handler.
    pub(crate) fn set(&mut self, handler: Box<dyn DeadLetterHandler>) {
        self.handler = Some(handler);
    }

    /// Whether a handler wants the events (so that they are worth keeping).
    pub(crate) fn wanted(&self) -> bool {
        self.handler.is_some()
    }

    /// Hands one event over (the CQL sink collects them on its runtime).
    #[cfg(feature = "cql")]
    pub(crate) fn hand_over(&mut self, letter: DeadLetter) {
        if let Some(handler) = &mut self.handler {
            handler.dead_letter(letter);
        }
    }

    /// Hands `event` over, built only when a handler wants it.
    pub(crate) fn give_up(
        &mut self,
        event: impl FnOnce() -> Option<RawEvent>,
        cause: GiveUp,
        destination: impl FnOnce() -> String,
        reason: impl FnOnce() -> String,
    ) {
        if let Some(handler) = &mut self.handler
            && let Some(event) = event()
        {
            handler.dead_letter(DeadLetter::new(event, cause, destination(), reason()));
        }
    }
}
