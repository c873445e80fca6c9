//! What HTTP ingest makes of the values it is sent, over real connections:
//! timestamps, field order, big integers, gzip, a field named `body`, the
//! parser routes (OpenStack notifications), reserved types, deep nesting.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use eventstorm_core::{Event, EventSource};
use eventstorm_source::http::HttpSourceConfig;
use eventstorm_source::parse::{OpenStackParser, Parser};
use serde_json::{Value, json};

mod common;
mod http_common;
use common::with_timeout;
use http_common::{drain, exchange, post, request, source};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip (from the gzip package) is needed by this test");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).expect("write"));
    let out = child.wait_with_output().expect("gzip");
    writer.join().expect("writer");
    assert!(out.status.success());
    out.stdout
}

fn errors(answer: &Value) -> String {
    answer["errors"].to_string()
}

/// The range every event time must lie in, as error messages say it.
const TS_RANGE: &str = "1970-01-01T00:00:00Z up to 2200-01-01T00:00:00Z (excluded)";

#[test]
fn numeric_timestamps_follow_one_rule_and_out_of_range_is_400() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let body = r#"[{"type":"t","ts":1714564800500},{"type":"t","ts":1714564800},{"type":"t","ts":1714564800.25},{"type":"t","ts":1714564800500999}]"#;
        assert_eq!(post(addr, None, body).0, 202);
        let times: Vec<i64> = drain(&mut source, 4)
            .iter()
            .map(|e| e.timestamp().timestamp_millis())
            .collect();
        assert_eq!(
            times,
            [
                1_714_564_800_500,
                1_714_564_800_000,
                1_714_564_800_250,
                1_714_564_800_500
            ]
        );
        for ts in ["\"noon\"", "true"] {
            let (status, answer) = post(addr, None, &format!(r#"{{"type":"t","ts":{ts}}}"#));
            assert_eq!(status, 400, "{ts}");
            assert!(errors(&answer).contains("`ts`"), "{ts}: {answer}");
        }
    });
}

#[test]
fn one_instant_as_a_number_or_a_string_is_one_event_time() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        // 2024-05-01T12:00:00.500Z written every way HTTP ingest reads, some
        // with sub-millisecond digits, which every form drops alike.
        let forms = [
            "1714564800.5",
            "1714564800.5009",
            "1714564800500",
            "1714564800500.9",
            "1714564800500999",
            "1714564800500999999",
            "\"2024-05-01T12:00:00.5Z\"",
            "\"2024-05-01T12:00:00.500999Z\"",
            "\"2024-05-01T14:00:00.5009+02:00\"",
            "\"2024-05-01 12:00:00.5\"",
        ];
        let items: Vec<String> = forms
            .iter()
            .map(|ts| format!(r#"{{"type":"t","ts":{ts}}}"#))
            .collect();
        let (status, answer) = post(addr, None, &format!("[{}]", items.join(",")));
        assert_eq!(status, 202, "{answer}");
        let events = drain(&mut source, forms.len());
        for (form, event) in forms.iter().zip(&events) {
            assert_eq!(
                event.timestamp().timestamp_millis(),
                1_714_564_800_500,
                "{form}"
            );
        }
        // The `json` parser reads the same rule.
        let parser = eventstorm_source::parse::JsonParser::new();
        for ts in forms {
            let event = parser
                .parse(&format!(r#"{{"type":"t","ts":{ts}}}"#))
                .expect(ts);
            assert_eq!(event.timestamp().timestamp_millis(), 1_714_564_800_500);
        }
    });
}

#[test]
fn a_time_out_of_range_is_a_400_that_says_the_range() {
    with_timeout(Duration::from_secs(30), || {
        let (_source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        for ts in [
            "-1",
            "1e25",
            // 2200-01-01T00:00:00Z in seconds, milliseconds and as a string.
            "7258118400",
            "7258118400000",
            "\"2200-01-01T00:00:00Z\"",
            "\"9999-12-31T23:59:59Z\"",
            "\"0001-01-01T00:00:00Z\"",
            // Milliseconds read as seconds by mistake would be year 56302.
            "56302000000",
        ] {
            let (status, answer) = post(addr, None, &format!(r#"{{"type":"t","ts":{ts}}}"#));
            assert_eq!(status, 400, "{ts}");
            assert_eq!(answer["accepted"], 0, "{ts}");
            let message = errors(&answer);
            assert!(message.contains("`ts`"), "{ts}: {message}");
            assert!(message.contains(TS_RANGE), "{ts}: {message}");
        }
        // The last millisecond before 2200 is accepted.
        let (status, answer) = post(
            addr,
            None,
            r#"{"type":"t","ts":"2199-12-31T23:59:59.999Z"}"#,
        );
        assert_eq!(status, 202, "{answer}");
    });
}

#[test]
fn body_fields_keep_their_order_and_body_is_an_ordinary_field() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let body = r#"{"order_id": 42, "type": "order.placed", "total": 99.5, "tenant": "t", "body": {"b": 1, "a": 2}, "zeta": true}"#;
        assert_eq!(post(addr, None, body).0, 202);
        let event = drain(&mut source, 1).remove(0);
        let keys: Vec<&str> = event.body().keys().map(String::as_str).collect();
        assert_eq!(keys, ["order_id", "total", "body", "zeta"]);
        let inner = event.body().get_document("body").expect("body.body");
        assert_eq!(inner.keys().collect::<Vec<_>>(), ["b", "a"]);
    });
}

#[test]
fn integers_beyond_64_bits_are_a_clear_400() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let body = r#"[{"type":"big","n":123456789012345678901234},{"type":"ok","n":9223372036854775807,"s":"123456789012345678901234"}]"#;
        let (status, answer) = post(addr, Some("application/json"), body);
        assert_eq!(status, 400);
        assert_eq!(answer["accepted"], 1);
        assert_eq!(answer["errors"][0]["index"], 0);
        assert!(
            errors(&answer).contains("does not fit in 64 bits"),
            "{answer}"
        );
        let event = drain(&mut source, 1).remove(0);
        assert_eq!(event.body().get_i64("n").ok(), Some(i64::MAX));
    });
}

