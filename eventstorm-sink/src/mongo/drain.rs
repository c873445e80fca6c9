//! The attempts of a [`MongoSink`]: writing what is pending, the outage
//! state and its backoff, refusals, expiry, and what one call reports.

use std::time::{Duration, Instant};

use bson::RawDocumentBuf;
use eventstorm_core::{RawEvent, SinkError};
use tracing::{debug, error, info, warn};

use super::client::redact_uri;
use super::indexes::{self, IndexFailure};
use super::names::truncated;
use super::pending::PendingDoc;
use super::sink::MongoSink;
use super::writer::insert_chunk;
use crate::dead_letter::GiveUp;

/// Refusals are logged at most this often (with the count since the last
/// line).
const REFUSE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Collections whose indexes are known to exist are remembered up to this
/// many; past it the memory is cleared (creating an existing index again is
/// a no-op), so that a flood of tenants cannot grow it without bound.
const MAX_INDEXED: usize = 10_000;

/// The server is unreachable: since when, and when to try again.
#[derive(Debug)]
pub(crate) struct Outage {
    pub(crate) since: Instant,
    pub(crate) backoff: Duration,
    pub(crate) next_attempt: Instant,
    pub(crate) drop_warned: bool,
}

/// What one `write` or `flush` gave up, for its `SinkError`.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) refused: usize,
    pub(crate) dropped_full: usize,
    pub(crate) expired: usize,
    /// Events still pending when a flush gave up waiting (not lost).
    pub(crate) still_pending: usize,
    /// The first refusal's reason.
    pub(crate) reason: Option<String>,
}

/// The rate limit of the refusal warnings.
#[derive(Debug, Default)]
pub(crate) struct RefuseLog {
    last: Option<Instant>,
    since_last: u64,
}

impl MongoSink {
    /// Whether the backoff allows an attempt now.
    pub(super) fn may_attempt(&self) -> bool {
        self.outage
            .as_ref()
            .is_none_or(|o| Instant::now() >= o.next_attempt)
    }

