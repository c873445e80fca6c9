//! [`MongoSinkConfig`]: what the MongoDB sink connects to and how it writes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::MongoError;
use super::template::CollectionTemplate;

/// Default [`MongoSinkConfig::uri`].
pub const DEFAULT_URI: &str = "mongodb://127.0.0.1:27017";
/// Default [`MongoSinkConfig::database`].
pub const DEFAULT_DATABASE: &str = "eventstorm";
/// Default [`MongoSinkConfig::collection`].
pub const DEFAULT_COLLECTION: &str = "events";
/// Default [`MongoSinkConfig::batch_size`]: documents per `insert_many`.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// Default [`MongoSinkConfig::max_pending`]: events kept while the server is
/// unreachable.
pub const DEFAULT_MAX_PENDING: usize = 100_000;
/// Default [`MongoSinkConfig::max_pending_bytes`]: 256 MiB of pending
/// documents.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;
/// Default [`MongoSinkConfig::max_pending_age_ms`]: one hour.
pub const DEFAULT_MAX_PENDING_AGE_MS: u64 = 3_600_000;
/// Default [`MongoSinkConfig::flush_timeout_ms`].
pub const DEFAULT_FLUSH_TIMEOUT_MS: u64 = 30_000;
/// Default [`MongoSinkConfig::server_selection_timeout_ms`].
pub const DEFAULT_SERVER_SELECTION_TIMEOUT_MS: u64 = 2_000;
/// Default [`MongoSinkConfig::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Default [`MongoSinkConfig::default_tenant`].
pub const DEFAULT_TENANT: &str = "_";
/// Default [`RetryConfig::initial_backoff_ms`].
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 100;
/// Default [`RetryConfig::max_backoff_ms`].
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 10_000;
/// Default [`RetryConfig::multiplier`].
pub const DEFAULT_BACKOFF_MULTIPLIER: f64 = 2.0;

/// The smallest `max_pending_bytes`: one document of MongoDB's largest size.
const MIN_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Configuration of a [`MongoSink`](super::MongoSink).
///
/// Every field has a default (the `DEFAULT_*` constants of this module), so a
/// configuration file (TOML, JSON, ...) needs only what differs:
///
/// ```
/// use eventstorm_sink::mongo::{MongoSinkConfig, WhenFull};
///
/// let config: MongoSinkConfig = serde_json::from_str(r#"{
///     "uri": "mongodb://db.example:27017",
///     "database": "ops",
///     "collection": "events_{type_prefix}",
///     "retention_days": 30,
///     "when_full": "drop",
///     "write_concern": { "w": "majority", "journal": true }
/// }"#).unwrap();
/// assert_eq!(config.when_full, WhenFull::Drop);
/// assert_eq!(config.batch_size, 1000);
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MongoSinkConfig {
    /// MongoDB connection string. Options in it (`serverSelectionTimeoutMS`,
    /// `w`, `tls`, ...) win over the fields below. Default [`DEFAULT_URI`].
    pub uri: String,
    /// Database to write to. Default [`DEFAULT_DATABASE`].
    pub database: String,
    /// Collection name, or a template with the placeholders `{type_prefix}`
    /// (event type up to its first dot), `{tenant}` (the event's tenant, or
    /// [`default_tenant`](Self::default_tenant)) and `{day}` (UTC day of `ts`
    /// as `YYYYMMDD`), e.g. `"events_{type_prefix}"`, `"{tenant}_events"`,
    /// `"events_{day}"`. Default [`DEFAULT_COLLECTION`].
    pub collection: String,
    /// Tenant used for `{tenant}` when an event has none. Default
    /// [`DEFAULT_TENANT`].
    pub default_tenant: String,
    /// Most documents sent in one `insert_many`. Default [`DEFAULT_BATCH_SIZE`].
    pub batch_size: usize,
    /// Ordered inserts stop at the first failing document; unordered ones
    /// (the default, `false`) insert all others and are faster.
    pub ordered: bool,
    /// Write concern of the inserts (default: the server's).
    pub write_concern: WriteConcernConfig,
    /// Backoff between attempts while the server is unreachable.
    pub retry: RetryConfig,
    /// Most events kept pending (accepted, not yet written) while the server
    /// is unreachable. Default [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// Most bytes of pending documents (as received). An event larger than
    /// this on its own is refused. Default [`DEFAULT_MAX_PENDING_BYTES`].
    pub max_pending_bytes: usize,
    /// Longest an event stays pending: older events are given up (counted as
    /// `expired`) by the next `write` or `flush`. Default
    /// [`DEFAULT_MAX_PENDING_AGE_MS`].
    pub max_pending_age_ms: u64,
    /// What `write` does when a batch does not fit in `max_pending` or
    /// `max_pending_bytes`. Default [`WhenFull::Block`].
    pub when_full: WhenFull,
    /// With [`WhenFull::Block`], the longest one `write` waits for room;
    /// events that still do not fit are then dropped and reported. Default
    /// none: wait as long as it takes.
    pub block_timeout_ms: Option<u64>,
    /// The longest one `flush` waits for an unreachable server; what is
    /// still pending then stays pending (within the limits above) and is
    /// retried by the next `write` or `flush`. Default
    /// [`DEFAULT_FLUSH_TIMEOUT_MS`].
    pub flush_timeout_ms: u64,
    /// How long one operation waits for a reachable server before it counts as
    /// failed (unless the URI sets `serverSelectionTimeoutMS`). Default
    /// [`DEFAULT_SERVER_SELECTION_TIMEOUT_MS`].
    pub server_selection_timeout_ms: u64,
    /// TCP connect timeout (unless the URI sets `connectTimeoutMS`). Default
    /// [`DEFAULT_CONNECT_TIMEOUT_MS`].
    pub connect_timeout_ms: u64,
    /// When set, the `ts` index is a TTL index: MongoDB deletes events older
    /// than this many days. Default none (keep forever).
    pub retention_days: Option<u32>,
    /// Create a text index on `body.message`, used by
    /// [`EventQuery::text`](super::EventQuery::text). Default `false` (text
    /// queries then match each word as a case-insensitive substring).
    pub text_index: bool,
}

