//! The HTTP server stack over real connections: streamed answers (as
//! Server-Sent Events will use), a panicking handler, method routing, and a
//! shutdown that ends a never-ending stream.
#![cfg(feature = "http")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventstorm_core::http::{BodySender, HttpConfig, Request, Response, Router, Server};

fn get(server: &Server, path: &str) -> String {
    let mut stream = TcpStream::connect(server.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn streamed_answers_panics_and_methods() {
    let senders: Arc<Mutex<Vec<BodySender>>> = Arc::default();
    let keep = Arc::clone(&senders);
    let router = Router::new()
        .route("GET", "/stream", move |_: &Request| {
            let (response, sender) = Response::streaming(200, 8);
            let feeder = sender.clone();
            std::thread::spawn(move || {
                for i in 0..3 {
                    feeder.send(format!("data: {i}\n\n")).expect("send");
                }
            });
            keep.lock().expect("lock").push(sender);
            response.with_header("Content-Type", "text/event-stream")
        })
        .route("GET", "/panic", |_: &Request| -> Response {
            panic!("handler bug")
        })
        .route("POST", "/only-post", |_: &Request| Response::new(204));
    let config = HttpConfig {
        shutdown_timeout_ms: 200,
        ..HttpConfig::listen("127.0.0.1:0")
    };
    let server = Server::start(&config, router).expect("start");

    // A stream stays open while its sender lives: read the three events,
    // then shut down with the stream still open.
    let mut stream = TcpStream::connect(server.local_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "stream ended early"
        );
        if let Some(data) = line.trim().strip_prefix("data: ") {
            seen.push(data.to_string());
        }
    }
    assert_eq!(seen, ["0", "1", "2"]);

    let answer = get(&server, "/panic");
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    let answer = get(&server, "/only-post");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("allow: post"),
        "{answer}"
    );
    let counters = server.counters();
    assert_eq!(counters.handler_panics.get(), 1);
    assert_eq!(counters.no_route.get(), 1);

    // The stream never ends by itself: shutdown ends it after its grace.
    assert!(!server.shutdown(), "a stream was still open: not graceful");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest); // closed by the server
    assert!(senders.lock().expect("lock")[0].is_closed());
}
