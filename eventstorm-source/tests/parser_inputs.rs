//! Lines as real senders write them: RFC 3164 relayed by rsyslog, nginx's
//! escaped values, OpenStack notifications that carry nothing, and JSON lines
//! with event times, ordered bodies, huge integers and hostile nesting.

use bson::Bson;
use eventstorm_core::Event;
use eventstorm_source::parse::{
    JsonParser, MAX_JSON_DEPTH, NginxParser, OpenStackParser, Parser, ParserConfig,
    Syslog3164Parser, YearPolicy, parser_by_name,
};

fn body_str<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.body().get_str(key).ok()
}

#[test]
fn rfc3164_tag_without_colon_keeps_program_and_pid() {
    let line = "<165>Dec  1 22:02:46 vm myapp[4321] hello";
    let by_3164 = Syslog3164Parser::new(YearPolicy::Fixed(2026));
    let config = ParserConfig {
        year: Some(2026),
        ..ParserConfig::default()
    };
    let auto = parser_by_name("syslog", &config).expect("parser");
    for event in [by_3164.parse(line), auto.parse(line)] {
        let event = event.expect("parses");
        assert_eq!(event.hostname(), Some("vm"));
        assert_eq!(event.logger(), Some("myapp"));
        assert_eq!(event.pid(), Some(4321));
        assert_eq!(body_str(&event, "tag"), Some("myapp"));
        assert_eq!(body_str(&event, "procid"), Some("4321"));
        assert_eq!(body_str(&event, "message"), Some("hello"));
    }
    let empty = by_3164
        .parse("<165>Dec  1 22:02:46 vm myapp[4321]")
        .expect("parses");
    assert_eq!(empty.pid(), Some(4321));
    assert_eq!(body_str(&empty, "message"), Some(""));

    // Without brackets a first word is not taken for a tag.
    let plain = by_3164
        .parse("<165>Dec  1 22:02:46 vm hello world")
        .expect("parses");
    assert_eq!(plain.logger(), None);
    assert_eq!(body_str(&plain, "message"), Some("hello world"));
    let spaced = by_3164
        .parse("<165>Dec  1 22:02:46 vm see [the docs] now")
        .expect("parses");
    assert_eq!(spaced.logger(), None);
    assert_eq!(body_str(&spaced, "message"), Some("see [the docs] now"));
}

