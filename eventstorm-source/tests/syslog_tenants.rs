//! The syslog listener's tenants over real UDP and TCP sockets: the tenant
//! and token of a `[meniscus ...]` structured-data element accepted,
//! refused and counted; the element kept out of the stored event; a fixed
//! per-listener tenant.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use eventstorm_core::{Event, EventSource};
use eventstorm_source::syslog_listener::{SyslogConfig, SyslogCounters, SyslogSource};
use eventstorm_test_support::wait_for;

mod common;
use common::with_timeout;

const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcd";
const LIMIT: Duration = Duration::from_secs(30);

fn line(sd: &str, message: &str) -> String {
    format!("<34>1 2026-03-01T09:00:02.792Z web1 app - ID47 {sd} {message}")
}

/// Polls until every one of `sent` messages was handled (an event or a
/// refusal) and returns the events.
fn collect(source: &mut SyslogSource, counters: &SyslogCounters, sent: u64) -> Vec<Event> {
    let mut out = Vec::new();
    let handled = || {
        counters.events.get()
            + counters.rejected.get()
            + counters.unauthorized.get()
            + counters.tenant_mismatch.get()
    };
    wait_for("every message to be handled", LIMIT, || {
        source
            .poll(&mut out, 1000, Duration::from_millis(20))
            .expect("poll");
        handled() >= sent
    });
    while source
        .poll(&mut out, 1000, Duration::from_millis(20))
        .expect("poll")
        == eventstorm_core::SourceStatus::Ready
    {}
    out
}

#[test]
fn tokens_in_the_structured_data_element_over_udp_and_tcp() {
    with_timeout(Duration::from_secs(60), || {
        let config = SyslogConfig::default()
            .with_udp("127.0.0.1:0")
            .with_tcp("127.0.0.1:0")
            .with_token("acme", ACME)
            .with_token("globex", GLOBEX);
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let good = [
            line(
                &format!(r#"[meniscus tenant="acme" token="{ACME}"]"#),
                "udp acme",
            ),
            // The tenant may be left out: the token says it.
            line(
                &format!(r#"[meniscus token="{GLOBEX}"][x@1 a="b"]"#),
                "udp globex",
            ),
        ];
        let bad = [
            line("-", "no element"),
            line(r#"[meniscus tenant="acme"]"#, "no token"),
            line(
                r#"[meniscus tenant="acme" token="acme-token-0123456789abcdeX"]"#,
                "wrong token",
            ),
            // A valid token of another tenant.
            line(
                &format!(r#"[meniscus tenant="acme" token="{GLOBEX}"]"#),
                "other tenant",
            ),
            // RFC 3164 has no structured data.
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed".to_string(),
        ];
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = source.udp_addr().expect("udp");
        for message in good.iter().chain(&bad) {
            udp.send_to(message.as_bytes(), addr).expect("send");
        }
        let events = collect(&mut source, &counters, 7);
        let seen: Vec<(Option<&str>, &str)> = events
            .iter()
            .map(|e| (e.tenant(), e.body().get_str("message").unwrap_or("")))
            .collect();
        assert_eq!(
            seen,
            [(Some("acme"), "udp acme"), (Some("globex"), "udp globex")]
        );
        // The element (and so the token) is not in the event; other
        // elements stay.
        assert!(
            events[0].body().get("structured_data").is_none(),
            "{:?}",
            events[0]
        );
        let sd = events[1]
            .body()
            .get_document("structured_data")
            .expect("sd");
        assert!(
            sd.get("meniscus").is_none() && sd.get("x@1").is_some(),
            "{sd}"
        );
        assert_eq!(counters.unauthorized.get(), 5);

        // TCP, octet counting: one good and one bad message on one connection.
        let mut tcp = TcpStream::connect(source.tcp_addr().expect("tcp")).expect("connect");
        for message in [
            line(
                &format!(r#"[meniscus tenant="acme" token="{ACME}"]"#),
                "tcp acme",
            ),
            line(
                r#"[meniscus tenant="acme" token="guessed-token-000000000"]"#,
                "tcp guess",
            ),
        ] {
            write!(tcp, "{} {message}", message.len()).expect("write");
        }
        tcp.flush().expect("flush");
        let events = collect(&mut source, &counters, 9);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].tenant(), Some("acme"));
        assert_eq!(events[0].body().get_str("message").ok(), Some("tcp acme"));
        let stats = source.stats();
        assert_eq!(stats.get("unauthorized"), Some(6));
        assert_eq!(stats.get("received"), Some(9));
        assert_eq!(stats.get("events"), Some(3));
    });
}

#[test]
fn a_fixed_tenant_per_listener_and_a_configurable_element() {
    with_timeout(Duration::from_secs(60), || {
        let config = SyslogConfig {
            tenant: Some("acme".into()),
            ..SyslogConfig::default().with_udp("127.0.0.1:0")
        };
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = source.udp_addr().expect("udp");
        udp.send_to(line("-", "fixed").as_bytes(), addr)
            .expect("send");
        udp.send_to(b"<34>Oct 11 22:14:15 mymachine su: bsd", addr)
            .expect("send");
        let events = collect(&mut source, &counters, 2);
        assert!(
            events.iter().all(|e| e.tenant() == Some("acme")),
            "{events:?}"
        );
        assert_eq!(events.len(), 2);

        // Another element name.
        let config = SyslogConfig {
            tenant_element: "tenant@32473".into(),
            ..SyslogConfig::default()
                .with_udp("127.0.0.1:0")
                .with_token("acme", ACME)
        };
        let mut source = SyslogSource::new(config).expect("listen");
        let counters = source.counters();
        let addr = source.udp_addr().expect("udp");
        let sd = format!(r#"[tenant@32473 token="{ACME}"]"#);
        udp.send_to(line(&sd, "named").as_bytes(), addr)
            .expect("send");
        let meniscus = format!(r#"[meniscus token="{ACME}"]"#);
        udp.send_to(line(&meniscus, "wrong element").as_bytes(), addr)
            .expect("send");
        let events = collect(&mut source, &counters, 2);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].tenant(), Some("acme"));
        assert_eq!(counters.unauthorized.get(), 1);
    });
}

#[test]
fn tenant_settings_are_checked_at_start() {
    let both = SyslogConfig {
        tenant: Some("acme".into()),
        ..SyslogConfig::default()
            .with_udp("127.0.0.1:0")
            .with_token("acme", ACME)
    };
    let err = both.validate().expect_err("both").to_string();
    assert!(err.contains("tenant") && err.contains("exclude"), "{err}");
    let json = SyslogConfig {
        parser: "json".into(),
        ..SyslogConfig::default()
            .with_udp("127.0.0.1:0")
            .with_token("acme", ACME)
    };
    let err = json.validate().expect_err("json").to_string();
    assert!(err.contains("syslog5424"), "{err}");
    let element = SyslogConfig {
        tenant_element: "has space".into(),
        ..SyslogConfig::default()
    };
    assert!(
        element
            .validate()
            .expect_err("sd")
            .to_string()
            .contains("tenant_element")
    );
    let short = SyslogConfig::default().with_token("acme", "short");
    assert!(
        short
            .validate()
            .expect_err("short")
            .to_string()
            .contains("auth.tokens[0].token")
    );
}
