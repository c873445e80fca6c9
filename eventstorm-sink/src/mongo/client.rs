//! The private runtime and the driver client, shared by the sink and readers.

use std::sync::Arc;
use std::time::Duration;

use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Database};
use tokio::runtime::Runtime;

use super::MongoError;
use super::config::{MongoSinkConfig, WriteAck};

/// A tokio runtime and the configured database (its client connects in the
/// background).
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) db: Database,
}

impl Connection {
    /// Starts the runtime and the client. Does not wait for the server: the
    /// driver connects in the background and each operation waits for it at
    /// most `server_selection_timeout_ms`.
    pub(crate) fn open(config: &MongoSinkConfig) -> Result<Self, MongoError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eventstorm-mongo")
            .enable_all()
            .build()
            .map_err(MongoError::Runtime)?;
        let connect_error = |source: mongodb::error::Error| MongoError::Connect {
            uri: redact_uri(&config.uri),
            source: Box::new(source),
        };
        let client = runtime.block_on(async {
            let mut options = ClientOptions::parse(&config.uri)
                .await
                .map_err(connect_error)?;
            options
                .server_selection_timeout
                .get_or_insert(Duration::from_millis(config.server_selection_timeout_ms));
            options
                .connect_timeout
                .get_or_insert(Duration::from_millis(config.connect_timeout_ms));
            options
                .app_name
                .get_or_insert_with(|| "eventstorm-sink".into());
            if options.write_concern.is_none() {
                options.write_concern = write_concern(config);
            }
            Client::with_options(options).map_err(connect_error)
        })?;
        let db = client.database(&config.database);
        Ok(Connection {
            runtime: Arc::new(runtime),
            db,
        })
    }

    /// Runs `future` to completion on the private runtime.
    pub(crate) fn block_on<F: std::future::IntoFuture>(&self, future: F) -> F::Output {
        self.runtime.block_on(future.into_future())
    }
}

fn write_concern(config: &MongoSinkConfig) -> Option<WriteConcern> {
    let wc = &config.write_concern;
    if wc.w.is_none() && wc.journal.is_none() && wc.timeout_ms.is_none() {
        return None;
    }
    let mut concern = WriteConcern::default();
    concern.w = wc.w.as_ref().map(|w| match w {
        WriteAck::Nodes(n) => Acknowledgment::Nodes(*n),
        WriteAck::Tag(tag) if tag == "majority" => Acknowledgment::Majority,
        WriteAck::Tag(tag) => Acknowledgment::Custom(tag.clone()),
    });
    concern.journal = wc.journal;
    concern.w_timeout = wc.timeout_ms.map(Duration::from_millis);
    Some(concern)
}

/// The URI with the password of its user info replaced by `***`, for logs and
/// errors.
pub(crate) fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
        return uri.to_owned();
    };
    let authority_end = uri[scheme_end..]
        .find(['/', '?'])
        .map_or(uri.len(), |i| scheme_end + i);
    let authority = &uri[scheme_end..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or_default();
            format!(
                "{}{user}:***@{}",
                &uri[..scheme_end],
                &uri[scheme_end + at + 1..]
            )
        }
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_uri("mongodb://bob:s3cret@db:27017/x?tls=true"),
            "mongodb://bob:***@db:27017/x?tls=true"
        );
        assert_eq!(redact_uri("mongodb://db:27017"), "mongodb://db:27017");
        assert_eq!(redact_uri("not a uri"), "not a uri");
    }
}