impl Default for MongoSinkConfig {
    fn default() -> Self {
        MongoSinkConfig {
            uri: DEFAULT_URI.into(),
            database: DEFAULT_DATABASE.into(),
            collection: DEFAULT_COLLECTION.into(),
            default_tenant: DEFAULT_TENANT.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            ordered: false,
            write_concern: WriteConcernConfig::default(),
            retry: RetryConfig::default(),
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_pending_age_ms: DEFAULT_MAX_PENDING_AGE_MS,
            when_full: WhenFull::default(),
            block_timeout_ms: None,
            flush_timeout_ms: DEFAULT_FLUSH_TIMEOUT_MS,
            server_selection_timeout_ms: DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            retention_days: None,
            text_index: false,
        }
    }
}

impl MongoSinkConfig {
    /// A default configuration for this URI and database.
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        MongoSinkConfig {
            uri: uri.into(),
            database: database.into(),
            ..MongoSinkConfig::default()
        }
    }

    /// Checks the values that serde cannot: the error names the key and what
    /// was expected.
    pub fn validate(&self) -> Result<(), MongoError> {
        self.template()?;
        let bad = |key: &str, message: &str| {
            Err(MongoError::Config {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.database.is_empty()
            || self
                .database
                .contains(['/', '\\', '.', ' ', '"', '$', '\0'])
        {
            return bad(
                "database",
                "expected a non-empty name without / \\ . space \" $ or NUL",
            );
        }
        if self.batch_size == 0 {
            return bad("batch_size", "expected at least 1");
        }
        if self.max_pending == 0 {
            return bad("max_pending", "expected at least 1");
        }
        if self.max_pending_bytes < MIN_PENDING_BYTES {
            return bad(
                "max_pending_bytes",
                "expected at least 16777216 (16 MiB, MongoDB's largest document)",
            );
        }
        if self.max_pending_age_ms == 0 {
            return bad("max_pending_age_ms", "expected at least 1");
        }
        if self.database.len() >= super::names::MAX_NAMESPACE_BYTES - 1 {
            return bad(
                "database",
                "expected a name short enough to leave room for collection names (255-byte namespaces)",
            );
        }
        if self.retry.multiplier.is_nan() || self.retry.multiplier < 1.0 {
            return bad("retry.multiplier", "expected a number >= 1");
        }
        if self.retry.initial_backoff_ms == 0
            || self.retry.max_backoff_ms < self.retry.initial_backoff_ms
        {
            return bad(
                "retry",
                "expected initial_backoff_ms >= 1 and max_backoff_ms >= initial_backoff_ms",
            );
        }
        if self.retention_days == Some(0) {
            return bad(
                "retention_days",
                "expected at least 1 day (or no value to keep events forever)",
            );
        }
        if let Some(WriteAck::Nodes(0)) = self.write_concern.w {
            return bad(
                "write_concern.w",
                "w = 0 (unacknowledged) cannot detect lost writes; expected 1 or more, or \"majority\"",
            );
        }
        Ok(())
    }

    pub(crate) fn template(&self) -> Result<CollectionTemplate, MongoError> {
        CollectionTemplate::parse(&self.collection).map_err(|message| MongoError::Config {
            key: "collection".into(),
            message,
        })
    }

    pub(crate) fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms)
    }

    pub(crate) fn max_pending_age(&self) -> Duration {
        Duration::from_millis(self.max_pending_age_ms)
    }
}

