//! Publisher → subscriber over real ZeroMQ sockets: transports, filtering, exact
//! loss accounting under HWM overflow, sequence marks, undecodable input, and
//! the sink runtime's accounting (`written` only once the sink confirmed) and
//! graceful shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use eventstorm_core::{Event, EventSink, RawEvent, SinkError, Stats};
use eventstorm_sink::sinks::ChannelSink;
use eventstorm_sink::{
    RuntimeConfig, SinkHandle, SinkRuntime, Subscriber, SubscriberConfig, WhenFull,
};
use eventstorm_source::{Client, DeliveryMode, Publisher, PublisherConfig, SendOutcome};

mod common;
use common::with_timeout;

fn event(event_type: &str, i: i64) -> Event {
    Event::builder(event_type)
        .field("i", i)
        .field("pad", "x".repeat(200))
        .build()
}

/// Receives until `n` events arrived or `limit` passes.
fn recv_n(subscriber: &mut Subscriber, n: usize, limit: Duration) -> Vec<RawEvent> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        if let Some(e) = subscriber.recv(Duration::from_millis(50)).expect("recv") {
            out.push(e);
        }
    }
    out
}

/// Publishes on a thread of its own (a ZeroMQ socket processes its connection
/// handshakes only when its own thread calls into it, so the subscriber must be
/// read while the publisher waits for it).
fn spawn_publisher(
    ctx: &zmq::Context,
    config: PublisherConfig,
    events: Vec<Event>,
) -> thread::JoinHandle<eventstorm_core::Stats> {
    let ctx = ctx.clone();
    thread::spawn(move || {
        let mut publisher = Publisher::new(&ctx, &config).expect("publisher");
        for event in &events {
            assert_eq!(publisher.send(event).expect("send"), SendOutcome::Sent);
        }
        publisher.close()
    })
}

fn roundtrip(endpoint: &str) {
    let ctx = zmq::Context::new();
    let mut subscriber =
        Subscriber::new(&ctx, &SubscriberConfig::bind(endpoint)).expect("subscriber");
    let bound = subscriber.endpoints()[0].clone();
    let config = PublisherConfig::connect(bound).with_wait_for_subscriber_ms(5_000);
    let events = (0..1000).map(|i| event("app.tick", i)).collect();
    let producer = spawn_publisher(&ctx, config, events);
    let received = recv_n(&mut subscriber, 1000, Duration::from_secs(10));
    assert_eq!(received.len(), 1000);
    for (i, e) in received.iter().enumerate() {
        assert_eq!(e.event_type(), "app.tick");
        assert_eq!(e.get("body.i").and_then(|v| v.as_i64()), Some(i as i64));
    }
    let stats = subscriber.stats();
    assert_eq!(stats.get("received"), Some(1000));
    assert_eq!(stats.get("lost"), Some(0));
    assert_eq!(stats.get("undecodable"), Some(0));
    let sent = producer.join().expect("publisher");
    assert_eq!(sent.get("sent"), Some(1000), "{sent}");
    // `close` returns the counters after the final marks went out.
    assert_eq!(sent.get("marks"), Some(1), "{sent}");
}

#[test]
fn loopback_over_tcp() {
    with_timeout(Duration::from_secs(30), || roundtrip("tcp://127.0.0.1:*"));
}

#[test]
fn loopback_over_ipc() {
    with_timeout(Duration::from_secs(30), || {
        let dir = tempfile::tempdir().expect("tempdir");
        roundtrip(&format!("ipc://{}/events.sock", dir.path().display()));
    });
}

#[test]
fn loopback_over_inproc() {
    with_timeout(Duration::from_secs(30), || {
        roundtrip("inproc://loopback-test")
    });
}

#[test]
fn prefix_subscription_filters_and_counts_no_false_gaps() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let config = SubscriberConfig::bind("tcp://127.0.0.1:*").subscribe(["volume."]);
        let mut subscriber = Subscriber::new(&ctx, &config).expect("subscriber");
        let config = PublisherConfig::connect(subscriber.endpoints()[0].clone())
            .with_wait_for_subscriber_ms(5_000);
        // Interleave types: the subscriber sees only volume events, and since
        // sequences are per type it sees no gap.
        let types = [
            "volume.create.end",
            "compute.instance.create.end",
            "volume.delete.end",
        ];
        let events = (0..300).map(|i| event(types[i % 3], i as i64)).collect();
        let producer = spawn_publisher(&ctx, config, events);
        let received = recv_n(&mut subscriber, 200, Duration::from_secs(10));
        assert_eq!(received.len(), 200);
        assert!(
            received
                .iter()
                .all(|e| e.event_type().starts_with("volume."))
        );
        producer.join().expect("publisher");
        // The final marks arrive: still no loss.
        let extra = recv_n(&mut subscriber, 1, Duration::from_millis(300));
        assert!(extra.is_empty());
        assert_eq!(subscriber.stats().get("lost"), Some(0));
        assert!(subscriber.stats().get("marks").unwrap_or(0) >= 1);
    });
}

