//! An HTTP ingest endpoint on the project's HTTP stack
//! ([`eventstorm_core::http`]): `POST /v1/events` and
//! `POST /v1/events/{parser}`.
//!
//! **`POST /v1/events`**: the body is a JSON object, a JSON array of objects,
//! or NDJSON (one object per line): `Content-Type: application/json` or
//! `application/x-ndjson` decide, and without either the body is sniffed (one
//! JSON value: JSON; else NDJSON). Each item has a `type` and may have the
//! envelope fields `severity` (0-7 or a name such as `warning`), `tenant`,
//! `logger`, `hostname`, `pid` and `ts`; every other field goes into the
//! body, in the order sent. A field named `body` is no exception: it becomes
//! `body.body`.
//!
//! `ts` is an RFC 3339 string or a number read by its magnitude: below 10^11
//! seconds, below 10^14 milliseconds, below 10^17 microseconds, below 10^20
//! nanoseconds since the epoch, finer than milliseconds truncated: the rule
//! of the `json` and `openstack` parsers too. Times outside
//! 1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z (excluded) are a 400 that
//! says the range. Integers that do not fit in 64 bits are refused (BSON has no
//! larger integer), never turned into doubles.
//!
//! **`POST /v1/events/{parser}`** (`nginx`, `postfix`, `syslog`,
//! `syslog5424`, `syslog3164`, `json`, `openstack`): each item goes through
//! that file parser, with the same mapping as for a tailed file; e.g. an
//! OpenStack notification, bare or in the oslo.messaging 2.0 envelope, to
//! `/v1/events/openstack`. For `json` and `openstack` an item is a JSON
//! object (a body holding one object, an array of them, or NDJSON); for the
//! others a non-blank line.
//!
//! On every route: objects and arrays nested deeper than
//! [`max_depth`](HttpSourceConfig::max_depth) are refused before parsing
//! (400), and events whose type starts with `_eventstorm.` are refused (HTTP
//! is not a trusted input) and counted in `reserved_types`.
//!
//! **Tenants and tokens.** With tokens configured
//! ([`auth`](HttpSourceConfig::auth)), every request must carry one, as
//! `X-Auth-Token: TOKEN` or `Authorization: Bearer TOKEN`; without a valid
//! one the answer is 401 (counted in `unauthorized`) and nothing is parsed.
//! The token's tenant is stamped on each event of the request; an item that
//! claims another `tenant` is refused like any bad item (400 with its index,
//! counted in `tenant_mismatch`): a token speaks for one tenant only, and a
//! client that sends the wrong tenant learns it instead of having its
//! events filed under another name. Without tokens (the default) every
//! request is accepted and events keep the tenant they carry: bind such a
//! listener to a trusted network only.
//!
//! Answers:
//!
//! | status | when | body |
//! |---|---|---|
//! | 202 | every item was accepted | `{"accepted": N}` |
//! | 400 | some item (or the whole body) is bad | `{"errors": [{"index": 3, "error": "..."}], "accepted": N}` |
//! | 401 | tokens are configured and the request has no valid one | `{"error": "..."}`, `WWW-Authenticate: Bearer` |
//! | 404 | an unknown parser, or another path | `{"error": "..."}` |
//! | 405 | another method | `{"error": "..."}`, `Allow: POST` |
//! | 408 | the body did not arrive within `body_timeout_ms` | `{"error": "..."}` |
//! | 413 | the body (decoded) is over `max_body_bytes` | `{"error": "..."}` |
//! | 415 | a `Content-Encoding` other than `gzip` | `{"error": "..."}` |
//! | 503 | the queue to the publisher is full | `{"error": "...", "accepted": 0}`, `Retry-After: 1` |
//!
//! **A partly bad request**: the good items are accepted and published; the
//! answer is 400 with `accepted` and one error per bad item (0-based `index`
//! among the items; blank NDJSON lines are not items). So a status check
//! alone never hides a rejected event, and a client resends only the items
//! listed. 408, 413, 415 and 503 accept nothing: the whole request can be
//! retried. "Accepted" means queued for the publisher, which then sends it
//! as any source does (fire-and-forget unless the publisher blocks).
//!
//! Counters ([`HttpCounters`], plus the server's
//! [`ServerCounters`] under
//! `server.`): for the requests that reach a route, `requests` =
//! `accepted_requests` + `bad_requests` + `busy` + `unknown_parser` +
//! `unauthorized`, and the items sent = `events` + `rejected_items` (+ the items of `busy` requests).
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use eventstorm_core::EventSource;
//! use eventstorm_source::http::{HttpSource, HttpSourceConfig};
//!
//! let mut source = HttpSource::new(HttpSourceConfig::listen("127.0.0.1:0"))?;
//! let mut stream = std::net::TcpStream::connect(source.local_addr())?;
//! let body = r#"{"type": "order.placed", "order_id": 7}"#;
//! write!(stream, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 202"));
//! let mut out = Vec::new();
//! source.poll(&mut out, 10, Duration::from_secs(1))?;
//! assert_eq!(out[0].body().get_i32("order_id")?, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod handler;
mod items;
mod parsed;
mod scan;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eventstorm_core::http::{Request, Router, Server, ServerCounters};
use eventstorm_core::{Event, EventSource, RawEvent, SourceStatus, Stats};

pub use config::HttpSourceConfig;

use crate::error::{Error, Result};
use crate::parse::parser_by_name;
use handler::{Ingest, PARSERS};

