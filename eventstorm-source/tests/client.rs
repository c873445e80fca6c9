//! The application client over real sockets: the Metlog-style calls, many
//! threads, skipping when nobody listens, and accounting when the queue is full.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use eventstorm_core::{RawEvent, Severity};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, ClientConfig, DeliveryMode};

mod common;
use common::with_timeout;

/// A subscriber on its own thread, so it answers the client's connection while
/// the client waits for it; returns what it received once `n` arrived.
fn collect(
    ctx: &zmq::Context,
    config: SubscriberConfig,
    n: usize,
) -> (
    String,
    thread::JoinHandle<(Vec<RawEvent>, eventstorm_core::Stats)>,
) {
    let (endpoint_tx, endpoint_rx) = mpsc::channel();
    let ctx = ctx.clone();
    let handle = thread::spawn(move || {
        let mut subscriber = Subscriber::new(&ctx, &config).expect("subscriber");
        endpoint_tx
            .send(subscriber.endpoints()[0].clone())
            .expect("endpoint");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Vec::new();
        while events.len() < n && Instant::now() < deadline {
            if let Some(e) = subscriber.recv(Duration::from_millis(50)).expect("recv") {
                events.push(e);
            }
        }
        // Let final sequence marks arrive.
        let _ = subscriber.recv(Duration::from_millis(200));
        (events, subscriber.stats())
    });
    (endpoint_rx.recv().expect("endpoint"), handle)
}

/// A client builder on `ctx` connected to `endpoint`, waiting up to 5 s at
/// start for the subscriber there.
fn connected(ctx: &zmq::Context, endpoint: String) -> eventstorm_source::ClientBuilder {
    Client::builder()
        .context(ctx.clone())
        .connect(endpoint)
        .wait_for_subscriber(Duration::from_secs(5))
}

#[test]
fn metlog_style_calls_produce_the_documented_events() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let (endpoint, subscriber) = collect(&ctx, SubscriberConfig::bind("tcp://127.0.0.1:*"), 5);
        let client = connected(&ctx, endpoint)
            .logger("billing")
            .severity(Severity::Notice)
            .build()
            .expect("client");
        assert!(client.emit("order.placed", bson::doc! { "order_id": 7 }));
        assert!(client.log(Severity::Error, "card declined"));
        assert!(client.incr("orders", 2));
        assert!(client.gauge("queue.depth", 3.5));
        drop(client.timer("db.query").field("table", "orders"));
        client.close();
        let (events, stats) = subscriber.join().expect("subscriber");
        assert_eq!(stats.get("lost"), Some(0));
        let events: Vec<_> = events
            .iter()
            .map(|e| e.to_event().expect("decode"))
            .collect();
        let types: Vec<_> = events.iter().map(|e| e.event_type()).collect();
        assert_eq!(types, ["order.placed", "log", "counter", "gauge", "timer"]);
        for event in &events {
            assert_eq!(event.logger(), Some("billing"));
            assert_eq!(event.pid(), Some(i64::from(std::process::id())));
            assert!(event.hostname().is_some_and(|h| !h.is_empty()));
        }
        assert_eq!(events[0].severity(), Severity::Notice);
        assert_eq!(events[1].severity(), Severity::Error);
        assert_eq!(
            events[1].body().get_str("message").ok(),
            Some("card declined")
        );
        assert_eq!(events[2].body().get_str("name").ok(), Some("orders"));
        assert_eq!(events[2].body().get_i64("value").ok(), Some(2));
        assert_eq!(events[3].body().get_f64("value").ok(), Some(3.5));
        assert_eq!(events[4].body().get_str("table").ok(), Some("orders"));
        assert!(
            events[4]
                .body()
                .get_f64("elapsed_ms")
                .is_ok_and(|ms| ms >= 0.0)
        );
    });
}

#[test]
fn many_threads_share_one_client() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let (threads, per_thread) = (4usize, 2_000usize);
        let (endpoint, subscriber) = collect(
            &ctx,
            SubscriberConfig::bind("tcp://127.0.0.1:*"),
            threads * per_thread,
        );
        let client = connected(&ctx, endpoint)
            .mode(DeliveryMode::Block)
            .build()
            .expect("client");
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let client = client.clone();
                thread::spawn(move || {
                    for i in 0..per_thread {
                        assert!(client.emit(&format!("worker.{t}"), bson::doc! { "i": i as i64 }));
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        client.close();
        let (events, stats) = subscriber.join().expect("subscriber");
        assert_eq!(events.len(), threads * per_thread);
        assert_eq!(stats.get("lost"), Some(0));
        // Per type, events arrive in the order each thread emitted them.
        for t in 0..threads {
            let seen: Vec<i64> = events
                .iter()
                .filter(|e| e.event_type() == format!("worker.{t}"))
                .filter_map(|e| e.get("body.i").and_then(|v| v.as_i64()))
                .collect();
            assert_eq!(seen, (0..per_thread as i64).collect::<Vec<_>>());
        }
    });
}

