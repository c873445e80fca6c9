//! The per-tenant search over real HTTP connections and a real
//! MongoDB-compatible server (`scripts/services/mongo.sh`): 401 without a
//! token, 403 with another tenant's, only the token's tenant's events with
//! per-tenant collections and with one collection shared by every tenant,
//! the filters, and 400 naming a wrong parameter.

#![allow(clippy::unwrap_used)] // the shared mongo_support helpers unwrap

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use eventstorm_core::auth::{TokenEntry, TokensConfig};
use eventstorm_core::http::{HttpConfig, Server};
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::mongo::{MongoSink, MongoSinkConfig};
use eventstorm_sink::search::{Search, SearchConfig};
use serde_json::Value;

mod common;
mod mongo_support;
use common::with_timeout;
use mongo_support::{TestDb, server_uri};

const ACME: &str = "acme-search-0123456789abc";
const GLOBEX: &str = "globex-search-0123456789a";

/// A GET with optional token; the status, the head and the JSON body.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        status,
        head.to_string(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn event(tenant: &str, event_type: &str, ms: i64, message: &str) -> RawEvent {
    let event = Event::builder(event_type)
        .tenant(tenant)
        .timestamp(eventstorm_core::bson::DateTime::from_millis(ms))
        .field("message", message)
        .build();
    RawEvent::from_event(&event).expect("encode")
}

/// Stores acme's and globex's events with `config`.
fn store(config: &MongoSinkConfig) {
    let mut sink = MongoSink::new(config.clone()).expect("sink");
    sink.write(&[
        event("acme", "disk.alert", 1_000, "disk full on web1"),
        event("acme", "disk.ok", 2_000, "disk fine on web1"),
        event("acme", "login.fail", 3_000, "bad password for ann"),
        event("globex", "disk.alert", 1_500, "disk full on db1"),
        event("globex", "login.fail", 2_500, "bad password for bob"),
    ])
    .expect("write");
    sink.flush().expect("flush");
}

fn tokens() -> TokensConfig {
    TokensConfig {
        tokens: vec![
            TokenEntry::new("acme", ACME),
            TokenEntry::new("globex", GLOBEX),
        ],
        tokens_file: None,
    }
}

fn messages(answer: &Value) -> Vec<String> {
    answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["body"]["message"].as_str().expect("message").to_string())
        .collect()
}

/// What every layout must guarantee.
fn check_isolation(config: &MongoSinkConfig) {
    store(config);
    let search = Search::new(config, &SearchConfig::with_tokens(tokens())).expect("search");
    let counters = search.counters();
    let server = Server::start(&HttpConfig::listen("127.0.0.1:0"), search.router()).expect("start");
    let addr = server.local_addr();

    let (status, head, _) = get(addr, "/v1/tenants/acme/events", None);
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    let (status, _, _) = get(
        addr,
        "/v1/tenants/acme/events",
        Some("acme-search-guess-0000000"),
    );
    assert_eq!(status, 401);
    // A valid token of another tenant, in the path or as a parameter.
    let (status, _, _) = get(addr, "/v1/tenants/globex/events", Some(ACME));
    assert_eq!(status, 403);
    let (status, _, answer) = get(addr, "/v1/tenants/acme/events?tenant=globex", Some(ACME));
    assert_eq!(
        (status, answer["parameter"].as_str()),
        (400, Some("tenant"))
    );

    let (status, _, answer) = get(addr, "/v1/tenants/acme/events", Some(ACME));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tenant"], "acme");
    assert_eq!(
        messages(&answer),
        [
            "disk full on web1",
            "disk fine on web1",
            "bad password for ann"
        ]
    );
    let (_, _, answer) = get(addr, "/v1/tenants/globex/events", Some(GLOBEX));
    assert_eq!(
        messages(&answer),
        ["disk full on db1", "bad password for bob"]
    );

    // Filters: words, type prefix, time range, limit.
    let (_, _, answer) = get(addr, "/v1/tenants/acme/events?q=disk+full", Some(ACME));
    assert_eq!(messages(&answer), ["disk full on web1"]);
    let (_, _, answer) = get(addr, "/v1/tenants/acme/events?type=disk.", Some(ACME));
    assert_eq!(messages(&answer).len(), 2);
    let (_, _, answer) = get(
        addr,
        "/v1/tenants/acme/events?start=1970-01-01T00:00:01.500Z&end=3000",
        Some(ACME),
    );
    assert_eq!(messages(&answer), ["disk fine on web1"]);
    let (_, _, answer) = get(addr, "/v1/tenants/acme/events?limit=1", Some(ACME));
    assert_eq!(messages(&answer), ["disk full on web1"]);

    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1000000", "limit"),
        ("limit=ten", "limit"),
        ("start=yesterday", "start"),
        ("start=5000&end=1000", "end"),
        ("type=%24where", "type"),
        ("q=%zz", "q"),
        ("q=a&q=b", "q"),
        ("sort=ts", "sort"),
    ] {
        let (status, _, answer) = get(
            addr,
            &format!("/v1/tenants/acme/events?{query}"),
            Some(ACME),
        );
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["parameter"], parameter, "{query}: {answer}");
    }
    assert_eq!(counters.unauthorized.get(), 2);
    assert_eq!(counters.forbidden.get(), 1);
    assert_eq!(counters.bad_requests.get(), 10);
    assert_eq!(counters.answered.get(), 6);
    assert_eq!(counters.requests.get(), 19);
    assert!(server.shutdown());
}