/// A deliberate HWM overflow: a fast publisher in drop mode, a subscriber that
/// does not read for a while. Every event the publisher was asked to send is
/// either received or counted lost by the subscriber, and the subscriber's
/// count equals the publisher's own count of drops.
#[test]
fn hwm_overflow_accounting_is_exact() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut sub_config = SubscriberConfig::bind("tcp://127.0.0.1:*");
        sub_config.socket.endpoint.hwm = 100;
        let mut subscriber = Subscriber::new(&ctx, &sub_config).expect("subscriber");
        let endpoint = subscriber.endpoints()[0].clone();
        let total: u64 = 50_000;
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (stats_tx, stats_rx) = mpsc::channel();
        let pub_ctx = ctx.clone();
        let producer = thread::spawn(move || {
            let config = PublisherConfig::connect(endpoint)
                .with_hwm(100)
                .with_mode(DeliveryMode::Drop)
                .with_wait_for_subscriber_ms(5_000);
            let mut publisher = Publisher::new(&pub_ctx, &config).expect("publisher");
            go_rx.recv().expect("go");
            let types = ["a.one", "b.two", "c.three"];
            for i in 0..total {
                publisher
                    .send(&event(types[(i % 3) as usize], i as i64))
                    .expect("send");
            }
            let stats = publisher.stats();
            publisher.close(); // final marks, waiting for room
            stats_tx.send(stats).expect("stats");
        });
        go_tx.send(()).expect("go");
        // Do not read while the publisher floods: queues overflow.
        thread::sleep(Duration::from_millis(300));
        let mut received = 0u64;
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut publisher_stats = None;
        while Instant::now() < deadline {
            if subscriber
                .recv(Duration::from_millis(50))
                .expect("recv")
                .is_some()
            {
                received += 1;
            }
            if publisher_stats.is_none() {
                publisher_stats = stats_rx.try_recv().ok();
            }
            let lost = missed(&subscriber.stats());
            if publisher_stats.is_some() && received + lost == total {
                break;
            }
        }
        producer.join().expect("producer");
        let publisher_stats = publisher_stats.expect("publisher finished");
        let stats = subscriber.stats();
        // Drops in the middle of a stream are gaps (`lost`); drops of a
        // stream's first events, before the subscriber saw it, are
        // `missed_at_join`: together, the publisher's drops.
        let lost = missed(&stats);
        let dropped = publisher_stats.get("dropped_hwm").unwrap_or(0);
        assert!(
            dropped > 0,
            "the test must overflow the HWM: {publisher_stats}"
        );
        assert_eq!(received, stats.get("received").unwrap_or(0));
        assert_eq!(
            received + lost,
            total,
            "sent = received + lost + missed_at_join: {stats}"
        );
        assert_eq!(
            lost, dropped,
            "the subscriber's losses are the publisher's drops"
        );
        assert_eq!(publisher_stats.get("sent").unwrap_or(0), received);
    });
}

#[test]
fn block_mode_loses_nothing_under_overload() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut sub_config = SubscriberConfig::bind("tcp://127.0.0.1:*");
        sub_config.socket.endpoint.hwm = 50;
        let mut subscriber = Subscriber::new(&ctx, &sub_config).expect("subscriber");
        let endpoint = subscriber.endpoints()[0].clone();
        let total = 20_000usize;
        let pub_ctx = ctx.clone();
        let producer = thread::spawn(move || {
            let config = PublisherConfig::connect(endpoint)
                .with_hwm(50)
                .with_mode(DeliveryMode::Block)
                .with_wait_for_subscriber_ms(5_000);
            let mut publisher = Publisher::new(&pub_ctx, &config).expect("publisher");
            for i in 0..total {
                publisher
                    .send(&event("blocked.event", i as i64))
                    .expect("send");
            }
            publisher.close()
        });
        thread::sleep(Duration::from_millis(200));
        let received = recv_n(&mut subscriber, total, Duration::from_secs(40));
        let publisher_stats = producer.join().expect("producer");
        assert_eq!(received.len(), total);
        assert_eq!(publisher_stats.get("dropped_hwm"), Some(0));
        assert_eq!(subscriber.stats().get("lost"), Some(0));
    });
}