#[test]
fn events_nobody_subscribed_to_are_skipped_and_counted() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let config = SubscriberConfig::bind("tcp://127.0.0.1:*").subscribe(["volume."]);
        let (endpoint, subscriber) = collect(&ctx, config, 10);
        let client = connected(&ctx, endpoint).build().expect("client");
        for i in 0..10i64 {
            assert!(client.emit("volume.attach", bson::doc! { "i": i }));
            assert!(!client.emit("compute.instance.update", bson::doc! { "i": i }));
        }
        assert!(client.is_wanted("volume.detach"));
        assert!(!client.is_wanted("compute.instance.update"));
        let stats = client.stats();
        assert_eq!(stats.get("emitted"), Some(10));
        assert_eq!(stats.get("unsubscribed"), Some(10));
        client.close();
        let (events, _) = subscriber.join().expect("subscriber");
        assert_eq!(events.len(), 10);
    });
}

/// Drop mode never blocks the caller: when a subscriber stops reading, the
/// client queues for its publisher thread, and when that queue is full the
/// event is dropped and counted; every call is accounted for.
#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut config = ClientConfig::default();
        config.publisher.endpoint.bind = vec!["inproc://client-full-queue".into()];
        config.publisher.endpoint.hwm = 10;
        config.queue_capacity = 1;
        config.skip_unsubscribed = false;
        let client = Client::with_context(&ctx, config).expect("client");
        // The socket's queues (20 messages over inproc) fill, then the
        // client's one-slot queue.
        overflow_and_account(&ctx, &client, "inproc://client-full-queue", 100_000);
    });
}

#[test]
fn an_unbindable_endpoint_is_a_clear_error() {
    let ctx = zmq::Context::new();
    let first = Client::builder()
        .context(ctx.clone())
        .bind("tcp://127.0.0.1:*")
        .build()
        .expect("first client");
    let taken = first.endpoints()[0].clone();
    let err = Client::builder()
        .context(ctx)
        .bind(taken.clone())
        .build()
        .expect_err("the port is taken");
    let message = err.to_string();
    assert!(
        message.contains("bind") && message.contains(&taken),
        "{message}"
    );
    first.close();
}

/// A batching client (block mode) whose subscriber stops reading: callers
/// queue while the publisher thread waits for room, and once the subscriber
/// reads again the thread sends what piled up as batches. Every event
/// arrives, once, in order per type, and the counters add up.
#[test]
fn a_batching_client_sends_what_piles_up_as_batches() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let endpoint = "inproc://client-batches";
        let client = Client::builder()
            .context(ctx.clone())
            .bind(endpoint)
            .mode(DeliveryMode::Block)
            .hwm(4)
            .batch_events(64)
            .build()
            .expect("client");
        let sub = ctx.socket(zmq::SUB).expect("socket");
        sub.set_rcvhwm(4).expect("hwm");
        sub.set_subscribe(b"").expect("subscribe");
        sub.connect(endpoint).expect("connect");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !client.is_wanted("batch.a") {
            assert!(Instant::now() < deadline, "the subscription never arrived");
            let _ = sub.poll(zmq::POLLIN, 5);
        }
        // The subscriber does not read yet: the socket's queues fill, the
        // publisher thread waits, and the rest is queued.
        let total = 10_000i64;
        for i in 0..total {
            let event_type = if (i / 1000) % 2 == 0 {
                "batch.a"
            } else {
                "batch.b"
            };
            assert!(client.emit(event_type, bson::doc! { "i": i }));
        }
        let (mut messages, mut batches) = (0u64, 0u64);
        let mut seen: Vec<i64> = Vec::new();
        // Sequences count per type (a stream per publisher and type).
        let mut sequences: std::collections::HashMap<Vec<u8>, Vec<u64>> = Default::default();
        let read_until = Instant::now() + Duration::from_secs(30);
        while (seen.len() as i64) < total && Instant::now() < read_until {
            if sub.poll(zmq::POLLIN, 50).expect("poll") == 0 {
                continue;
            }
            let frames = sub.recv_multipart(0).expect("recv");
            let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            match eventstorm_core::wire::decode_message(&frames).expect("decodes") {
                eventstorm_core::wire::Message::Event(header, event) => {
                    messages += 1;
                    sequences
                        .entry(frames[0].to_vec())
                        .or_default()
                        .push(header.sequence);
                    seen.push(event.get("body.i").and_then(|v| v.as_i64()).expect("i"));
                }
                eventstorm_core::wire::Message::Batch(_, events) => {
                    messages += 1;
                    batches += 1;
                    for item in events {
                        let (header, event) = item.expect("every event of a batch decodes");
                        sequences
                            .entry(frames[0].to_vec())
                            .or_default()
                            .push(header.sequence);
                        seen.push(event.get("body.i").and_then(|v| v.as_i64()).expect("i"));
                    }
                }
                eventstorm_core::wire::Message::Mark(..) => {}
            }
        }
        assert_eq!(seen, (0..total).collect::<Vec<_>>());
        assert_eq!(sequences.len(), 2);
        for stream in sequences.values() {
            assert_eq!(stream.len(), total as usize / 2);
            assert!(stream.windows(2).all(|w| w[1] == w[0] + 1), "gapless");
        }
        assert!(batches > 0, "nothing was batched");
        assert!(
            messages < total as u64 / 4,
            "{messages} messages for {total} events"
        );
        let stats = client.shutdown().expect("shutdown");
        assert_eq!(stats.get("emitted"), Some(total as u64), "{stats}");
        assert_eq!(stats.get("sent"), Some(total as u64), "{stats}");
        assert_eq!(stats.get("dropped_hwm"), Some(0), "{stats}");
    });
}

