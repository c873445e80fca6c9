//! The `zmq` source against a real foreign publisher: a pyzmq XPUB that
//! waits for the source's subscription (a plain PUB would drop what it sends
//! before, uncounted), then publishes `[topic][syslog line]` and
//! single-frame messages mixed with garbage into `eventstorm-source zmq`,
//! whose events an Eventstorm subscriber receives. Every message sent is
//! accounted for: `received = events + rejected + bad_framing + too_long +
//! refused_reserved`, and every event reaches the subscriber.
//!
//! The interpreter comes from `EVENTSTORM_PYTHON`
//! (`eval "$(scripts/services/python.sh start)"` installs pyzmq into
//! `.test-env/`). Without it the tests are skipped, loudly, unless
//! `CI=true`, where they fail.

mod common;
mod zmq_common;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::with_timeout;
use eventstorm_core::RawEvent;
use zmq_common::{Source, get, int, program, receive_until, subscriber, text};

const SETUP: &str = "eval \"$(scripts/services/python.sh start)\"";

/// Binds an XPUB on a free port and prints it; waits for a subscription;
/// publishes the messages read from stdin (a JSON list of messages, each a
/// list of hex-encoded frames) without dropping any (`XPUB_NODROP`); prints
/// their number and delivers them before exiting.
const PUBLISHER: &str = r#"
import binascii, json, sys
import zmq

messages = [[binascii.unhexlify(f) for f in m] for m in json.load(sys.stdin)]
ctx = zmq.Context()
pub = ctx.socket(zmq.XPUB)
pub.setsockopt(zmq.XPUB_NODROP, 1)
pub.setsockopt(zmq.SNDHWM, 100000)
port = pub.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
# A PUB drops what it sends before a subscription has reached it.
while True:
    if not pub.poll(30000):
        raise SystemExit("no subscriber within 30 s")
    if pub.recv()[:1] == b"\x01":
        break
for message in messages:
    pub.send_multipart(message)
print(len(messages), flush=True)
pub.close(linger=30000)
ctx.term()
"#;

