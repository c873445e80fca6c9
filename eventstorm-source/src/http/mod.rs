//! An HTTP ingest endpoint: `POST /v1/events`.
//!
//! The body is a JSON object, a JSON array of objects, or NDJSON (one object
//! per line): `Content-Type: application/json` or `application/x-ndjson`
//! decide, and without either the body is sniffed (one JSON value: JSON; else
//! NDJSON). Each item has a `type` and may have the envelope fields
//! `severity` (0-7 or a name such as `warning`), `tenant`, `logger`,
//! `hostname`, `pid` and `ts` (RFC 3339, or seconds since the epoch); every
//! other field goes into the body.
//!
//! Answers:
//!
//! | status | when | body |
//! |---|---|---|
//! | 202 | every item was accepted | `{"accepted": N}` |
//! | 400 | some item (or the whole body) is bad | `{"errors": [{"index": 3, "error": "..."}], "accepted": N}` |
//! | 413 | the body is over [`max_body_bytes`](HttpConfig::max_body_bytes) | `{"error": "...", "accepted": 0}` |
//! | 503 | the queue to the publisher is full | `{"error": "...", "accepted": 0}`, `Retry-After: 1` |
//! | 404 / 405 | another path / another method | `{"error": "..."}` |
//!
//! **A partly bad request**: the good items are accepted and published; the
//! answer is 400 with `accepted` and one error per bad item (0-based `index`
//! among the items; blank NDJSON lines are not items). So a status check
//! alone never hides a rejected event, and a client resends only the items
//! listed. A 503 accepts nothing: the whole request can be retried.
//! "Accepted" means queued for the publisher, which then sends it as any
//! source does (fire-and-forget unless the publisher blocks).
//!
//! Counters ([`HttpCounters`]): `requests`, `accepted_requests`, `events`,
//! `rejected_items`, `bad_requests`, `too_large`, `busy`, `not_found`.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use eventstorm_core::EventSource;
//! use eventstorm_source::http::{HttpConfig, HttpSource};
//!
//! let mut source = HttpSource::new(HttpConfig::listen("127.0.0.1:0"))?;
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
mod items;
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eventstorm_core::{Event, EventSource, SourceStatus, Stats};

pub use config::HttpConfig;

use crate::error::{Error, Result};
use server::Worker;

eventstorm_core::counters! {
    /// The counters of an [`HttpSource`], readable from any thread.
    pub struct HttpCounters {
        /// Requests received.
        requests,
        /// Requests answered 202.
        accepted_requests,
        /// Events accepted (queued for the publisher).
        events,
        /// Bad items, in requests answered 400.
        rejected_items,
        /// Requests answered 400.
        bad_requests,
        /// Requests answered 413.
        too_large,
        /// Requests answered 503 (queue full).
        busy,
        /// Requests answered 404 or 405.
        not_found,
    }
}

/// Receives events over HTTP: see the [module docs](self).
#[derive(Debug)]
pub struct HttpSource {
    name: String,
    rx: Receiver<Vec<Event>>,
    /// Events of a request that did not fit in the last poll.
    pending: Vec<Event>,
    server: server::SharedServer,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<HttpCounters>,
}

impl HttpSource {
    /// Listens and starts the worker threads. Fails when the address cannot be
    /// bound or a limit is 0.
    pub fn new(config: HttpConfig) -> Result<HttpSource> {
        for (key, value) in [
            ("queue_requests", config.queue_requests),
            ("workers", config.workers),
            ("max_body_bytes", config.max_body_bytes),
        ] {
            if value == 0 {
                return Err(Error::config(key, "expected at least 1"));
            }
        }
        let server = tiny_http::Server::http(&config.listen).map_err(|e| {
            Error::config(
                "listen",
                format!(
                    "cannot listen on {}: {e} (is the address valid and free?)",
                    config.listen
                ),
            )
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| Error::config("listen", "expected an IP address"))?;
        let server = server::SharedServer(Arc::new(server));
        let (tx, rx) = crossbeam_channel::bounded(config.queue_requests);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(HttpCounters::default());
        let mut threads = Vec::new();
        for i in 0..config.workers {
            let worker = Worker {
                server: server.clone(),
                tx: tx.clone(),
                counters: Arc::clone(&counters),
                max_body_bytes: config.max_body_bytes,
                stop: Arc::clone(&stop),
            };
            let thread =
                eventstorm_core::ThreadError::spawn(format!("http-{i}"), move || worker.run())?;
            threads.push(thread);
        }
        tracing::info!(source = %config.name, %addr, "HTTP ingest listening on POST {}", server::EVENTS_PATH);
        Ok(HttpSource {
            name: config.name,
            rx,
            pending: Vec::new(),
            server,
            addr,
            stop,
            threads,
            counters,
        })
    }

    /// The bound address (with the port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live counters (clone the `Arc` before handing the source to a runner).
    pub fn counters(&self) -> Arc<HttpCounters> {
        Arc::clone(&self.counters)
    }

    fn take_pending(&mut self, out: &mut Vec<Event>, max: usize) {
        let n = self.pending.len().min(max);
        out.extend(self.pending.drain(..n));
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
        let limit = out.len() + max;
        if self.pending.is_empty() {
            match self.rx.recv_timeout(timeout) {
                Ok(batch) => self.pending = batch,
                Err(RecvTimeoutError::Timeout) => return Ok(SourceStatus::Idle),
                Err(RecvTimeoutError::Disconnected) => return Ok(SourceStatus::Finished),
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
        Ok(SourceStatus::Ready)
    }

    fn stats(&self) -> Stats {
        self.counters.snapshot(&self.name)
    }
}

impl Drop for HttpSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.0.unblock();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
