//! The request handler: routes, limits, parses, queues, answers.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use eventstorm_core::Event;
use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use super::HttpCounters;
use super::items::{ItemError, Layout, parse_body};

/// The one path events are posted to.
pub(crate) const EVENTS_PATH: &str = "/v1/events";

/// The server, shared by the workers and the source (which unblocks it).
#[derive(Clone)]
pub(crate) struct SharedServer(pub(crate) Arc<Server>);

impl std::fmt::Debug for SharedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({:?})", self.0.server_addr().to_ip())
    }
}

/// What a worker thread needs.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) server: SharedServer,
    pub(crate) tx: Sender<Vec<Event>>,
    pub(crate) counters: Arc<HttpCounters>,
    pub(crate) max_body_bytes: usize,
    pub(crate) stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Worker {
    /// Answers requests until the source stops.
    pub(crate) fn run(&self) {
        while !self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.server.0.recv_timeout(Duration::from_millis(100)) {
                Ok(Some(request)) => self.handle(request),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!("HTTP receive failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn handle(&self, mut request: Request) {
        self.counters.requests.inc();
        let path = request.url().split('?').next().unwrap_or("");
        if path != EVENTS_PATH {
            self.counters.not_found.inc();
            let body = json!({"error": format!("not found: POST events to {EVENTS_PATH}")});
            return respond(request, 404, &body, None);
        }
        if *request.method() != Method::Post {
            self.counters.not_found.inc();
            let body =
                json!({"error": format!("method {} not allowed: use POST", request.method())});
            return respond(request, 405, &body, Some(("Allow", "POST")));
        }
        let max = self.max_body_bytes;
        if request.body_length().is_some_and(|len| len > max) {
            return self.too_large(request);
        }
        let mut body = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        if let Err(e) = request.as_reader().take(limit).read_to_end(&mut body) {
            self.counters.bad_requests.inc();
            return respond(
                request,
                400,
                &json!({"errors": [{"error": format!("cannot read the body: {e}")}], "accepted": 0}),
                None,
            );
        }
        if body.len() > max {
            return self.too_large(request);
        }
        let content_type = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Content-Type"))
            .map(|h| h.value.as_str().to_string());
        let (events, errors) =
            parse_body(&body, Layout::from_content_type(content_type.as_deref()));
        self.counters.rejected_items.add(errors.len() as u64);
        let accepted = events.len();
        if accepted > 0 {
            match self.tx.try_send(events) {
                Ok(()) => self.counters.events.add(accepted as u64),
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.counters.busy.inc();
                    let body = json!({"error": "the queue is full: retry later", "accepted": 0});
                    return respond(request, 503, &body, Some(("Retry-After", "1")));
                }
            }
        }
        if errors.is_empty() {
            self.counters.accepted_requests.inc();
            respond(request, 202, &json!({"accepted": accepted}), None);
        } else {
            self.counters.bad_requests.inc();
            let errors: Vec<Value> = errors.iter().map(error_json).collect();
            respond(
                request,
                400,
                &json!({"errors": errors, "accepted": accepted}),
                None,
            );
        }
    }

    fn too_large(&self, request: Request) {
        self.counters.too_large.inc();
        let body = json!({"error": format!("the body is larger than {} bytes", self.max_body_bytes), "accepted": 0});
        respond(request, 413, &body, Some(("Connection", "close")));
    }
}

fn error_json(error: &ItemError) -> Value {
    match error.index {
        Some(index) => json!({"index": index, "error": error.error}),
        None => json!({"error": error.error}),
    }
}

fn respond(request: Request, status: u16, body: &Value, extra: Option<(&str, &str)>) {
    let mut response = Response::from_string(body.to_string()).with_status_code(status);
    if let Ok(header) = Header::from_bytes("Content-Type", "application/json") {
        response.add_header(header);
    }
    if let Some((name, value)) = extra
        && let Ok(header) = Header::from_bytes(name, value)
    {
        response.add_header(header);
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("HTTP response not sent: {e}");
    }
}
