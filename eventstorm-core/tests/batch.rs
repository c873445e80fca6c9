//! Batches (wire version 2) over real sockets: a batching `PubSocket` and a
//! `SubSocket`, every event accounted for; hostile batches from a raw
//! socket, each refusal counted and nothing else lost.
#![cfg(feature = "transport")]

use std::time::Duration;

use eventstorm_core::Event;
use eventstorm_core::transport::{
    PubSocket, PublishConfig, ReceiveConfig, ReceiveKind, Received, SubSocket,
};
use eventstorm_core::wire::{FLAG_MARK, Header};
use eventstorm_test_support::{wait_for, with_timeout};

const LIMIT: Duration = Duration::from_secs(60);

/// A subscriber to everything, connected to `endpoint`.
fn subscriber(ctx: &zmq::Context, endpoint: &str) -> SubSocket {
    let kind = ReceiveKind::Sub {
        subscribe: vec![String::new()],
    };
    SubSocket::open(ctx, "subscriber", kind, &ReceiveConfig::connect(endpoint)).expect("subscriber")
}

/// Reads until `n` events arrived or `limit` passed; returns the types and
/// the `n` value of each event's body, in order.
fn read_events(sub: &mut SubSocket, n: usize) -> Vec<(String, i64)> {
    let mut got = Vec::new();
    wait_for(format!("{n} events"), LIMIT, || {
        while let Some(received) = sub.try_recv().expect("receive") {
            if let Received::Event(raw) = received {
                let n = raw.get("body.n").and_then(|v| v.as_i64()).expect("n");
                got.push((raw.event_type().to_string(), n));
            }
        }
        got.len() >= n
    });
    got
}

/// Reads whatever arrives until the counters stop moving for a while.
fn drain(sub: &mut SubSocket) {
    let mut idle = 0;
    while idle < 20 {
        let mut any = false;
        while sub.try_recv().expect("receive").is_some() {
            any = true;
        }
        idle = if any { 0 } else { idle + 1 };
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn event(event_type: &str, n: i64) -> Vec<u8> {
    Event::builder(event_type).field("n", n).build().to_bytes()
}

#[test]
fn a_batching_socket_delivers_every_event_in_order_with_exact_counts() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let config = PublishConfig::bind("tcp://127.0.0.1:*")
            .with_batch_events(16)
            .with_mode(eventstorm_core::DeliveryMode::Block);
        let mut publisher = PubSocket::open(&ctx, "publisher", &config).expect("publisher");
        let mut sub = subscriber(&ctx, &publisher.endpoints()[0]);
        assert!(publisher.batching());
        assert!(
            publisher
                .wait_for_subscribers(1, LIMIT)
                .expect("wait for the subscriber")
        );
        // Runs of one type, of every length around the batch size, so that
        // batches end on a full batch, a type change and a flush.
        let mut sent = Vec::new();
        let mut n = 0;
        for (i, run) in [1usize, 15, 16, 17, 40, 3].into_iter().enumerate() {
            let event_type = ["app.a", "app.b"][i % 2];
            for _ in 0..run {
                n += 1;
                let body = event(event_type, n);
                assert!(
                    publisher
                        .push(event_type.as_bytes(), &body, 0)
                        .expect("push")
                        .is_sent()
                );
                sent.push((event_type.to_string(), n));
            }
            if i == 2 {
                assert!(publisher.flush(0).expect("flush"));
                assert_eq!(publisher.pending_events(), 0);
            }
        }
        // A single event sent without batching goes after the batch held.
        n += 1;
        let body = event("app.a", n);
        assert!(
            publisher
                .try_send(b"app.a", &body[..], 0)
                .expect("send")
                .is_sent()
        );
        sent.push(("app.a".to_string(), n));
        // Five more left in a batch: closing sends them before the marks.
        for _ in 0..5 {
            n += 1;
            let body = event("app.b", n);
            let _ = publisher.push(b"app.b", &body, 0).expect("push");
            sent.push(("app.b".to_string(), n));
        }
        publisher.close();
        let stats = publisher.stats();
        drop(publisher);

        let got = read_events(&mut sub, sent.len());
        assert_eq!(got, sent);
        drain(&mut sub);
        let counters = sub.counters();
        assert_eq!(counters.received.get(), sent.len() as u64);
        assert_eq!(counters.lost.get(), 0);
        assert_eq!(counters.missed_at_join.get(), 0);
        assert_eq!(counters.duplicates.get(), 0);
        assert_eq!(counters.undecodable.get(), 0);
        assert_eq!(stats.get("sent"), Some(sent.len() as u64));
        assert_eq!(stats.get("dropped_hwm"), Some(0));
    });
}

