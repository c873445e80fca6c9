//! [`MongoSink`]: the runtime object, and its outage handling.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bson::RawDocumentBuf;
use eventstorm_core::{Counter, EventSink, RawEvent, SinkError, Stats};
use tracing::{debug, error, info, warn};

use super::MongoError;
use super::client::{Connection, redact_uri};
use super::config::{MongoSinkConfig, WhenFull};
use super::indexes::{self, IndexFailure};
use super::pending::Pending;
use super::query::MongoReader;
use super::template::CollectionTemplate;
use super::writer::insert_chunk;

/// The sink's counters, shareable with other threads (see
/// [`MongoSink::counters`]).
#[derive(Debug, Default)]
pub struct MongoCounters {
    /// Events stored by this sink (inserted, or found stored by an earlier
    /// attempt whose reply was lost).
    pub written: Counter,
    /// Duplicate-key errors treated as success: retries of events already
    /// stored, and events sent to the sink twice (stored once).
    pub duplicates_ignored: Counter,
    /// `insert_many` calls made (each of at most `batch_size` events).
    pub inserts: Counter,
    /// Write attempts made while the server was unreachable.
    pub retries: Counter,
    /// Times the server became unreachable (each outage is logged once).
    pub outages: Counter,
    /// Events given up: no room while the server was unreachable, still
    /// pending when `flush` timed out, or refused by the server.
    pub dropped: Counter,
    pending: AtomicU64,
}

impl MongoCounters {
    /// Events accepted by `write` and not yet written (a gauge).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    backoff: Duration,
    next_attempt: Instant,
    drop_warned: bool,
}

/// Writes events to MongoDB; built from a [`MongoSinkConfig`].
///
/// `write` stores each event's received bytes as they are (raw BSON, never
/// decoded); the event's `_id` is the document's `_id`, so retries cannot
/// duplicate a document. While the server is unreachable, events wait (at most
/// `max_pending`, then `when_full` applies) and are retried with exponential
/// backoff; every event given up is counted in `dropped` and reported in the
/// `SinkError` of the call that gave it up. See the module docs for an example.
#[derive(Debug)]
pub struct MongoSink {
    name: String,
    config: MongoSinkConfig,
    template: CollectionTemplate,
    conn: Connection,
    indexed: HashSet<String>,
    pending: Pending,
    counters: Arc<MongoCounters>,
    outage: Option<Outage>,
    name_buf: String,
    last_reject_log: Option<Instant>,
}

impl MongoSink {
    /// Validates `config`, starts the private runtime and the client, and
    /// creates the indexes of a fixed-name collection (templated collections
    /// get theirs when first written to). An unreachable server is not an
    /// error here (see [`healthcheck`](EventSink::healthcheck)); a server that
    /// refuses an index is.
    pub fn new(config: MongoSinkConfig) -> Result<Self, MongoError> {
        config.validate()?;
        let template = config.template()?;
        let conn = Connection::open(&config)?;
        let mut sink = MongoSink {
            name: "mongo".into(),
            template,
            conn,
            indexed: HashSet::new(),
            pending: Pending::default(),
            counters: Arc::default(),
            outage: None,
            name_buf: String::new(),
            last_reject_log: None,
            config,
        };
        if let Some(name) = sink.template.fixed().map(str::to_owned) {
            match indexes::ensure(&sink.conn, &sink.config, &name) {
                Ok(()) => {
                    sink.indexed.insert(name);
                }
                Err(IndexFailure::Permanent(e)) => return Err(e),
                Err(IndexFailure::Transient(e)) => warn!(
                    sink = %sink.name,
                    uri = %redact_uri(&sink.config.uri),
                    error = %e,
                    "MongoDB not reachable at start-up: indexes will be created on the first write"
                ),
            }
        }
        Ok(sink)
    }

    /// Renames the sink (logs and stats; default `mongo`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A query helper sharing this sink's connection and configuration.
    pub fn reader(&self) -> MongoReader {
        MongoReader::from_connection(self.conn.clone(), &self.config, self.template.clone())
    }

    /// The counters, readable from any thread while the sink runs.
    pub fn counters(&self) -> Arc<MongoCounters> {
        Arc::clone(&self.counters)
    }

