//! The `eventstorm-router` binary, running the rules of
//! `examples/config/router.toml`, against events nested too deep or malformed
//! inside: each is counted as undecodable at the input, the router stays up,
//! and the events around them still arrive.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use bson::doc;
use common::{spawn_router, wait_for, with_timeout};
use eventstorm_core::Event;
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{DeliveryMode, Publisher, PublisherConfig, SendOutcome};

const LIMIT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(10);

/// The bytes of a document nesting `levels` levels (itself included), each
/// level one element `a` holding the next. Built without a `bson::Document`,
/// whose drop would recurse.
fn nested(levels: usize) -> Vec<u8> {
    const PER_LEVEL: usize = 4 + 1 + 2 + 1;
    let mut out = Vec::with_capacity(levels * PER_LEVEL);
    for level in 0..levels - 1 {
        let len = (levels - level - 1) * PER_LEVEL + 5;
        out.extend_from_slice(&(len as i32).to_le_bytes());
        out.extend_from_slice(b"\x03a\0");
    }
    out.extend_from_slice(&[5, 0, 0, 0, 0]);
    out.extend(std::iter::repeat_n(0u8, levels - 1));
    out
}

/// The bytes of `event` with `nest` (a document's bytes) appended to its body
/// as the field `deep`.
fn with_nested_field(event: &Event, nest: &[u8]) -> Vec<u8> {
    let mut bytes = event.to_bytes();
    // The builder writes `body` last: open it up at its terminator.
    let body_len_at = bytes.len() - 1 - event_body_len(event);
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(b"\x03deep\0");
    bytes.extend_from_slice(nest);
    bytes.extend_from_slice(&[0, 0]);
    let body_len = (bytes.len() - 1 - body_len_at) as i32;
    bytes[body_len_at..body_len_at + 4].copy_from_slice(&body_len.to_le_bytes());
    let len = (bytes.len() as i32).to_le_bytes();
    bytes[..4].copy_from_slice(&len);
    bytes
}

fn event_body_len(event: &Event) -> usize {
    let mut body = Vec::new();
    event.body().to_writer(&mut body).expect("encode");
    body.len()
}

/// The example's configuration with its endpoints moved into `dir` and a
/// short stats interval; its rules unchanged.
fn example_config(dir: &std::path::Path) -> String {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/config/router.toml"
    );
    let text = std::fs::read_to_string(example).expect("examples/config/router.toml");
    let mut out = text.clone();
    for (port, name) in [("5555", "in"), ("5556", "all"), ("5557", "billing")] {
        let endpoint = format!("ipc://{}/{name}.sock", dir.display());
        out = out.replace(&format!("tcp://127.0.0.1:{port}"), &endpoint);
    }
    out = out.replace("stats_interval_ms = 10000", "stats_interval_ms = 200");
    assert_ne!(out, text);
    assert!(!out.contains("tcp://127.0.0.1:555"), "{out}");
    out
}

fn still_running(child: &mut Child) -> bool {
    child.try_wait().expect("try_wait").is_none()
}

fn last_stats_line(log: &std::path::Path) -> String {
    let log = std::fs::read_to_string(log).expect("log");
    log.lines()
        .rev()
        .find(|l| l.contains("in.apps.received="))
        .map(str::to_string)
        .unwrap_or_default()
}

/// The value of `name=` in a stats line (0 when absent).
fn counter(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(name)?.strip_prefix('='))
        .and_then(|value| value.trim_end_matches(',').parse().ok())
        .unwrap_or(0)
}

