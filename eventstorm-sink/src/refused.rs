//! Events a database refused for good, and where they go: the hand-off point
//! of a dead-letter store.
//!
//! A database sink refuses an event when the server (or the sink's own checks
//! before sending) says it can never be stored as it is: a collection or table
//! name the server cannot use, a document too large or too deep, a value the
//! table cannot hold. Such an event is counted as `refused` — it is neither
//! retried nor counted as an outage, and every other event is still written —
//! and handed, with the reason, to the sink's [`RefusedHandler`], if one is
//! set. Without one, the event is only counted (and the reason logged at a
//! bounded rate).
//!
//! ```
//! use std::sync::mpsc;
//! use eventstorm_sink::{RefusedEvent, RefusedHandler};
//!
//! // A channel is a handler: the receiving end can write a dead-letter file.
//! let (tx, rx) = mpsc::channel::<RefusedEvent>();
//! let mut handler: Box<dyn RefusedHandler> = Box::new(tx);
//! # let event = eventstorm_core::RawEvent::from_event(&eventstorm_core::Event::builder("a").build()).unwrap();
//! handler.refused(RefusedEvent::new(event, "ops.acme_events", "document too deep"));
//! assert_eq!(rx.recv().unwrap().reason, "document too deep");
//! ```

use eventstorm_core::RawEvent;

/// One event a sink refused for good.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RefusedEvent {
    /// The event, its bytes as received.
    pub event: RawEvent,
    /// Where it was to be written (`database.collection`,
    /// `keyspace.table`).
    pub destination: String,
    /// Why it was refused: the server's message, or the sink's check that
    /// failed.
    pub reason: String,
}

impl RefusedEvent {
    /// A refused event.
    pub fn new(event: RawEvent, destination: impl Into<String>, reason: impl Into<String>) -> Self {
        RefusedEvent {
            event,
            destination: destination.into(),
            reason: reason.into(),
        }
    }
}

/// Receives every event a sink refuses, on the thread that calls the sink's
/// `write` or `flush`, after the event was counted as `refused`.
///
/// It must not block for long: the sink waits for it. A dead-letter file
/// appends the event and its reason; a test collects them.
pub trait RefusedHandler: Send {
    /// Takes one refused event.
    fn refused(&mut self, event: RefusedEvent);
}

/// Sends each refused event on the channel (dropped when the receiver is
/// gone).
impl RefusedHandler for std::sync::mpsc::Sender<RefusedEvent> {
    fn refused(&mut self, event: RefusedEvent) {
        let _ = self.send(event);
    }
}

/// Sends each refused event on the channel, waiting for room when it is
/// bounded (dropped when the receiver is gone).
impl RefusedHandler for crossbeam_channel::Sender<RefusedEvent> {
    fn refused(&mut self, event: RefusedEvent) {
        let _ = self.send(event);
    }
}

/// Where a sink sends refused events: the handler, if any. Only the
/// database sinks refuse events.
#[cfg(any(feature = "mongodb", feature = "cql"))]
#[derive(Default)]
pub(crate) struct Refusals {
    handler: Option<Box<dyn RefusedHandler>>,
}

#[cfg(any(feature = "mongodb", feature = "cql"))]
impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refusals")
            .field("handler", &self.handler.as_ref().map(|_| "..."))
            .finish()
    }
}

#[cfg(any(feature = "mongodb", feature = "cql"))]
impl Refusals {
    /// Sets the handler.
    pub(crate) fn set(&mut self, handler: Box<dyn RefusedHandler>) {
        self.handler = Some(handler);
    }

    /// Whether a handler wants the events (so that they are worth keeping).
    pub(crate) fn wanted(&self) -> bool {
        self.handler.is_some()
    }

    /// Hands one refused event over.
    pub(crate) fn hand_over(&mut self, event: RefusedEvent) {
        if let Some(handler) = &mut self.handler {
            handler.refused(event);
        }
    }
}