/// The Python publisher, started with `messages`, and the port it bound.
fn start_publisher(
    python: &str,
    messages: &[Vec<Vec<u8>>],
) -> (Child, BufReader<std::process::ChildStdout>, u16) {
    let mut child = Command::new(python)
        .args(["-c", PUBLISHER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; {SETUP}"));
    let json: Vec<Vec<String>> = messages
        .iter()
        .map(|m| m.iter().map(|f| hex(f)).collect())
        .collect();
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(serde_json::to_string(&json).expect("json").as_bytes())
        .expect("messages to python's stdin");
    drop(stdin);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut port = String::new();
    stdout.read_line(&mut port).expect("the port");
    let port = port
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the publisher printed {port:?}, not a port"));
    (child, stdout, port)
}

/// Waits for the publisher to have sent everything and exited.
fn finish_publisher(
    mut child: Child,
    mut stdout: BufReader<std::process::ChildStdout>,
    sent: usize,
) {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the count");
    assert_eq!(line.trim(), sent.to_string(), "the publisher's count");
    let status = child.wait().expect("wait");
    assert!(status.success(), "the python publisher failed: {status}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn frames(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

#[test]
fn syslog_lines_and_garbage_from_pyzmq_are_all_accounted_for() {
    let Some(python) = program("EVENTSTORM_PYTHON", SETUP) else {
        return;
    };
    with_timeout(Duration::from_secs(180), move || {
        const GOOD: usize = 1000;
        let mut messages = Vec::new();
        for i in 0..GOOD {
            let line = format!("<34>Oct 11 22:14:15 mymachine su[77]: attempt {i}");
            messages.push(frames(&[b"syslog", line.as_bytes()]));
        }
        // One frame, RFC 5424, a trailing newline (ignored).
        messages.push(frames(&[
            b"<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog - ID47 - An application event\n",
        ]));
        // Parser errors.
        messages.push(frames(&[b"syslog", b"this is not syslog"]));
        messages.push(frames(&[b"\xff\xfe\x00garbage"]));
        // Bad framing: three frames, an empty payload.
        messages.push(frames(&[
            b"a",
            b"b",
            b"<13>Oct 11 22:14:15 h app: three frames",
        ]));
        messages.push(frames(&[b"syslog", b""]));
        // Too long (--max-payload-bytes 256).
        let long = format!("<13>Oct 11 22:14:15 h app: {}", "x".repeat(300));
        messages.push(frames(&[b"syslog", long.as_bytes()]));
        // A last good one, so that the subscriber knows everything arrived.
        messages.push(frames(&[b"syslog", b"<13>Oct 11 22:14:15 h app: the end"]));

        let ctx = zmq::Context::new();
        let (mut subscriber, out) = subscriber(&ctx);
        let (publisher, stdout, port) = start_publisher(&python, &messages);
        let foreign = format!("tcp://127.0.0.1:{port}");
        let mut source = Source::start(&[
            "zmq",
            "--sub-connect",
            &foreign,
            "--parser",
            "syslog",
            "--max-payload-bytes",
            "256",
            "--connect",
            &out,
            "--mode",
            "block",
            "--wait-for-subscriber-ms",
            "20000",
        ]);
        source.wait_for_line("subscribed to foreign publishers");

        let mut events: Vec<RawEvent> = Vec::new();
        receive_until(&mut subscriber, &mut events, |events| {
            events
                .last()
                .is_some_and(|e| text(e, "body.message") == Some("the end"))
        });
        finish_publisher(publisher, stdout, messages.len());
        let (counters, log) = source.stop();

        // Every message is counted once, in exactly one place.
        assert_eq!(
            get(&counters, "zmq.received"),
            messages.len() as u64,
            "{counters:?}"
        );
        assert_eq!(
            get(&counters, "zmq.events"),
            GOOD as u64 + 2,
            "{counters:?}"
        );
        assert_eq!(get(&counters, "zmq.rejected"), 2, "{counters:?}");
        assert_eq!(get(&counters, "zmq.bad_framing"), 2, "{counters:?}");
        assert_eq!(get(&counters, "zmq.too_long"), 1, "{counters:?}");
        assert_eq!(get(&counters, "zmq.refused_reserved"), 0, "{counters:?}");
        // Every event published and received, in order.
        assert_eq!(get(&counters, "sent"), GOOD as u64 + 2, "{counters:?}");
        assert_eq!(get(&counters, "dropped_hwm"), 0, "{counters:?}");
        assert_eq!(events.len(), GOOD + 2);
        let stats = subscriber.stats();
        for name in ["lost", "missed_at_join", "undecodable", "duplicates"] {
            assert_eq!(stats.get(name), Some(0), "{name}: {stats}");
        }

        for (i, event) in events[..GOOD].iter().enumerate() {
            assert_eq!(event.event_type(), "syslog.auth");
            assert_eq!(text(event, "body.message"), Some(&*format!("attempt {i}")));
        }
        let first = &events[0];
        assert_eq!(text(first, "hostname"), Some("mymachine"));
        assert_eq!(text(first, "logger"), Some("su"));
        assert_eq!(int(first, "pid"), Some(77));
        assert_eq!(int(first, "severity"), Some(2));
        let rfc5424 = &events[GOOD];
        assert_eq!(rfc5424.event_type(), "syslog.local4");
        assert_eq!(text(rfc5424, "hostname"), Some("host.example.com"));
        assert_eq!(text(rfc5424, "body.msgid"), Some("ID47"));
        assert_eq!(text(rfc5424, "body.message"), Some("An application event"));

        // Each kind of rejection was logged, with the sender.
        for warning in [
            "message from 127.0.0.1 rejected by the syslog parser: column 1: expected '<'",
            "message from 127.0.0.1 rejected: 3 frames, expected at most 2 (max_frames)",
            "rejected: a payload of 327 bytes, longer than 256 (max_payload_bytes)",
        ] {
            assert!(log.contains(warning), "{warning:?} not in:\n{log}");
        }
    });
}

#[test]
fn topics_filter_and_reserved_types_are_refused() {
    let Some(python) = program("EVENTSTORM_PYTHON", SETUP) else {
        return;
    };
    with_timeout(Duration::from_secs(120), move || {
        let messages = vec![
            frames(&[b"app", br#"{"type": "app.ok", "n": 1}"#]),
            frames(&[b"app", br#"{"type": "_eventstorm.stats", "sent": 5}"#]),
            frames(&[b"app", br#"{"type": "app.broken"#]),
            // Not subscribed to: filtered by ZeroMQ, never received.
            frames(&[b"other", br#"{"type": "app.filtered"}"#]),
            frames(&[b"app", br#"{"type": "app.last", "ts": 1714564800500}"#]),
        ];
        let ctx = zmq::Context::new();
        let (mut subscriber, out) = subscriber(&ctx);
        let (publisher, stdout, port) = start_publisher(&python, &messages);
        let foreign = format!("tcp://127.0.0.1:{port}");
        let mut source = Source::start(&[
            "zmq",
            "--sub-connect",
            &foreign,
            "--subscribe",
            "app",
            "--parser",
            "json",
            "--connect",
            &out,
            "--mode",
            "block",
            "--wait-for-subscriber-ms",
            "20000",
        ]);
        source.wait_for_line("subscribed to foreign publishers");
        let mut events = Vec::new();
        receive_until(&mut subscriber, &mut events, |events| {
            events.last().is_some_and(|e| e.event_type() == "app.last")
        });
        finish_publisher(publisher, stdout, messages.len());
        let (counters, log) = source.stop();

        let types: Vec<&str> = events.iter().map(RawEvent::event_type).collect();
        assert_eq!(types, ["app.ok", "app.last"]);
        assert_eq!(int(&events[0], "body.n"), Some(1));
        assert_eq!(get(&counters, "zmq.received"), 4, "{counters:?}");
        assert_eq!(get(&counters, "zmq.events"), 2, "{counters:?}");
        assert_eq!(get(&counters, "zmq.refused_reserved"), 1, "{counters:?}");
        assert_eq!(get(&counters, "zmq.rejected"), 1, "{counters:?}");
        assert_eq!(get(&counters, "zmq.bad_framing"), 0, "{counters:?}");
        assert_eq!(get(&counters, "sent"), 2, "{counters:?}");
        assert!(log.contains("reserved type \"_eventstorm.stats\""), "{log}");
    });
}

#[test]
fn the_foreign_endpoint_and_the_output_are_told_apart() {
    with_timeout(Duration::from_secs(60), || {
        let output = Command::new(zmq_common::BIN)
            .args([
                "zmq",
                "--connect",
                "tcp://127.0.0.1:5560",
                "--parser",
                "syslog",
            ])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("expected --sub-connect or --sub-bind")
                && stderr.contains("--connect and --bind say where events go"),
            "{stderr}"
        );
        let output = Command::new(zmq_common::BIN)
            .args([
                "zmq",
                "--sub-connect",
                "tcp://127.0.0.1:5560",
                "--max-frames",
                "0",
                "--connect",
                "tcp://127.0.0.1:5555",
                "--check",
            ])
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("zmq[0].max_frames`: expected 1 to 1024, got 0"),
            "{stderr}"
        );
    });
}
