//! The parts of [`CqlSinkConfig`](super::CqlSinkConfig): replication,
//! consistency, extra columns, retries and credentials.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{
    DEFAULT_BACKOFF_MULTIPLIER, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BACKOFF_MS,
};

/// Replication of the keyspace the sink creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "class", deny_unknown_fields)]
pub enum Replication {
    /// One replication factor for the whole cluster (development, single data
    /// centre).
    SimpleStrategy {
        /// Copies of each row.
        replication_factor: u32,
    },
    /// A replication factor per data centre (production).
    NetworkTopologyStrategy {
        /// Data centre name → copies of each row there.
        datacenters: BTreeMap<String, u32>,
    },
}

impl Default for Replication {
    fn default() -> Self {
        Replication::SimpleStrategy {
            replication_factor: 1,
        }
    }
}

impl Replication {
    /// The CQL map literal of `WITH replication = ...`.
    pub fn to_cql(&self) -> String {
        match self {
            Replication::SimpleStrategy { replication_factor } => {
                format!("{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}")
            }
            Replication::NetworkTopologyStrategy { datacenters } => {
                let mut cql = String::from("{'class': 'NetworkTopologyStrategy'");
                for (dc, factor) in datacenters {
                    cql.push_str(&format!(", '{dc}': {factor}"));
                }
                cql.push('}');
                cql
            }
        }
    }
}

/// Consistency level of the sink's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // The CQL consistency levels, named as in CQL.
pub enum ConsistencyLevel {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    /// The default (also the driver's).
    #[default]
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

impl From<ConsistencyLevel> for scylla::statement::Consistency {
    fn from(level: ConsistencyLevel) -> Self {
        use scylla::statement::Consistency as C;
        match level {
            ConsistencyLevel::Any => C::Any,
            ConsistencyLevel::One => C::One,
            ConsistencyLevel::Two => C::Two,
            ConsistencyLevel::Three => C::Three,
            ConsistencyLevel::Quorum => C::Quorum,
            ConsistencyLevel::All => C::All,
            ConsistencyLevel::LocalQuorum => C::LocalQuorum,
            ConsistencyLevel::EachQuorum => C::EachQuorum,
            ConsistencyLevel::LocalOne => C::LocalOne,
        }
    }
}

/// A body field stored in a column of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Dotted path from the document root, e.g. `body.instance_id` (numeric
    /// segments index arrays).
    pub field: String,
    /// The column's name.
    pub column: String,
    /// The column's CQL type. A value of another BSON type is stored as null
    /// (and counted as `column_mismatches`); the blob still has it.
    pub r#type: ColumnType,
}

/// CQL type of a [`ColumnConfig`] column, and which BSON values fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// `text`: BSON strings.
    Text,
    /// `bigint`: BSON int32, int64, and doubles without a fraction.
    Bigint,
    /// `double`: BSON doubles, int32 and int64.
    Double,
    /// `boolean`: BSON booleans.
    Boolean,
}

impl ColumnType {
    /// The CQL name of the type.
    pub fn cql(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Bigint => "bigint",
            ColumnType::Double => "double",
            ColumnType::Boolean => "boolean",
        }
    }
}

/// Exponential backoff between the attempts of one insert: `initial_backoff_ms`,
/// multiplied by `multiplier` after each failed attempt, capped at
/// `max_backoff_ms`. While the cluster is unreachable (connection errors,
/// timeouts, unavailable or overloaded nodes) an insert is retried until it
/// has been pending `max_pending_age_ms`; requests that cannot succeed
/// (invalid statement or value) are refused at once; other server errors are
/// tried `max_attempts` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per insert for server errors that are neither an outage nor
    /// a refusal, the first included; an insert still failing then is counted
    /// as `failed`. Default [`DEFAULT_MAX_ATTEMPTS`].
    pub max_attempts: u32,
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
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
            multiplier: DEFAULT_BACKOFF_MULTIPLIER,
        }
    }
}

impl RetryConfig {
    /// The delay before attempt `attempt + 1`, after `attempt` (1-based) failed.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let ms = (self.initial_backoff_ms as f64 * factor).min(self.max_backoff_ms as f64);
        Duration::from_millis(ms as u64)
    }
}

/// Plain-text authentication.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password (never printed by `Debug`).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}