#[test]
fn nginx_default_escapes_are_decoded() {
    let line = concat!(
        r#"10.0.0.1 - - [01/Mar/2026:10:00:00 +0000] "GET /a\x22b?q=caf\xC3\xA9 HTTP/1.1" 200 5 "-" "#,
        r#""Mozilla/5.0 \x22quoted\x22 back\x5Cslash""#
    );
    let event = NginxParser::combined().parse(line).expect("parses");
    assert_eq!(
        body_str(&event, "http_user_agent"),
        Some(r#"Mozilla/5.0 "quoted" back\slash"#)
    );
    // Control bytes and bytes that are not UTF-8 stay escaped: readable, and
    // no raw control character reaches a log viewer.
    let junk = r#"10.0.0.1 - - [01/Mar/2026:10:00:00 +0000] "\x16\x03\x01\x00\xA5\x01" 400 0 "-" "a\x0Ab\x1B[31m""#;
    let kept = NginxParser::combined().parse(junk).expect("parses");
    assert_eq!(
        body_str(&kept, "request"),
        Some(r"\x16\x03\x01\x00\xA5\x01")
    );
    assert_eq!(body_str(&kept, "http_user_agent"), Some(r"a\x0Ab\x1B[31m"));
    assert_eq!(body_str(&event, "uri"), Some("/a\"b?q=café"));
    assert_eq!(
        body_str(&event, "request"),
        Some("GET /a\"b?q=café HTTP/1.1")
    );
    assert_eq!(body_str(&event, "method"), Some("GET"));
}

#[test]
fn nginx_json_escapes_are_decoded_and_do_not_end_a_quoted_value() {
    let line = concat!(
        r#"10.0.0.1 - - [01/Mar/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "#,
        r#""http://x/\" \"y" "ua \"1\" \\ tab\t\u0001""#
    );
    let event = NginxParser::combined().parse(line).expect("parses");
    assert_eq!(body_str(&event, "http_referer"), Some(r#"http://x/" "y"#));
    // Escapes of control characters stay as written.
    assert_eq!(
        body_str(&event, "http_user_agent"),
        Some(r#"ua "1" \ tab\t\u0001"#)
    );
    let custom = NginxParser::new(r#"$remote_addr "$http_user_agent" $status"#).expect("format");
    let event = custom
        .parse(r#"10.0.0.1 "say \"hi\" " 404"#)
        .expect("parses");
    assert_eq!(body_str(&event, "http_user_agent"), Some("say \"hi\" "));
    assert_eq!(event.body().get_i64("status").ok(), Some(404));
}

#[test]
fn openstack_notification_with_neither_payload_nor_message_id_is_rejected() {
    for line in [
        r#"{"event_type": "compute.instance.exists"}"#,
        r#"{"event_type": "compute.instance.exists", "payload": null, "priority": "INFO"}"#,
        r#"{"event_type": "compute.instance.exists", "message_id": ""}"#,
    ] {
        let err = OpenStackParser.parse(line).unwrap_err();
        assert!(
            err.to_string().contains("\"payload\" or a \"message_id\""),
            "{line}: {err}"
        );
    }
    let with_id = OpenStackParser
        .parse(r#"{"event_type": "a.b", "message_id": "m-1"}"#)
        .expect("parses");
    assert_eq!(body_str(&with_id, "message_id"), Some("m-1"));
    let with_payload = OpenStackParser
        .parse(r#"{"event_type": "a.b", "payload": {"size": 1}}"#)
        .expect("parses");
    assert_eq!(with_payload.body().get_i32("size").ok(), Some(1));
}

#[test]
fn json_takes_ts_as_the_event_time() {
    let parser = JsonParser::new();
    for (ts, millis) in [
        (r#""2026-03-01T09:00:00Z""#, 1_772_355_600_000),
        ("1714564800", 1_714_564_800_000),
        ("1714564800.5", 1_714_564_800_500),
        ("1714564800500", 1_714_564_800_500),
        ("1714564800500123", 1_714_564_800_500),
        ("1714564800500123456", 1_714_564_800_500),
    ] {
        let event = parser
            .parse(&format!(r#"{{"type": "a.b", "ts": {ts}, "x": 1}}"#))
            .unwrap_or_else(|e| panic!("{ts}: {e}"));
        assert_eq!(event.timestamp().timestamp_millis(), millis, "{ts}");
        assert!(event.body().get("ts").is_none());
    }
    for ts in [
        "-1",
        "56302000000",
        "1e21",
        r#""0001-01-01T00:00:00Z""#,
        r#""2200-01-01T00:00:00Z""#,
        r#""yesterday""#,
        "true",
    ] {
        let line = format!(r#"{{"type": "a.b", "ts": {ts}}}"#);
        let err = parser.parse(&line).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("the timestamp field \"ts\""), "{ts}: {text}");
        assert_eq!(err.column(), 17, "{ts}: {text}");
    }
    let err = parser
        .parse(r#"{"type": "a.b", "ts": 56302000000}"#)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("read as seconds since the epoch, is outside the accepted range"),
        "{err}"
    );
}

#[test]
fn json_body_keeps_the_order_of_the_line() {
    let event = JsonParser::new()
        .parse(r#"{"type": "order.placed", "order_id": 42, "total": 99.5, "items": {"z": 1, "a": 2}, "m": 0}"#)
        .expect("parses");
    assert_eq!(
        event.body().keys().collect::<Vec<_>>(),
        ["order_id", "total", "items", "m"]
    );
    let items = event.body().get_document("items").expect("items");
    assert_eq!(items.keys().collect::<Vec<_>>(), ["z", "a"]);
}

#[test]
fn json_integers_beyond_64_bits_are_rejected() {
    let parser = JsonParser::new();
    for (line, column) in [
        (r#"{"type": "a", "n": 18446744073709551616}"#, 20),
        (r#"{"type": "a", "n": 9223372036854775808}"#, 20),
        (r#"{"type": "a", "l": [1, -9223372036854775809]}"#, 24),
    ] {
        let err = parser.parse(line).unwrap_err();
        assert!(err.to_string().contains("does not fit in 64 bits"), "{err}");
        assert_eq!(err.column(), column, "{line}");
    }
    let event = parser
        .parse(
            r#"{"type": "a", "max": 9223372036854775807, "min": -9223372036854775808, "f": 1e300}"#,
        )
        .expect("parses");
    assert_eq!(event.body().get_i64("max").ok(), Some(i64::MAX));
    assert_eq!(event.body().get_i64("min").ok(), Some(i64::MIN));
    assert_eq!(event.body().get("f"), Some(&Bson::Double(1e300)));
}

fn nested(levels: usize) -> String {
    // The line's object is level 1, each array one more.
    format!(
        r#"{{"type": "a", "x": {}1{}}}"#,
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
}

#[test]
fn json_nesting_is_bounded() {
    let parser = JsonParser::new();
    let deepest = parser.parse(&nested(MAX_JSON_DEPTH)).expect("at the limit");
    assert!(deepest.body().get_array("x").is_ok());
    let err = parser.parse(&nested(MAX_JSON_DEPTH + 1)).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("nested deeper than {MAX_JSON_DEPTH} levels")),
        "{err}"
    );
    assert_eq!(MAX_JSON_DEPTH, 64);

    // 100,000 levels, as a body field and as the whole line: an error, never a
    // stack overflow. Each parser runs on a thread with a small stack.
    let hostile = [
        format!(r#"{{"type": "a", "x": {}"#, "[".repeat(100_000)),
        "[".repeat(100_000),
        format!(
            r#"{{"type": "a", "x": {}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(
            r#"{{"event_type": "a", "payload": {}"#,
            "{\"a\":".repeat(100_000)
        ),
    ];
    for parser in ["json", "openstack"] {
        for line in &hostile {
            let line = line.clone();
            let result = std::thread::Builder::new()
                .stack_size(1024 * 1024)
                .spawn(move || {
                    let parser = parser_by_name(parser, &ParserConfig::default()).expect("parser");
                    parser.parse(&line).map(|_| ()).map_err(|e| e.to_string())
                })
                .expect("spawn")
                .join()
                .expect("no panic");
            let err = result.expect_err("rejected");
            assert!(
                err.contains("nested deeper than") || err.contains("recursion limit"),
                "{parser}: {err}"
            );
        }
    }
}