/// The path events are posted to.
pub const EVENTS_PATH: &str = "/v1/events";

eventstorm_core::counters! {
    /// The counters of an [`HttpSource`], readable from any thread.
    pub struct HttpCounters {
        /// Requests that reached an ingest route.
        requests,
        /// Requests answered 202.
        accepted_requests,
        /// Events accepted (queued for the publisher).
        events,
        /// Bad items (and bad whole bodies), in requests answered 400.
        rejected_items,
        /// Items refused because their type is reserved (`_eventstorm.*`);
        /// also counted in `rejected_items`.
        reserved_types,
        /// Requests answered 400.
        bad_requests,
        /// Requests answered 503 (queue full).
        busy,
        /// Requests to `/v1/events/{parser}` with an unknown parser (404).
        unknown_parser,
        /// Requests answered 401: tokens are configured and the request had
        /// none, or one that is not valid (a revoked one, a rotated token's
        /// previous value past its `previous_valid_until`).
        unauthorized,
        /// Items refused because they claim a `tenant` other than their
        /// token's; also counted in `rejected_items`.
        tenant_mismatch,
    }
}

/// Receives events over HTTP: see the [module docs](self).
#[derive(Debug)]
pub struct HttpSource {
    name: String,
    /// Each request's events, encoded by the handler.
    rx: Receiver<Vec<RawEvent>>,
    /// Events of a request that did not fit in the last poll.
    pending: Vec<RawEvent>,
    server: Server,
    counters: Arc<HttpCounters>,
}

impl HttpSource {
    /// Listens and starts serving. Fails when a setting is out of range, a
    /// parser option is wrong or the address cannot be bound.
    pub fn new(config: HttpSourceConfig) -> Result<HttpSource> {
        config.validate()?;
        let mut parsers = Vec::new();
        for name in PARSERS {
            let parser = parser_by_name(name, &config.parser_options)
                .map_err(|e| Error::config("parser_options", e.to_string()))?;
            parsers.push(parser);
        }
        let tokens = config.tokens()?;
        let (tx, rx) = crossbeam_channel::bounded(config.queue_requests);
        let counters = Arc::new(HttpCounters::default());
        let ingest = Arc::new(Ingest {
            tx,
            counters: Arc::clone(&counters),
            max_depth: config.max_depth,
            parsers,
            tokens,
            warn: std::sync::Mutex::default(),
            name: config.name.clone(),
        });
        let events = Arc::clone(&ingest);
        let router = Router::new()
            .route("POST", EVENTS_PATH, move |r: &Request| events.events(r))
            .route("POST", "/v1/events/{parser}", move |r: &Request| {
                ingest.parsed(r)
            });
        let server = Server::start(&config.server, router).map_err(config::server_error)?;
        tracing::info!(
            source = %config.name,
            addr = %server.local_addr(),
            "HTTP ingest listening on POST {EVENTS_PATH} and {EVENTS_PATH}/{{parser}}"
        );
        Ok(HttpSource {
            name: config.name,
            rx,
            pending: Vec::new(),
            server,
            counters,
        })
    }

    /// The bound address (with the port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The live counters (clone the `Arc` before handing the source to a runner).
    pub fn counters(&self) -> Arc<HttpCounters> {
        Arc::clone(&self.counters)
    }

    /// The live counters of the HTTP server (connections, timeouts, 413s, ...).
    pub fn server_counters(&self) -> Arc<ServerCounters> {
        self.server.counters()
    }

    /// Connections being served now.
    pub fn active_connections(&self) -> usize {
        self.server.active_connections()
    }

    fn take_pending(&mut self, out: &mut Vec<RawEvent>, max: usize) {
        let n = self.pending.len().min(max);
        out.extend(self.pending.drain(..n));
    }

    /// Waits up to `timeout` for a request's events, then takes at most
    /// `max` of those queued, without waiting.
    fn read(&mut self, out: &mut Vec<RawEvent>, max: usize, timeout: Duration) -> SourceStatus {
        let limit = out.len() + max;
        if self.pending.is_empty() {
            match self.rx.recv_timeout(timeout) {
                Ok(batch) => self.pending = batch,
                Err(RecvTimeoutError::Timeout) => return SourceStatus::Idle,
                Err(RecvTimeoutError::Disconnected) => return SourceStatus::Finished,
            }
        }
        loop {
            self.take_pending(out, limit - out.len());
            if out.len() >= limit {
                break;
            }
            match self.rx.try_recv() {
                Ok(batch) => self.pending = batch,
                Err(_) => break,
            }
        }
        SourceStatus::Ready
    }
}

impl EventSource for HttpSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<SourceStatus> {
        // The handlers queue encoded events (what the runner publishes,
        // see `poll_raw`), decoded here for other callers.
        let mut encoded = Vec::with_capacity(max.min(1024));
        let status = self.read(&mut encoded, max, timeout);
        eventstorm_core::decode_polled(encoded, out, |e| {
            self.counters.rejected_items.inc();
            tracing::error!(source = %self.name, "an event could not be decoded: {e}");
        });
        Ok(status)
    }

    fn poll_raw(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<Option<SourceStatus>> {
        Ok(Some(self.read(out, max, timeout)))
    }

    fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot(&self.name);
        let server = self.server.counters().snapshot("server");
        stats.extend_prefixed("server", &server);
        stats
    }
}
