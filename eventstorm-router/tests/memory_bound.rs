//! The router binary under the loads that used to exhaust its memory (40
//! events of 10 MB to a subscriber that does not read; tens of thousands of
//! sequence marks with long topics) stays under the bound that
//! docs/router-config.md ("Memory bound") gives for its configuration,
//! measured as the peak resident set (VmHWM).

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use bson::doc;
use common::{spawn_router, wait_for, with_timeout};
use eventstorm_core::Header;
use eventstorm_source::{Client, DeliveryMode};

const LIMIT: Duration = Duration::from_secs(300);
const WAIT: Duration = Duration::from_secs(60);
const MIB: u64 = 1024 * 1024;

const IN_HWM: u64 = 4;
const OUT_HWM: u64 = 4;
const MAX_MESSAGE_SIZE: u64 = 11 * MIB;
/// The client and the raw mark sender.
const PUBLISHERS: u64 = 2;
/// The subscriber that never reads.
const SUBSCRIBERS: u64 = 1;

/// The bound of docs/router-config.md for this test's configuration.
fn documented_bound() -> u64 {
    documented_bound_with(None)
}

/// The bound of docs/router-config.md for this test's configuration, whose
/// output sends batches of up to `batch_bytes` when given.
fn documented_bound_with(batch_bytes: Option<u64>) -> u64 {
    let fixed = 64 * MIB;
    let input = (IN_HWM + 1) * PUBLISHERS * MAX_MESSAGE_SIZE + 4 * MAX_MESSAGE_SIZE;
    let tracker = 42 * MIB;
    // With batches, a queued message is at most the larger of an event and
    // a batch, and the batch being filled holds up to batch_bytes plus one
    // event.
    let output = match batch_bytes {
        None => (OUT_HWM + 1) * SUBSCRIBERS * MAX_MESSAGE_SIZE,
        Some(batch) => {
            (OUT_HWM + 1) * SUBSCRIBERS * MAX_MESSAGE_SIZE.max(batch) + batch + MAX_MESSAGE_SIZE
        }
    };
    let stamper = 42 * MIB;
    // 10,000 prefixes of at most 256 bytes, on the output and upstream.
    let subscriptions = 2 * 10_000 * (256 + 400);
    // The output's prefixes of subscribers that left, its per-host counts
    // (one subscriber host, 1,000 prefixes) and unread connection events.
    let departed = 10_000 * (256 + 64);
    let per_host = SUBSCRIBERS * 1_000 * 64;
    let connection_events = 11_000 * 200;
    fixed
        + input
        + tracker
        + output
        + stamper
        + subscriptions
        + departed
        + per_host
        + connection_events
}

/// The peak resident set of a process, from /proc.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

/// Reports a peak resident set and checks it against the bound.
fn assert_under_bound(what: &str, peak: u64, bound: u64) {
    eprintln!(
        "{what} peak RSS: {} MiB; documented bound {} MiB",
        peak / MIB,
        bound / MIB
    );
    assert!(
        peak < bound,
        "{what}: peak RSS {} MiB over the bound {} MiB",
        peak / MIB,
        bound / MIB
    );
}

