//! Tests of the log parsers: every sample file under `tests/data` against its
//! `.expected.jsonl`, tricky cases per parser, and a property test that no
//! input makes any parser panic.

use bson::Bson;
use eventstorm_core::Event;
use eventstorm_source::parse::{
    ConfigError, JsonParser, NginxParser, OpenStackParser, ParseError, Parser, ParserConfig,
    PostfixParser, Syslog3164Parser, Syslog5424Parser, SyslogParser, YearPolicy, parser_by_name,
};
use eventstorm_test_support::data_dir;
use proptest::prelude::*;
use serde_json::Value;

fn read(rel: &str) -> String {
    let path = data_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Where each key of an expected file is found in our events: a dotted path
/// (`body.x`, `pid`), or `ts` for the timestamp given as RFC 3339.
type KeyMap = &'static [(&'static str, &'static str)];

const NGINX_KEYS: KeyMap = &[
    ("remote_addr", "body.remote_addr"),
    ("remote_user", "body.remote_user"),
    ("time", "ts"),
    ("method", "body.method"),
    ("path", "body.uri"),
    ("protocol", "body.protocol"),
    ("status", "body.status"),
    ("body_bytes_sent", "body.body_bytes_sent"),
    ("referer", "body.http_referer"),
    ("user_agent", "body.http_user_agent"),
    ("request", "body.request"),
];

const POSTFIX_KEYS: KeyMap = &[
    ("process", "body.process"),
    ("pid", "pid"),
    ("queue_id", "body.queue_id"),
    ("to", "body.to"),
    ("relay", "body.relay"),
    ("delay", "body.delay"),
    ("dsn", "body.dsn"),
    ("status", "body.status"),
    ("action", "body.action"),
    ("client", "body.client"),
    ("from", "body.from"),
    ("size", "body.size"),
    ("nrcpt", "body.nrcpt"),
];

const SYSLOG5424_KEYS: KeyMap = &[
    ("facility", "body.facility"),
    ("severity", "severity"),
    ("version", "body.version"),
    ("hostname", "hostname"),
    ("app_name", "body.app_name"),
    ("procid", "body.procid"),
    ("msgid", "body.msgid"),
    ("message", "body.message"),
];

const SYSLOG3164_KEYS: KeyMap = &[
    ("facility", "body.facility"),
    ("severity", "severity"),
    ("hostname", "hostname"),
    ("tag", "body.tag"),
    ("message", "body.message"),
];

const OPENSTACK_KEYS: KeyMap = &[
    ("event_type", "type"),
    ("tenant_id", "tenant"),
    ("id", "body.resource_id"),
    ("message_id", "body.message_id"),
];

/// Whether our value equals the expected JSON value (`null` = absent).
fn same(ours: Option<&Bson>, expected: &Value) -> bool {
    match (ours, expected) {
        (None | Some(Bson::Null), Value::Null) => true,
        (Some(Bson::String(a)), Value::String(b)) => a == b,
        (Some(Bson::Int32(a)), Value::Number(b)) => b.as_i64() == Some(i64::from(*a)),
        (Some(Bson::Int64(a)), Value::Number(b)) => b.as_i64() == Some(*a),
        (Some(Bson::Double(a)), Value::Number(b)) => b.as_f64() == Some(*a),
        _ => false,
    }
}

/// Parses every line of `rel` and checks every expected value. Returns (lines,
/// values checked).
fn check_file(parser: &dyn Parser, rel: &str, keys: KeyMap) -> (usize, usize) {
    let input = read(rel);
    let expected = read(&format!("{rel}.expected.jsonl"));
    let lines: Vec<&str> = input.lines().collect();
    let expected: Vec<Value> = expected
        .lines()
        .map(|l| serde_json::from_str(l).expect("expected file is JSON"))
        .collect();
    assert_eq!(lines.len(), expected.len(), "{rel}: line counts differ");
    let mut failures = Vec::new();
    let mut values = 0;
    for (n, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let n = n + 1;
        let result = parser.parse(line);
        if want.get("error") == Some(&Value::Bool(true)) {
            match result {
                Err(e) => assert!(e.column() >= 1, "{rel}:{n}: column of {e}"),
                Ok(event) => failures.push(format!("{rel}:{n}: expected an error, got {event:?}")),
            }
            continue;
        }
        let event = match result {
            Ok(event) => event,
            Err(e) => {
                failures.push(format!("{rel}:{n}: {e}\n  line: {line}"));
                continue;
            }
        };
        let Value::Object(want) = want else {
            panic!("{rel}:{n}: expected line is not an object")
        };
        for (key, value) in want {
            let path = keys
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, p)| *p)
                .unwrap_or_else(|| panic!("{rel}: no mapping for expected key {key:?}"));
            values += 1;
            let ok = if path == "ts" {
                let want = value
                    .as_str()
                    .and_then(|s| bson::DateTime::parse_rfc3339_str(s).ok());
                want == Some(event.timestamp())
            } else if path == "severity" {
                value.as_i64() == Some(i64::from(event.severity().code()))
            } else {
                same(event.get(path), value)
            };
            if !ok {
                failures.push(format!(
                    "{rel}:{n}: {key} ({path}): expected {value}, got {:?}\n  line: {line}",
                    if path == "ts" {
                        Some(Bson::DateTime(event.timestamp()))
                    } else {
                        event.get(path).cloned()
                    }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{rel}: {} lines, {values} values checked", lines.len());
    (lines.len(), values)
}

fn by_name(name: &str) -> Box<dyn Parser> {
    let config = ParserConfig {
        year: Some(2026),
        ..ParserConfig::default()
    };
    parser_by_name(name, &config).expect("known parser")
}

#[test]
fn nginx_sample() {
    let (lines, values) = check_file(&*by_name("nginx"), "nginx/access.log", NGINX_KEYS);
    assert!(lines >= 200 && values > 2000);
}

#[test]
fn postfix_sample() {
    check_file(&*by_name("postfix"), "postfix/maillog", POSTFIX_KEYS);
}

#[test]
fn syslog5424_sample() {
    check_file(
        &*by_name("syslog5424"),
        "syslog/rfc5424.log",
        SYSLOG5424_KEYS,
    );
    check_file(&*by_name("syslog"), "syslog/rfc5424.log", SYSLOG5424_KEYS);
}

#[test]
fn syslog3164_sample() {
    check_file(
        &*by_name("syslog3164"),
        "syslog/rfc3164.log",
        SYSLOG3164_KEYS,
    );
    check_file(&*by_name("syslog"), "syslog/rfc3164.log", SYSLOG3164_KEYS);
}

#[test]
fn openstack_sample() {
    check_file(
        &*by_name("openstack"),
        "openstack/notifications.jsonl",
        OPENSTACK_KEYS,
    );
}

/// Every prefix of every sample line, and every line with one character
/// removed, parses or fails cleanly (no panic, a column within the line).
#[test]
fn mangled_sample_lines_never_panic() {
    let files = [
        ("nginx", "nginx/access.log"),
        ("postfix", "postfix/maillog"),
        ("syslog", "syslog/rfc5424.log"),
        ("syslog", "syslog/rfc3164.log"),
        ("openstack", "openstack/notifications.jsonl"),
    ];
    for (name, rel) in files {
        let parser = by_name(name);
        let json = by_name("json");
        for line in read(rel).lines().take(40) {
            let cuts: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
            for &cut in &cuts {
                let variants = [
                    line[..cut].to_string(),
                    format!(
                        "{}{}",
                        &line[..cut],
                        &line[cut..].chars().skip(1).collect::<String>()
                    ),
                ];
                for v in &variants {
                    for p in [&parser, &json] {
                        if let Err(e) = p.parse(v) {
                            assert!(e.column() <= v.chars().count() + 1, "{e} for {v:?}");
                        }
                    }
                }
            }
        }
    }
}

fn body_str<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.body().get_str(key).ok()
}

#[test]
fn nginx_custom_log_format() {
    let parser = NginxParser::new(
        r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" $request_time $upstream_response_time'"#,
    )
    .expect("format compiles");
    let line = r#"2001:db8::1 - bob [31/Dec/2025:23:59:59 -0130] "DELETE /x?a=1 HTTP/2.0" 404 12 "-" "ua \"quoted\"" 0.250 0.101, 0.002"#;
    let event = parser.parse(line).expect("parses");
    assert_eq!(event.event_type(), "nginx.access");
    assert_eq!(event.severity().code(), 4);
    assert_eq!(body_str(&event, "remote_user"), Some("bob"));
    assert_eq!(body_str(&event, "method"), Some("DELETE"));
    assert_eq!(body_str(&event, "uri"), Some("/x?a=1"));
    assert_eq!(body_str(&event, "protocol"), Some("HTTP/2.0"));
    assert_eq!(event.body().get_i64("status").ok(), Some(404));
    assert_eq!(event.body().get_f64("request_time").ok(), Some(0.25));
    assert_eq!(
        body_str(&event, "upstream_response_time"),
        Some("0.101, 0.002")
    );
    assert!(event.body().get("http_referer").is_none(), "`-` is absent");
    assert_eq!(body_str(&event, "http_user_agent"), Some(r#"ua "quoted""#));
    assert_eq!(
        body_str(&event, "time_local"),
        Some("31/Dec/2025:23:59:59 -0130")
    );
    let ts = bson::DateTime::parse_rfc3339_str("2026-01-01T01:29:59Z").expect("valid");
    assert_eq!(event.timestamp(), ts);

    let single = parser
        .parse(&line.replace("0.101, 0.002", "0.101"))
        .expect("parses");
    assert_eq!(
        single.body().get_f64("upstream_response_time").ok(),
        Some(0.101)
    );
}

#[test]
fn nginx_bare_format_and_errors() {
    let parser = NginxParser::new("${remote_addr}|$status|$msec|$hostname").expect("compiles");
    let event = parser
        .parse("1.2.3.4|200|1772355600.5|web7")
        .expect("parses");
    assert_eq!(event.timestamp().timestamp_millis(), 1_772_355_600_500);
    assert_eq!(event.hostname(), Some("web7"));
    assert_eq!(event.severity().code(), 6);

    let err = parser.parse("1.2.3.4|2x0|1.0|h").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 9: expected an integer for $status, found '2'"
    );
    let err = parser.parse("1.2.3.4").unwrap_err();
    assert_eq!(err.column(), 8);
    assert!(
        err.to_string().contains("expected '|' before $status"),
        "{err}"
    );

    let combined = NginxParser::combined();
    let err = combined.parse("1.2.3.4 - - x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 13: expected '[' before $time_local, found 'x'"
    );
    let err = combined
        .parse(r#"1.2.3.4 - - [01/Foo/2026:09:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#)
        .unwrap_err();
    assert_eq!(err.column(), 17);
    let err = combined
        .parse(r#"1.2.3.4 - - [31/Apr/2026:09:00:02 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#)
        .unwrap_err();
    assert!(err.to_string().contains("day 31 is not 1-30"), "{err}");
    assert!(combined.parse("").is_err());

    assert!(matches!(
        NginxParser::new("$a$b"),
        Err(ConfigError::LogFormat { column: 3, .. })
    ));
    assert!(matches!(
        NginxParser::new("no variables"),
        Err(ConfigError::LogFormat { .. })
    ));
    assert!(matches!(
        NginxParser::new("'$a '$b"),
        Err(ConfigError::LogFormat { column: 6, .. })
    ));
    assert!(matches!(
        NginxParser::new("'$a"),
        Err(ConfigError::LogFormat { .. })
    ));
    assert!(NginxParser::new("combined").is_ok());
}

#[test]
fn syslog5424_structured_data_escapes_bom_and_nil() {
    let line = "<165>1 2003-10-11T22:14:15.003456-07:00 mymachine.example.com evntslog - ID47 \
                [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li\\\\ca\\]tion\" eventID=\"1011\"]\
                [examplePriority@32473 class=\"high\" class=\"low\"] \u{feff}An application event";
    let event = Syslog5424Parser.parse(line).expect("parses");
    assert_eq!(event.event_type(), "syslog.local4");
    assert_eq!(event.severity().code(), 5);
    assert_eq!(event.hostname(), Some("mymachine.example.com"));
    assert_eq!(event.logger(), Some("evntslog"));
    assert_eq!(event.pid(), None);
    assert!(event.body().get("procid").is_none());
    assert_eq!(body_str(&event, "msgid"), Some("ID47"));
    assert_eq!(body_str(&event, "message"), Some("An application event"));
    let source = event.get("body.structured_data.exampleSDID@32473.eventSource");
    assert_eq!(source.and_then(Bson::as_str), Some(r#"App"li\ca]tion"#));
    let classes = event.get("body.structured_data.examplePriority@32473.class");
    assert_eq!(
        classes,
        Some(&Bson::Array(vec!["high".into(), "low".into()]))
    );
    let ts = bson::DateTime::parse_rfc3339_str("2003-10-12T05:14:15.003Z").expect("valid");
    assert_eq!(event.timestamp(), ts);

    let minimal = Syslog5424Parser.parse("<0>1 - - - - - -").expect("all nil");
    assert_eq!(minimal.event_type(), "syslog.kern");
    assert!(minimal.body().get("message").is_none());
    assert_eq!(minimal.hostname(), None);

    for (bad, column) in [
        ("<999>1 bad", 2),
        (
            "<13>1 2026-03-01T09:00:00Z host app - - [id a=\"unterminated]",
            61,
        ),
        ("<13>1 2026-03-01T09:00:00Z host app - - [id a=b]", 47),
        ("<13>1 2026-03-01T09:00:00Z host app - -x", 41),
        ("<13>1 2026-03-01 09:00:00Z host app - - -", 17),
        ("<13>1 2026-02-30T09:00:00Z host app - - -", 7),
        ("<13>1 2026-03-01T09:00:00Z host  app - - -", 33),
        ("<13>0 - - - - - -", 5),
        ("", 1),
    ] {
        let err = Syslog5424Parser.parse(bad).expect_err(bad);
        assert_eq!(err.column(), column, "{bad}: {err}");
    }
}

#[test]
fn syslog3164_variants() {
    let parser = Syslog3164Parser::new(YearPolicy::Fixed(2024));
    let event = parser
        .parse("<13>Feb 29 23:59:59 host1 kernel: [1.2] up")
        .expect("parses");
    assert_eq!(event.event_type(), "syslog.user");
    assert_eq!(body_str(&event, "tag"), Some("kernel"));
    assert_eq!(event.pid(), None);
    assert_eq!(body_str(&event, "message"), Some("[1.2] up"));
    let ts = bson::DateTime::parse_rfc3339_str("2024-02-29T23:59:59Z").expect("valid");
    assert_eq!(event.timestamp(), ts);

    let no_host = parser
        .parse("<13>Mar 01 10:00:00 cron[7]: job")
        .expect("parses");
    assert_eq!(no_host.hostname(), None);
    assert_eq!(no_host.pid(), Some(7));
    let no_tag = parser
        .parse("<13>Mar  1 10:00:00 host just a message")
        .expect("parses");
    assert_eq!(body_str(&no_tag, "message"), Some("just a message"));
    assert!(no_tag.body().get("tag").is_none());
    let iso = parser
        .parse("<13>2026-03-01T10:00:00.25+01:00 h app: x")
        .expect("parses");
    assert_eq!(iso.timestamp().timestamp_millis() % 1000, 250);

    let err = Syslog3164Parser::new(YearPolicy::Fixed(2025))
        .parse("<13>Feb 29 23:59:59 host1 x: y")
        .unwrap_err();
    assert!(err.to_string().contains("day 29 is not 1-28"), "{err}");
    assert_eq!(parser.parse("no priority here").unwrap_err().column(), 1);
    assert_eq!(
        parser
            .parse("<13>Foo  1 10:00:00 h x: y")
            .unwrap_err()
            .column(),
        5
    );

    // The current-year policy never dates a line far into the future.
    let now = bson::DateTime::now().timestamp_millis();
    let current = Syslog3164Parser::default()
        .parse("<13>Jan  1 00:00:00 h x: y")
        .expect("parses");
    assert!(current.timestamp().timestamp_millis() <= now + 7 * 86_400_000);
}

#[test]
fn syslog_auto_detects() {
    let parser = SyslogParser::new(YearPolicy::Fixed(2026));
    let a = parser
        .parse("<34>1 2026-03-01T09:00:00Z host app - - - hello")
        .expect("5424");
    assert_eq!(a.body().get_i32("version").ok(), Some(1));
    let b = parser
        .parse("<34>Mar  1 09:00:00 host app: hello")
        .expect("3164");
    assert!(b.body().get("version").is_none());
    assert_eq!(parser.parse("<34>").unwrap_err().column(), 5);
}

#[test]
fn postfix_variants() {
    let parser = PostfixParser::new(YearPolicy::Fixed(2026));
    let cleanup = parser
        .parse("Mar  1 09:00:00 mx1 postfix/cleanup[501]: 4BzQ5x2hTnz9sYn: message-id=<abc@example.org>")
        .expect("parses");
    assert_eq!(cleanup.event_type(), "postfix.cleanup");
    assert_eq!(body_str(&cleanup, "queue_id"), Some("4BzQ5x2hTnz9sYn"));
    assert_eq!(body_str(&cleanup, "message_id"), Some("abc@example.org"));

    let lmtp = parser
        .parse(
            "Mar  1 09:00:00 mx1 postfix-in/lmtp[77]: 3F2A1B: to=<u@x>, orig_to=<v@x>, \
             relay=mbox[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, \
             status=sent (250 2.0.0 <u@x> Saved)",
        )
        .expect("parses");
    assert_eq!(lmtp.event_type(), "postfix.lmtp");
    assert_eq!(body_str(&lmtp, "syslog_name"), Some("postfix-in"));
    assert_eq!(body_str(&lmtp, "orig_to"), Some("v@x"));
    assert_eq!(lmtp.body().get_f64("delay").ok(), Some(0.1));
    assert_eq!(body_str(&lmtp, "detail"), Some("250 2.0.0 <u@x> Saved"));

    let reject = parser
        .parse(
            "Mar  1 09:00:21 mx1 postfix/smtpd[6038]: NOQUEUE: reject: RCPT from unknown[203.0.113.66]: \
             554 5.7.1 <spam@example.com>: Relay access denied; from=<a@b.example> to=<spam@example.com> \
             proto=ESMTP helo=<bad>",
        )
        .expect("parses");
    assert!(reject.body().get("queue_id").is_none());
    assert_eq!(reject.body().get_i64("reply_code").ok(), Some(554));
    assert_eq!(body_str(&reject, "reply_dsn"), Some("5.7.1"));
    assert_eq!(
        body_str(&reject, "reason"),
        Some("<spam@example.com>: Relay access denied")
    );
    assert_eq!(body_str(&reject, "helo"), Some("bad"));
    assert_eq!(body_str(&reject, "command"), Some("RCPT"));

    let disconnect = parser
        .parse("Mar  1 09:00:00 mx1 postfix/smtpd[9]: disconnect from a[1.2.3.4] ehlo=1 quit=1 commands=2")
        .expect("parses");
    assert_eq!(disconnect.body().get_i64("commands").ok(), Some(2));
    let warning = parser
        .parse("Mar  1 09:00:00 mx1 postfix/smtpd[9]: warning: hostname x does not resolve")
        .expect("parses");
    assert_eq!(warning.severity().code(), 4);

    let err = parser
        .parse("Mar  1 10:00:00 mx1 kernel: [12345.6789] eth0: link up")
        .unwrap_err();
    assert_eq!(err.column(), 21);
    assert!(err.to_string().contains("not a postfix tag"), "{err}");
    // Relayed without the tag's colon (as rsyslog does): still a postfix tag.
    let relayed = parser
        .parse("Mar  1 10:00:00 mx1 postfix/smtp[1] no colon")
        .expect("parses");
    assert_eq!(relayed.event_type(), "postfix.smtp");
    assert_eq!(relayed.pid(), Some(1));
}

#[test]
fn json_lines() {
    let parser = JsonParser::new()
        .with_type_field("kind")
        .with_timestamp_field("at");
    let event = parser
        .parse(r#"{"kind":"app.start","at":"2026-03-01T09:00:00Z","n":5000000000,"f":1.5,"o":{"a":[1,null,true]}}"#)
        .expect("parses");
    assert_eq!(event.event_type(), "app.start");
    assert_eq!(event.body().get_i64("n").ok(), Some(5_000_000_000));
    assert_eq!(event.body().get_f64("f").ok(), Some(1.5));
    assert_eq!(event.get("body.o.a.0"), Some(&Bson::Int32(1)));
    assert_eq!(event.get("body.o.a.2"), Some(&Bson::Boolean(true)));
    assert!(event.body().get("at").is_none() && event.body().get("kind").is_none());
    assert_eq!(event.timestamp().timestamp_millis(), 1_772_355_600_000);

    assert!(
        parser.parse(r#"{"n":1}"#).is_err(),
        "no type and no default"
    );
    let err = parser.parse("[1,2]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "column 1: expected a JSON object (not an array), found '['"
    );
    assert_eq!(
        parser
            .parse(r#"{"kind": "bad type"}"#)
            .unwrap_err()
            .column(),
        2
    );
    assert_eq!(parser.parse(r#"{"kind": 3}"#).unwrap_err().column(), 2);
    assert_eq!(
        parser.parse(r#"{"kind":"a","x":}"#).unwrap_err().column(),
        17
    );
    assert!(parser.parse("{\"kind\":\"a\",\"k\\u0000\":1}").is_err());
    assert!(parser.parse("").is_err());
}

#[test]
fn openstack_envelopes() {
    let inner = r#"{"event_type":"compute.instance.delete.end","priority":"ERROR","timestamp":"2026-03-01T09:00:00.123456","message_id":"m","publisher_id":"compute.h1","_context_tenant":"t9","_context_auth_token":"secret","payload":{"instance_id":"i1","state":"deleted"}}"#;
    let line = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
    let event = OpenStackParser.parse(&line).expect("parses");
    assert_eq!(event.event_type(), "compute.instance.delete.end");
    assert_eq!(event.tenant(), Some("t9"));
    assert_eq!(event.severity().code(), 3);
    assert_eq!(event.hostname(), Some("h1"));
    assert_eq!(event.timestamp().timestamp_millis() % 1000, 123);
    assert_eq!(body_str(&event, "resource_id"), Some("i1"));
    assert!(event.body().get("_context_auth_token").is_none());
    let bare = OpenStackParser.parse(inner).expect("parses");
    assert_eq!(bare.body(), event.body());

    let err = OpenStackParser
        .parse(r#"{"oslo.version": "2.0", "oslo.message": "{not json"}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("oslo.message is not valid JSON"),
        "{err}"
    );
    assert_eq!(err.column(), 25);
    assert!(OpenStackParser.parse(r#"{"payload": {}}"#).is_err());
    assert!(
        OpenStackParser
            .parse(r#"{"event_type": "a.b", "timestamp": "yesterday"}"#)
            .is_err()
    );
}

#[test]
fn factory_and_config() {
    for name in [
        "nginx",
        "postfix",
        "syslog",
        "syslog5424",
        "syslog3164",
        "json",
        "openstack",
    ] {
        assert_eq!(by_name(name).name(), name);
    }
    assert!(matches!(
        parser_by_name("apache", &ParserConfig::default()),
        Err(ConfigError::UnknownParser(_))
    ));
    let config: ParserConfig =
        serde_json::from_str(r#"{"type_field": "t", "default_type": "misc"}"#)
            .expect("valid config");
    let json = parser_by_name("json", &config).expect("builds");
    assert_eq!(
        json.parse(r#"{"x": 1}"#).expect("parses").event_type(),
        "misc"
    );
    assert!(serde_json::from_str::<ParserConfig>(r#"{"logformat": "x"}"#).is_err());
    let bad_type = ParserConfig {
        event_type: Some("a b".into()),
        ..ParserConfig::default()
    };
    assert!(matches!(
        parser_by_name("nginx", &bad_type),
        Err(ConfigError::Option { .. })
    ));
    let shared: std::sync::Arc<dyn Parser> = by_name("nginx").into();
    std::thread::spawn(move || shared.parse("x").is_err())
        .join()
        .expect("thread");
}

fn all_parsers() -> Vec<Box<dyn Parser>> {
    [
        "nginx",
        "postfix",
        "syslog",
        "syslog5424",
        "syslog3164",
        "json",
        "openstack",
    ]
    .into_iter()
    .map(by_name)
    .collect()
}

fn check_no_panic(parsers: &[Box<dyn Parser>], line: &str) {
    for parser in parsers {
        if let Err(e) = parser.parse(line) {
            let e: ParseError = e;
            assert!(
                e.column() >= 1 && e.column() <= line.chars().count() + 1,
                "{e} for {line:?}"
            );
            assert!(!e.to_string().is_empty());
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(line in any::<String>()) {
        check_no_panic(&all_parsers(), &line);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_no_panic(&all_parsers(), &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn format_like_strings_never_panic(
        line in r#"(<[0-9]{1,4}>)?[0-9 ]{0,3}(Mar  1 |2026-03-01T09:00:0[0-9](\.[0-9]{1,10})?([Z+-][0-9:]{0,6})? )?[-\[\]"=\\ a-z0-9/.:{}]{0,60}"#
    ) {
        check_no_panic(&all_parsers(), &line);
    }

    #[test]
    fn arbitrary_log_formats_never_panic(format in r#"[$a-z_{}'" \[\]-]{0,30}"#, line in r#"[a-z0-9 "\[\]-]{0,40}"#) {
        if let Ok(parser) = NginxParser::new(&format) {
            check_no_panic(&[Box::new(parser)], &line);
        }
    }
}
