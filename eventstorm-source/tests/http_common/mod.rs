//! A hand-written HTTP/1.1 client over std `TcpStream`, for the HTTP ingest
//! tests: nothing between the test and the wire.
#![allow(dead_code)] // each test file uses a part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use eventstorm_core::{Event, EventSource};
use eventstorm_source::http::{HttpSource, HttpSourceConfig};
use serde_json::Value;

/// Sends one request with extra headers and returns the status, the raw
/// head and the JSON body of the answer.
pub(crate) fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    let _ = stream.write_all(body); // the server may answer 413 before reading it all
    read_answer(&mut stream)
}

/// Reads an answer to its end: status, head, JSON body.
pub(crate) fn read_answer(stream: &mut TcpStream) -> (u16, String, Value) {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer); // a reset after the answer is fine
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_string(), json)
}

/// Sends one request and returns the status and the JSON body of the answer.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("Content-Type", ct))
        .into_iter()
        .collect();
    let (status, _, json) = exchange(addr, method, path, &headers, body);
    (status, json)
}

/// `POST /v1/events`.
pub(crate) fn post(addr: SocketAddr, content_type: Option<&str>, body: &str) -> (u16, Value) {
    request(addr, "POST", "/v1/events", content_type, body.as_bytes())
}

/// Polls until `want` events arrived (or 10 s passed).
pub(crate) fn drain(source: &mut HttpSource, want: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < want && Instant::now() < deadline {
        source
            .poll(&mut out, 1000, Duration::from_millis(50))
            .expect("poll");
    }
    out
}

/// A started source and its address.
pub(crate) fn source(config: HttpSourceConfig) -> (HttpSource, SocketAddr) {
    let source = HttpSource::new(config).expect("listen");
    let addr = source.local_addr();
    (source, addr)
}

/// A connection that sent `prefix` and then stalls.
pub(crate) fn stalled(addr: SocketAddr, prefix: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(prefix.as_bytes()).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream
}

/// Waits (up to 30 s, a hang detector) until `done` holds.
#[track_caller]
pub(crate) fn wait_until(what: &str, done: impl FnMut() -> bool) {
    eventstorm_test_support::wait_for(what, Duration::from_secs(30), done);
}