    /// The configuration the sink was built from.
    pub fn config(&self) -> &MongoSinkConfig {
        &self.config
    }

    /// Events accepted and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Queues events (their bytes, copied as received) by collection.
    fn admit(&mut self, events: &[RawEvent]) -> usize {
        let mut rejected = 0;
        for event in events {
            self.template.render(
                event.view(),
                &self.config.default_tenant,
                &mut self.name_buf,
            );
            match RawDocumentBuf::from_bytes(event.as_bytes().to_vec()) {
                Ok(doc) => self.pending.push(&self.name_buf, doc),
                Err(_) => rejected += 1,
            }
        }
        rejected
    }

    /// Whether the backoff allows an attempt now.
    fn may_attempt(&self) -> bool {
        self.outage
            .as_ref()
            .is_none_or(|o| Instant::now() >= o.next_attempt)
    }

    /// Tries once to write everything pending; returns how many events the
    /// server refused for good.
    fn drain(&mut self) -> usize {
        let mut rejected = 0;
        if self.outage.is_some() {
            self.counters.retries.inc();
        }
        for name in self.pending.collections() {
            if !self.indexed.contains(&name) {
                match indexes::ensure(&self.conn, &self.config, &name) {
                    Ok(()) => {}
                    Err(IndexFailure::Transient(e)) => {
                        self.attempt_failed(&e);
                        return rejected;
                    }
                    Err(IndexFailure::Permanent(e)) => {
                        error!(sink = %self.name, error = %e, "writing without the index");
                    }
                }
                self.indexed.insert(name.clone());
            }
            let coll = self.conn.db.collection::<RawDocumentBuf>(&name);
            loop {
                let chunk = self.pending.take(&name, self.config.batch_size);
                if chunk.is_empty() {
                    break;
                }
                self.counters.inserts.inc();
                let outcome = self
                    .conn
                    .block_on(insert_chunk(&coll, chunk, self.config.ordered));
                self.counters.written.add(outcome.written as u64);
                self.counters
                    .duplicates_ignored
                    .add(outcome.duplicates as u64);
                if outcome.duplicates_first_seen > 0 {
                    debug!(sink = %self.name, count = outcome.duplicates_first_seen, "events received twice are stored once");
                }
                if let Some(reason) = outcome.rejected.first() {
                    rejected += outcome.rejected.len();
                    self.log_rejected(&name, outcome.rejected.len(), reason);
                }
                self.pending.put_back(&name, outcome.retry);
                if let Some(e) = outcome.failure {
                    self.attempt_failed(&e);
                    return rejected;
                }
            }
        }
        self.attempt_succeeded();
        rejected
    }

    fn attempt_failed(&mut self, error: &mongodb::error::Error) {
        let now = Instant::now();
        match &mut self.outage {
            None => {
                self.counters.outages.inc();
                warn!(
                    sink = %self.name,
                    uri = %redact_uri(&self.config.uri),
                    pending = self.pending.len(),
                    max_pending = self.config.max_pending,
                    error = %error,
                    "MongoDB unreachable: keeping events pending and retrying with backoff"
                );
                let backoff = self.config.retry.initial();
                self.outage = Some(Outage {
                    since: now,
                    backoff,
                    next_attempt: now + backoff,
                    drop_warned: false,
                });
            }
            Some(outage) => {
                outage.backoff = self.config.retry.next(outage.backoff);
                outage.next_attempt = now + outage.backoff;
                debug!(sink = %self.name, backoff = ?outage.backoff, error = %error, "MongoDB still unreachable");
            }
        }
    }

    fn attempt_succeeded(&mut self) {
        if let Some(outage) = self.outage.take() {
            info!(
                sink = %self.name,
                after = ?outage.since.elapsed(),
                "MongoDB reachable again: pending events written"
            );
        }
    }

