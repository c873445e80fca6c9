//! Helpers of the CQL sink tests: the driver-side reader [`Cql`], and the
//! names earlier tests use for what `eventstorm-test-support` provides
//! (where the server is, fresh keyspaces, timeouts, a cql-test-server
//! process of the test's own).
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use eventstorm_test_support::{CqlServer, keyspace};

/// Every test runs under this timeout.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// `EVENTSTORM_CQL_URI`, or `None` after a loud skip message (a failure
/// under `CI=true`); see `eventstorm_test_support::cql_uri`.
pub(crate) fn cql_uri(_test: &str) -> Option<String> {
    eventstorm_test_support::cql_uri()
}

/// The cql-test-server binary, or `None` after a loud skip message; see
/// `eventstorm_test_support::cql_server_bin`.
pub(crate) fn server_bin(_test: &str) -> Option<PathBuf> {
    eventstorm_test_support::cql_server_bin()
}

/// Runs `body` under [`TEST_TIMEOUT`].
pub(crate) fn with_timeout<F: FnOnce() + Send + 'static>(_test: &str, body: F) {
    eventstorm_test_support::with_timeout(TEST_TIMEOUT, body);
}

/// Runs `body` under `limit`.
pub(crate) fn with_timeout_of<F: FnOnce() + Send + 'static>(_test: &str, limit: Duration, body: F) {
    eventstorm_test_support::with_timeout(limit, body);
}

/// A cql-test-server process; killed when dropped. (New tests use
/// [`CqlServer`], which restarts on its own port.)
pub(crate) struct Server {
    inner: CqlServer,
    /// The port it listens on.
    pub(crate) port: u16,
}

impl Server {
    /// Starts `bin` on `127.0.0.1:port` (0: a port it picks, read back)
    /// with its data in `data_file`, and waits until it listens.
    pub(crate) fn start(bin: &Path, port: u16, data_file: &Path) -> Server {
        let inner = CqlServer::start_on(bin, port, Some(data_file), &[]);
        Server {
            port: inner.port(),
            inner,
        }
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn uri(&self) -> String {
        self.inner.uri()
    }

    /// SIGKILL, and wait for the process to end.
    pub(crate) fn kill(&mut self) {
        self.inner.kill();
    }
}

/// Runs CQL statements with the driver directly (a check independent of the
/// sink's reader); `Drop` removes the test's keyspace where the server allows
/// it (a real cluster; the test server refuses `DROP` and forgets everything
/// when stopped).
pub(crate) struct Cql {
    runtime: tokio::runtime::Runtime,
    session: scylla::client::session::Session,
    keyspace: String,
}

impl Cql {
    /// Connects to `uri` (comma-separated contact points).
    pub(crate) fn connect(uri: &str, keyspace: &str) -> Cql {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let session = runtime
            .block_on(
                scylla::client::session_builder::SessionBuilder::new()
                    .known_nodes(uri.split(',').map(str::trim))
                    .build(),
            )
            .expect("connect");
        Cql {
            runtime,
            session,
            keyspace: keyspace.into(),
        }
    }

    /// Runs `cql` with `values`, returning the rows as `T`.
    pub(crate) fn rows<T>(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Vec<T>
    where
        T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        self.runtime.block_on(async {
            let result = self.session.query_unpaged(cql, values).await.expect(cql);
            let rows = result.into_rows_result().expect("rows");
            rows.rows::<T>()
                .expect("row type")
                .map(|r| r.expect("row"))
                .collect()
        })
    }
}

impl Drop for Cql {
    fn drop(&mut self) {
        let cql = format!("DROP KEYSPACE IF EXISTS {}", self.keyspace);
        let _ = self.runtime.block_on(self.session.query_unpaged(cql, ()));
    }
}
