//! What the stream engine tests share: the `eventstorm-sink` binary running
//! the shipped `examples/config/streams.toml`, a publisher standing where
//! the router's output would be, a subscriber where the router's input
//! would be (for `publish` actions), a webhook receiver, and a small
//! HTTP/1.1 client. Real sockets and connections, nothing mocked.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use eventstorm_core::Event;
use eventstorm_source::{Publisher, PublisherConfig};
use eventstorm_test_support::{holds_within, wait_for};
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-sink");
/// How long a condition may take to hold (a bound against hangs).
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The shipped configuration.
pub(crate) fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/streams.toml")
}

/// The binary with the shipped config.
pub(crate) struct Engine {
    pub(crate) child: Child,
    pub(crate) http: SocketAddr,
    pub(crate) log: PathBuf,
    pub(crate) dir: PathBuf,
    upstream: String,
    webhook: String,
    config: PathBuf,
    starts: u32,
}

impl Engine {
    /// Starts the binary: following `upstream`, publishing to
    /// `ipc://DIR/bus.sock`, its state in `DIR/streams.redb`, posting to
    /// `webhook`, on a free port (read from its log).
    pub(crate) fn start(dir: &Path, upstream: &str, webhook: &str) -> Engine {
        Engine::start_with(dir, upstream, webhook, &shipped_config())
    }

    /// [`Engine::start`] with another configuration file.
    pub(crate) fn start_with(dir: &Path, upstream: &str, webhook: &str, config: &Path) -> Engine {
        let (child, log, http) = launch(dir, upstream, webhook, config, 1);
        Engine {
            child,
            http,
            log,
            dir: dir.to_path_buf(),
            upstream: upstream.to_string(),
            webhook: webhook.to_string(),
            config: config.to_path_buf(),
            starts: 1,
        }
    }