/// Garbage from a raw socket is counted as undecodable and does not disturb
/// the events around it.
#[test]
fn undecodable_messages_are_counted_and_skipped() {
    with_timeout(Duration::from_secs(30), || {
        let ctx = zmq::Context::new();
        let mut subscriber = Subscriber::new(&ctx, &SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .expect("subscriber");
        let raw = ctx.socket(zmq::XPUB).expect("xpub");
        raw.connect(&subscriber.endpoints()[0]).expect("connect");
        // Let the subscriber's thread process the connection, then wait for its
        // subscription to reach the raw socket.
        assert!(recv_n(&mut subscriber, 1, Duration::from_millis(200)).is_empty());
        raw.set_rcvtimeo(5_000).expect("rcvtimeo");
        assert_eq!(raw.recv_bytes(0).expect("subscription"), vec![1u8]);
        let good = event("good.event", 1);
        let body = good.to_bytes();
        let header = eventstorm_core::Header {
            publisher: 9,
            sequence: 1,
        }
        .encode();
        let bad_header = [7u8; 18];
        let garbage: Vec<Vec<Vec<u8>>> = vec![
            vec![b"x".to_vec()],                                             // one frame
            vec![b"good.event".to_vec(), header.to_vec(), b"nope".to_vec()], // bad BSON
            vec![b"good.event".to_vec(), bad_header.to_vec(), body.clone()], // bad version
            vec![b"other.type".to_vec(), header.to_vec(), body.clone()],     // topic mismatch
            vec![
                b"a".to_vec(),
                b"b".to_vec(),
                b"c".to_vec(),
                b"d".to_vec(),
                b"e".to_vec(),
            ],
        ];
        for frames in &garbage {
            raw.send_multipart(frames, 0).expect("send garbage");
        }
        raw.send_multipart([b"good.event".to_vec(), header.to_vec(), body.clone()], 0)
            .expect("send good");
        let received = recv_n(&mut subscriber, 1, Duration::from_secs(10));
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].to_event().expect("decode"), good);
        assert_eq!(
            subscriber.stats().get("undecodable"),
            Some(garbage.len() as u64)
        );
    });
}

/// The runtime accounts for every event: written + filtered + dropped =
/// received, and shutdown writes everything received before it returns.
#[test]
fn runtime_accounts_and_flushes_on_shutdown() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let (sink, events) = ChannelSink::new(100_000);
        let config = RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .with_batch(100, Duration::from_millis(20))
            .with_filter("* where body.i >= 100".parse().expect("matcher"));
        let runtime = SinkRuntime::spawn(&ctx, config, Box::new(sink)).expect("runtime");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(runtime.endpoints()[0].clone())
            .mode(DeliveryMode::Block)
            .wait_for_subscriber(Duration::from_secs(5))
            .build()
            .expect("client");
        for i in 0..1000i64 {
            assert!(client.emit("app.item", bson::doc! { "i": i }));
        }
        client.close();
        let deadline = Instant::now() + Duration::from_secs(20);
        while runtime.received() < 1000 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let stats = runtime.shutdown().expect("shutdown");
        assert_eq!(stats.get("received"), Some(1000));
        assert_eq!(stats.get("filtered"), Some(100));
        assert_eq!(stats.get("written"), Some(900));
        assert_eq!(stats.get("lost"), Some(0));
        assert_eq!(events.try_iter().count(), 900);
    });
}

/// With `when_full = drop` and a sink that cannot keep up, the overflow is
/// counted, and received = written + dropped.
#[test]
fn runtime_drop_when_full_is_counted() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let (sink, events) = ChannelSink::new(10);
        let sink = sink.with_timeout(Duration::from_millis(1));
        let config = RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .with_batch(10, Duration::from_millis(5))
            .with_channel(10, WhenFull::Drop);
        let runtime = SinkRuntime::spawn(&ctx, config, Box::new(sink)).expect("runtime");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(runtime.endpoints()[0].clone())
            .mode(DeliveryMode::Block)
            .wait_for_subscriber(Duration::from_secs(5))
            .build()
            .expect("client");
        for i in 0..5000i64 {
            client.emit("app.item", bson::doc! { "i": i });
        }
        client.close();
        let deadline = Instant::now() + Duration::from_secs(20);
        while runtime.received() < 5000 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let stats = runtime.shutdown().expect("shutdown");
        let received = stats.get("received").unwrap_or(0);
        let written = stats.get("written").unwrap_or(0);
        let dropped =
            stats.get("dropped_queue_full").unwrap_or(0) + stats.get("dropped_sink").unwrap_or(0);
        assert_eq!(received, 5000, "{stats}");
        assert!(dropped > 0, "the sink must overflow: {stats}");
        assert_eq!(written + dropped, received, "{stats}");
        assert_eq!(events.try_iter().count() as u64, written);
    });
}

