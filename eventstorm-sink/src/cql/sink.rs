//! [`CqlSink`]: the [`EventSink`] that writes events into a Cassandra or
//! ScyllaDB table.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CqlError;
use super::config::CqlSinkConfig;
use super::connection::Connection;
use super::counters::CqlCounters;
use super::query::CqlReader;
use super::writer::{Job, TaskState, Writer};
use crate::WhenFull;
use crate::dead_letter::{DeadLetter, DeadLetterHandler, DeadLetters, GiveUp};

/// Writes events into a Cassandra/ScyllaDB table, one row per event (see the
/// [module docs](super) for the table).
///
/// [`write`](EventSink::write) turns each event into a row and hands it to an
/// insert task on the sink's private runtime, then returns: at most
/// `max_concurrent_requests` inserts are in flight, at most `max_pending`
/// events (and `max_pending_bytes`) wait (`when_full` says what happens
/// beyond). While the cluster is unreachable an insert is retried with
/// backoff for up to `max_pending_age_ms`; an insert the cluster refuses for
/// good is counted as `refused` (and, like every event given up, handed to
/// the [`DeadLetterHandler`], if one is set) and
/// stops nothing else. [`flush`](EventSink::flush) waits up to
/// `flush_timeout_ms` for the pending inserts; dropping the sink flushes it.
///
/// So, once flushed: `accepted = written + refused + failed + expired`, and
/// every event given to `write` is `accepted` or `dropped_full`.
#[derive(Debug)]
pub struct CqlSink {
    connection: Connection,
    writer: Writer,
    counters: Arc<CqlCounters>,
    state: Arc<TaskState>,
    /// One permit per event allowed pending.
    pending: Arc<Semaphore>,
    /// One permit per byte allowed pending.
    pending_bytes: Arc<Semaphore>,
    config: CqlSinkConfig,
    dead_letters: DeadLetters,
    name: String,
}

impl CqlSink {
    /// Connects, creates the keyspace and the table when missing, and
    /// prepares the statements.
    pub fn new(config: CqlSinkConfig) -> Result<CqlSink, CqlError> {
        let connection = Connection::open(&config)?;
        let counters = Arc::new(CqlCounters::default());
        let state = Arc::new(TaskState::default());
        let writer = Writer {
            shared: Arc::clone(&connection.shared),
            counters: Arc::clone(&counters),
            state: Arc::clone(&state),
            slots: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            retry: config.retry.clone(),
            max_age: config.max_pending_age(),
        };
        Ok(CqlSink {
            name: format!("cql:{}.{}", config.keyspace, config.table),
            connection,
            writer,
            counters,
            state,
            // validate() bounds both well below Semaphore::MAX_PERMITS.
            pending: Arc::new(Semaphore::new(config.max_pending)),
            pending_bytes: Arc::new(Semaphore::new(config.max_pending_bytes)),
            dead_letters: DeadLetters::default(),
            config,
        })
    }

    /// A sink with the default configuration for `uri` (comma-separated
    /// `host:port` contact points, see [`CqlSinkConfig::from_uri`]) and
    /// `keyspace`: what a benchmark or a quick test needs.
    pub fn from_uri(uri: &str, keyspace: &str) -> Result<CqlSink, CqlError> {
        CqlSink::new(CqlSinkConfig::from_uri(uri, keyspace))
    }

    /// Renames the sink (logs and stats; default `cql:KEYSPACE.TABLE`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Hands every event the sink gives up (refused, failed, expired,
    /// dropped at the pending limits or at close), with its table, the cause
    /// and the reason, to `handler` (a
    /// [`DeadLetterFile`](crate::DeadLetterFile), say), on the thread that
    /// calls `write` or `flush`, once it is counted. Without a handler, such
    /// events are only counted.
    pub fn with_dead_letters(mut self, handler: Box<dyn DeadLetterHandler>) -> Self {
        self.dead_letters.set(handler);
        self
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

    /// The counters, readable from any thread while the sink runs.
    pub fn counters(&self) -> Arc<CqlCounters> {
        Arc::clone(&self.counters)
    }

    /// Places for one event of `bytes` bytes in the pending set, waiting for
    /// them in block mode; `None` in drop mode when there is no room.
    fn reserve(&self, bytes: u32) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let count = Arc::clone(&self.pending);
        let size = Arc::clone(&self.pending_bytes);
        if self.config.when_full == WhenFull::Drop {
            let one = count.try_acquire_owned().ok()?;
            let bytes = size.try_acquire_many_owned(bytes).ok()?;
            return Some((one, bytes));
        }
        self.connection.block_on(async move {
            let one = count.acquire_owned().await.ok()?;
            let bytes = size.acquire_many_owned(bytes).await.ok()?;
            Some((one, bytes))
        })
    }

