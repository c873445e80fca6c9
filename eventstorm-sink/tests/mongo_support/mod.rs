//! Helpers of the MongoDB sink's integration tests: a database per test,
//! events, and the names earlier tests use for what
//! `eventstorm-test-support` provides (the server URI or a loud skip, a
//! server process of the test's own).
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::{Path, PathBuf};

use eventstorm_core::{Event, RawEvent};
use eventstorm_sink::mongo::MongoSinkConfig;
pub use eventstorm_test_support::{ClosedPort, MongoServer};

/// The server URI, or `None` (after a loud message) when the test must be
/// skipped; under `CI=true` a missing server fails the test. See
/// `eventstorm_test_support::mongodb_uri`.
pub fn server_uri() -> Option<String> {
    eventstorm_test_support::mongodb_uri()
}

/// Prints a skip notice past the test harness's output capture (a failure
/// under `CI=true`).
pub fn loud(message: &str) {
    eventstorm_test_support::missing(message, "see docs/mongo-sink.md");
}

/// A database of its own, dropped at the end of the test.
pub struct TestDb {
    pub uri: String,
    pub name: String,
}

impl TestDb {
    pub fn new(uri: &str, test: &str) -> Self {
        TestDb {
            uri: uri.to_owned(),
            name: eventstorm_test_support::keyspace(test),
        }
    }

    pub fn config(&self) -> MongoSinkConfig {
        MongoSinkConfig {
            server_selection_timeout_ms: 5_000,
            flush_timeout_ms: 20_000,
            ..MongoSinkConfig::new(&self.uri, &self.name)
        }
    }

    /// Runs `f` with a driver handle on this database.
    pub fn with_db<T>(&self, f: impl AsyncFnOnce(mongodb::Database) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = mongodb::Client::with_uri_str(&self.uri).await.unwrap();
            f(client.database(&self.name)).await
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.with_db(async |db| {
            let _ = db.drop().await;
        });
    }
}

pub fn raw(event: &Event) -> RawEvent {
    RawEvent::from_event(event).unwrap()
}

pub fn events(n: usize, event_type: &str) -> Vec<RawEvent> {
    (0..n)
        .map(|i| raw(&Event::builder(event_type).field("i", i as i64).build()))
        .collect()
}

/// A port nothing listened on a moment ago. Racy: use [`ClosedPort`] (a
/// port nothing can listen on) or a [`MongoServer`] (which reports the port
/// it bound).
#[deprecated(note = "bind-then-release races; use ClosedPort or MongoServer::port")]
pub fn free_port() -> u16 {
    let port = ClosedPort::new();
    port.port()
}

/// A SecantusDB (or mongod-compatible) server process, killed on drop.
/// (New tests use [`MongoServer`], which picks its port itself.)
pub struct ServerProcess {
    inner: MongoServer,
}

impl ServerProcess {
    /// Starts `bin` on `port` (0: one it picks) with its data in `storage`.
    pub fn start(bin: &Path, port: u16, storage: &Path) -> Self {
        ServerProcess {
            inner: MongoServer::start_on(bin, port, storage),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.inner.port()
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.inner.restart();
    }

    /// SIGKILL, and wait for the process to end.
    pub fn kill(&mut self) {
        self.inner.kill();
    }
}

/// The server binary for the outage tests, or `None` (after a loud skip
/// message; a failure under `CI=true`). See
/// `eventstorm_test_support::mongo_server_bin`.
pub fn server_bin() -> Option<PathBuf> {
    eventstorm_test_support::mongo_server_bin()
}
