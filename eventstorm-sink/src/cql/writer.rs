//! One insert: a request slot, the request, retries with backoff, and the
//! counters that record what happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::RetryConfig;
use super::connection::Shared;
use super::schema::Row;

/// Retry warnings are logged at most this often.
const WARN_INTERVAL: Duration = Duration::from_secs(5);

/// The sink's counters and gauges, updated by the insert tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Failures not yet reported to the caller by a `flush`.
    pub(crate) unreported_failed: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) column_mismatches: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    last_warning: Mutex<Option<Instant>>,
}

impl Counters {
    fn set_error(&self, message: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    /// Logs a retry warning, at most once per [`WARN_INTERVAL`].
    fn warn_retry(&self, attempt: u32, error: &ExecutionError) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(
                attempt,
                retries = self.retries.load(Ordering::Relaxed),
                "CQL insert failed, retrying: {error}"
            );
        }
    }
}

/// What an insert task needs besides its row.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) counters: Arc<Counters>,
    /// One permit per request allowed in flight.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) retry: RetryConfig,
}

impl Writer {
    /// Inserts one row, retrying with backoff; `pending` (the event's place in
    /// the bounded pending set) is released when the outcome is known.
    pub(crate) async fn insert(self, row: Row, pending: OwnedSemaphorePermit) {
        let mut attempt = 1;
        loop {
            let result = self.attempt(&row).await;
            match result {
                Ok(()) => {
                    self.counters.written.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(error) if attempt < self.retry.max_attempts && is_retryable(&error) => {
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    self.counters.warn_retry(attempt, &error);
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    tracing::debug!(attempt, "CQL insert failed for good: {error}");
                    self.counters
                        .set_error(format!("after {attempt} attempt(s): {error}"));
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .unreported_failed
                        .fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        drop(pending);
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

/// Whether trying the same insert again may succeed: not for statements or
/// values the server (or the driver) refuses as such.
fn is_retryable(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::BadQuery(_) => false,
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::SerializationError(_)
            | RequestAttemptError::CqlRequestSerialization(_) => false,
            RequestAttemptError::DbError(db, _) => !matches!(
                db,
                DbError::SyntaxError
                    | DbError::Invalid
                    | DbError::AlreadyExists { .. }
                    | DbError::FunctionFailure { .. }
                    | DbError::AuthenticationError
                    | DbError::Unauthorized
                    | DbError::ConfigError
                    | DbError::ProtocolError
            ),
            _ => true,
        },
        _ => true,
    }
}