    /// Hands the events the tasks gave up to the dead-letter handler.
    fn hand_over_given_up(&mut self) {
        let given_up: Vec<DeadLetter> = std::mem::take(
            &mut *self
                .state
                .given_up
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for letter in given_up {
            self.dead_letters.hand_over(letter);
        }
    }

    /// Losses not yet reported, as the `SinkError` of this call.
    fn report(&mut self, dropped_full: usize, still_pending: u64) -> Result<(), SinkError> {
        self.hand_over_given_up();
        let lost = self.counters.unreported.swap(0, Ordering::Relaxed) as usize;
        let failed = dropped_full + lost;
        if failed == 0 && still_pending == 0 {
            return Ok(());
        }
        let mut parts = Vec::new();
        if dropped_full > 0 {
            parts.push(format!(
                "{dropped_full} event(s) dropped: max_pending ({}) or max_pending_bytes ({}) \
                 reached while the cluster is slow or unreachable",
                self.config.max_pending, self.config.max_pending_bytes
            ));
        }
        if lost > 0 {
            parts.push(format!(
                "{lost} event(s) refused, failed or expired (see the `refused`, `failed` and \
                 `expired` counters); last error: {}",
                self.state.last_error()
            ));
        }
        if still_pending > 0 {
            parts.push(format!(
                "{still_pending} event(s) still pending after flush_timeout_ms ({} ms): is the \
                 cluster at the contact points up? They are kept and retried",
                self.config.flush_timeout_ms
            ));
        }
        Err(SinkError::retryable(failed, parts.join("; ")))
    }

    /// Waits at most `limit` until nothing is pending; returns how many
    /// events still are.
    fn wait_idle(&self, limit: Duration) -> u64 {
        let all = Arc::clone(&self.pending);
        let max = u32::try_from(self.config.max_pending).unwrap_or(u32::MAX);
        self.connection.block_on(async move {
            // Taking every permit means no event is pending; give them back.
            let _ = tokio::time::timeout(limit, all.acquire_many_owned(max)).await;
        });
        self.counters.pending()
    }
}

impl EventSink for CqlSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Inserts in flight or waiting out a backoff.
    fn pending(&self) -> usize {
        usize::try_from(
            self.counters
                .pending
                .load(std::sync::atomic::Ordering::Acquire),
        )
        .unwrap_or(usize::MAX)
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let mut dropped = 0usize;
        for event in batch {
            let len = event.as_bytes().len();
            let accepted_at = Instant::now();
            if len > self.config.max_pending_bytes {
                self.counters.accepted.inc();
                self.counters.refused.inc();
                self.counters.unreported.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "the event is {len} bytes, more than max_pending_bytes ({})",
                    self.config.max_pending_bytes
                );
                let table = self.connection.shared.schema.qualified_table();
                self.dead_letters.give_up(
                    || Some(event.clone()),
                    GiveUp::Refused,
                    || table,
                    || reason,
                );
                continue;
            }
            // max_pending_bytes <= u32::MAX (validated), so len fits.
            let Some(permits) = self.reserve(len as u32) else {
                self.counters.dropped_full.inc();
                dropped += 1;
                let (max, max_bytes) = (self.config.max_pending, self.config.max_pending_bytes);
                let table = self.connection.shared.schema.qualified_table();
                self.dead_letters.give_up(
                    || Some(event.clone()),
                    GiveUp::DroppedFull,
                    || table,
                    || format!("max_pending ({max}) or max_pending_bytes ({max_bytes}) reached while the cluster is slow or unreachable"),
                );
                continue;
            };
            self.counters.accepted.inc();
            let (row, mismatches) = self.connection.shared.schema.row(event);
            self.counters.column_mismatches.add(mismatches);
            self.counters.pending.fetch_add(1, Ordering::Relaxed);
            self.counters
                .pending_bytes
                .fetch_add(len as u64, Ordering::Relaxed);
            let job = Job {
                row,
                event: self.dead_letters.wanted().then(|| event.clone()),
                bytes: len as u64,
                accepted_at,
                permits,
            };
            self.connection
                .runtime
                .spawn(self.writer.clone().insert(job));
        }
        self.report(dropped, 0)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let still = self.wait_idle(self.config.flush_timeout());
        self.report(0, still)
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
        self.counters.stats(&self.name)
    }
}

impl Drop for CqlSink {
    /// Flushes (at most `flush_timeout_ms`), then stops the retries of what
    /// is still pending (counted as `dropped_at_close`) and logs losses
    /// nobody was told about.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            tracing::warn!(sink = %self.name, "CqlSink dropped inside an async context: not waiting for pending inserts");
            return;
        }
        let mut still = self.wait_idle(self.config.flush_timeout());
        if still > 0 {
            self.state.closing.store(true, Ordering::Relaxed);
            self.state.closed.notify_waiters();
            // Requests in flight end within their timeout.
            still = self.wait_idle(self.config.request_timeout() + Duration::from_secs(1));
        }
        self.hand_over_given_up();
        let lost = self.counters.unreported.swap(0, Ordering::Relaxed);
        if lost > 0 || still > 0 {
            tracing::warn!(
                sink = %self.name,
                lost,
                still_pending = still,
                dropped_at_close = self.counters.dropped_at_close.get(),
                "CqlSink closed with events refused, failed or expired, or still pending: {}",
                self.state.last_error()
            );
        }
    }
}