    /// Tries once to write everything pending, collection by collection.
    /// Refused events are counted and handed over; a transport failure
    /// starts (or continues) an outage and stops the attempt.
    pub(super) fn drain(&mut self, report: &mut Report) {
        if self.outage.is_some() {
            self.counters.retries.inc();
        }
        for name in self.pending.collections() {
            if !self.indexed.contains(&name) {
                match indexes::ensure(&self.conn, &self.config, &name) {
                    Ok(()) => {}
                    Err(IndexFailure::Transient(e)) => {
                        self.attempt_failed(&e);
                        return;
                    }
                    Err(IndexFailure::Permanent(e)) => {
                        error!(sink = %self.name, error = %e, "writing without the index");
                    }
                }
                if self.indexed.len() >= MAX_INDEXED {
                    self.indexed.clear();
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
                for (doc, reason) in outcome.rejected {
                    self.refuse_doc(&name, doc, &reason, report);
                }
                self.pending.put_back(&name, outcome.retry);
                if let Some(e) = outcome.failure {
                    self.attempt_failed(&e);
                    return;
                }
            }
        }
        self.attempt_succeeded();
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

    /// Gives up the events pending longer than `max_pending_age_ms`.
    pub(super) fn expire(&mut self, report: &mut Report) {
        let expired = self.pending.expire(self.config.max_pending_age());
        if expired.is_empty() {
            return;
        }
        report.expired += expired.len();
        self.counters.expired.add(expired.len() as u64);
        warn!(
            sink = %self.name,
            count = expired.len(),
            max_pending_age_ms = self.config.max_pending_age_ms,
            "events pending for longer than max_pending_age_ms are given up (counted in `expired`)"
        );
        let reason = format!(
            "pending for longer than max_pending_age_ms ({} ms) while MongoDB was unreachable",
            self.config.max_pending_age_ms
        );
        for (collection, doc) in expired {
            self.give_up_doc(&collection, doc, GiveUp::Expired, &reason);
        }
    }

    /// Refuses an event that was never queued.
    pub(super) fn refuse_event(
        &mut self,
        event: &RawEvent,
        collection: Option<&str>,
        reason: &str,
        report: &mut Report,
    ) {
        self.count_refused(collection.unwrap_or("?"), reason, report);
        let destination = self.destination(collection);
        self.dead_letters.give_up(
            || Some(event.clone()),
            GiveUp::Refused,
            || destination,
            || reason.to_owned(),
        );
    }

    /// Refuses a queued event (the server said no).
    fn refuse_doc(&mut self, collection: &str, doc: PendingDoc, reason: &str, report: &mut Report) {
        self.count_refused(collection, reason, report);
        self.give_up_doc(collection, doc, GiveUp::Refused, reason);
    }

    /// Hands a queued event that is given up to the dead-letter handler.
    pub(super) fn give_up_doc(
        &mut self,
        collection: &str,
        doc: PendingDoc,
        cause: GiveUp,
        reason: &str,
    ) {
        if !self.dead_letters.wanted() {
            return;
        }
        // Queued events were valid events when accepted.
        match RawEvent::from_bytes(doc.doc.into_bytes()) {
            Ok(event) => {
                let destination = self.destination(Some(collection));
                self.dead_letters.give_up(
                    || Some(event),
                    cause,
                    || destination,
                    || reason.to_owned(),
                );
            }
            Err(e) => {
                error!(sink = %self.name, error = %e, "an event given up could not be handed to the dead-letter handler")
            }
        }
    }

    fn destination(&self, collection: Option<&str>) -> String {
        match collection {
            Some(c) => format!("{}.{c}", self.config.database),
            None => self.config.database.clone(),
        }
    }

    fn count_refused(&mut self, collection: &str, reason: &str, report: &mut Report) {
        self.counters.refused.inc();
        report.refused += 1;
        report.reason.get_or_insert_with(|| reason.to_owned());
        let log = &mut self.refuse_log;
        log.since_last += 1;
        let now = Instant::now();
        if log
            .last
            .is_none_or(|last| now.duration_since(last) >= REFUSE_LOG_INTERVAL)
        {
            warn!(
                sink = %self.name,
                collection = %truncated(collection, 80),
                count = log.since_last,
                reason,
                "MongoDB sink refused events for good (counted in `refused`); the others are still written"
            );
            log.last = Some(now);
            log.since_last = 0;
        }
    }

    /// Updates the gauges and reports what one call gave up.
    pub(super) fn finish(&mut self, report: &Report) -> Result<(), SinkError> {
        self.counters
            .set_pending(self.pending.len(), self.pending.bytes());
        let failed = report.refused + report.dropped_full + report.expired;
        if failed == 0 && report.still_pending == 0 {
            return Ok(());
        }
        let uri = redact_uri(&self.config.uri);
        let mut parts = Vec::new();
        if report.refused > 0 {
            parts.push(format!(
                "{} event(s) refused for good (first reason: {})",
                report.refused,
                report.reason.as_deref().unwrap_or("?")
            ));
        }
        if report.dropped_full > 0 {
            parts.push(format!(
                "{} event(s) dropped: max_pending ({}) or max_pending_bytes ({}) reached while MongoDB at {uri} is unreachable",
                report.dropped_full, self.config.max_pending, self.config.max_pending_bytes
            ));
        }
        if report.expired > 0 {
            parts.push(format!(
                "{} event(s) given up after max_pending_age_ms ({} ms) pending",
                report.expired, self.config.max_pending_age_ms
            ));
        }
        if report.still_pending > 0 {
            parts.push(format!(
                "{} event(s) still pending after flush_timeout_ms ({} ms): MongoDB at {uri} is unreachable; they are kept and retried",
                report.still_pending, self.config.flush_timeout_ms
            ));
        }
        Err(SinkError {
            failed,
            message: parts.join("; "),
            retryable: report.refused == 0,
        })
    }
}
