//! The ingest handlers: parse, refuse reserved types, queue, answer.

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use eventstorm_core::Event;
use eventstorm_core::http::{Request, Response};
use serde_json::{Value, json};

use super::HttpCounters;
use super::items::{ItemError, Layout, Parsed, parse_body};
use super::parsed::parse_with;
use crate::parse::Parser;

/// The names of the parsers behind `POST /v1/events/{parser}`.
pub(crate) const PARSERS: [&str; 7] = [
    "nginx",
    "postfix",
    "syslog",
    "syslog5424",
    "syslog3164",
    "json",
    "openstack",
];

/// Types starting with this are Eventstorm's own (stats, marks): never
/// accepted from HTTP, an untrusted input.
pub(crate) const RESERVED_PREFIX: &str = "_eventstorm.";

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Ingest {
    pub(crate) tx: Sender<Vec<Event>>,
    pub(crate) counters: Arc<HttpCounters>,
    pub(crate) max_depth: usize,
    pub(crate) parsers: Vec<Box<dyn Parser>>,
}

impl Ingest {
    /// `POST /v1/events`.
    pub(crate) fn events(&self, request: &Request) -> Response {
        self.counters.requests.inc();
        let layout = Layout::from_content_type(request.header("content-type"));
        self.finish(parse_body(request.body(), layout, self.max_depth))
    }

    /// `POST /v1/events/{parser}`.
    pub(crate) fn parsed(&self, request: &Request) -> Response {
        self.counters.requests.inc();
        let name = request.param("parser").unwrap_or("");
        let Some(parser) = self.parsers.iter().find(|p| p.name() == name) else {
            self.counters.unknown_parser.inc();
            let message = format!(
                "no parser {name:?}: POST to /v1/events/{{parser}} with one of {}",
                PARSERS.join(", ")
            );
            return Response::json(404, &json!({"error": message, "accepted": 0}));
        };
        let layout = Layout::from_content_type(request.header("content-type"));
        self.finish(parse_with(
            parser.as_ref(),
            request.body(),
            layout,
            self.max_depth,
        ))
    }

    /// Refuses reserved types, queues the rest, answers.
    fn finish(&self, (parsed, mut errors): Parsed) -> Response {
        let mut events = Vec::with_capacity(parsed.len());
        for (index, event) in parsed {
            if event.event_type().starts_with(RESERVED_PREFIX) {
                self.counters.reserved_types.inc();
                errors.push(ItemError {
                    index: Some(index),
                    error: format!(
                        "type {:?} is reserved for Eventstorm's own events ({RESERVED_PREFIX}*): use another type",
                        event.event_type()
                    ),
                });
            } else {
                events.push(event);
            }
        }
        errors.sort_by_key(|e| e.index);
        self.counters.rejected_items.add(errors.len() as u64);
        let accepted = events.len();
        if accepted > 0 {
            match self.tx.try_send(events) {
                Ok(()) => self.counters.events.add(accepted as u64),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.counters.busy.inc();
                    let body = json!({"error": "the queue is full: retry later", "accepted": 0});
                    return Response::json(503, &body).with_header("Retry-After", "1");
                }
            }
        }
        if errors.is_empty() {
            self.counters.accepted_requests.inc();
            Response::json(202, &json!({"accepted": accepted}))
        } else {
            self.counters.bad_requests.inc();
            let errors: Vec<Value> = errors.iter().map(error_json).collect();
            Response::json(400, &json!({"errors": errors, "accepted": accepted}))
        }
    }
}

fn error_json(error: &ItemError) -> Value {
    match error.index {
        Some(index) => json!({"index": index, "error": error.error}),
        None => json!({"error": error.error}),
    }
}
