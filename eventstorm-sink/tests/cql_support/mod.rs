//! Helpers of the CQL sink tests: where the server is, fresh keyspaces,
//! timeouts, and a cql-test-server child process killed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every test runs under this timeout.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (or, under `CI=true`, fails) a test that needs something missing.
fn missing(test: &str, what: &str, how: &str) {
    let message = format!("{what}\n    to run it: {how}");
    if in_ci() {
        panic!("CI=true and {message}");
    }
    // Straight to stderr: the test harness captures `eprintln!`, and a
    // skip must be seen.
    let line = format!("\n!!!!!!!!!! SKIPPED {test}: {message}\n\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// `EVENTSTORM_CQL_URI` (`host:port[,host:port...]`), or `None` after a loud
/// skip message (a failure under `CI=true`).
pub(crate) fn cql_uri(test: &str) -> Option<String> {
    match std::env::var("EVENTSTORM_CQL_URI") {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            missing(
                test,
                "EVENTSTORM_CQL_URI is not set",
                "eval \"$(scripts/services/cql.sh start)\" (or point it at a Cassandra/ScyllaDB node, see docs/cql-sink.md)",
            );
            None
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The cql-test-server binary: `EVENTSTORM_CQL_SERVER_BIN`, else the
/// workspace's `target/debug` or `target/release` (or `$CARGO_TARGET_DIR`).
pub(crate) fn server_bin(test: &str) -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("EVENTSTORM_CQL_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "EVENTSTORM_CQL_SERVER_BIN={} is not a file",
            bin.display()
        );
        return Some(bin);
    }
    let root = workspace_root();
    let mut targets = vec![root.join("target")];
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        targets.insert(0, root.join(dir));
    }
    let found = targets
        .iter()
        .flat_map(|t| {
            [
                t.join("debug/cql-test-server"),
                t.join("release/cql-test-server"),
            ]
        })
        .find(|p| p.is_file());
    if found.is_none() {
        missing(
            test,
            "the cql-test-server binary was not found (EVENTSTORM_CQL_SERVER_BIN unset, nothing in target/)",
            "cargo build -p cql-test-server (or export EVENTSTORM_CQL_SERVER_BIN=\"$(scripts/services/cql.sh bin)\")",
        );
    }
    found
}

/// A keyspace name no other test or run uses.
pub(crate) fn keyspace(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = nanos ^ (u64::from(std::process::id()) << 40);
    format!("es_{test}_{unique:x}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Runs `body` on a thread and fails the test when it takes longer than
/// [`TEST_TIMEOUT`].
pub(crate) fn with_timeout<F: FnOnce() + Send + 'static>(test: &str, body: F) {
    with_timeout_of(test, TEST_TIMEOUT, body);
}

/// Runs `body` on a thread and fails the test when it takes longer than
/// `limit`.
pub(crate) fn with_timeout_of<F: FnOnce() + Send + 'static>(test: &str, limit: Duration, body: F) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().expect("test thread"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{test} did not finish within {limit:?}")
        }
    }
}

/// A cql-test-server process; killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// The port it listens on.
    pub(crate) port: u16,
}

impl Server {
    /// Starts `bin` on `127.0.0.1:port` (0: a free port) with its data in
    /// `data_file`, and waits until it listens.
    pub(crate) fn start(bin: &Path, port: u16, data_file: &Path) -> Server {
        let mut child = Command::new(bin)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-file")
            .arg(data_file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn cql-test-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server { child, port: 0 };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("cql-test-server did not start");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("first line: listening on ADDR");
        server.port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        server
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn uri(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and wait for the process to end.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
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
