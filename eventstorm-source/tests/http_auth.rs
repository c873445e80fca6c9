//! HTTP ingest with tenant tokens, over real connections: 401 without a
//! token or with a wrong one, the token's tenant stamped on the events, a
//! different tenant claim refused, a rotated token's previous value accepted
//! until its time and refused after, and a tokens file re-read without a
//! restart.

use std::net::SocketAddr;
use std::time::Duration;

use eventstorm_core::auth::{TokenEntry, TokensConfig};
use eventstorm_core::bson::DateTime;
use eventstorm_core::{Event, EventSource, RawEvent};
use eventstorm_source::http::HttpSourceConfig;

mod common;
mod http_common;
use common::with_timeout;
use http_common::{drain, exchange, source, wait_until};

const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcd";

fn post_with(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, serde_json::Value) {
    exchange(addr, "POST", "/v1/events", headers, body.as_bytes())
}

#[test]
fn no_token_or_a_wrong_one_is_401_and_counted() {
    with_timeout(Duration::from_secs(60), || {
        let config = HttpSourceConfig::listen("127.0.0.1:0").with_token("acme", ACME);
        let (mut source, addr) = source(config);
        let body = r#"{"type":"order.placed"}"#;
        let (status, head, answer) = post_with(addr, &[], body);
        assert_eq!(status, 401, "{answer}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{head}"
        );
        assert!(
            answer["error"]
                .as_str()
                .expect("error")
                .contains("X-Auth-Token")
        );
        for headers in [
            [("X-Auth-Token", "acme-token-0123456789abcdeX")],
            [("Authorization", "Bearer not-a-token-at-all-0000")],
            [("Authorization", "Basic YWNtZTpzZWNyZXQ=")],
        ] {
            let (status, _, answer) = post_with(addr, &headers, body);
            assert_eq!(status, 401, "{headers:?}: {answer}");
        }
        // The parser routes ask for the token too.
        let (status, _, _) = exchange(addr, "POST", "/v1/events/json", &[], body.as_bytes());
        assert_eq!(status, 401);
        let stats = source.stats();
        assert_eq!(stats.get("unauthorized"), Some(5));
        assert_eq!(stats.get("requests"), Some(5));
        assert_eq!(stats.get("events"), Some(0));
        let mut out = Vec::new();
        source
            .poll(&mut out, 10, Duration::from_millis(50))
            .expect("poll");
        assert!(out.is_empty(), "{out:?}");
    });
}

#[test]
fn each_token_stamps_its_tenant_and_other_claims_are_refused() {
    with_timeout(Duration::from_secs(60), || {
        let config = HttpSourceConfig::listen("127.0.0.1:0")
            .with_token("acme", ACME)
            .with_token("globex", GLOBEX);
        let (mut source, addr) = source(config);
        let (status, _, answer) = post_with(
            addr,
            &[("X-Auth-Token", ACME)],
            r#"[{"type":"a.one"},{"type":"a.two","tenant":"acme"},{"type":"a.three","tenant":"globex"}]"#,
        );
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["accepted"], 2);
        assert_eq!(answer["errors"][0]["index"], 2);
        assert!(
            answer["errors"][0]["error"]
                .as_str()
                .expect("error")
                .contains("\"globex\""),
            "{answer}"
        );
        let bearer = format!("Bearer {GLOBEX}");
        let (status, _, answer) =
            post_with(addr, &[("Authorization", &bearer)], r#"{"type":"g.one"}"#);
        assert_eq!(status, 202, "{answer}");
        // A parser route stamps too.
        let (status, _, _) = exchange(
            addr,
            "POST",
            "/v1/events/nginx",
            &[("X-Auth-Token", GLOBEX)],
            br#"10.0.0.1 - - [01/Mar/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl""#,
        );
        assert_eq!(status, 202);
        let events = drain(&mut source, 4);
        let seen: Vec<(&str, Option<&str>)> = events
            .iter()
            .map(|e: &Event| (e.event_type(), e.tenant()))
            .collect();
        assert_eq!(
            &seen[..3],
            [
                ("a.one", Some("acme")),
                ("a.two", Some("acme")),
                ("g.one", Some("globex"))
            ]
        );
        assert_eq!(seen[3].1, Some("globex"));
        let stats = source.stats();
        assert_eq!(stats.get("tenant_mismatch"), Some(1));
        assert_eq!(stats.get("rejected_items"), Some(1));
        assert_eq!(stats.get("unauthorized"), Some(0));
    });
}

