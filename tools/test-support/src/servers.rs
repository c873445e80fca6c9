//! The test servers a test can start for itself: the MongoDB-compatible
//! server (SecantusDB) and the CQL test server (`tools/cql-test-server`).
//! Tests that must kill and restart a server (outages) start their own; the
//! others use the one `scripts/services/*.sh start` runs.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::env::missing;
use crate::fixtures::workspace_root;
use crate::process::{ServerProcess, Stream};

/// The variable naming the MongoDB-compatible server binary.
const MONGOD_BIN: &str = "EVENTSTORM_MONGOD_BIN";
/// The variable naming the CQL test server binary.
const CQL_SERVER_BIN: &str = "EVENTSTORM_CQL_SERVER_BIN";

/// The MongoDB-compatible server binary: `EVENTSTORM_MONGOD_BIN`, else the
/// SecantusDB that `scripts/services/mongo.sh` installs
/// (`.test-env/venv-mongo/bin/secantusd-py`); `None` after a skip message
/// when there is none (a failure under CI, see [`missing`]).
///
/// # Panics
///
/// Under CI, when there is none.
#[track_caller]
pub fn mongo_server_bin() -> Option<PathBuf> {
    let bin = std::env::var_os(MONGOD_BIN).map_or_else(
        || workspace_root().join(".test-env/venv-mongo/bin/secantusd-py"),
        PathBuf::from,
    );
    if bin.is_file() {
        return Some(bin);
    }
    missing(
        &format!("no MongoDB test server binary at {}", bin.display()),
        &format!("scripts/services/mongo.sh bin (installs it), or set {MONGOD_BIN}"),
    );
    None
}

/// The CQL test server binary: `EVENTSTORM_CQL_SERVER_BIN`, else
/// `cql-test-server` in the workspace's `target/debug` or `target/release`
/// (or under `$CARGO_TARGET_DIR`); `None` after a skip message when there
/// is none (a failure under CI, see [`missing`]).
///
/// # Panics
///
/// When `EVENTSTORM_CQL_SERVER_BIN` names no file; under CI, when there is
/// none.
#[track_caller]
pub fn cql_server_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(CQL_SERVER_BIN) {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "{CQL_SERVER_BIN}={} is not a file",
            bin.display()
        );
        return Some(bin);
    }
    let root = workspace_root();
    let mut targets = vec![root.join("target")];
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
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
            &format!(
                "the cql-test-server binary was not found ({CQL_SERVER_BIN} unset, nothing in target/)"
            ),
            &format!(
                "cargo build -p cql-test-server (or export {CQL_SERVER_BIN}=\"$(scripts/services/cql.sh bin)\")"
            ),
        );
    }
    found
}

/// A name no other test or run uses, for a keyspace or a database:
/// `es_{test}_{unique}_{n}` (letters, digits and `_`, as CQL keyspaces
/// need).
pub fn keyspace(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = nanos ^ (u64::from(std::process::id()) << 40);
    format!("es_{test}_{unique:x}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// A MongoDB-compatible server process of the test's own (SecantusDB,
/// standalone, on 127.0.0.1): started on a port it picks, read back from
/// its `listening on` log line; killed when dropped.
///
/// ```no_run
/// use eventstorm_test_support::{MongoServer, mongo_server_bin};
///
/// let Some(bin) = mongo_server_bin() else { return };
/// let storage = std::env::temp_dir().join("storage");
/// let mut server = MongoServer::start(&bin, &storage);
/// let uri = server.uri();
/// server.kill(); // an outage
/// server.restart(); // same port, same storage
/// ```
#[derive(Debug)]
pub struct MongoServer {
    process: ServerProcess,
}

impl MongoServer {
    /// Starts `bin` with its data in `storage`.
    ///
    /// # Panics
    ///
    /// When it does not start (the message quotes its output).
    #[track_caller]
    pub fn start(bin: &Path, storage: &Path) -> MongoServer {
        MongoServer::start_on(bin, 0, storage)
    }

    /// Starts `bin` on `port`: for a server started again where a killed
    /// one listened (a new server takes [`start`](Self::start)).
    ///
    /// # Panics
    ///
    /// When it does not start.
    #[track_caller]
    pub fn start_on(bin: &Path, port: u16, storage: &Path) -> MongoServer {
        let (bin, storage) = (bin.to_path_buf(), storage.to_path_buf());
        let name = bin.display().to_string();
        let process =
            ServerProcess::start_on(name, Stream::Stderr, "listening on", port, move |port| {
                let mut command = Command::new(&bin);
                command
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .arg("--standalone")
                    .arg("--storage-path")
                    .arg(&storage);
                command
            });
        MongoServer { process }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.process.id()
    }

    /// `mongodb://127.0.0.1:PORT/?directConnection=true`.
    pub fn uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.process.addr())
    }

    /// Kills the server (SIGKILL) and waits for it to end.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and storage (killing it first if it
    /// runs).
    ///
    /// # Panics
    ///
    /// When it does not start.
    #[track_caller]
    pub fn restart(&mut self) {
        self.process.restart();
    }
}

/// A CQL test server process of the test's own: started on a port it picks,
/// read back from its first stdout line (`listening on ADDR`); killed when
/// dropped.
///
/// ```no_run
/// use eventstorm_test_support::{CqlServer, cql_server_bin};
///
/// let Some(bin) = cql_server_bin() else { return };
/// let data = std::env::temp_dir().join("events.db");
/// let mut server = CqlServer::start(&bin, Some(&data));
/// let contact_point = server.uri();
/// server.restart(); // same port, same data
/// ```
#[derive(Debug)]
pub struct CqlServer {
    process: ServerProcess,
}

impl CqlServer {
    /// Starts `bin`, with its data in `data_file` (kept across restarts) or
    /// in memory only.
    ///
    /// # Panics
    ///
    /// When it does not start (the message quotes its output).
    #[track_caller]
    pub fn start(bin: &Path, data_file: Option<&Path>) -> CqlServer {
        CqlServer::start_on(bin, 0, data_file, &[])
    }

    /// Starts `bin` on `port` (0: one it picks; a fixed port is for a server
    /// started again where a killed one listened) with more arguments
    /// (`--port-file PATH`, `--verbose`).
    ///
    /// # Panics
    ///
    /// When it does not start.
    #[track_caller]
    pub fn start_on(bin: &Path, port: u16, data_file: Option<&Path>, args: &[&OsStr]) -> CqlServer {
        let bin = bin.to_path_buf();
        let data_file = data_file.map(Path::to_path_buf);
        let args: Vec<_> = args.iter().map(|a| a.to_os_string()).collect();
        let name = bin.display().to_string();
        let process =
            ServerProcess::start_on(name, Stream::Stdout, "listening on", port, move |port| {
                let mut command = Command::new(&bin);
                command.arg("--listen").arg(format!("127.0.0.1:{port}"));
                if let Some(path) = &data_file {
                    command.arg("--data-file").arg(path);
                }
                command.args(&args);
                command
            });
        CqlServer { process }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.process.port()
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.process.id()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    /// `127.0.0.1:PORT`, a contact point for the driver.
    pub fn uri(&self) -> String {
        self.process.addr().to_string()
    }

    /// Kills the server (SIGKILL: nothing is flushed) and waits for it to
    /// end.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port and data file (killing it first if
    /// it runs).
    ///
    /// # Panics
    ///
    /// When it does not start.
    #[track_caller]
    pub fn restart(&mut self) {
        self.process.restart();
    }
}
