//! [`CqlSinkConfig`]: where the Cassandra/ScyllaDB sink connects and how it
//! writes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::CqlError;
use super::names::{check_identifier, check_keyspace};
pub use super::options::{
    ColumnConfig, ColumnType, ConsistencyLevel, Credentials, Replication, RetryConfig,
};
use crate::WhenFull;

/// Default [`CqlSinkConfig::contact_points`].
pub const DEFAULT_CONTACT_POINT: &str = "127.0.0.1:9042";
/// Default [`CqlSinkConfig::keyspace`].
pub const DEFAULT_KEYSPACE: &str = "eventstorm";
/// Default [`CqlSinkConfig::table`].
pub const DEFAULT_TABLE: &str = "events";
/// Default [`CqlSinkConfig::max_concurrent_requests`]: inserts in flight at
/// once. Enough to keep one node busy without flooding a small cluster.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;
/// Default [`CqlSinkConfig::max_pending`]: events accepted by `write` and not
/// yet written (in flight, waiting for a request slot or a retry).
pub const DEFAULT_MAX_PENDING: usize = 10_000;
/// Default [`CqlSinkConfig::max_pending_bytes`]: 256 MiB of pending
/// documents.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;
/// Default [`CqlSinkConfig::max_pending_age_ms`]: one hour.
pub const DEFAULT_MAX_PENDING_AGE_MS: u64 = 3_600_000;
/// Default [`CqlSinkConfig::flush_timeout_ms`].
pub const DEFAULT_FLUSH_TIMEOUT_MS: u64 = 30_000;
/// Default [`CqlSinkConfig::bucket_secs`]: one hour per partition and type.
pub const DEFAULT_BUCKET_SECS: u64 = 3_600;
/// Default [`CqlSinkConfig::request_timeout_ms`].
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Default [`CqlSinkConfig::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default [`RetryConfig::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default [`RetryConfig::initial_backoff_ms`].
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 100;
/// Default [`RetryConfig::max_backoff_ms`].
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 5_000;
/// Default [`RetryConfig::multiplier`].
pub const DEFAULT_BACKOFF_MULTIPLIER: f64 = 2.0;

/// Configuration of a [`CqlSink`](super::CqlSink).
///
/// Every field has a default (the `DEFAULT_*` constants of this module), so a
/// configuration file needs only what differs:
///
/// ```
/// use eventstorm_sink::cql::{ColumnType, CqlSinkConfig, Replication};
///
/// let config: CqlSinkConfig = toml::from_str(r#"
///     contact_points = ["10.0.0.1:9042", "10.0.0.2:9042"]
///     keyspace = "ops"
///     replication = { class = "NetworkTopologyStrategy", datacenters = { dc1 = 3 } }
///     consistency = "local_quorum"
///     bucket_secs = 86400
///     ttl_secs = 2592000
///     columns = [
///         { field = "body.instance_id", column = "instance_id", type = "text" },
///         { field = "body.memory_mb", column = "memory_mb", type = "bigint" },
///     ]
///     retry = { max_attempts = 10 }
/// "#).unwrap();
/// assert_eq!(config.columns[1].r#type, ColumnType::Bigint);
/// assert_eq!(config.table, "events"); // a default
/// config.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CqlSinkConfig {
    /// `host:port` of one or more nodes; the driver discovers the others.
    /// Default: one, [`DEFAULT_CONTACT_POINT`].
    pub contact_points: Vec<String>,
    /// Keyspace of the table, created when missing. Default
    /// [`DEFAULT_KEYSPACE`].
    pub keyspace: String,
    /// Table of the events, created when missing. Default [`DEFAULT_TABLE`].
    pub table: String,
    /// Replication of the keyspace when the sink creates it (an existing
    /// keyspace is left as it is). Default: `SimpleStrategy`, factor 1.
    pub replication: Replication,
    /// Consistency level of inserts and queries. Default `local_quorum`.
    pub consistency: ConsistencyLevel,
    /// Most insert requests in flight at once. Default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`].
    pub max_concurrent_requests: usize,
    /// Most events accepted and not yet written. Default
    /// [`DEFAULT_MAX_PENDING`].
    pub max_pending: usize,
    /// Most bytes of pending documents (as received); an event larger than
    /// this alone is refused. Default [`DEFAULT_MAX_PENDING_BYTES`].
    pub max_pending_bytes: usize,
    /// Longest an event stays pending while its insert is retried (the
    /// cluster is down): then it is given up and counted as `expired`.
    /// Default [`DEFAULT_MAX_PENDING_AGE_MS`].
    pub max_pending_age_ms: u64,
    /// What `write` does when `max_pending` events or `max_pending_bytes` are
    /// already pending (the cluster is slow or down): wait for room (`block`,
    /// the default: back-pressure), or drop the event, count it as
    /// `dropped_full` and report it in the write's error (`drop`).
    pub when_full: WhenFull,
    /// The longest one `flush` waits for pending inserts; what is still
    /// pending then stays pending (within the limits above). Default
    /// [`DEFAULT_FLUSH_TIMEOUT_MS`].
    pub flush_timeout_ms: u64,
    /// Width of a time bucket, in seconds: each partition holds the events of
    /// one type whose `ts` falls in one bucket. Do not change it for an
    /// existing table (queries would look in the wrong partitions). Default
    /// [`DEFAULT_BUCKET_SECS`].
    pub bucket_secs: u64,
    /// When set, rows expire this many seconds after they are written (`USING
    /// TTL`). Default none: keep forever.
    pub ttl_secs: Option<u32>,
    /// Body fields also stored in columns of their own, for use in CQL
    /// (the whole document is always in the `doc` blob). Default none.
    pub columns: Vec<ColumnConfig>,
    /// How failed inserts are retried.
    pub retry: RetryConfig,
    /// One request's timeout. Default [`DEFAULT_REQUEST_TIMEOUT_MS`].
    pub request_timeout_ms: u64,
    /// Connection timeout when the sink starts. Default
    /// [`DEFAULT_CONNECT_TIMEOUT_MS`].
    pub connect_timeout_ms: u64,
    /// Username and password, when the cluster requires authentication.
    pub credentials: Option<Credentials>,
}