/// What [`MongoSink::write`](super::MongoSink) does with a batch that does not
/// fit in `max_pending` while the server is unreachable: `block` (the default)
/// waits, retrying with backoff, until there is room (back-pressure, nothing
/// lost); `drop` drops the events that do not fit, counts them as `dropped` and
/// reports them in the `SinkError` of the `write`.
pub use eventstorm_core::WhenFull;

/// Write concern of the inserts. Unset fields use the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriteConcernConfig {
    /// How many nodes acknowledge a write: a number (1 or more) or
    /// `"majority"` (or a custom tag set name). Default: the server's.
    pub w: Option<WriteAck>,
    /// Wait for the write to reach the on-disk journal. Default: the server's.
    pub journal: Option<bool>,
    /// Give up waiting for `w` after this long (the write may still happen; a
    /// retry then finds it as a duplicate, which counts as success).
    pub timeout_ms: Option<u64>,
}

/// The `w` of a write concern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WriteAck {
    /// Acknowledged by this many nodes.
    Nodes(u32),
    /// `"majority"`, or the name of a custom write concern.
    Tag(String),
}

/// Exponential backoff between write attempts while the server is unreachable:
/// `initial_backoff_ms`, then multiplied by `multiplier` after each failed
/// attempt, capped at `max_backoff_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First delay. Default [`DEFAULT_INITIAL_BACKOFF_MS`].
    pub initial_backoff_ms: u64,
    /// Largest delay. Default [`DEFAULT_MAX_BACKOFF_MS`].
    pub max_backoff_ms: u64,
    /// Growth factor. Default [`DEFAULT_BACKOFF_MULTIPLIER`].
    pub multiplier: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            multiplier: DEFAULT_BACKOFF_MULTIPLIER,
        }
    }
}

impl RetryConfig {
    /// The delay after `delay` (capped).
    pub(crate) fn next(&self, delay: Duration) -> Duration {
        let next = delay.as_secs_f64() * self.multiplier;
        Duration::from_secs_f64(next.min(self.max_backoff_ms as f64 / 1000.0))
    }

    /// The first delay.
    pub(crate) fn initial(&self) -> Duration {
        Duration::from_millis(self.initial_backoff_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let config: MongoSinkConfig = serde_json::from_str("{}").expect("empty config");
        assert_eq!(config, MongoSinkConfig::default());
        let err =
            serde_json::from_str::<MongoSinkConfig>(r#"{"colection": "x"}"#).expect_err("typo");
        assert!(err.to_string().contains("colection"), "{err}");
        let config: MongoSinkConfig =
            serde_json::from_str(r#"{"write_concern": {"w": 2, "timeout_ms": 500}}"#)
                .expect("w as number");
        assert_eq!(config.write_concern.w, Some(WriteAck::Nodes(2)));
    }

    #[test]
    fn validation_names_the_key() {
        let config = MongoSinkConfig {
            collection: "events_{month}".into(),
            ..MongoSinkConfig::default()
        };
        let err = config.validate().expect_err("bad placeholder").to_string();
        assert!(
            err.contains("`collection`") && err.contains("{month}"),
            "{err}"
        );
        let config = MongoSinkConfig {
            batch_size: 0,
            ..MongoSinkConfig::default()
        };
        assert!(
            config
                .validate()
                .expect_err("zero")
                .to_string()
                .contains("batch_size")
        );
    }

    #[test]
    fn backoff_is_capped() {
        let retry = RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 300,
            multiplier: 2.0,
        };
        let second = retry.next(retry.initial());
        assert_eq!(second, Duration::from_millis(200));
        assert_eq!(retry.next(second), Duration::from_millis(300));
    }
}
