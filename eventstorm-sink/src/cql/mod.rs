//! The Cassandra/ScyllaDB sink: one row per event, the whole BSON document
//! kept as a blob, partitions bounded by time buckets, bounded concurrency,
//! retries, and a query helper that reads events back.
//!
//! ```no_run
//! use eventstorm_core::{Event, EventSink, RawEvent};
//! use eventstorm_sink::cql::{CqlSink, CqlSinkConfig};
//!
//! let config = CqlSinkConfig {
//!     ttl_secs: Some(30 * 86_400),
//!     ..CqlSinkConfig::from_uri("127.0.0.1:9042", "ops")
//! };
//! let mut sink = CqlSink::new(config)?; // connects, creates keyspace and table
//! sink.healthcheck()?;
//!
//! let event = Event::builder("volume.create.end").tenant("acme").field("size_gb", 20).build();
//! sink.write(&[RawEvent::from_event(&event)?])?;
//! sink.flush()?; // waits for the inserts
//! println!("{}", sink.stats()); // cql:ops.events: accepted=1 written=1 refused=0 ...
//!
//! let ts = event.timestamp();
//! let found = sink.reader().events("volume.create.end", ts, bson::DateTime::from_millis(ts.timestamp_millis() + 1))?;
//! assert_eq!(found, vec![event]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The table
//!
//! ```text
//! PRIMARY KEY ((type, bucket), ts, id)
//! ```
//!
//! - **Partition key `(type, bucket)`**: `bucket` is the start of the
//!   `bucket_secs`-wide time slot holding the event's `ts`. A partition holds
//!   one type during one slot, so partitions stay bounded however long the
//!   table lives (Cassandra and ScyllaDB slow down with partitions of hundreds
//!   of megabytes), and a time-range query reads a known list of partitions
//!   instead of scanning.
//! - **Clustering `(ts, id)`**: rows of a partition are in time order, and
//!   the ObjectId keeps two events of the same millisecond apart. Writing the
//!   same event twice overwrites one row: inserts are idempotent, so retries
//!   are safe.
//! - **Columns** `severity, logger, hostname, pid, tenant` from the envelope,
//!   `doc` (the whole BSON document as received: nothing is lost, and the
//!   query helper rebuilds the exact [`Event`](eventstorm_core::Event)), and
//!   optionally body fields in columns of their own
//!   ([`CqlSinkConfig::columns`]).
//!
//! The public API is synchronous: the sink owns a private tokio runtime for
//! the async `scylla` driver and never exposes it. Do not call the sink or a
//! reader from async code.
//!
//! See `docs/cql-sink.md` for the configuration reference, the counters and
//! how the tests run against the CQL test server or a real cluster.

mod config;
mod connection;
mod counters;
mod names;
mod options;
mod query;
mod schema;
mod sink;
mod writer;

pub use config::{
    ColumnConfig, ColumnType, ConsistencyLevel, CqlSinkConfig, Credentials,
    DEFAULT_BACKOFF_MULTIPLIER, DEFAULT_BUCKET_SECS, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_CONTACT_POINT, DEFAULT_FLUSH_TIMEOUT_MS, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_KEYSPACE,
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF_MS, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TABLE, Replication, RetryConfig,
};
pub use counters::CqlCounters;
pub use names::MAX_NAME_LEN;
pub use query::{CqlReader, MAX_BUCKETS_PER_QUERY};
pub use sink::CqlSink;