#[test]
fn per_tenant_collections_answer_only_the_tokens_tenant() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "search_per_tenant");
        let config = MongoSinkConfig {
            collection: "{tenant}_events".into(),
            ..db.config()
        };
        check_isolation(&config);
    });
}

#[test]
fn a_collection_shared_by_every_tenant_answers_only_the_tokens_tenant() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "search_shared");
        check_isolation(&db.config());
    });
}

#[test]
fn a_search_without_tokens_does_not_start() {
    let config = MongoSinkConfig::new("mongodb://127.0.0.1:1", "none");
    let err = Search::new(&config, &SearchConfig::default()).expect_err("no tokens");
    assert!(err.to_string().contains("search.auth"), "{err}");
    let wide = SearchConfig {
        max_limit: 0,
        ..SearchConfig::with_tokens(tokens())
    };
    let err = Search::new(&config, &wide).expect_err("limit");
    assert!(err.to_string().contains("search.max_limit"), "{err}");
}

/// The search as the `eventstorm-sink` binary runs it: `[sinks.search]` on
/// a `mongodb` sink, served on the process's `[http]` listener.
#[test]
fn the_sink_service_serves_the_search_of_its_mongodb_sink() {
    let Some(uri) = server_uri() else { return };
    with_timeout(Duration::from_secs(120), move || {
        let db = TestDb::new(&uri, "search_service");
        let mongo = MongoSinkConfig {
            collection: "{tenant}_events".into(),
            ..db.config()
        };
        store(&mongo);
        let text = format!(
            r#"
            [http]
            listen = "127.0.0.1:0"

            [[sinks]]
            name = "store"
            type = "mongodb"
            bind = ["tcp://127.0.0.1:*"]

            [sinks.mongodb]
            uri = "{uri}"
            database = "{database}"
            collection = "{{tenant}}_events"

            [sinks.search.auth]
            tokens = [
                {{ tenant = "acme", token = "{ACME}" }},
                {{ tenant = "globex", token = "{GLOBEX}" }},
            ]
            "#,
            uri = db.uri,
            database = db.name,
        );
        let config = eventstorm_sink::service::SinksConfig::from_toml_str(&text, "sinks.toml")
            .expect("config");
        let ctx = zmq::Context::new();
        let service = eventstorm_sink::service::SinkService::spawn(&ctx, config).expect("service");
        let addr = service.http_addr().expect("the [http] listener");
        let (status, _, _) = get(addr, "/v1/tenants/acme/events", None);
        assert_eq!(status, 401);
        let (status, _, _) = get(addr, "/v1/tenants/acme/events", Some(GLOBEX));
        assert_eq!(status, 403);
        let (status, _, answer) = get(addr, "/v1/tenants/acme/events", Some(ACME));
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            messages(&answer),
            [
                "disk full on web1",
                "disk fine on web1",
                "bad password for ann"
            ]
        );
        service.shutdown().expect("shutdown");
    });
}

#[test]
fn a_search_needs_a_mongodb_sink_and_the_http_listener() {
    use eventstorm_sink::service::SinksConfig;
    let search = r#"
        [sinks.search.auth]
        tokens = [{ tenant = "acme", token = "acme-search-0123456789abc" }]
    "#;
    let on_file = format!(
        "[[sinks]]\nname = \"f\"\ntype = \"file\"\nbind = [\"tcp://127.0.0.1:*\"]\n\
         [sinks.file]\npath = \"/tmp/x.jsonl\"\n{search}"
    );
    let err =
        SinksConfig::from_toml_str(&on_file, "sinks.toml").expect_err("search on a file sink");
    assert!(err.to_string().contains("sinks[0].search"), "{err}");
    let no_http = format!(
        "[[sinks]]\nname = \"m\"\ntype = \"mongodb\"\nbind = [\"tcp://127.0.0.1:*\"]\n{search}"
    );
    let err = SinksConfig::from_toml_str(&no_http, "sinks.toml").expect_err("no [http]");
    assert!(err.to_string().contains("[http]"), "{err}");
}