    fn log_rejected(&mut self, collection: &str, count: usize, reason: &str) {
        let now = Instant::now();
        if self
            .last_reject_log
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(10))
        {
            self.last_reject_log = Some(now);
            warn!(sink = %self.name, collection, count, reason, "MongoDB refused events; they are dropped");
        }
    }

    /// Counts and reports what was given up in one call.
    fn finish(&mut self, rejected: usize, dropped: usize, what: &str) -> Result<(), SinkError> {
        self.counters
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        let failed = rejected + dropped;
        if failed == 0 {
            return Ok(());
        }
        self.counters.dropped.add(failed as u64);
        let message = if dropped > 0 {
            format!(
                "{dropped} event(s) dropped: {what} while MongoDB at {} is unreachable{}",
                redact_uri(&self.config.uri),
                if rejected > 0 {
                    format!("; {rejected} refused by the server")
                } else {
                    String::new()
                }
            )
        } else {
            format!("{rejected} event(s) refused by the server (see the warning in the log)")
        };
        Err(SinkError {
            failed,
            message,
            retryable: rejected == 0,
        })
    }
}

impl EventSink for MongoSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Queues the batch and writes what is pending, unless the server is in
    /// backoff after a failure. See [`MongoSink`] and `when_full`.
    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let deadline = self
            .config
            .block_timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let (mut rejected, mut dropped) = (0, 0);
        let mut rest = batch;
        loop {
            let room = self.config.max_pending.saturating_sub(self.pending.len());
            let (now_in, later) = rest.split_at(room.min(rest.len()));
            rejected += self.admit(now_in);
            rest = later;
            if self.may_attempt() {
                rejected += self.drain();
            }
            if rest.is_empty() {
                break;
            }
            if self.pending.len() < self.config.max_pending {
                continue;
            }
            let now = Instant::now();
            if self.config.when_full == WhenFull::Drop || deadline.is_some_and(|d| now >= d) {
                dropped = rest.len();
                break;
            }
            let mut wake = self.outage.as_ref().map_or(now, |o| o.next_attempt);
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
            std::thread::sleep(wake.saturating_duration_since(now));
        }
        if dropped > 0
            && let Some(outage) = &mut self.outage
            && !outage.drop_warned
        {
            outage.drop_warned = true;
            warn!(sink = %self.name, max_pending = self.config.max_pending, "pending events full during the MongoDB outage: dropping new events (counted in `dropped`)");
        }
        self.finish(rejected, dropped, "no room in max_pending")
    }

    /// Writes everything pending, retrying with backoff for at most
    /// `flush_timeout_ms`; what is still pending then is dropped and reported.
    fn flush(&mut self) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.config.flush_timeout();
        let mut rejected = 0;
        while !self.pending.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if let Some(outage) = &self.outage
                && outage.next_attempt > now
            {
                std::thread::sleep(outage.next_attempt.min(deadline) - now);
                continue;
            }
            rejected += self.drain();
        }
        let abandoned = self.pending.clear();
        if abandoned > 0 {
            error!(
                sink = %self.name,
                count = abandoned,
                timeout_ms = self.config.flush_timeout_ms,
                "flush timed out with MongoDB unreachable: dropping pending events (counted in `dropped`)"
            );
        }
        self.finish(rejected, abandoned, "still pending when flush timed out")
    }

    /// Pings the server (within `server_selection_timeout_ms`).
    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        let command = bson::doc! { "ping": 1 };
        self.conn
            .block_on(self.conn.db.run_command(command))
            .map(drop)
            .map_err(|e| eventstorm_core::Error::Unhealthy {
                component: format!(
                    "MongoDB sink (server {} does not answer a ping)",
                    redact_uri(&self.config.uri)
                ),
                source: Box::new(e),
            })
    }

    /// `written, duplicates_ignored, retries, outages, dropped, pending, inserts`.
    fn stats(&self) -> Stats {
        let c = &self.counters;
        let mut stats = Stats::new(&self.name);
        stats
            .push("written", c.written.get())
            .push("duplicates_ignored", c.duplicates_ignored.get())
            .push("retries", c.retries.get())
            .push("outages", c.outages.get())
            .push("dropped", c.dropped.get())
            .push("pending", self.pending.len() as u64)
            .push("inserts", c.inserts.get());
        stats
    }
}

impl Drop for MongoSink {
    fn drop(&mut self) {
        let lost = self.pending.clear();
        if lost > 0 {
            self.counters.dropped.add(lost as u64);
            self.counters.pending.store(0, Ordering::Relaxed);
            warn!(sink = %self.name, count = lost, "MongoSink dropped without a flush: pending events lost (counted in `dropped`)");
        }
    }
}
