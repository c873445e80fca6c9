//! What the dashboard tests share: the `eventstorm-sink` binary running the
//! shipped `examples/config/dashboard.toml`, a publisher standing where the
//! router's output would be, events published at known rates, and a small
//! HTTP/1.1 client (plain `TcpStream`: real connections, nothing mocked).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventstorm_core::{Event, Severity, Stats};
use eventstorm_source::{Publisher, PublisherConfig};
use eventstorm_test_support::{holds_within, wait_for};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_eventstorm-sink");
/// How long a condition may take to hold (a bound against hangs).
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// The shipped configuration.
pub(crate) fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/dashboard.toml")
}

/// The sink binary running the shipped dashboard configuration, following
/// a publisher of the test's own.
pub(crate) struct Dashboard {
    pub(crate) child: Child,
    pub(crate) http: SocketAddr,
    pub(crate) log: PathBuf,
    /// The endpoint stats events are sent to.
    pub(crate) stats_endpoint: String,
}

impl Dashboard {
    /// Starts the binary with the shipped config: following `upstream`,
    /// taking stats events on an ipc endpoint in `dir`, listening on a free
    /// port (read from its log), reporting its own stats every 500 ms.
    pub(crate) fn start(dir: &Path, upstream: &str) -> Dashboard {
        let log = dir.join("dashboard.log");
        let stats_endpoint = format!("ipc://{}/stats.sock", dir.display());
        let child = Command::new(BIN)
            .arg("--config")
            .arg(shipped_config())
            .env("EVENTSTORM_ROUTER_OUTPUT", upstream)
            .env("EVENTSTORM_DASHBOARD_STATS", &stats_endpoint)
            .env("EVENTSTORM_DASHBOARD_LISTEN", "127.0.0.1:0")
            .env("EVENTSTORM_STATS_INTERVAL_MS", "500")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn eventstorm-sink");
        let mut dashboard = Dashboard {
            child,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            stats_endpoint,
        };
        let mut addr = None;
        let started = holds_within(WAIT, || {
            addr = dashboard.log().lines().find_map(|line| {
                let rest = line.split("HTTP listener started addr=").nth(1)?;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            });
            addr.is_some()
        });
        assert!(
            started,
            "the dashboard never listened:\n{}",
            dashboard.log()
        );
        dashboard.http = addr.expect("address");
        dashboard
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/series`, parsed.
    pub(crate) fn series(&self) -> serde_json::Value {
        let (status, _, body) = get(self.http, "/api/series");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("JSON")
    }

    /// SIGTERM, and the exit code.
    pub(crate) fn stop(mut self) -> Option<i32> {
        eventstorm_test_support::sigterm(&self.child);
        eventstorm_test_support::wait_exit(&mut self.child, WAIT).code()
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The row of the series `name` in a dimension (`by_type`, ...) of a
/// series or update document.
pub(crate) fn row<'a>(
    doc: &'a serde_json::Value,
    dim: &str,
    name: &str,
) -> Option<&'a serde_json::Value> {
    doc[dim]["series"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
}

/// The components table row of `name`.
pub(crate) fn component<'a>(
    doc: &'a serde_json::Value,
    name: &str,
) -> Option<&'a serde_json::Value> {
    doc["components"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// A publisher bound where a router's output would be, once the dashboard
/// subscribed.
pub(crate) fn publisher(ctx: &zmq::Context) -> Publisher {
    Publisher::new(ctx, &PublisherConfig::bind("tcp://127.0.0.1:*")).expect("publisher")
}

/// Sends `n` events of `event_type` at once.
pub(crate) fn burst(
    publisher: &mut Publisher,
    event_type: &str,
    n: u64,
    severity: Severity,
    tenant: &str,
) {
    for i in 0..n {
        let event = Event::builder(event_type)
            .severity(severity)
            .tenant(tenant)
            .field("i", i as i64)
            .build();
        publisher.send(&event).expect("send");
    }
}

/// Publishes a router's stats as the router would (`_eventstorm.stats`).
pub(crate) fn send_stats(publisher: &mut Publisher, stats: &Stats) {
    publisher.send(&stats.to_event()).expect("send stats");
}

/// A thread publishing, per second, `rates` events of each type (with its
/// tenant), spread over the second, until stopped.
pub(crate) struct Steady {
    stop: Arc<AtomicBool>,
    sent: Arc<Vec<AtomicU64>>,
    thread: Option<JoinHandle<Publisher>>,
}

impl Steady {
    pub(crate) fn start(
        mut publisher: Publisher,
        rates: &[(&'static str, u64, Option<&'static str>)],
    ) -> Steady {
        let stop = Arc::new(AtomicBool::new(false));
        let sent: Arc<Vec<AtomicU64>> = Arc::new(rates.iter().map(|_| AtomicU64::new(0)).collect());
        let rates = rates.to_vec();
        let thread = {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                // Ticks of 10 ms: each type gets rate/100 events per tick,
                // the remainder spread by accumulating fractions.
                let start = Instant::now();
                let mut tick = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tick += 1;
                    for (i, (event_type, rate, tenant)) in rates.iter().enumerate() {
                        let due = rate * tick / 100;
                        while sent[i].load(Ordering::Relaxed) < due {
                            let mut b =
                                Event::builder(*event_type).severity(Severity::Informational);
                            if let Some(t) = tenant {
                                b = b.tenant(*t);
                            }
                            publisher.send(&b.build()).expect("send");
                            sent[i].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let next = start + Duration::from_millis(10 * tick);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                publisher
            })
        };
        Steady {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Stops, and returns the publisher and how many of each type were sent.
    pub(crate) fn stop(mut self) -> (Publisher, Vec<u64>) {
        self.stop.store(true, Ordering::Relaxed);
        let publisher = self
            .thread
            .take()
            .expect("thread")
            .join()
            .expect("publisher thread");
        let sent = self
            .sent
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        (publisher, sent)
    }
}

/// Waits until the dashboard subscribed to `publisher`.
pub(crate) fn wait_subscribed(publisher: &mut Publisher) {
    assert!(
        publisher.wait_for_subscribers(1, WAIT).expect("wait"),
        "the dashboard never subscribed"
    );
}

/// A whole `GET` over a fresh connection: status, headers (lower-case
/// names), body (de-chunked).
pub(crate) fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let (status, headers) = head(&mut reader);
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        while let Some(chunk) = next_chunk(&mut reader) {
            body.extend_from_slice(&chunk);
        }
    } else {
        reader.read_to_end(&mut body).expect("body");
    }
    (status, headers, body)
}

fn head(reader: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let text = line.trim_end();
        if text.is_empty() {
            break;
        }
        if let Some((k, v)) = text.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (status, headers)
}

/// The next chunk of a chunked body; `None` at its end (or when the
/// connection closed).
fn next_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

/// A Server-Sent Events stream being read.
pub(crate) struct EventStream {
    reader: BufReader<TcpStream>,
    pending: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// One event of the stream: its `event:` name (`message` when none) and data.
#[derive(Debug)]
pub(crate) struct StreamEvent {
    pub(crate) name: String,
    pub(crate) data: String,
}

impl EventStream {
    pub(crate) fn open(addr: SocketAddr, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
        )
        .expect("send");
        let mut reader = BufReader::new(stream);
        let (status, headers) = head(&mut reader);
        assert_eq!(status, 200, "{headers:?}");
        EventStream {
            reader,
            pending: String::new(),
            headers,
        }
    }

    /// The next event, or `None` once the stream ended.
    pub(crate) fn next_event(&mut self) -> Option<StreamEvent> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut event = StreamEvent {
                    name: "message".into(),
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.name = v.to_string();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data.push_str(v);
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
                continue;
            }
            let chunk = next_chunk(&mut self.reader)?;
            self.pending
                .push_str(&String::from_utf8(chunk).expect("UTF-8"));
        }
    }
}

/// Polls `/api/series` until `check` holds on it; returns that document.
pub(crate) fn series_until(
    dashboard: &Dashboard,
    what: &str,
    mut check: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let held = holds_within(WAIT, || {
        last = dashboard.series();
        check(&last)
    });
    assert!(
        held,
        "never held: {what}\nlast /api/series: {last:#}\nlog:\n{}",
        dashboard.log()
    );
    last
}

/// Waits for the test's stats event to be counted as such.
pub(crate) fn wait_stats(dashboard: &Dashboard, name: &str) {
    wait_for(format!("the stats of {name}"), WAIT, || {
        component(&dashboard.series(), name).is_some()
    });
}
