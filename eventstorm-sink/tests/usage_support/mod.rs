//! What the usage tests share: a database of the test's own on the MongoDB
//! test server, notifications made into events by the real `openstack`
//! parser, and a small HTTP/1.1 client over a plain `TcpStream` (real
//! connections, nothing mocked).
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use eventstorm_core::RawEvent;
use eventstorm_source::parse::{OpenStackParser, Parser};
use serde_json::{Value, json};

pub const TOKEN: &str = "test-token-123";
pub const WAIT: Duration = Duration::from_secs(30);

/// A database of its own, dropped at the end of the test.
pub struct TestDb {
    pub uri: String,
    pub name: String,
}

impl TestDb {
    /// `None` (after a loud notice; a failure under `CI=true`) without a
    /// server.
    pub fn new(test: &str) -> Option<TestDb> {
        let uri = eventstorm_test_support::mongodb_uri()?;
        Some(TestDb {
            uri,
            name: eventstorm_test_support::keyspace(test),
        })
    }

    pub fn config(&self) -> eventstorm_sink::usage::UsageConfig {
        eventstorm_sink::usage::UsageConfig::new(&self.uri, &self.name, TOKEN)
    }

    /// Runs `f` with a driver handle on this database.
    pub fn with_db<T>(&self, f: impl AsyncFnOnce(mongodb::Database) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client = mongodb::Client::with_uri_str(&self.uri)
                .await
                .expect("client");
            f(client.database(&self.name)).await
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.with_db(async |db| {
            let _ = db.drop().await;
        });
    }
}

/// A notification line, as nova or cinder would send it.
pub fn line(event_type: &str, message_id: &str, timestamp: &str, payload: Value) -> String {
    json!({
        "message_id": message_id,
        "publisher_id": "test.host-1",
        "event_type": event_type,
        "priority": "INFO",
        "timestamp": timestamp,
        "payload": payload,
    })
    .to_string()
}

/// The event the `openstack` parser makes of a notification line.
pub fn event(line: &str) -> RawEvent {
    let event = OpenStackParser
        .parse(line)
        .expect("a notification the parser reads");
    RawEvent::from_event(&event).expect("encodable")
}

/// A notification as an event.
pub fn note(event_type: &str, message_id: &str, timestamp: &str, payload: Value) -> RawEvent {
    event(&line(event_type, message_id, timestamp, payload))
}

pub fn instance_payload(id: &str, project: &str, flavor: &str, created_at: &str) -> Value {
    json!({
        "instance_id": id,
        "tenant_id": project,
        "display_name": format!("{id}.example.com"),
        "instance_type": flavor,
        "created_at": created_at,
        "image_meta": {"distro": "ubuntu", "version": "22.04", "os_type": "linux"},
        "metadata": {"billing.code": "42", "secret": "x"},
    })
}

pub fn volume_payload(id: &str, project: &str, size: i64, created_at: &str) -> Value {
    json!({
        "volume_id": id,
        "tenant_id": project,
        "display_name": format!("{id}-name"),
        "size": size,
        "volume_type": "ssd-id",
        "created_at": created_at,
    })
}

/// One HTTP request; the status and the body parsed as JSON (Null when
/// empty).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("X-Auth-Token: {token}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value = if body.is_empty() || method == "HEAD" {
        Value::Null
    } else {
        serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body:?}"))
    };
    (status, value)
}

/// `GET` with the token; asserts 200.
pub fn get(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, Some(TOKEN), None);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The versions as (entity_id, start, end) triples, in answer order.
pub fn spans(versions: &Value) -> Vec<(String, String, Option<String>)> {
    versions
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            (
                v["entity_id"].as_str().expect("entity_id").to_owned(),
                v["start"].as_str().expect("start").to_owned(),
                v["end"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
