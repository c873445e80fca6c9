//! A subscriber against events nested too deep or malformed inside, over a
//! real socket: each is counted as undecodable and never reaches a sink; an
//! event at the depth limit is received and rendered by the JSON sinks; a
//! client refuses to send an event over the limit.

use std::time::Duration;

use bson::{Bson, Document, doc};
use eventstorm_core::event::MAX_DEPTH;
use eventstorm_core::{Event, EventSink, RawEvent};
use eventstorm_sink::sinks::{JsonLinesFileSink, StdoutSink, to_json};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode, Publisher, PublisherConfig, SendOutcome};

mod common;
use common::with_timeout;

const WAIT: Duration = Duration::from_secs(10);

/// The bytes of a document nesting `levels` levels (itself included), each
/// level one element `a` holding the next. Built without a `bson::Document`,
/// whose drop would recurse.
fn nested(levels: usize) -> Vec<u8> {
    const PER_LEVEL: usize = 4 + 1 + 2 + 1;
    let mut out = Vec::with_capacity(levels * PER_LEVEL);
    for level in 0..levels - 1 {
        let len = (levels - level - 1) * PER_LEVEL + 5;
        out.extend_from_slice(&(len as i32).to_le_bytes());
        out.extend_from_slice(b"\x03a\0");
    }
    out.extend_from_slice(&[5, 0, 0, 0, 0]);
    out.extend(std::iter::repeat_n(0u8, levels - 1));
    out
}

/// An event whose body is the document `body` (its bytes).
fn event_with_body(event_type: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = Event::builder(event_type).build().to_bytes();
    // The builder writes `body` last: replace its empty document.
    bytes.truncate(bytes.len() - 6);
    bytes.extend_from_slice(body);
    bytes.push(0);
    let len = (bytes.len() as i32).to_le_bytes();
    bytes[..4].copy_from_slice(&len);
    bytes
}

/// A body nesting `levels` levels (itself included).
fn body_of(levels: usize) -> Document {
    let mut body = doc! { "leaf": "x" };
    for _ in 1..levels {
        body = doc! { "a": body };
    }
    body
}

/// How many documents nest in a JSON value (itself included).
fn json_depth(value: &serde_json::Value) -> usize {
    let mut depth = 0;
    let mut current = Some(value);
    while let Some(serde_json::Value::Object(map)) = current {
        depth += 1;
        current = map.get("a").or_else(|| map.get("body"));
    }
    depth
}

fn recv(subscriber: &mut Subscriber) -> RawEvent {
    subscriber
        .recv(WAIT)
        .expect("recv")
        .expect("an event in time")
}

#[test]
fn deep_and_malformed_events_are_undecodable_at_the_subscriber() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut subscriber = Subscriber::new(&ctx, &SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .expect("subscriber");
        let endpoint = subscriber.endpoints()[0].clone();
        let publisher_ctx = ctx.clone();
        let deep = event_with_body("app.deep", &nested(6_000));
        assert!((47_000..50_000).contains(&deep.len()));
        let mut malformed = Event::builder("app.deep")
            .field("inner", doc! { "s": "abcdef" })
            .build()
            .to_bytes();
        let at = malformed
            .windows(10)
            .position(|w| w == b"\x07\0\0\0abcdef")
            .expect("the string");
        malformed[at] = 0x70;
        // The body is level 2: MAX_DEPTH - 1 more levels reach the limit.
        let at_limit = Event::builder("app.deep")
            .fields(body_of(MAX_DEPTH - 1))
            .build();
        let over = event_with_body("app.deep", &nested(MAX_DEPTH));
        let good = Event::builder("app.deep").field("n", 1).build();
        let sent = (at_limit.clone(), good.clone());
        let publisher = std::thread::spawn(move || {
            let mut publisher = Publisher::new(
                &publisher_ctx,
                &PublisherConfig::connect(endpoint).with_mode(DeliveryMode::Block),
            )
            .expect("publisher");
            assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));
            for body in [&deep, &malformed, &over] {
                let outcome = publisher.send_bytes("app.deep", body).expect("send");
                assert_eq!(outcome, SendOutcome::Sent);
            }
            for event in [&sent.0, &sent.1] {
                assert_eq!(publisher.send(event).expect("send"), SendOutcome::Sent);
            }
            publisher.close();
        });
        let first = recv(&mut subscriber);
        let second = recv(&mut subscriber);
        publisher.join().expect("publisher thread");
        assert_eq!(first.id(), at_limit.id());
        assert_eq!(second.id(), good.id());
        let stats = subscriber.stats();
        assert_eq!(stats.get("undecodable"), Some(3), "{stats}");
        assert_eq!(stats.get("received"), Some(2), "{stats}");

        // The event at the limit renders whole, on a thread of its own.
        let json = to_json(&first);
        assert_eq!(json_depth(&json), MAX_DEPTH, "{json}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.jsonl");
        let mut file = JsonLinesFileSink::open(&path).expect("open");
        file.write(std::slice::from_ref(&first)).expect("write");
        file.flush().expect("flush");
        let line = std::fs::read_to_string(&path).expect("read");
        let parsed: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
        assert_eq!(json_depth(&parsed), MAX_DEPTH);
        StdoutSink::pretty()
            .write(std::slice::from_ref(&first))
            .expect("pretty");
    });
}

#[test]
fn a_client_does_not_send_an_event_over_the_limit() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut subscriber = Subscriber::new(&ctx, &SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .expect("subscriber");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(subscriber.endpoints()[0].clone())
            .mode(DeliveryMode::Block)
            .build()
            .expect("client");
        // The subscriber's socket completes its handshake only when its
        // thread calls into it: read while waiting for the subscription.
        let deadline = std::time::Instant::now() + WAIT;
        while !client.is_wanted("app.deep") {
            assert!(
                subscriber
                    .recv(Duration::from_millis(20))
                    .expect("recv")
                    .is_none()
            );
            assert!(std::time::Instant::now() < deadline, "no subscription");
        }
        // `emit` puts the fields in the body (level 2).
        assert!(!client.emit("app.deep", body_of(MAX_DEPTH)));
        let over = Event::builder("app.deep")
            .fields(body_of(MAX_DEPTH))
            .build();
        assert!(!client.send(&over));
        assert!(client.emit("app.deep", body_of(MAX_DEPTH - 1)));
        assert!(client.flush(WAIT));
        let received = recv(&mut subscriber);
        assert_eq!(
            received
                .get("body.a.a.a")
                .map(|v| Bson::try_from(v).is_ok()),
            Some(true)
        );
        let stats = client.stats();
        assert_eq!(stats.get("invalid"), Some(2), "{stats}");
        client.close();
        assert_eq!(subscriber.stats().get("undecodable"), Some(0));
    });
}