/// A sink that accepts events and confirms them later, as a database sink
/// does through an outage: `write` holds what it is given, and every write
/// and flush confirms (oldest first) only as many as `allowed` says in all.
struct ConfirmLater {
    allowed: Arc<AtomicUsize>,
    held: usize,
    confirmed: usize,
}

impl ConfirmLater {
    fn confirm(&mut self) {
        let allowed = self.allowed.load(Ordering::SeqCst);
        let n = allowed.saturating_sub(self.confirmed).min(self.held);
        self.held -= n;
        self.confirmed += n;
    }
}

impl EventSink for ConfirmLater {
    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.held += batch.len();
        self.confirm();
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.confirm();
        Ok(())
    }

    fn pending(&self) -> usize {
        self.held
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name());
        stats.push("confirmed", self.confirmed as u64);
        stats
    }
}

/// Polls the runtime's stats until `done` holds (or 20 s pass).
fn stats_when(runtime: &SinkHandle, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = runtime.stats();
        if done(&stats) || Instant::now() >= deadline {
            return stats;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// `written` is what the sink confirmed, not what it was handed:
/// `written = handed_over - pending - dropped_sink` while the sink holds
/// events, and `written = handed_over` once shutdown flushed them.
#[test]
fn runtime_written_counts_what_the_sink_confirmed() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let allowed = Arc::new(AtomicUsize::new(0));
        let sink = ConfirmLater {
            allowed: Arc::clone(&allowed),
            held: 0,
            confirmed: 0,
        };
        let config = RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .with_batch(10, Duration::from_millis(5));
        let runtime = SinkRuntime::spawn(&ctx, config, Box::new(sink)).expect("runtime");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(runtime.endpoints()[0].clone())
            .mode(DeliveryMode::Block)
            .wait_for_subscriber(Duration::from_secs(5))
            .build()
            .expect("client");
        let get = |stats: &Stats, name: &str| {
            stats
                .get(name)
                .unwrap_or_else(|| panic!("no {name} in {stats}"))
        };
        let identities_hold = |stats: &Stats| {
            let written = get(stats, "written");
            assert_eq!(
                written,
                get(stats, "handed_over") - get(stats, "pending") - get(stats, "dropped_sink"),
                "{stats}"
            );
            assert_eq!(written, get(stats, "sink.confirmed"), "{stats}");
        };

        // Nothing confirmed yet: all pending, nothing written.
        for i in 0..60i64 {
            assert!(client.emit("app.item", bson::doc! { "i": i }));
        }
        let stats = stats_when(&runtime, |s| s.get("handed_over") == Some(60));
        assert_eq!(get(&stats, "pending"), 60, "{stats}");
        assert_eq!(get(&stats, "written"), 0, "{stats}");
        assert_eq!(runtime.written(), 0);
        identities_hold(&stats);

        // The sink confirms 20 of what it holds at its next write or flush.
        allowed.store(20, Ordering::SeqCst);
        for i in 60..100i64 {
            assert!(client.emit("app.item", bson::doc! { "i": i }));
        }
        let stats = stats_when(&runtime, |s| {
            s.get("handed_over") == Some(100)
                && s.get("sink.confirmed") == Some(20)
                && s.get("written") == Some(20)
        });
        assert_eq!(get(&stats, "pending"), 80, "{stats}");
        assert_eq!(get(&stats, "written"), 20, "{stats}");
        assert_eq!(runtime.written(), 20);
        identities_hold(&stats);

        // Shutdown's last flush confirms the rest.
        allowed.store(usize::MAX, Ordering::SeqCst);
        client.close();
        let stats = runtime.shutdown().expect("shutdown");
        assert_eq!(get(&stats, "received"), 100, "{stats}");
        assert_eq!(get(&stats, "pending"), 0, "{stats}");
        assert_eq!(get(&stats, "dropped_sink"), 0, "{stats}");
        assert_eq!(
            get(&stats, "written"),
            get(&stats, "handed_over"),
            "{stats}"
        );
        assert_eq!(get(&stats, "written"), 100, "{stats}");
        identities_hold(&stats);
    });
}

/// What a subscriber counted as sent but not received.
fn missed(stats: &eventstorm_core::Stats) -> u64 {
    stats.get("lost").unwrap_or(0) + stats.get("missed_at_join").unwrap_or(0)
}
