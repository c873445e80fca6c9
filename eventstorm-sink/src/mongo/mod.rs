//! The MongoDB sink: stores received events as they arrived (raw BSON, never
//! decoded), survives server outages without losing count of a single event,
//! and reads them back with a small query helper.
//!
//! ```no_run
//! use eventstorm_core::{Event, EventSink, RawEvent};
//! use eventstorm_sink::mongo::{EventQuery, MongoSink, MongoSinkConfig};
//!
//! let config = MongoSinkConfig {
//!     collection: "events_{type_prefix}".into(),
//!     retention_days: Some(30),
//!     ..MongoSinkConfig::new("mongodb://127.0.0.1:27017", "ops")
//! };
//! let mut sink = MongoSink::new(config)?; // connects, creates indexes
//! sink.healthcheck()?;
//!
//! let event = Event::builder("volume.create.end").tenant("acme").field("size_gb", 20).build();
//! sink.write(&[RawEvent::from_event(&event)?])?;
//! sink.flush()?;
//! println!("{}", sink.stats()); // mongo: written=1 refused=0 dropped=0 ...
//!
//! let found = sink.reader().find(&EventQuery::new().type_prefix("volume.").tenant("acme"))?;
//! assert_eq!(found[0].id(), event.id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The public API is synchronous: the sink owns a small private tokio runtime
//! (one worker thread) for the async driver and never exposes it.
//!
//! See `docs/mongo-sink.md` for the configuration reference, the outage
//! behaviour and the counters.

mod client;
mod config;
mod counters;
mod drain;
mod indexes;
mod names;
mod pending;
mod query;
mod sink;
mod template;
mod writer;

pub use config::{
    DEFAULT_BACKOFF_MULTIPLIER, DEFAULT_BATCH_SIZE, DEFAULT_COLLECTION, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_DATABASE, DEFAULT_FLUSH_TIMEOUT_MS, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_SERVER_SELECTION_TIMEOUT_MS, DEFAULT_TENANT, DEFAULT_URI, MongoSinkConfig, RetryConfig,
    WhenFull, WriteAck, WriteConcernConfig,
};
pub use counters::MongoCounters;
pub use names::MAX_NAMESPACE_BYTES;
pub use query::{EventQuery, MongoReader};
pub use sink::MongoSink;

// The usage sink stores its entities through the same private runtime and
// error classification.
#[cfg(feature = "usage")]
pub(crate) use client::Connection;
#[cfg(feature = "usage")]
pub(crate) use indexes::is_transient;

/// What can go wrong when building the MongoDB sink or querying events.
/// (Write failures of the sink itself are [`SinkError`](eventstorm_core::SinkError)s.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MongoError {
    /// The configuration is invalid.
    #[error("invalid MongoDB sink configuration at `{key}`: {message}")]
    Config {
        /// The key that is wrong.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The private tokio runtime could not be started.
    #[error("cannot start the MongoDB sink's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The connection string could not be used.
    #[error(
        "cannot use MongoDB connection string {uri}: {source} (check the URI's syntax and options)"
    )]
    Connect {
        /// The URI, with any password hidden.
        uri: String,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// The server refused to create an index (for example an existing index on
    /// `ts` with another `expireAfterSeconds`).
    #[error(
        "cannot create index {index} on {collection}: {source} (drop or change the existing index, or change `retention_days` / `text_index`)"
    )]
    Index {
        /// The collection.
        collection: String,
        /// The index's name.
        index: String,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// A query or command failed.
    #[error(
        "MongoDB {operation} failed: {source} (is the server at the configured URI reachable?)"
    )]
    Query {
        /// What was being done.
        operation: String,
        /// The driver's error.
        #[source]
        source: Box<mongodb::error::Error>,
    },
    /// A stored document is not a valid event.
    #[error("document {id} in {collection} is not a valid event: {message}")]
    Decode {
        /// The collection.
        collection: String,
        /// The document's `_id`, as text.
        id: String,
        /// What is wrong.
        message: String,
    },
}
