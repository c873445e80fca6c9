//! [`CqlSink`]: the [`EventSink`] that writes events into a Cassandra or
//! ScyllaDB table.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};
use tokio::sync::Semaphore;

use super::CqlError;
use super::config::CqlSinkConfig;
use super::connection::Connection;
use super::query::CqlReader;
use super::writer::{Counters, Writer};
use crate::WhenFull;

/// Writes events into a Cassandra/ScyllaDB table, one row per event (see the
/// [module docs](super) for the table).
///
/// [`write`](EventSink::write) turns each event into a row and hands it to an
/// insert task on the sink's private runtime, then returns: at most
/// `max_concurrent_requests` inserts are in flight, at most `max_pending`
/// events wait (`when_full` says what happens beyond). Each insert is retried
/// with backoff; one that still fails is counted as `failed` and reported by
/// the next [`flush`](EventSink::flush), which waits until nothing is pending.
/// Dropping the sink flushes it.
///
/// So, once flushed: `accepted = written + failed`, and every event given to
/// `write` is `accepted` or `dropped_full`.
#[derive(Debug)]
pub struct CqlSink {
    connection: Connection,
    writer: Writer,
    counters: Arc<Counters>,
    /// One permit per event allowed pending.
    pending: Arc<Semaphore>,
    max_pending: u32,
    when_full: WhenFull,
    name: String,
}

/// A snapshot of a [`CqlSink`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CqlCounts {
    /// Events accepted by `write` (handed to an insert task).
    pub accepted: u64,
    /// Events inserted (acknowledged by the cluster).
    pub written: u64,
    /// Events whose insert failed after all attempts.
    pub failed: u64,
    /// Events dropped by `write` because `max_pending` were pending
    /// (`when_full = "drop"`).
    pub dropped_full: u64,
    /// Insert attempts that were retried.
    pub retries: u64,
    /// Configured columns left null because the field held another type.
    pub column_mismatches: u64,
    /// Events accepted and not yet written or failed.
    pub pending: u64,
    /// Insert requests in flight now.
    pub in_flight: u64,
    /// The most insert requests ever in flight at once (never more than
    /// `max_concurrent_requests`).
    pub max_in_flight: u64,
}

impl CqlSink {
    /// Connects, creates the keyspace and the table when missing, and
    /// prepares the statements.
    pub fn new(config: CqlSinkConfig) -> Result<CqlSink, CqlError> {
        let connection = Connection::open(&config)?;
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            shared: Arc::clone(&connection.shared),
            counters: Arc::clone(&counters),
            slots: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            retry: config.retry.clone(),
        };
        // validate() bounds max_pending well below u32::MAX.
        let max_pending = u32::try_from(config.max_pending).unwrap_or(u32::MAX >> 3);
        Ok(CqlSink {
            name: format!("cql:{}.{}", config.keyspace, config.table),
            connection,
            writer,
            counters,
            pending: Arc::new(Semaphore::new(max_pending as usize)),
            max_pending,
            when_full: config.when_full,
        })
    }

    /// A sink with the default configuration for `uri` (comma-separated
    /// `host:port` contact points, see [`CqlSinkConfig::from_uri`]) and
    /// `keyspace`: what a benchmark or a quick test needs.
    pub fn from_uri(uri: &str, keyspace: &str) -> Result<CqlSink, CqlError> {
        CqlSink::new(CqlSinkConfig::from_uri(uri, keyspace))
    }

    /// A reader of the sink's table, sharing its connection.
    pub fn reader(&self) -> CqlReader {
        CqlReader::new(self.connection.clone())
    }

    /// The CQL of the sink's prepared insert (values: type, bucket, ts, id,
    /// severity, logger, hostname, pid, tenant, doc, then the configured
    /// columns), for comparisons with a plain driver loop.
    pub fn insert_cql(&self) -> String {
        self.connection.shared.schema.insert_cql()
    }

    /// The counters now.
    pub fn counts(&self) -> CqlCounts {
        let c = &self.counters;
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        CqlCounts {
            accepted: load(&c.accepted),
            written: load(&c.written),
            failed: load(&c.failed),
            dropped_full: load(&c.dropped_full),
            retries: load(&c.retries),
            column_mismatches: load(&c.column_mismatches),
            pending: u64::from(self.max_pending)
                .saturating_sub(self.pending.available_permits() as u64),
            in_flight: load(&c.in_flight),
            max_in_flight: load(&c.max_in_flight),
        }
    }

    /// Waits until nothing is pending; returns how many failures were not
    /// reported yet.
    fn wait_idle(&self) -> u64 {
        self.connection.block_on(async {
            // Taking every permit means no event is pending; give them back.
            if let Ok(all) = self.pending.acquire_many(self.max_pending).await {
                drop(all);
            }
        });
        self.counters.unreported_failed.swap(0, Ordering::Relaxed)
    }

    fn last_error(&self) -> String {
        self.counters
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }
}

impl EventSink for CqlSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let mut dropped = 0usize;
        for event in batch {
            let permit = match Arc::clone(&self.pending).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) if self.when_full == WhenFull::Drop => {
                    dropped += 1;
                    continue;
                }
                Err(_) => {
                    let waiting = Arc::clone(&self.pending).acquire_owned();
                    match self.connection.block_on(waiting) {
                        Ok(permit) => permit,
                        Err(_) => unreachable!("the pending semaphore is never closed"),
                    }
                }
            };
            let (row, mismatches) = self.connection.shared.schema.row(event);
            if mismatches > 0 {
                self.counters
                    .column_mismatches
                    .fetch_add(mismatches, Ordering::Relaxed);
            }
            self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            self.connection
                .runtime
                .spawn(self.writer.clone().insert(row, permit));
        }
        if dropped == 0 {
            return Ok(());
        }
        self.counters
            .dropped_full
            .fetch_add(dropped as u64, Ordering::Relaxed);
        Err(SinkError::retryable(
            dropped,
            format!(
                "{dropped} event(s) dropped: {} events already pending (max_pending) while the \
                 cluster is slow or unreachable; last insert error: {}",
                self.max_pending,
                self.last_error()
            ),
        ))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.wait_idle() {
            0 => Ok(()),
            failed => Err(SinkError::retryable(
                usize::try_from(failed).unwrap_or(usize::MAX),
                format!(
                    "{failed} insert(s) failed after all retries (is the cluster at the \
                     contact points up?); last error: {}",
                    self.last_error()
                ),
            )),
        }
    }

    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        self.reader()
            .release_version()
            .map(drop)
            .map_err(|e| eventstorm_core::Error::Unhealthy {
                component: format!("CQL sink `{}`", self.name),
                source: Box::new(e),
            })
    }

    fn stats(&self) -> Stats {
        let c = self.counts();
        let mut stats = Stats::new(&self.name);
        stats
            .push("accepted", c.accepted)
            .push("written", c.written)
            .push("failed", c.failed)
            .push("dropped_full", c.dropped_full)
            .push("retries", c.retries)
            .push("column_mismatches", c.column_mismatches)
            .push("pending", c.pending)
            .push("in_flight", c.in_flight)
            .push("max_in_flight", c.max_in_flight);
        stats
    }
}

impl Drop for CqlSink {
    /// Flushes: waits for pending inserts (bounded by the retry settings) and
    /// logs failures nobody was told about.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            tracing::warn!(sink = %self.name, "CqlSink dropped inside an async context: not waiting for pending inserts");
            return;
        }
        let failed = self.wait_idle();
        if failed > 0 {
            tracing::warn!(sink = %self.name, failed, "inserts failed before the sink was closed: {}", self.last_error());
        }
    }
}
