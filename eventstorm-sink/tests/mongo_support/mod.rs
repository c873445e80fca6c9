//! Helpers of the MongoDB sink's integration tests: the server URI (or a
//! loud skip), a database per test, and a server process of the test's own.
#![allow(dead_code, unreachable_pub)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventstorm_core::{Event, RawEvent};
use eventstorm_sink::mongo::MongoSinkConfig;

const SKIP: &str = "start one with: eval \"$(scripts/services/mongo.sh start)\"";

/// The server URI, or `None` (after a loud message) when the test must be
/// skipped. Under `CI=true` a missing server fails the test.
pub fn server_uri() -> Option<String> {
    match std::env::var("EVENTSTORM_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("EVENTSTORM_MONGODB_URI is not set and CI=true: {SKIP}")
        }
        _ => {
            loud(&format!("EVENTSTORM_MONGODB_URI is not set; {SKIP}"));
            None
        }
    }
}

/// Prints a skip notice past the test harness's output capture.
pub fn loud(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {message} ***\n");
}

/// A database of its own, dropped at the end of the test.
pub struct TestDb {
    pub uri: String,
    pub name: String,
}

impl TestDb {
    pub fn new(uri: &str, test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        TestDb {
            uri: uri.to_owned(),
            name: format!("es_{test}_{}_{nanos}", std::process::id()),
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A SecantusDB (or mongod-compatible) server process, killed on drop.
pub struct ServerProcess {
    bin: PathBuf,
    port: u16,
    storage: PathBuf,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn start(bin: &Path, port: u16, storage: &Path) -> Self {
        let mut server = ServerProcess {
            bin: bin.to_owned(),
            port,
            storage: storage.to_owned(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--standalone",
            ])
            .arg("--storage-path")
            .arg(&self.storage)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The server binary for the outage test, or `None` (skip).
pub fn server_bin() -> Option<PathBuf> {
    let bin = match std::env::var_os("EVENTSTORM_MONGOD_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.test-env/venv-mongo/bin/secantusd-py")
        }
    };
    if bin.is_file() {
        return Some(bin);
    }
    let message = format!(
        "no server binary at {} (set EVENTSTORM_MONGOD_BIN, or run scripts/services/mongo.sh bin)",
        bin.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    loud(&message);
    None
}