/// A batch never waits for events that are not coming: with nothing queued
/// behind it, a lone event goes at once, without `flush` or `close`, and
/// arrives as a plain (version 1) message that any receiver reads.
#[test]
fn a_batching_client_sends_a_lone_event_at_once() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let (endpoint, subscriber) = collect(&ctx, SubscriberConfig::bind("tcp://127.0.0.1:*"), 3);
        let client = connected(&ctx, endpoint)
            .batch_events(256)
            .build()
            .expect("client");
        for i in 0..3i64 {
            assert!(client.emit("order.placed", bson::doc! { "i": i }));
            // Not closed, not flushed: the subscriber has it anyway.
            thread::sleep(Duration::from_millis(20));
        }
        let (events, stats) = subscriber.join().expect("subscriber");
        assert_eq!(events.len(), 3, "{stats}");
        assert_eq!(stats.get("lost"), Some(0));
        client.close();
    });
}

/// Drop mode with batches: a stuck subscriber fills the socket, then the
/// client's queue; what does not fit is dropped before it is encoded, and
/// every call is counted once.
#[test]
fn a_batching_client_in_drop_mode_counts_every_call() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut config: ClientConfig = toml::from_str(
            r#"
                bind = ["inproc://client-batch-drop"]
                hwm = 10
                batch_events = 32
                queue_capacity = 100
                skip_unsubscribed = false
                drop_wait_ms = 0
            "#,
        )
        .expect("parses");
        config.logger = "batches".into();
        let client = Client::with_context(&ctx, config).expect("client");
        overflow_and_account(&ctx, &client, "inproc://client-batch-drop", 50_000);
    });
}

/// Attaches a subscriber (hwm 10) to `endpoint` that never reads, emits
/// `attempts` events in a burst and checks that every call is counted once:
/// `emitted` (queued) plus `dropped_queue_full` is every call, the small
/// queues overflow, and after a flush every emitted event was sent or
/// dropped at the socket (`dropped_hwm`).
fn overflow_and_account(ctx: &zmq::Context, client: &Client, endpoint: &str, attempts: u64) {
    let _stuck = Subscriber::new(ctx, &{
        let mut config = SubscriberConfig::connect(endpoint);
        config.socket.endpoint.hwm = 10;
        config
    })
    .expect("subscriber");
    let queued = (0..attempts)
        .filter(|i| client.emit("burst.event", bson::doc! { "i": *i as i64 }))
        .count() as u64;
    let stats = client.stats();
    let dropped = stats.get("dropped_queue_full").unwrap_or(0);
    assert_eq!(stats.get("emitted"), Some(queued), "{stats}");
    assert_eq!(queued + dropped, attempts, "{stats}");
    assert!(
        dropped > 0,
        "a small queue must overflow under a burst: {stats}"
    );
    assert!(client.flush(Duration::from_secs(10)));
    let stats = client.stats();
    assert_eq!(
        stats.get("sent").unwrap_or(0) + stats.get("dropped_hwm").unwrap_or(0),
        queued,
        "{stats}"
    );
    client.close();
}