#[test]
fn gzip_bodies_are_decoded_within_the_limit_and_other_encodings_are_415() {
    with_timeout(Duration::from_secs(60), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let gz = gzip(br#"{"type":"zipped","n":1}"#);
        let (status, _, answer) = exchange(
            addr,
            "POST",
            "/v1/events",
            &[("Content-Encoding", "gzip")],
            &gz,
        );
        assert_eq!(status, 202, "{answer}");
        assert_eq!(drain(&mut source, 1)[0].event_type(), "zipped");

        // 10 MB of zeros compress to ~10 KB: refused once decoded past 1 MiB.
        let bomb = gzip(&vec![b' '; 10 << 20]);
        assert!(bomb.len() < 100 << 10);
        let (status, _, answer) = exchange(
            addr,
            "POST",
            "/v1/events",
            &[("Content-Encoding", "gzip")],
            &bomb,
        );
        assert_eq!(status, 413, "{answer}");
        assert!(answer["error"].as_str().expect("error").contains("gzip"));

        let (status, _, _) = exchange(
            addr,
            "POST",
            "/v1/events",
            &[("Content-Encoding", "gzip")],
            b"not gzip",
        );
        assert_eq!(status, 400);
        let (status, _, answer) = exchange(
            addr,
            "POST",
            "/v1/events",
            &[("Content-Encoding", "br")],
            b"x",
        );
        assert_eq!(status, 415, "{answer}");
        let counters = source.server_counters();
        assert_eq!(
            (
                counters.too_large.get(),
                counters.unsupported_encoding.get(),
                counters.bad_bodies.get()
            ),
            (1, 1, 1)
        );
    });
}

const NOTIFICATION: &str = r#"{"event_type": "compute.instance.create.end", "priority": "INFO",
  "publisher_id": "compute.host-1", "message_id": "m-1", "timestamp": "2026-03-01 09:16:18.250000",
  "_context_user_id": "u-1", "_context_request_id": "req-1",
  "payload": {"instance_id": "i-1", "tenant_id": "t-1", "flavor": "m1.small", "memory_mb": 2048}}"#;

fn same_event(a: &Event, b: &Event) {
    assert_eq!(a.event_type(), b.event_type());
    assert_eq!(a.tenant(), b.tenant());
    assert_eq!(a.severity(), b.severity());
    assert_eq!(a.logger(), b.logger());
    assert_eq!(a.hostname(), b.hostname());
    assert_eq!(a.timestamp(), b.timestamp());
    assert_eq!(a.body(), b.body());
}