#[test]
fn deep_and_malformed_events_are_undecodable_and_the_router_stays_up() {
    with_timeout(LIMIT, || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("router.toml");
        std::fs::write(&path, example_config(dir.path())).expect("write");
        let log = dir.path().join("router.log");
        let mut child = spawn_router(&path, &log);
        let socket = |name: &str| dir.path().join(format!("{name}.sock"));
        assert!(
            wait_for(WAIT, || socket("all").exists()
                && socket("billing").exists()),
            "the router never bound its outputs"
        );

        let ctx = zmq::Context::new();
        let endpoint = |name: &str| format!("ipc://{}", socket(name).display());
        let mut billing = Subscriber::new(&ctx, &SubscriberConfig::connect(endpoint("billing")))
            .expect("billing subscriber");
        let mut all = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(endpoint("all")).subscribe(["syslog."]),
        )
        .expect("all subscriber");
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(endpoint("in")).with_mode(DeliveryMode::Block),
        )
        .expect("publisher");
        assert!(
            publisher
                .wait_for_subscribers(1, WAIT)
                .expect("subscriptions"),
            "the router never subscribed"
        );

        // Rule `usage` removes `body.admin_password` (a transform that
        // decodes the event); rule `lab-syslog` sets the tenant.
        let usage = Event::builder("compute.instance.create.end")
            .field("admin_password", "hunter2")
            .field("instance_id", "i-1")
            .build();
        let lab = Event::builder("syslog.auth")
            .hostname("lab-1")
            .field("msg", "x")
            .build();
        let deep_usage = with_nested_field(&usage, &nested(6_000));
        assert!((47_000..50_000).contains(&deep_usage.len()));
        let deep_lab = with_nested_field(&lab, &nested(6_000));
        // A nested string whose length runs past its document.
        let mut malformed = with_nested_field(&usage, &{
            let mut inner = Vec::new();
            doc! { "s": "abcdef" }
                .to_writer(&mut inner)
                .expect("encode");
            inner
        });
        let at = malformed
            .windows(10)
            .position(|w| w == b"\x07\0\0\0abcdef")
            .expect("the string");
        malformed[at] = 0x70;

        // The router passes its outputs' subscriptions upstream, so until
        // both subscribers' subscriptions have reached the publisher through
        // it, an event either of them wants may be filtered out on the way.
        // Probe both ways until a probe arrives at each; then wait until the
        // router's counts stop moving, and count from there.
        let billing_probe = Event::builder("volume.probe").build();
        let all_probe = Event::builder("syslog.probe").hostname("web-1").build();
        let (mut billed_probe, mut logged_probe) = (false, false);
        let probed = wait_for(WAIT, || {
            for probe in [&billing_probe, &all_probe] {
                assert_eq!(publisher.send(probe).expect("send"), SendOutcome::Sent);
            }
            billed_probe |= billing
                .recv(Duration::from_millis(50))
                .expect("recv")
                .is_some();
            logged_probe |= all.recv(Duration::from_millis(50)).expect("recv").is_some();
            billed_probe && logged_probe
        });
        assert!(probed, "no probe arrived: {}", last_stats_line(&log));
        let mut before = None;
        let settled = wait_for(WAIT, || {
            std::thread::sleep(Duration::from_millis(500));
            let now = (
                counter(&last_stats_line(&log), "in.apps.received"),
                counter(&last_stats_line(&log), "in.apps.undecodable"),
            );
            let same = before == Some(now);
            before = Some(now);
            same
        });
        assert!(settled, "the probes never settled");
        let (received_before, undecodable_before) = before.expect("a count");
        assert_eq!(undecodable_before, 0);

        let send = |publisher: &mut Publisher, event_type: &str, body: &[u8]| {
            assert_eq!(
                publisher.send_bytes(event_type, body).expect("send"),
                SendOutcome::Sent
            );
        };
        send(&mut publisher, "compute.instance.create.end", &deep_usage);
        send(&mut publisher, "syslog.auth", &deep_lab);
        send(&mut publisher, "compute.instance.create.end", &malformed);
        assert_eq!(publisher.send(&usage).expect("send"), SendOutcome::Sent);
        assert_eq!(publisher.send(&lab).expect("send"), SendOutcome::Sent);

        // Skip probes still on their way.
        let past_probes = |subscriber: &mut Subscriber, what: &str| loop {
            let event = subscriber.recv(WAIT).expect("recv").expect(what);
            if !event.event_type().ends_with(".probe") {
                break event;
            }
        };
        let billed = past_probes(&mut billing, "the good event");
        assert_eq!(billed.id(), usage.id());
        assert!(billed.get("body.admin_password").is_none());
        let logged = past_probes(&mut all, "the good syslog event");
        assert_eq!(logged.id(), lab.id());
        assert_eq!(logged.view().tenant(), Some("lab"));
        assert!(still_running(&mut child), "the router died");

        let counted = wait_for(WAIT, || {
            let line = last_stats_line(&log);
            counter(&line, "in.apps.undecodable") == 3
                && counter(&line, "in.apps.received") == received_before + 2
        });
        assert!(counted, "stats: {}", last_stats_line(&log));
        let log_text = std::fs::read_to_string(&log).expect("log");
        assert!(log_text.contains("deeper than 100 levels"), "{log_text}");

        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the router did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(code, Some(0));
        publisher.close();
    });
}