/// The last value of `name=` in the router's stats lines.
fn last_counter(log: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    log.lines()
        .rev()
        .find_map(|l| {
            let at = l.find(&key)? + key.len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

struct Router(Child);

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the router binary with this test's configuration, plus
/// `output_extra` in its output's table; returns it, its log file and its
/// input and output endpoints.
fn start_router(dir: &Path, output_extra: &str) -> (Router, PathBuf, String, String) {
    // ipc endpoints in the test's own directory: no port to race for.
    let input = format!("ipc://{}/in.sock", dir.display());
    let output = format!("ipc://{}/out.sock", dir.display());
    let config = format!(
        r#"
[router]
name = "bounded"
default_output = "all"
stats_interval_ms = 200

[[inputs]]
name = "apps"
bind = ["{input}"]
hwm = {IN_HWM}
max_message_size = {MAX_MESSAGE_SIZE}

[[outputs]]
name = "all"
bind = ["{output}"]
hwm = {OUT_HWM}
{output_extra}
"#
    );
    let path = dir.join("router.toml");
    std::fs::write(&path, config).expect("write");
    let log = dir.join("router.log");
    let router = Router(spawn_router(&path, &log));
    (router, log, input, output)
}

/// A subscriber to everything on `output` that never reads, and a
/// block-mode client connected to `input` once the router wants its events.
fn stuck_subscriber_and_client(
    input: &str,
    output: &str,
    batch_events: Option<usize>,
) -> (zmq::Socket, Client) {
    let ctx = zmq::Context::new();
    let stuck = ctx.socket(zmq::SUB).expect("socket");
    stuck.set_rcvhwm(1).expect("rcvhwm");
    stuck.set_linger(0).expect("linger");
    stuck.set_subscribe(b"").expect("subscribe");
    stuck.connect(output).expect("connect");
    let builder = Client::builder();
    let builder = match batch_events {
        Some(n) => builder.batch_events(n),
        None => builder,
    };
    let client = builder
        .context(ctx)
        .connect(input)
        .mode(DeliveryMode::Block)
        .build()
        .expect("client");
    assert!(wait_for(WAIT, || client.is_wanted("big.event")));
    (stuck, client)
}

#[test]
fn hostile_loads_stay_under_the_documented_memory_bound() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let (router, log, input, output) = start_router(dir.path(), "");
        let pid = router.0.id();
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(wait_for(WAIT, || read_log().contains("input ready")));

        // 40 events of 10 MB to a subscriber that never reads.
        let (_stuck, client) = stuck_subscriber_and_client(&input, &output, None);
        let ctx = zmq::Context::new();
        let padding = "x".repeat(10 * 1000 * 1000);
        for i in 0..40 {
            client.emit("big.event", doc! { "i": i, "padding": &padding });
        }
        assert!(client.flush(WAIT), "the client did not send everything");
        assert!(
            wait_for(WAIT, || last_counter(&read_log(), "in.apps.received") == 40),
            "{}",
            read_log()
        );
        let after_events = vm_hwm(pid);

        // Marks: 40,000 with 16 KB topics (refused as undecodable), 65,000
        // on distinct valid topics of 255 bytes (tracked, within the caps).
        let marker = ctx.socket(zmq::XPUB).expect("xpub");
        marker.set_sndhwm(0).expect("sndhwm");
        marker.set_linger(0).expect("linger");
        marker.connect(&input).expect("connect");
        marker
            .set_rcvtimeo(i32::try_from(WAIT.as_millis()).expect("ms"))
            .expect("rcvtimeo");
        marker.recv_bytes(0).expect("the router's subscription");
        let mark = Header {
            publisher: 99,
            sequence: 1,
        }
        .encode_mark();
        let long = vec![b'm'; 16 * 1024];
        for _ in 0..40_000 {
            marker
                .send_multipart([&long[..], &mark[..], &[][..]], 0)
                .expect("send");
        }
        let stem = "m".repeat(249);
        for i in 0..65_000 {
            let topic = format!("{stem}{i:06}");
            marker
                .send_multipart([topic.as_bytes(), &mark[..], &[][..]], 0)
                .expect("send");
        }
        assert!(
            wait_for(WAIT, || {
                let log = read_log();
                last_counter(&log, "in.apps.undecodable") == 40_000
                    && last_counter(&log, "in.apps.marks") >= 65_000
            }),
            "{}",
            read_log()
        );
        eprintln!(
            "router peak RSS after the 10 MB events: {} MiB",
            after_events / MIB
        );
        assert_under_bound("router", vm_hwm(pid), documented_bound());
        drop(router);
    });
}

/// The same bound with the output sending batches of the largest size
/// (16 MiB), under 2,000 events of 100 KB from a batching client to a
/// subscriber that never reads: what the output holds is its queue of whole
/// batches plus the one being filled, whatever arrives.
#[test]
fn a_batching_output_stays_under_the_documented_memory_bound() {
    with_timeout(LIMIT, || {
        const BATCH_BYTES: u64 = 16 * MIB;
        const EVENTS: u64 = 2_000;
        let dir = tempfile::tempdir().expect("tempdir");
        let (router, log, input, output) = start_router(
            dir.path(),
            &format!("batch_events = 65536\nbatch_bytes = {BATCH_BYTES}"),
        );
        let pid = router.0.id();
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        assert!(wait_for(WAIT, || read_log().contains("input ready")));

        let (stuck, client) = stuck_subscriber_and_client(&input, &output, Some(64));
        let padding = "x".repeat(100 * 1000);
        for i in 0..EVENTS {
            client.emit("big.event", doc! { "i": i as i64, "padding": &padding });
        }
        assert!(client.flush(WAIT), "the client did not send everything");
        assert!(
            wait_for(WAIT, || {
                let log = read_log();
                last_counter(&log, "in.apps.received") == EVENTS
                    && last_counter(&log, "out.all.sent")
                        + last_counter(&log, "out.all.dropped_hwm")
                        == EVENTS
            }),
            "{}",
            read_log()
        );
        let log_text = read_log();
        // Most of it found the queue full: dropped in whole batches, counted.
        assert!(
            last_counter(&log_text, "out.all.dropped_hwm") > 0,
            "{log_text}"
        );
        assert_under_bound(
            "batching router",
            vm_hwm(pid),
            documented_bound_with(Some(BATCH_BYTES)),
        );
        drop(router);
        drop(stuck);
    });
}