/// The driver's error behind a [`CqlError`], by the operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Building the session (connecting to the contact points).
    #[error(transparent)]
    NewSession(#[from] scylla::errors::NewSessionError),
    /// Running a statement.
    #[error(transparent)]
    Execution(#[from] scylla::errors::ExecutionError),
    /// Preparing a statement.
    #[error(transparent)]
    Prepare(#[from] scylla::errors::PrepareError),
    /// Starting a paged read.
    #[error(transparent)]
    Pager(#[from] scylla::errors::PagerExecutionError),
    /// Reading the next row of a paged read.
    #[error(transparent)]
    NextRow(#[from] scylla::errors::NextRowError),
    /// A result that should hold rows.
    #[error(transparent)]
    IntoRows(#[from] scylla::errors::IntoRowsResultError),
    /// The first row of a result.
    #[error(transparent)]
    FirstRow(#[from] scylla::errors::FirstRowError),
    /// The columns of a result do not have the expected types.
    #[error(transparent)]
    TypeCheck(#[from] scylla::errors::TypeCheckError),
}

/// What can go wrong when building the CQL sink or reading events back.
/// (Write failures of the sink itself are
/// [`SinkError`](eventstorm_core::SinkError)s.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CqlError {
    /// The configuration is invalid.
    #[error("invalid CQL sink configuration at `{key}`: {message}")]
    Config {
        /// The key that is wrong.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The private tokio runtime could not be started.
    #[error("cannot start the CQL sink's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// No contact point could be reached.
    #[error(
        "cannot connect to the CQL cluster at {contact_points}: {source} (is a node listening there? see docs/cql-sink.md)"
    )]
    Connect {
        /// The contact points, comma-separated.
        contact_points: String,
        /// The driver's error.
        #[source]
        source: Box<DriverError>,
    },
    /// No contact point answered within twice `connect_timeout_ms`.
    #[error(
        "cannot connect to the CQL cluster at {contact_points}: no answer within {waited:?} (is a node listening there? is `connect_timeout_ms` long enough?)"
    )]
    ConnectTimeout {
        /// The contact points, comma-separated.
        contact_points: String,
        /// How long the sink waited.
        waited: std::time::Duration,
    },
    /// Creating the keyspace or the table failed.
    #[error(
        "cannot create the schema with `{statement}`: {source} (does the user have CREATE permission? is the replication valid for this cluster?)"
    )]
    Schema {
        /// The statement.
        statement: String,
        /// The driver's error.
        #[source]
        source: Box<DriverError>,
    },
    /// A statement could not be prepared (for example an existing table
    /// without a configured column).
    #[error(
        "cannot prepare `{statement}`: {source} (an existing table must have every configured column: ALTER TABLE ... ADD, or use another table)"
    )]
    Prepare {
        /// The statement.
        statement: String,
        /// The driver's error.
        #[source]
        source: Box<DriverError>,
    },
    /// A query failed.
    #[error("CQL {operation} failed: {source} (is the cluster at the contact points up?)")]
    Query {
        /// What was being done.
        operation: String,
        /// The driver's error.
        #[source]
        source: Box<DriverError>,
    },
    /// A time range spans more buckets than one query may visit.
    #[error(
        "reading {event_type}: the range spans {buckets} buckets, more than {max}: query a shorter range"
    )]
    RangeTooLong {
        /// The event type queried.
        event_type: String,
        /// Buckets the range spans.
        buckets: i64,
        /// [`MAX_BUCKETS_PER_QUERY`].
        max: i64,
    },
    /// A stored row has no document.
    #[error("the row at ts {ts} in {table} has no doc (was it written by another program?)")]
    MissingDoc {
        /// `keyspace.table`.
        table: String,
        /// The row's `ts`, in milliseconds.
        ts: i64,
    },
    /// A stored document is not a valid event.
    #[error("stored document {id} is not a valid event: {source}")]
    Decode {
        /// The event id, or where the row is.
        id: String,
        /// What is wrong.
        #[source]
        source: Box<eventstorm_core::Error>,
    },
}

impl CqlError {
    pub(crate) fn config(key: &str, message: impl Into<String>) -> Self {
        CqlError::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn query(operation: impl Into<String>, source: impl Into<DriverError>) -> Self {
        CqlError::Query {
            operation: operation.into(),
            source: Box::new(source.into()),
        }
    }
}
