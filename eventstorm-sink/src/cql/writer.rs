//! One insert: a request slot, the request, retries with backoff, and the
//! counters that record what happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstorm_core::RawEvent;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::config::RetryConfig;
use super::connection::Shared;
use super::counters::CqlCounters;
use super::schema::Row;
use crate::dead_letter::{DeadLetter, GiveUp};

/// Retry warnings are logged at most this often.
const WARN_INTERVAL: Duration = Duration::from_secs(5);

/// State the insert tasks share with the sink, besides the counters.
#[derive(Debug, Default)]
pub(crate) struct TaskState {
    /// The last error that cost an event, for the sink's error messages.
    pub(crate) last_error: Mutex<Option<String>>,
    last_warning: Mutex<Option<Instant>>,
    /// Events given up (refused, failed, expired, dropped at close), waiting
    /// to be handed to the dead-letter handler on the caller's thread
    /// (kept only when a handler is set; at most `max_pending`).
    pub(crate) given_up: Mutex<Vec<DeadLetter>>,
    /// Set when the sink is dropped: retrying tasks give up.
    pub(crate) closing: AtomicBool,
    pub(crate) closed: Notify,
}

impl TaskState {
    fn set_error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    pub(crate) fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// Logs a retry warning, at most once per [`WARN_INTERVAL`].
    fn warn_retry(&self, counters: &CqlCounters, attempt: u32, error: &ExecutionError) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(
                attempt,
                retries = counters.retries.get(),
                pending = counters.pending(),
                "CQL insert failed, retrying (the event stays pending): {error}"
            );
        }
    }
}

/// One accepted event on its way to the cluster.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) row: Row,
    /// The event itself, kept for the refused-event handler (when one is set).
    pub(crate) event: Option<RawEvent>,
    pub(crate) bytes: u64,
    pub(crate) accepted_at: Instant,
    /// The event's places in the bounded pending set (count, bytes),
    /// released when the outcome is known.
    pub(crate) permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// What an insert task needs besides its job.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) counters: Arc<CqlCounters>,
    pub(crate) state: Arc<TaskState>,
    /// One permit per request allowed in flight.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) retry: RetryConfig,
    pub(crate) max_age: Duration,
}

/// How a failed insert is taken.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The statement or a value can never succeed: refuse the event.
    Refuse,
    /// The cluster is unreachable or overloaded: retry until the age limit.
    Outage,
    /// Another server error: retry up to `max_attempts`.
    Other,
}

impl Writer {
    /// Inserts one row, retrying with backoff, and records the outcome.
    pub(crate) async fn insert(self, job: Job) {
        let mut attempt = 1;
        let mut other_failures = 0;
        let outcome = loop {
            let error = match self.attempt(&job.row).await {
                Ok(()) => break Outcome::Written,
                Err(error) => error,
            };
            let verdict = verdict(&error);
            if verdict == Verdict::Refuse {
                break Outcome::Refused(error.to_string());
            }
            if verdict == Verdict::Other {
                other_failures += 1;
                if other_failures >= self.retry.max_attempts {
                    break Outcome::Failed(format!("after {attempt} attempt(s): {error}"));
                }
            }
            let age = job.accepted_at.elapsed();
            if age >= self.max_age {
                break Outcome::Expired(format!("pending for {age:?}: {error}"));
            }
            if self.state.closing.load(Ordering::Relaxed) {
                break Outcome::Closed;
            }
            self.counters.retries.inc();
            self.state.warn_retry(&self.counters, attempt, &error);
            let pause = self.retry.backoff(attempt).min(self.max_age - age);
            let closed = self.state.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if !self.state.closing.load(Ordering::Relaxed) {
                let _ = tokio::time::timeout(pause, closed).await;
            }
            attempt += 1;
        };
        self.record(job, outcome);
    }

    fn record(&self, mut job: Job, outcome: Outcome) {
        let c = &self.counters;
        let (lost, given_up) = match outcome {
            Outcome::Written => {
                c.written.inc();
                (false, None)
            }
            Outcome::Refused(reason) => {
                c.refused.inc();
                tracing::debug!("CQL insert refused: {reason}");
                self.state.set_error(format!("refused: {reason}"));
                (true, Some((GiveUp::Refused, reason)))
            }
            Outcome::Failed(reason) => {
                c.failed.inc();
                self.state.set_error(reason.clone());
                (true, Some((GiveUp::Failed, reason)))
            }
            Outcome::Expired(reason) => {
                c.expired.inc();
                self.state.set_error(format!("expired: {reason}"));
                (true, Some((GiveUp::Expired, reason)))
            }
            Outcome::Closed => {
                c.dropped_at_close.inc();
                let reason = "the sink was closed with the insert pending".to_owned();
                (false, Some((GiveUp::DroppedAtClose, reason)))
            }
        };
        if let (Some((cause, reason)), Some(event)) = (given_up, job.event.take()) {
            let destination = self.shared.schema.qualified_table();
            self.state
                .given_up
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(DeadLetter::new(event, cause, destination, reason));
        }
        if lost {
            c.unreported.fetch_add(1, Ordering::Relaxed);
        }
        c.pending_bytes.fetch_sub(job.bytes, Ordering::Relaxed);
        c.pending.fetch_sub(1, Ordering::Relaxed);
        drop(job.permits);
    }

    /// One request, holding a slot: the in-flight gauge counts exactly the
    /// requests that hold one.
    async fn attempt(&self, row: &Row) -> Result<(), ExecutionError> {
        let Ok(_slot) = self.slots.acquire().await else {
            unreachable!("the request slots semaphore is never closed")
        };
        let now = self.counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters
            .max_in_flight
            .fetch_max(now, Ordering::Relaxed);
        let result = self
            .shared
            .session
            .execute_unpaged(&self.shared.insert, row)
            .await;
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        result.map(drop)
    }
}

/// How one insert ended.
#[derive(Debug)]
enum Outcome {
    Written,
    Refused(String),
    Failed(String),
    Expired(String),
    Closed,
}

/// Whether trying the same insert again may succeed, and how long to try.
fn verdict(error: &ExecutionError) -> Verdict {
    match error {
        ExecutionError::BadQuery(_) | ExecutionError::PrepareError(_) => Verdict::Refuse,
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_) => Verdict::Refuse,
            RequestAttemptError::DbError(db, _) => match db {
                DbError::SyntaxError
                | DbError::Invalid
                | DbError::AlreadyExists { .. }
                | DbError::FunctionFailure { .. }
                | DbError::AuthenticationError
                | DbError::Unauthorized
                | DbError::ConfigError
                | DbError::ProtocolError => Verdict::Refuse,
                DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
                | DbError::TruncateError
                | DbError::RateLimitReached { .. } => Verdict::Outage,
                _ => Verdict::Other,
            },
            // Broken connections, stream ids, unexpected responses: the
            // connection, not the event.
            _ => Verdict::Outage,
        },
        // No connection, timeouts, empty plans, metadata: the cluster.
        _ => Verdict::Outage,
    }
}
