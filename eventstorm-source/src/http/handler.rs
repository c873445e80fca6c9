//! The ingest handlers: parse, refuse reserved types, queue, answer.

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use eventstorm_core::RawEvent;
use eventstorm_core::auth::{AuthError, TokenStore};
use eventstorm_core::event::BodyWriter;
use eventstorm_core::http::{Request, Response};
use serde_json::{Value, json};

use super::HttpCounters;
use super::items::{ItemError, Layout, Parsed, Written, parse_body};
use super::parsed::parse_with;
use crate::parse::{Parser, write_event};

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
    /// Each request's events, encoded.
    pub(crate) tx: Sender<Vec<RawEvent>>,
    pub(crate) counters: Arc<HttpCounters>,
    pub(crate) max_depth: usize,
    pub(crate) parsers: Vec<Box<dyn Parser>>,
    /// The tenants' tokens; none: every request is accepted.
    pub(crate) tokens: Option<TokenStore>,
    pub(crate) warn: std::sync::Mutex<crate::ratelimit::RateLimitedWarn>,
    pub(crate) name: String,
}

/// Whom a request speaks for.
enum Caller {
    /// No tokens are configured: events keep the tenant they carry.
    Anyone,
    /// A valid token of this tenant.
    Tenant(String),
}

impl Ingest {
    /// `POST /v1/events`.
    pub(crate) fn events(&self, request: &Request) -> Response {
        self.counters.requests.inc();
        let caller = match self.authenticate(request) {
            Ok(caller) => caller,
            Err(answer) => return answer,
        };
        let layout = Layout::from_content_type(request.header("content-type"));
        let written = self.admit_all(parse_body(request.body(), layout, self.max_depth), &caller);
        self.finish(written)
    }

    /// The caller, or the 401 answer (counted in `unauthorized`, logged at
    /// most once per interval with the peer's address).
    fn authenticate(&self, request: &Request) -> Result<Caller, Response> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller::Anyone);
        };
        match tokens.verify(request.auth_token()) {
            Ok(tenant) => Ok(Caller::Tenant(tenant)),
            Err(e) => {
                self.counters.unauthorized.inc();
                let peer = request.peer();
                if let Ok(mut warn) = self.warn.lock() {
                    warn.warn(&self.name, || {
                        format!("request from {peer} refused (401): {e}")
                    });
                }
                let message = match e {
                    AuthError::Missing => e.to_string(),
                    _ => AuthError::Unknown.to_string(),
                };
                Err(Response::unauthorized(&message))
            }
        }
    }

    /// `POST /v1/events/{parser}`.
    pub(crate) fn parsed(&self, request: &Request) -> Response {
        self.counters.requests.inc();
        let caller = match self.authenticate(request) {
            Ok(caller) => caller,
            Err(answer) => return answer,
        };
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
        let mut admit =
            |event_type: &str, claimed: Option<&str>| self.admit(event_type, claimed, &caller);
        self.finish(parse_with(
            parser.as_ref(),
            request.body(),
            layout,
            self.max_depth,
            &mut admit,
        ))
    }

    /// Lets an event of `event_type` claiming tenant `claimed` through for
    /// `caller`, with the tenant to stamp on it; or the item's error
    /// (reserved types, another tenant's events), counted.
    fn admit(
        &self,
        event_type: &str,
        claimed: Option<&str>,
        caller: &Caller,
    ) -> Result<Option<String>, String> {
        let mut stamp = None;
        if let Caller::Tenant(tenant) = caller {
            if let Some(claimed) = claimed
                && claimed != tenant
            {
                self.counters.tenant_mismatch.inc();
                return Err(format!(
                    "`tenant` is {claimed:?} but the token is tenant {tenant:?}'s: \
                     leave `tenant` out (the token's is stamped) or use that tenant's token"
                ));
            }
            stamp = Some(tenant.clone());
        }
        if event_type.starts_with(RESERVED_PREFIX) {
            self.counters.reserved_types.inc();
            return Err(format!(
                "type {event_type:?} is reserved for Eventstorm's own events ({RESERVED_PREFIX}*): use another type"
            ));
        }
        Ok(stamp)
    }

    /// The events of `POST /v1/events` let through (see
    /// [`admit`](Self::admit)), stamped and encoded.
    fn admit_all(&self, (parsed, mut errors): Parsed, caller: &Caller) -> Written {
        let mut events = Vec::with_capacity(parsed.len());
        let mut writer = BodyWriter::new();
        for (index, mut event) in parsed {
            let written = self
                .admit(event.event_type(), event.tenant(), caller)
                .and_then(|stamp| {
                    if let Some(tenant) = stamp {
                        event.set_tenant(tenant);
                    }
                    write_event(&event, &mut writer)
                        .map_err(|e| format!("cannot encode the event: {e}"))
                });
            match written {
                Ok(event) => events.push(event),
                Err(error) => errors.push(ItemError {
                    index: Some(index),
                    error,
                }),
            }
        }
        (events, errors)
    }

    /// Queues the events, answers.
    fn finish(&self, (events, mut errors): Written) -> Response {
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