impl Default for CqlSinkConfig {
    fn default() -> Self {
        CqlSinkConfig {
            contact_points: vec![DEFAULT_CONTACT_POINT.into()],
            keyspace: DEFAULT_KEYSPACE.into(),
            table: DEFAULT_TABLE.into(),
            replication: Replication::default(),
            consistency: ConsistencyLevel::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            max_pending_age_ms: DEFAULT_MAX_PENDING_AGE_MS,
            when_full: WhenFull::Block,
            flush_timeout_ms: DEFAULT_FLUSH_TIMEOUT_MS,
            bucket_secs: DEFAULT_BUCKET_SECS,
            ttl_secs: None,
            columns: Vec::new(),
            retry: RetryConfig::default(),
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            credentials: None,
        }
    }
}

impl CqlSinkConfig {
    /// A default configuration for a URI and keyspace. The URI is a
    /// comma-separated list of `host:port` contact points, optionally with a
    /// `cql://` or `cassandra://` scheme (the form of `EVENTSTORM_CQL_URI`).
    ///
    /// ```
    /// use eventstorm_sink::cql::CqlSinkConfig;
    /// let config = CqlSinkConfig::from_uri("cql://10.0.0.1:9042,10.0.0.2:9042", "ops");
    /// assert_eq!(config.contact_points, ["10.0.0.1:9042", "10.0.0.2:9042"]);
    /// ```
    pub fn from_uri(uri: &str, keyspace: impl Into<String>) -> Self {
        let hosts = ["cql://", "cassandra://", "scylla://"]
            .iter()
            .find_map(|scheme| uri.strip_prefix(scheme))
            .unwrap_or(uri);
        CqlSinkConfig {
            contact_points: hosts
                .trim_end_matches('/')
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from)
                .collect(),
            keyspace: keyspace.into(),
            ..CqlSinkConfig::default()
        }
    }

    /// Checks what serde cannot: the error names the key and what was
    /// expected.
    pub fn validate(&self) -> Result<(), CqlError> {
        let bad = |key: &str, message: String| Err(CqlError::config(key, message));
        if self.contact_points.is_empty() {
            return bad("contact_points", "expected at least one host:port".into());
        }
        check_keyspace("keyspace", &self.keyspace)?;
        check_identifier("table", &self.table)?;
        if self.max_concurrent_requests == 0 {
            return bad("max_concurrent_requests", "expected at least 1".into());
        }
        if self.max_pending == 0 || self.max_pending > u32::MAX as usize >> 3 {
            return bad("max_pending", "expected 1 to 536870911".into());
        }
        if self.max_pending_bytes < 1024 * 1024 || self.max_pending_bytes > u32::MAX as usize {
            return bad(
                "max_pending_bytes",
                "expected 1048576 (1 MiB) to 4294967295".into(),
            );
        }
        if self.max_pending_age_ms == 0 {
            return bad("max_pending_age_ms", "expected at least 1".into());
        }
        if self.bucket_secs == 0 || self.bucket_secs > 366 * 86_400 {
            return bad("bucket_secs", "expected 1 second to 366 days".into());
        }
        if matches!(self.ttl_secs, Some(ttl) if ttl == 0 || ttl > 630_720_000) {
            return bad(
                "ttl_secs",
                "expected 1 to 630720000 (20 years), or no value to keep rows forever".into(),
            );
        }
        if self.retry.max_attempts == 0 {
            return bad("retry.max_attempts", "expected at least 1".into());
        }
        if self.retry.multiplier.is_nan() || self.retry.multiplier < 1.0 {
            return bad("retry.multiplier", "expected a number >= 1".into());
        }
        if self.retry.max_backoff_ms < self.retry.initial_backoff_ms {
            return bad(
                "retry.max_backoff_ms",
                "expected at least retry.initial_backoff_ms".into(),
            );
        }
        if self.request_timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return bad(
                "request_timeout_ms",
                "timeouts must be at least 1 ms".into(),
            );
        }
        if let Replication::SimpleStrategy {
            replication_factor: 0,
        } = self.replication
        {
            return bad(
                "replication.replication_factor",
                "expected at least 1".into(),
            );
        }
        if let Replication::NetworkTopologyStrategy { datacenters } = &self.replication {
            if datacenters.is_empty() {
                return bad(
                    "replication.datacenters",
                    "expected at least one `name = factor`".into(),
                );
            }
            if let Some(dc) = datacenters.keys().find(|dc| {
                !dc.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            }) {
                return bad(
                    "replication.datacenters",
                    format!("{dc:?}: expected letters, digits, _ - ."),
                );
            }
        }
        for (i, column) in self.columns.iter().enumerate() {
            let key = format!("columns[{i}].column");
            check_identifier(&key, &column.column)?;
            if super::schema::RESERVED_COLUMNS
                .contains(&column.column.to_ascii_lowercase().as_str())
            {
                return bad(
                    &key,
                    format!(
                        "{:?} is one of the table's own columns ({})",
                        column.column,
                        super::schema::RESERVED_COLUMNS.join(", ")
                    ),
                );
            }
            if self.columns[..i]
                .iter()
                .any(|c| c.column.eq_ignore_ascii_case(&column.column))
            {
                return bad(&key, format!("{:?} is configured twice", column.column));
            }
            if column.field.is_empty() || column.field.split('.').any(str::is_empty) {
                return bad(
                    &format!("columns[{i}].field"),
                    format!(
                        "{:?}: expected a dotted path such as \"body.instance_id\"",
                        column.field
                    ),
                );
            }
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub(crate) fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms)
    }

    pub(crate) fn max_pending_age(&self) -> Duration {
        Duration::from_millis(self.max_pending_age_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let config: CqlSinkConfig = serde_json::from_str("{}").expect("empty config");
        assert_eq!(config, CqlSinkConfig::default());
        config.validate().expect("defaults are valid");
        let err = serde_json::from_str::<CqlSinkConfig>(r#"{"keyspcae": "x"}"#).expect_err("typo");
        assert!(err.to_string().contains("keyspcae"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        let bad = |config: CqlSinkConfig, key: &str| {
            let err = config.validate().expect_err(key).to_string();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        };
        bad(
            CqlSinkConfig {
                keyspace: "my-ks".into(),
                ..Default::default()
            },
            "keyspace",
        );
        bad(
            CqlSinkConfig {
                bucket_secs: 0,
                ..Default::default()
            },
            "bucket_secs",
        );
        bad(
            CqlSinkConfig {
                max_concurrent_requests: 0,
                ..Default::default()
            },
            "max_concurrent_requests",
        );
        let column = |column: &str| ColumnConfig {
            field: "body.x".into(),
            column: column.into(),
            r#type: ColumnType::Text,
        };
        bad(
            CqlSinkConfig {
                columns: vec![column("doc")],
                ..Default::default()
            },
            "columns[0].column",
        );
        bad(
            CqlSinkConfig {
                columns: vec![column("x"), column("X")],
                ..Default::default()
            },
            "columns[1].column",
        );
    }

    #[test]
    fn replication_and_backoff() {
        let nts: Replication = serde_json::from_str(
            r#"{"class": "NetworkTopologyStrategy", "datacenters": {"dc1": 3, "dc2": 2}}"#,
        )
        .expect("nts");
        assert_eq!(
            nts.to_cql(),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}"
        );
        assert_eq!(
            Replication::default().to_cql(),
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        let retry = RetryConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 300,
            ..Default::default()
        };
        assert_eq!(retry.backoff(1), Duration::from_millis(100));
        assert_eq!(retry.backoff(2), Duration::from_millis(200));
        assert_eq!(retry.backoff(3), Duration::from_millis(300));
        assert_eq!(retry.backoff(60), Duration::from_millis(300));
    }

    #[test]
    fn uri_forms() {
        let config = CqlSinkConfig::from_uri("127.0.0.1:9042", "ks");
        assert_eq!(config.contact_points, ["127.0.0.1:9042"]);
        let config = CqlSinkConfig::from_uri("scylla://a:1, b:2/", "ks");
        assert_eq!(config.contact_points, ["a:1", "b:2"]);
    }
}
