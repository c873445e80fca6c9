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

#[test]
fn metlog_style_calls_produce_the_documented_events() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let (endpoint, subscriber) = collect(&ctx, SubscriberConfig::bind("tcp://127.0.0.1:*"), 5);
        let client = Client::builder()
            .context(ctx.clone())
            .connect(endpoint)
            .logger("billing")
            .severity(Severity::Notice)
            .wait_for_subscriber(Duration::from_secs(5))
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
        let client = Client::builder()
            .context(ctx.clone())
            .connect(endpoint)
            .mode(DeliveryMode::Block)
            .wait_for_subscriber(Duration::from_secs(5))
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
        let client = Client::builder()
            .context(ctx.clone())
            .connect(endpoint)
            .wait_for_subscriber(Duration::from_secs(5))
            .build()
            .expect("client");
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
        // Subscribes and never reads: the socket's queues (20 messages over
        // inproc) fill, then the client's one-slot queue.
        let _stuck = Subscriber::new(&ctx, &{
            let mut config = SubscriberConfig::connect("inproc://client-full-queue");
            config.socket.endpoint.hwm = 10;
            config
        })
        .expect("subscriber");
        let attempts = 100_000u64;
        let mut queued = 0u64;
        for i in 0..attempts {
            if client.emit("burst.event", bson::doc! { "i": i as i64 }) {
                queued += 1;
            }
        }
        let stats = client.stats();
        let dropped = stats.get("dropped_queue_full").unwrap_or(0);
        assert_eq!(stats.get("emitted"), Some(queued));
        assert_eq!(queued + dropped, attempts, "{stats}");
        assert!(
            dropped > 0,
            "a one-slot queue must overflow under a burst: {stats}"
        );
        assert!(client.flush(Duration::from_secs(10)));
        let stats = client.stats();
        assert_eq!(
            stats.get("sent").unwrap_or(0) + stats.get("dropped_hwm").unwrap_or(0),
            queued,
            "{stats}"
        );
        client.close();
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

#[test]
fn a_client_refuses_batching_with_a_clear_error() {
    let config: ClientConfig = toml::from_str(
        r#"
            bind = ["tcp://127.0.0.1:*"]
            batch_events = 64
        "#,
    )
    .expect("parses");
    let message = Client::new(config).expect_err("batching").to_string();
    assert!(
        message.contains("batch_events") && message.contains("one event per message"),
        "{message}"
    );
}