#[test]
fn openstack_notifications_bare_or_in_the_oslo_envelope() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let compact: Value = serde_json::from_str(NOTIFICATION).expect("json");
        let line = compact.to_string();
        let expected = OpenStackParser.parse(&line).expect("the file parser");
        let envelope = json!({"oslo.version": "2.0", "oslo.message": line}).to_string();
        let path = "/v1/events/openstack";
        for body in [NOTIFICATION, envelope.as_str()] {
            let (status, answer) = request(
                addr,
                "POST",
                path,
                Some("application/json"),
                body.as_bytes(),
            );
            assert_eq!(status, 202, "{answer}");
        }
        let events = drain(&mut source, 2);
        assert_eq!(events.len(), 2);
        for event in &events {
            same_event(event, &expected);
        }
        assert_eq!(events[0].body().get_str("resource_id").ok(), Some("i-1"));
        // Without the parser route, a notification has no `type`.
        let (status, answer) = post(addr, None, NOTIFICATION);
        assert_eq!(status, 400);
        assert!(errors(&answer).contains("missing `type`"));
    });
}

#[test]
fn any_file_parser_can_be_selected_and_an_unknown_one_is_404() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let lines = "<34>1 2026-03-01T09:00:00Z host app 42 - - one\n\n<165>Dec  1 22:02:46 vm myapp[4321]: two\n";
        let (status, answer) = request(addr, "POST", "/v1/events/syslog", None, lines.as_bytes());
        assert_eq!((status, answer["accepted"].as_u64()), (202, Some(2)));
        let events = drain(&mut source, 2);
        assert_eq!(events[0].event_type(), "syslog.auth");
        let (status, answer) = request(addr, "POST", "/v1/events/apache", None, b"x");
        assert_eq!(status, 404);
        assert!(
            answer["error"]
                .as_str()
                .expect("error")
                .contains("openstack")
        );
        assert_eq!(source.counters().unknown_parser.get(), 1);
    });
}

#[test]
fn reserved_types_are_refused_on_every_route() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let (status, answer) = post(
            addr,
            None,
            r#"[{"type":"_eventstorm.stats"},{"type":"ok"}]"#,
        );
        assert_eq!((status, answer["accepted"].as_u64()), (400, Some(1)));
        assert!(errors(&answer).contains("reserved"), "{answer}");
        let (status, _) = request(
            addr,
            "POST",
            "/v1/events/json",
            None,
            br#"{"type":"_eventstorm.mark"}"#,
        );
        assert_eq!(status, 400);
        assert_eq!(drain(&mut source, 1)[0].event_type(), "ok");
        assert_eq!(source.counters().reserved_types.get(), 2);
        assert_eq!(source.stats().get("rejected_items"), Some(2));
    });
}

#[test]
fn deep_nesting_is_a_400_never_a_stack_overflow() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let deep = format!(
            r#"{{"type":"deep","a":{}1{}}}"#,
            "[".repeat(6000),
            "]".repeat(6000)
        );
        for ct in [Some("application/json"), Some("application/x-ndjson"), None] {
            let (status, answer) = post(addr, ct, &deep);
            assert_eq!(status, 400, "{ct:?}");
            assert!(errors(&answer).contains("deeper than 64"), "{answer}");
        }
        let inner = format!(
            r#"{{"event_type":"x","payload":{}1{}}}"#,
            "[".repeat(6000),
            "]".repeat(6000)
        );
        let envelope = json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
        let (status, answer) = request(
            addr,
            "POST",
            "/v1/events/openstack",
            None,
            envelope.as_bytes(),
        );
        assert_eq!(status, 400);
        assert!(errors(&answer).contains("oslo.message"), "{answer}");
        let ok = format!(
            r#"{{"type":"ok","a":{}1{}}}"#,
            "[".repeat(60),
            "]".repeat(60)
        );
        assert_eq!(post(addr, None, &ok).0, 202);
        assert_eq!(drain(&mut source, 1).len(), 1);
    });
}

#[test]
fn the_counts_add_up() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let bodies = [
            (r#"[{"type":"a"},{"type":"b"},{"nope":1}]"#, 3),
            (
                "{\"type\":\"c\"}\n{oops\n{\"type\":\"_eventstorm.stats\"}\n",
                3,
            ),
            (r#"{"type":"d","ts":-5}"#, 1),
            (r#"{"type":"e"}"#, 1),
        ];
        let mut sent = 0;
        for (body, items) in bodies {
            post(addr, None, body);
            sent += items;
        }
        let received = drain(&mut source, 4).len() as u64;
        let stats = source.stats();
        assert_eq!(received, 4);
        assert_eq!(stats.get("events"), Some(received));
        assert_eq!(
            stats
                .get("events")
                .zip(stats.get("rejected_items"))
                .map(|(a, b)| a + b),
            Some(sent)
        );
        assert_eq!(stats.get("requests"), Some(4));
        assert_eq!(stats.get("server.requests"), Some(4));
        assert_eq!(
            stats
                .get("accepted_requests")
                .zip(stats.get("bad_requests"))
                .map(|(a, b)| a + b),
            stats.get("requests")
        );
    });
}
