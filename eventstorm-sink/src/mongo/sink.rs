//! [`MongoSink`]: the runtime object, what it accepts, and the
//! [`EventSink`] calls. The attempts and the outage handling are in
//! `drain.rs`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::RawDocumentBuf;
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};
use tracing::warn;

use super::MongoError;
use super::client::{Connection, redact_uri};
use super::config::{MongoSinkConfig, WhenFull};
use super::counters::MongoCounters;
use super::drain::{Outage, Report};
use super::indexes::{self, IndexFailure};
use super::names::check_collection;
use super::pending::Pending;
use super::query::MongoReader;
use super::template::CollectionTemplate;
use crate::dead_letter::{DeadLetterHandler, DeadLetters, GiveUp};

/// Writes events to MongoDB; built from a [`MongoSinkConfig`].
///
/// `write` stores each event's received bytes as they are (raw BSON, never
/// decoded); the event's `_id` is the document's `_id`, so retries cannot
/// duplicate a document. While the server is unreachable, events wait (within
/// `max_pending`, `max_pending_bytes` and `max_pending_age_ms`; `when_full`
/// applies beyond) and are retried with exponential backoff. An event the
/// server refuses for good (or whose collection name cannot be used) is
/// counted as `refused` and stops nothing else. Every event given up
/// (refused, expired, dropped at the pending limits or at close) is handed
/// to the [`DeadLetterHandler`], if one is set. Every event given up is counted and reported in the
/// `SinkError` of the call that gave it up. See the module docs for an
/// example.
#[derive(Debug)]
pub struct MongoSink {
    pub(super) name: String,
    pub(super) config: MongoSinkConfig,
    pub(super) template: CollectionTemplate,
    pub(super) conn: Connection,
    pub(super) indexed: HashSet<String>,
    pub(super) pending: Pending,
    pub(super) counters: Arc<MongoCounters>,
    pub(super) outage: Option<Outage>,
    pub(super) name_buf: String,
    pub(super) dead_letters: DeadLetters,
    pub(super) refuse_log: super::drain::RefuseLog,
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
        if let Some(name) = template.fixed() {
            check_collection(&config.database, name).map_err(|message| MongoError::Config {
                key: "collection".into(),
                message,
            })?;
        }
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
            dead_letters: DeadLetters::default(),
            refuse_log: super::drain::RefuseLog::default(),
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

    /// Hands every event the sink gives up (refused, expired, dropped at
    /// the pending limits or at close), with its collection, the cause and
    /// the reason, to `handler` (a [`DeadLetterFile`](crate::DeadLetterFile),
    /// say) once it is counted. Without a handler, such events are only
    /// counted and logged.
    pub fn with_dead_letters(mut self, handler: Box<dyn DeadLetterHandler>) -> Self {
        self.dead_letters.set(handler);
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

    /// Whether an event of `len` bytes fits in the pending limits now.
    fn has_room(&self, len: usize) -> bool {
        self.pending.len() < self.config.max_pending
            && self.pending.bytes() + len <= self.config.max_pending_bytes
    }

    /// Queues events (their bytes, copied as received) by collection, while
    /// they fit; refuses those that can never be written. Returns how many
    /// events of `events` were taken (queued or refused).
    fn admit(&mut self, events: &[RawEvent], report: &mut Report) -> usize {
        for (taken, event) in events.iter().enumerate() {
            let len = event.as_bytes().len();
            if len > self.config.max_pending_bytes {
                let reason = format!(
                    "the event is {len} bytes, more than max_pending_bytes ({})",
                    self.config.max_pending_bytes
                );
                self.refuse_event(event, None, &reason, report);
                continue;
            }
            if !self.has_room(len) {
                return taken;
            }
            self.template.render(
                event.view(),
                &self.config.default_tenant,
                &mut self.name_buf,
            );
            if let Err(reason) = check_collection(&self.config.database, &self.name_buf) {
                let collection = std::mem::take(&mut self.name_buf);
                self.refuse_event(event, Some(&collection), &reason, report);
                self.name_buf = collection;
                continue;
            }
            match RawDocumentBuf::from_bytes(event.as_bytes().to_vec()) {
                Ok(doc) => self.pending.push(&self.name_buf, doc),
                Err(e) => {
                    let reason = format!("not a BSON document: {e}");
                    self.refuse_event(event, None, &reason, report);
                }
            }
        }
        events.len()
    }
}

impl EventSink for MongoSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Events kept pending (during an outage, or until the next write).
    fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Queues the batch and writes what is pending, unless the server is in
    /// backoff after a failure. See [`MongoSink`] and `when_full`.
    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let deadline = self
            .config
            .block_timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut report = Report::default();
        let mut rest = batch;
        loop {
            self.expire(&mut report);
            let taken = self.admit(rest, &mut report);
            rest = &rest[taken..];
            if self.may_attempt() {
                self.drain(&mut report);
            }
            let Some(next) = rest.first() else { break };
            if self.has_room(next.as_bytes().len()) {
                continue;
            }
            let now = Instant::now();
            if self.config.when_full == WhenFull::Drop || deadline.is_some_and(|d| now >= d) {
                report.dropped_full = rest.len();
                self.counters.dropped_full.add(rest.len() as u64);
                for event in rest {
                    let (max, max_bytes) = (self.config.max_pending, self.config.max_pending_bytes);
                    self.dead_letters.give_up(
                        || Some(event.clone()),
                        GiveUp::DroppedFull,
                        || self.config.database.clone(),
                        || format!("max_pending ({max}) or max_pending_bytes ({max_bytes}) reached while MongoDB is unreachable"),
                    );
                }
                break;
            }
            let mut wake = self.outage.as_ref().map_or(now, |o| o.next_attempt);
            if let Some(deadline) = deadline {
                wake = wake.min(deadline);
            }
            std::thread::sleep(wake.saturating_duration_since(now));
        }
        if report.dropped_full > 0
            && let Some(outage) = &mut self.outage
            && !outage.drop_warned
        {
            outage.drop_warned = true;
            warn!(
                sink = %self.name,
                max_pending = self.config.max_pending,
                max_pending_bytes = self.config.max_pending_bytes,
                "pending events full during the MongoDB outage: dropping new events (counted in `dropped_full`)"
            );
        }
        self.finish(&report)
    }

    /// Writes everything pending, waiting out backoffs for at most
    /// `flush_timeout_ms`. What is still pending then stays pending (within
    /// the limits) and the error says how many events wait.
    fn flush(&mut self) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.config.flush_timeout();
        let mut report = Report::default();
        loop {
            self.expire(&mut report);
            if self.pending.is_empty() {
                break;
            }
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
            self.drain(&mut report);
        }
        report.still_pending = self.pending.len();
        self.finish(&report)
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

    /// `written, refused, dropped, dropped_full, expired, dropped_at_close,
    /// duplicates_ignored, retries, outages, pending, pending_bytes, inserts`.
    fn stats(&self) -> Stats {
        self.counters.stats(&self.name)
    }
}

impl Drop for MongoSink {
    fn drop(&mut self) {
        let given_up = self.pending.clear();
        let lost = given_up.len();
        for (collection, doc) in given_up {
            self.give_up_doc(
                &collection,
                doc,
                GiveUp::DroppedAtClose,
                "the sink was closed with the event pending",
            );
        }
        if lost > 0 {
            self.counters.dropped_at_close.add(lost as u64);
            self.counters.set_pending(0, 0);
            warn!(sink = %self.name, count = lost, "MongoSink dropped with events pending: they are lost (counted in `dropped_at_close`)");
        }
    }
}