#[test]
fn a_rotated_token_keeps_its_previous_value_until_its_time() {
    with_timeout(Duration::from_secs(60), || {
        let soon = DateTime::from_millis(DateTime::now().timestamp_millis() + 5_000);
        let long_ago = "2020-01-01T00:00:00Z";
        let auth = TokensConfig {
            tokens: vec![
                TokenEntry::new("acme", ACME).with_previous(
                    "acme-old-0123456789abcdef",
                    soon.try_to_rfc3339_string().expect("time"),
                ),
                TokenEntry::new("globex", GLOBEX)
                    .with_previous("globex-old-0123456789abcd", long_ago),
            ],
            tokens_file: None,
        };
        let config = HttpSourceConfig {
            auth,
            ..HttpSourceConfig::listen("127.0.0.1:0")
        };
        let (mut source, addr) = source(config);
        let body = r#"{"type":"rotated"}"#;
        let status = |token: &str| post_with(addr, &[("X-Auth-Token", token)], body).0;
        // Within the grace: the previous value still speaks for its tenant.
        assert_eq!(status("acme-old-0123456789abcdef"), 202);
        assert_eq!(drain(&mut source, 1)[0].tenant(), Some("acme"));
        // Past it: refused, as an unknown token.
        assert_eq!(status("globex-old-0123456789abcd"), 401);
        wait_until("acme's previous token to expire", || {
            status("acme-old-0123456789abcdef") == 401
        });
        assert_eq!(status(ACME), 202);
        assert_eq!(status(GLOBEX), 202);
    });
}

#[test]
fn a_tokens_file_is_reread_without_a_restart() {
    with_timeout(Duration::from_secs(60), || {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tokens.toml");
        let entry = |tenant: &str, token: &str| {
            format!("[[tokens]]\ntenant = \"{tenant}\"\ntoken = \"{token}\"\n")
        };
        std::fs::write(&path, entry("acme", ACME)).expect("write");
        let config = HttpSourceConfig {
            auth: TokensConfig {
                tokens: vec![],
                tokens_file: Some(path.clone()),
            },
            ..HttpSourceConfig::listen("127.0.0.1:0")
        };
        let (_source, addr) = source(config);
        let body = r#"{"type":"file.token"}"#;
        let status = |token: &str| post_with(addr, &[("X-Auth-Token", token)], body).0;
        assert_eq!(status(ACME), 202);
        assert_eq!(status(GLOBEX), 401);
        // Revoke acme, add globex: written to a new file then renamed, as
        // an operator's tool would, so no reader sees half a file.
        let next = dir.path().join("tokens.toml.new");
        std::fs::write(&next, entry("globex", GLOBEX)).expect("write");
        std::fs::rename(&next, &path).expect("rename");
        wait_until("the new tokens file to be read", || status(GLOBEX) == 202);
        assert_eq!(status(ACME), 401);
    });
}

#[test]
fn bad_token_settings_fail_at_start_naming_the_key() {
    let config = HttpSourceConfig::listen("127.0.0.1:0").with_token("acme", "short");
    let err = config.validate().expect_err("short").to_string();
    assert!(err.contains("auth.tokens[0].token"), "{err}");
    let config = HttpSourceConfig {
        auth: TokensConfig {
            tokens: vec![],
            tokens_file: Some("/nonexistent/tokens.toml".into()),
        },
        ..HttpSourceConfig::listen("127.0.0.1:0")
    };
    let err = config.validate().expect_err("missing").to_string();
    assert!(
        err.contains("auth.tokens_file") && err.contains("/nonexistent/tokens.toml"),
        "{err}"
    );
}

#[test]
fn the_runner_gets_the_events_encoded_and_stamped() {
    with_timeout(Duration::from_secs(60), || {
        let config = HttpSourceConfig::listen("127.0.0.1:0").with_token("acme", ACME);
        let (mut source, addr) = source(config);
        let (status, _, answer) = post_with(
            addr,
            &[("X-Auth-Token", ACME)],
            r#"{"type":"order.placed","n":3}"#,
        );
        assert_eq!(status, 202, "{answer}");
        let (status, _, answer) = exchange(
            addr,
            "POST",
            "/v1/events/syslog5424",
            &[("X-Auth-Token", ACME)],
            b"<34>1 2026-03-01T09:00:00Z host app 7 - [x@1 a=\"b\"] hello",
        );
        assert_eq!(status, 202, "{answer}");
        // What the runner calls: the events as the handlers encoded them.
        let mut out: Vec<RawEvent> = Vec::new();
        wait_until("both events", || {
            let status = source
                .poll_raw(&mut out, 10, Duration::from_millis(50))
                .expect("poll_raw");
            assert!(
                status.is_some(),
                "the HTTP source hands over encoded events"
            );
            out.len() >= 2
        });
        let seen: Vec<(&str, Option<&str>)> = out
            .iter()
            .map(|e| (e.event_type(), e.view().tenant()))
            .collect();
        assert_eq!(
            seen,
            [
                ("order.placed", Some("acme")),
                ("syslog.auth", Some("acme"))
            ]
        );
        assert_eq!(out[0].get("body.n").and_then(|v| v.as_i32()), Some(3));
        assert_eq!(
            out[1].get("body.message").and_then(|v| v.as_str()),
            Some("hello")
        );
        // Bytes a receiver accepts.
        for event in &out {
            assert!(RawEvent::from_bytes(event.as_bytes().to_vec()).is_ok());
        }
    });
}
