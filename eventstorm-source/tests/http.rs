//! Tests of the HTTP ingest endpoint with a hand-written HTTP/1.1 client: the
//! body layouts and every status code (202, 400, 413, 404, 405, 503).

use std::time::Duration;

use eventstorm_core::{Event, EventSource, Severity};
use eventstorm_source::http::HttpSourceConfig;

mod common;
mod http_common;
use common::with_timeout;
use http_common::{drain, post, request, source};

#[test]
fn accepted_bodies_answer_202() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let one = r#"{"type":"order.placed","severity":"warning","tenant":"acme","ts":"2026-03-01T09:00:00Z","order_id":7}"#;
        assert_eq!(
            post(addr, Some("application/json"), one),
            (202, serde_json::json!({"accepted": 1}))
        );
        let array = r#"[{"type":"a.one"},{"type":"a.two","logger":"shop","hostname":"h1"}]"#;
        assert_eq!(post(addr, None, array).0, 202);
        let ndjson = "{\"type\":\"n.one\"}\n\n{\"type\":\"n.two\",\"severity\":3}\n";
        assert_eq!(
            post(addr, Some("application/x-ndjson"), ndjson),
            (202, serde_json::json!({"accepted": 2}))
        );
        assert_eq!(post(addr, Some("text/plain"), ndjson).0, 202); // sniffed
        let events = drain(&mut source, 7);
        let types: Vec<&str> = events.iter().map(Event::event_type).collect();
        assert_eq!(
            types,
            [
                "order.placed",
                "a.one",
                "a.two",
                "n.one",
                "n.two",
                "n.one",
                "n.two"
            ]
        );
        assert_eq!(events[0].severity(), Severity::Warning);
        assert_eq!(events[0].tenant(), Some("acme"));
        assert_eq!(events[0].timestamp().timestamp_millis(), 1_772_355_600_000);
        assert_eq!(events[0].body().get_i32("order_id").ok(), Some(7));
        assert!(events[0].body().get("tenant").is_none());
        assert_eq!(events[2].logger(), Some("shop"));
        assert_eq!(events[4].severity(), Severity::Error);
        assert_eq!(source.stats().get("events"), Some(7));
    });
}

#[test]
fn bad_items_answer_400_and_the_good_ones_are_accepted() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let body = r#"[{"type":"ok.one"},{"kind":"x"},{"type":"ok.two"},{"type":"bad type"},{"type":"t","ts":"yesterday"}]"#;
        let (status, answer) = post(addr, Some("application/json"), body);
        assert_eq!(status, 400);
        assert_eq!(answer["accepted"], 2);
        let errors = answer["errors"].as_array().expect("errors");
        let indexes: Vec<u64> = errors
            .iter()
            .map(|e| e["index"].as_u64().expect("index"))
            .collect();
        assert_eq!(indexes, [1, 3, 4]);
        assert_eq!(errors[0]["error"], "missing `type`");
        assert!(
            errors[2]["error"]
                .as_str()
                .expect("text")
                .contains("RFC 3339")
        );
        assert_eq!(drain(&mut source, 2).len(), 2);

        let (status, answer) = post(addr, Some("application/json"), "{\"type\": ");
        assert_eq!(status, 400);
        assert_eq!(answer["accepted"], 0);
        assert!(
            answer["errors"][0]["error"]
                .as_str()
                .expect("text")
                .starts_with("invalid JSON")
        );
        assert!(answer["errors"][0].get("index").is_none());
        let (status, _) = post(addr, Some("application/json"), "");
        assert_eq!(status, 400);
        let counters = source.counters();
        assert_eq!(counters.bad_requests.get(), 3);
        assert_eq!(counters.rejected_items.get(), 5);
    });
}

#[test]
fn oversized_bodies_answer_413() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) =
            source(HttpSourceConfig::listen("127.0.0.1:0").with_max_body_bytes(1000));
        let big = format!("{{\"type\":\"big\",\"pad\":\"{}\"}}", "x".repeat(5000));
        let (status, answer) = post(addr, None, &big);
        assert_eq!(status, 413);
        assert!(
            answer["error"]
                .as_str()
                .expect("text")
                .contains("1000 bytes")
        );
        assert_eq!(post(addr, None, "{\"type\":\"small\"}").0, 202);
        assert_eq!(drain(&mut source, 1).len(), 1);
        assert_eq!(source.server_counters().too_large.get(), 1);
    });
}

#[test]
fn other_paths_and_methods_answer_404_and_405() {
    with_timeout(Duration::from_secs(30), || {
        let (source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        assert_eq!(request(addr, "POST", "/v2/events", None, b"{}").0, 404);
        assert_eq!(request(addr, "GET", "/", None, b"").0, 404);
        assert_eq!(request(addr, "GET", "/v1/events", None, b"").0, 405);
        assert_eq!(request(addr, "PUT", "/v1/events", None, b"{}").0, 405);
        assert_eq!(source.server_counters().no_route.get(), 4);
    });
}

#[test]
fn a_full_queue_answers_503_and_accepts_nothing() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) =
            source(HttpSourceConfig::listen("127.0.0.1:0").with_queue_requests(1));
        assert_eq!(post(addr, None, "{\"type\":\"first\"}").0, 202);
        let (status, answer) = post(addr, None, "{\"type\":\"second\"}");
        assert_eq!(status, 503);
        assert_eq!(answer["accepted"], 0);
        let events = drain(&mut source, 1);
        assert_eq!(events.len(), 1);
        assert_eq!(post(addr, None, "{\"type\":\"third\"}").0, 202);
        let events = drain(&mut source, 1);
        assert_eq!(events[0].event_type(), "third");
        assert_eq!(source.counters().busy.get(), 1);
    });
}

#[test]
fn poll_respects_max_across_requests() {
    with_timeout(Duration::from_secs(30), || {
        let (mut source, addr) = source(HttpSourceConfig::listen("127.0.0.1:0"));
        let body: String = (0..5)
            .map(|i| format!("{{\"type\":\"t\",\"i\":{i}}}\n"))
            .collect();
        assert_eq!(post(addr, None, &body).0, 202);
        let mut out = Vec::new();
        source
            .poll(&mut out, 3, Duration::from_secs(5))
            .expect("poll");
        assert_eq!(out.len(), 3);
        source
            .poll(&mut out, 3, Duration::from_secs(5))
            .expect("poll");
        let order: Vec<i32> = out
            .iter()
            .map(|e| e.body().get_i32("i").expect("i"))
            .collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
    });
}