#[test]
fn a_batch_given_up_is_counted_as_dropped_and_as_lost() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let config = PublishConfig::bind("tcp://127.0.0.1:*").with_batch_events(64);
        let mut publisher = PubSocket::open(&ctx, "publisher", &config).expect("publisher");
        let mut sub = subscriber(&ctx, &publisher.endpoints()[0]);
        assert!(
            publisher
                .wait_for_subscribers(1, LIMIT)
                .expect("wait for the subscriber")
        );
        let mut n = 0;
        let mut push = |publisher: &mut PubSocket, count: usize| {
            for _ in 0..count {
                n += 1;
                let body = event("app.a", n);
                let _ = publisher.push(b"app.a", &body, 0).expect("push");
            }
        };
        push(&mut publisher, 3);
        assert!(publisher.flush(zmq::DONTWAIT).expect("flush"));
        push(&mut publisher, 10);
        assert_eq!(publisher.drop_pending(), 10);
        push(&mut publisher, 5);
        publisher.close();
        let stats = publisher.stats();
        drop(publisher);

        let got = read_events(&mut sub, 8);
        let numbers: Vec<i64> = got.iter().map(|(_, n)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 14, 15, 16, 17, 18]);
        drain(&mut sub);
        let counters = sub.counters();
        // sent = received + lost + missed_at_join - duplicates, per stream.
        assert_eq!(stats.get("sent"), Some(8));
        assert_eq!(stats.get("dropped_hwm"), Some(10));
        assert_eq!(counters.received.get(), 8);
        assert_eq!(counters.lost.get(), 10);
        assert_eq!(counters.missed_at_join.get(), 0);
        assert_eq!(counters.suspicious.get(), 0);
    });
}

/// A raw XPUB that sends whatever frames a test gives it, and a subscriber
/// connected to it.
fn raw_publisher(ctx: &zmq::Context) -> (zmq::Socket, SubSocket) {
    let socket = ctx.socket(zmq::XPUB).expect("XPUB");
    socket.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = socket
        .get_last_endpoint()
        .expect("endpoint")
        .expect("UTF-8");
    let sub = subscriber(ctx, &endpoint);
    // The subscription arriving means the subscriber is connected.
    socket.set_rcvtimeo(30_000).expect("timeout");
    let subscription = socket.recv_bytes(0).expect("a subscription");
    assert_eq!(subscription.first(), Some(&1));
    (socket, sub)
}

fn batch_header(sequence: u64) -> Vec<u8> {
    Header {
        publisher: 77,
        sequence,
    }
    .encode_batch()
    .to_vec()
}

#[test]
fn hostile_batches_are_refused_and_counted_and_lose_nothing_else() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let (publisher, mut sub) = raw_publisher(&ctx);
        let send = |frames: Vec<Vec<u8>>| publisher.send_multipart(frames, 0).expect("send");

        // 1-3 in order, the second of another type than the topic.
        let mut body = event("app.a", 1);
        body.extend(event("app.other", 2));
        body.extend(event("app.a", 3));
        send(vec![b"app.a".to_vec(), batch_header(1), body]);
        // 4-5, then a document claiming more bytes than are left.
        let mut body = event("app.a", 4);
        body.extend(event("app.a", 5));
        let mut truncated = event("app.a", 6);
        truncated.truncate(truncated.len() - 3);
        body.extend(truncated);
        send(vec![b"app.a".to_vec(), batch_header(4), body]);
        // A length under 5 bytes, an empty batch, a batch flagged as a mark,
        // a wrong header length and a version nobody speaks.
        send(vec![
            b"app.a".to_vec(),
            batch_header(7),
            vec![2, 0, 0, 0, 0],
        ]);
        send(vec![b"app.a".to_vec(), batch_header(7), Vec::new()]);
        let mut mark = batch_header(7);
        mark[1] = FLAG_MARK;
        send(vec![b"app.a".to_vec(), mark, event("app.a", 7)]);
        send(vec![
            b"app.a".to_vec(),
            batch_header(7)[..10].to_vec(),
            event("app.a", 7),
        ]);
        let mut v3 = batch_header(7);
        v3[0] = 3;
        send(vec![b"app.a".to_vec(), v3, event("app.a", 7)]);
        // Then a good batch: 7 and 8 arrive, and nothing after the refusals
        // was lost with them.
        let mut body = event("app.a", 7);
        body.extend(event("app.a", 8));
        send(vec![b"app.a".to_vec(), batch_header(7), body]);

        let got = read_events(&mut sub, 6);
        let numbers: Vec<i64> = got.iter().map(|(_, n)| *n).collect();
        assert_eq!(numbers, [1, 3, 4, 5, 7, 8]);
        drain(&mut sub);
        let counters = sub.counters();
        assert_eq!(counters.received.get(), 6);
        // The other type, the truncated document, the short length, the
        // empty batch, the mark flag, the header length, version 3.
        assert_eq!(counters.undecodable.get(), 7);
        // Sequences 2 and 6, which were refused.
        assert_eq!(counters.lost.get(), 2);
        assert_eq!(counters.suspicious.get(), 0);
    });
}

#[test]
fn batch_settings_are_checked() {
    let ctx = zmq::Context::new();
    let config = PublishConfig::bind("tcp://127.0.0.1:*").with_batch_events(0);
    let e = PubSocket::open(&ctx, "p", &config).expect_err("batch_events = 0");
    assert!(e.to_string().contains("batch_events"), "{e}");
    let config: PublishConfig = toml::from_str(
        r#"
            bind = ["tcp://127.0.0.1:*"]
            batch_events = 128
            batch_bytes = 0
        "#,
    )
    .expect("parses");
    assert_eq!(config.batch_events, Some(128));
    let e = PubSocket::open(&ctx, "p", &config).expect_err("batch_bytes = 0");
    assert!(e.to_string().contains("batch_bytes"), "{e}");
}