    /// Where `publish` actions send (the test binds a subscriber there).
    pub(crate) fn bus_endpoint(dir: &Path) -> String {
        format!("ipc://{}/bus.sock", dir.display())
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let (child, log, http) = launch(
            &self.dir,
            &self.upstream,
            &self.webhook,
            &self.config,
            self.starts,
        );
        self.child = child;
        self.log = log;
        self.http = http;
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last value of a counter in the stats lines of the log.
    pub(crate) fn stat(&self, name: &str) -> Option<u64> {
        let needle = format!(" sink.{name}=");
        self.log()
            .lines()
            .filter(|l| l.contains("streams/streams"))
            .filter_map(|l| {
                let rest = l.split(&needle).nth(1)?;
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .next_back()
    }

    /// SIGTERM, wait, start again with the same state.
    pub(crate) fn restart(&mut self) {
        eventstorm_test_support::sigterm(&self.child);
        let status = eventstorm_test_support::wait_exit(&mut self.child, WAIT);
        assert!(status.success(), "exit: {status:?}\n{}", self.log());
        self.spawn();
    }

    /// `kill -9`, then start again with the same state.
    pub(crate) fn kill_and_restart(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
        self.spawn();
    }

    pub(crate) fn stop(mut self) -> Option<i32> {
        eventstorm_test_support::sigterm(&self.child);
        eventstorm_test_support::wait_exit(&mut self.child, WAIT).code()
    }

    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        request(self.http, method, path, body)
    }

    /// POSTs a definition; its id.
    pub(crate) fn define(&self, definition: &Value) -> String {
        let (status, body) = self.request(
            "POST",
            "/v1/stream-definitions",
            Some(&definition.to_string()),
        );
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// `GET /v1/streams?...`: the streams.
    pub(crate) fn streams(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.request("GET", &format!("/v1/streams?{query}"), None);
        assert_eq!(status, 200, "{body}");
        body["streams"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary (start number `n` logs to `DIR/streams-N.log`) and
/// reads the listener's address from its log.
fn launch(
    dir: &Path,
    upstream: &str,
    webhook: &str,
    config: &Path,
    n: u32,
) -> (Child, PathBuf, SocketAddr) {
    let log = dir.join(format!("streams-{n}.log"));
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("EVENTSTORM_ROUTER_OUTPUT", upstream)
        .env("EVENTSTORM_ROUTER_INPUT", Engine::bus_endpoint(dir))
        .env("EVENTSTORM_STREAMS_LISTEN", "127.0.0.1:0")
        .env("EVENTSTORM_STREAMS_STATE", dir.join("streams.redb"))
        .env("EVENTSTORM_STREAMS_WEBHOOK", webhook)
        .env("EVENTSTORM_STREAMS_BUS_WAIT_MS", "10000")
        .env("EVENTSTORM_STATS_INTERVAL_MS", "200")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn eventstorm-sink");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut addr = None;
    let started = holds_within(WAIT, || {
        addr = read().lines().find_map(|line| {
            let rest = line.split("HTTP listener started addr=").nth(1)?;
            rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
        });
        addr.is_some()
    });
    if !started {
        let _ = child.kill();
        panic!("the engine never listened:\n{}", read());
    }
    (child, log, addr.expect("address"))
}

/// One HTTP/1.1 request over a fresh connection: status and JSON body
/// (`Null` when empty).
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read");
    let text = String::from_utf8_lossy(&answer);
    let (head, rest) = text.split_once("\r\n\r\n").expect("head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let value = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("{e}: {rest}"))
    };
    (status, value)
}

/// A publisher bound where a router's output would be.
pub(crate) fn publisher(ctx: &zmq::Context) -> Publisher {
    Publisher::new(ctx, &PublisherConfig::bind("tcp://127.0.0.1:*")).expect("publisher")
}

/// Waits until the engine subscribed to `publisher` (`n` subscriptions in
/// all: one per start).
pub(crate) fn wait_subscribed(publisher: &mut Publisher, n: u64) {
    assert!(
        publisher.wait_for_subscribers(n, WAIT).expect("wait"),
        "the engine never subscribed"
    );
}

/// A `compute.instance.*` event for an instance at `ts_ms`.
pub(crate) fn instance_event(event_type: &str, instance: &str, ts_ms: i64) -> Event {
    Event::builder(event_type)
        .timestamp(bson::DateTime::from_millis(ts_ms))
        .field("instance_id", instance)
        .build()
}

/// A webhook receiver: answers every POST with `status` (changeable) and
/// keeps the JSON bodies.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) bodies: Arc<Mutex<Vec<Value>>>,
    pub(crate) status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Receiver {
    pub(crate) fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(status));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (bodies, status, stop) = (bodies.clone(), status.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    serve(conn, &bodies, status.load(Ordering::Relaxed));
                }
            })
        };
        Receiver {
            url: format!("http://{addr}/hooks/streams"),
            bodies,
            status,
            stop,
            thread: Some(thread),
            addr,
        }
    }

    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("bodies").clone()
    }

    /// Waits for at least `n` bodies.
    pub(crate) fn wait(&self, n: usize) -> Vec<Value> {
        wait_for(format!("{n} webhook posts"), WAIT, || {
            self.bodies().len() >= n
        });
        self.bodies()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, bodies: &Mutex<Vec<Value>>, status: u16) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn);
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        bodies.lock().expect("bodies").push(v);
    }
    let mut conn = reader.into_inner();
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// The seed's definition: `compute.instance.create.*` grouped by
/// `body.instance_id`, fired by `create.end`.
/// The times of the events a stream action carried (its JSON `events`),
/// in milliseconds after `t0`, in the order carried.
pub(crate) fn event_times(post: &Value, t0: i64) -> Vec<i64> {
    post["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let ts = e["ts"]["$date"].as_str().expect("ts");
            bson::DateTime::parse_rfc3339_str(ts)
                .expect("rfc3339")
                .timestamp_millis()
                - t0
        })
        .collect()
}

pub(crate) fn instance_create(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "description": "an instance's creation, from start to end",
        "select": ["compute.instance.create.*"],
        "group_by": ["body.instance_id"],
        "expiration": "first + 10m",
        "fire_criteria": [{"match": "compute.instance.create.end", "count": 1}],
        "fire_actions": ["notify", "bus", "log"],
        "expire_actions": ["log"],
    })
}

/// A subscriber bound where the router's input would be, read on a thread
/// of its own (so that it takes the engine's connection at once).
pub(crate) struct Bus {
    events: Arc<Mutex<Vec<eventstorm_core::RawEvent>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bus {
    pub(crate) fn start(ctx: &zmq::Context, dir: &Path) -> Bus {
        let mut sub = eventstorm_sink::Subscriber::new(
            ctx,
            &eventstorm_sink::SubscriberConfig::bind(Engine::bus_endpoint(dir))
                .subscribe(["stream."]),
        )
        .expect("bus subscriber");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (events, stop) = (events.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(Some(e)) = sub.recv(Duration::from_millis(50)) {
                        events.lock().expect("events").push(e);
                    }
                }
            })
        };
        Bus {
            events,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits for at least `n` events.
    pub(crate) fn wait(&self, n: usize) -> Vec<eventstorm_core::RawEvent> {
        let events = || self.events.lock().expect("events").clone();
        wait_for(format!("{n} events on the bus"), WAIT, || {
            events().len() >= n
        });
        events()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
