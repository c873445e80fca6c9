//! The indexes the sink creates on each collection it writes to.

use std::time::Duration;

use bson::{Document, doc};
use mongodb::IndexModel;
use mongodb::error::{Error, ErrorKind};
use mongodb::options::IndexOptions;

use super::MongoError;
use super::client::Connection;
use super::config::MongoSinkConfig;

/// Name of the index on `ts` (a TTL index when `retention_days` is set).
pub(crate) const TS_INDEX: &str = "eventstorm_ts";
/// Name of the index on `type, ts`.
pub(crate) const TYPE_INDEX: &str = "eventstorm_type_ts";
/// Name of the index on `tenant, ts`.
pub(crate) const TENANT_INDEX: &str = "eventstorm_tenant_ts";
/// Name of the text index on `body.message`.
pub(crate) const TEXT_INDEX: &str = "eventstorm_body_message_text";

/// The index models for `config`.
pub(crate) fn models(config: &MongoSinkConfig) -> Vec<IndexModel> {
    let model = |keys: Document, name: &str, ttl: Option<Duration>| {
        let mut options = IndexOptions::default();
        options.name = Some(name.to_owned());
        options.expire_after = ttl;
        IndexModel::builder().keys(keys).options(options).build()
    };
    let ttl = config
        .retention_days
        .map(|days| Duration::from_secs(u64::from(days) * 86_400));
    let mut models = vec![
        model(doc! { "ts": 1 }, TS_INDEX, ttl),
        model(doc! { "type": 1, "ts": 1 }, TYPE_INDEX, None),
        model(doc! { "tenant": 1, "ts": 1 }, TENANT_INDEX, None),
    ];
    if config.text_index {
        models.push(model(doc! { "body.message": "text" }, TEXT_INDEX, None));
    }
    models
}

/// Creates the indexes on `collection` (a no-op for those that exist with the
/// same options).
pub(crate) fn ensure(
    conn: &Connection,
    config: &MongoSinkConfig,
    collection: &str,
) -> Result<(), IndexFailure> {
    let coll = conn.db.collection::<Document>(collection);
    for model in models(config) {
        let name = model
            .options
            .as_ref()
            .and_then(|o| o.name.clone())
            .unwrap_or_default();
        if let Err(source) = conn.block_on(coll.create_index(model)) {
            let failure = if is_transient(&source) {
                IndexFailure::Transient(source)
            } else {
                IndexFailure::Permanent(MongoError::Index {
                    collection: collection.to_owned(),
                    index: name,
                    source: Box::new(source),
                })
            };
            return Err(failure);
        }
    }
    Ok(())
}

/// Why [`ensure`] failed.
#[derive(Debug)]
pub(crate) enum IndexFailure {
    /// The server could not be reached: try again later.
    Transient(Error),
    /// The server refused (conflicting index, unsupported index type).
    Permanent(MongoError),
}

/// Server error codes that mean "not now" rather than "never": shutdown,
/// failover, network and interruption codes of MongoDB.
const TRANSIENT_CODES: &[i32] = &[
    6, 7, 89, 91, 134, 150, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63,
];

/// Whether an error means the server is (temporarily) unreachable or
/// unavailable, as opposed to a refusal of the request.
pub(crate) fn is_transient(error: &Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => true,
        ErrorKind::Command(command) => TRANSIENT_CODES.contains(&command.code),
        _ => error.contains_label("RetryableWriteError"),
    }
}
