//! What the loss counters say across restarts, late joins and hostile
//! sequences, over real sockets: `lost` counts gaps after a receiver first
//! saw a stream, `missed_at_join` what was sent before, `suspicious` jumps
//! too large to believe; nothing wraps.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, with_timeout};
use eventstorm_core::{Event, Header, Stats};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterHandle, RouterRuntime};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{DeliveryMode, Publisher, PublisherConfig};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

fn get(stats: &Stats, name: &str) -> u64 {
    stats.get(name).unwrap_or(0)
}

fn config(input: InputConfig, output: OutputConfig) -> RouterConfig {
    let mut config = RouterConfig {
        inputs: vec![input],
        outputs: vec![output],
        ..Default::default()
    };
    config.router.default_output = Some(config.outputs[0].name.clone());
    config.router.stats_interval_ms = 0;
    config
}

/// Starts a router, retrying while a previous one's ports are released.
fn start(ctx: &zmq::Context, config: &RouterConfig) -> RouterHandle {
    let deadline = Instant::now() + WAIT;
    loop {
        match RouterRuntime::new(ctx, config) {
            Ok(runtime) => return runtime.start().expect("spawn"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("starting the router: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("router: {e}"),
        }
    }
}

/// Receives until `done` holds for the subscriber's counters (or fails).
fn drain_until(subscriber: &mut Subscriber, mut done: impl FnMut(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + WAIT;
    loop {
        let _ = subscriber.recv(Duration::from_millis(20)).expect("recv");
        let stats = subscriber.stats();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "never settled: {stats}");
    }
}

fn send(publisher: &mut Publisher, event_type: &str, n: u64) {
    for i in 0..n {
        let event = Event::builder(event_type).field("i", i as i64).build();
        publisher.send(&event).expect("send");
    }
}

/// A router restarts between two bursts of a block-mode publisher: the
/// subscriber received everything and says lost=0, and the restarted router's
/// input counts what its upstream sent before it as missed_at_join, not lost
/// (it said lost=N before).
#[test]
fn a_restarted_router_with_nothing_missing_reports_nothing_lost() {
    with_timeout(LIMIT, || {
        const FIRST: u64 = 300;
        const SECOND: u64 = 200;
        let ctx = zmq::Context::new();
        // The publisher binds and the router connects to it, as to a
        // source: each router instance is then a new peer of the
        // publisher, whose subscription the publisher sees arrive.
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::bind("tcp://127.0.0.1:*").with_mode(DeliveryMode::Block),
        )
        .expect("publisher");
        let mut config = config(
            InputConfig::connect("apps", &publisher.endpoints()[0]),
            OutputConfig::bind("all", "tcp://127.0.0.1:*"),
        );
        // Each router has a context of its own, as a router process would:
        // dropping it waits until its sockets are closed and its port is
        // free again.
        let router_ctx = zmq::Context::new();
        let router = start(&router_ctx, &config);
        // The restarted router binds the port this one picked.
        let output = router.endpoints().output("all")[0].clone();
        config.outputs[0] = OutputConfig::bind("all", &output);
        let mut subscriber =
            Subscriber::new(&ctx, &SubscriberConfig::connect(&output)).expect("subscriber");
        assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));
        send(&mut publisher, "volume.tick", FIRST);
        drain_until(&mut subscriber, |s| get(s, "received") == FIRST);
        let first = router.shutdown().expect("shutdown");
        assert_eq!(get(&first, "in.apps.received"), FIRST, "{first}");
        // The first router may have sent its subscription more than once
        // (`resubscribe_on_connect`): count from here.
        let _ = publisher
            .wait_for_subscribers(u64::MAX, Duration::ZERO)
            .expect("read subscriptions");
        let before = get(&publisher.stats(), "subscriptions");
        drop(router_ctx);

        let router_ctx = zmq::Context::new();
        let router = start(&router_ctx, &config);
        // The subscriber reconnects and its subscription reaches the
        // publisher again through the new router. (A ZeroMQ SUB resends its
        // subscriptions after a reconnect only when it is used: keep it busy.)
        let deadline = Instant::now() + 3 * WAIT;
        while !(publisher
            .wait_for_subscribers(before + 1, Duration::from_millis(10))
            .expect("wait")
            && get(&router.stats(), "out.all.subscriptions") >= 1)
        {
            assert!(
                subscriber
                    .recv(Duration::from_millis(10))
                    .expect("recv")
                    .is_none()
            );
            assert!(
                Instant::now() < deadline,
                "the subscription never came back: {} / {}",
                publisher.stats(),
                router.stats()
            );
        }
        send(&mut publisher, "volume.tick", SECOND);
        publisher.close(); // final marks
        assert!(
            wait_for(WAIT, || get(&router.stats(), "in.apps.marks") >= 1),
            "{}",
            router.stats()
        );
        let second = router.shutdown().expect("shutdown"); // final marks downstream
        let stats = drain_until(&mut subscriber, |s| {
            get(s, "received") == FIRST + SECOND && get(s, "marks") >= 2
        });

        assert_eq!(get(&stats, "lost"), 0, "{stats}");
        assert_eq!(get(&stats, "missed_at_join"), 0, "{stats}");
        assert_eq!(get(&stats, "suspicious"), 0, "{stats}");
        assert_eq!(get(&second, "in.apps.received"), SECOND, "{second}");
        assert_eq!(get(&second, "in.apps.lost"), 0, "{second}");
        assert_eq!(get(&second, "in.apps.missed_at_join"), FIRST, "{second}");
    });
}

/// A subscriber that joins a running router late counts what the router sent
/// before it as missed_at_join, not lost, including a whole stream it only
/// learns of from the router's final sequence mark.
#[test]
fn a_late_subscriber_counts_missed_at_join_not_lost() {
    with_timeout(LIMIT, || {
        const EARLY_A: u64 = 40;
        const EARLY_B: u64 = 25;
        const LATE_A: u64 = 30;
        let ctx = zmq::Context::new();
        let mut output = OutputConfig::bind("all", "tcp://127.0.0.1:*");
        output.socket.mark_interval_ms = 0; // marks only at shutdown: deterministic
        let router = start(
            &ctx,
            &config(InputConfig::bind("apps", "tcp://127.0.0.1:*"), output),
        );
        let endpoint = router.endpoints().output("all")[0].clone();
        let mut early = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&endpoint).subscribe(["late."]),
        )
        .expect("subscriber");
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(&router.endpoints().input("apps")[0])
                .with_mode(DeliveryMode::Block),
        )
        .expect("publisher");
        assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));
        send(&mut publisher, "late.a", EARLY_A);
        send(&mut publisher, "late.b", EARLY_B);
        drain_until(&mut early, |s| get(s, "received") == EARLY_A + EARLY_B);

        // Subscribes to everything: a new prefix, which the router passes
        // upstream, so the publisher tells when it is in place.
        let mut late =
            Subscriber::new(&ctx, &SubscriberConfig::connect(&endpoint)).expect("late subscriber");
        assert!(publisher.wait_for_subscribers(2, WAIT).expect("wait"));
        send(&mut publisher, "late.a", LATE_A);
        publisher.close();
        assert!(wait_for(WAIT, || {
            get(&router.stats(), "in.apps.received") == EARLY_A + EARLY_B + LATE_A
        }));
        let router_stats = router.shutdown().expect("shutdown");
        let sent = get(&router_stats, "out.all.sent");
        assert_eq!(sent, EARLY_A + EARLY_B + LATE_A, "{router_stats}");

        let stats = drain_until(&mut late, |s| {
            get(s, "received") == LATE_A && get(s, "marks") >= 2
        });
        assert_eq!(get(&stats, "lost"), 0, "{stats}");
        assert_eq!(
            get(&stats, "missed_at_join"),
            EARLY_A + EARLY_B,
            "late.a before the join, and all of late.b from its mark: {stats}"
        );
        assert_eq!(
            sent,
            get(&stats, "received") + get(&stats, "lost") + get(&stats, "missed_at_join")
        );
        let stats = drain_until(&mut early, |s| get(s, "marks") >= 2);
        assert_eq!(get(&stats, "received"), sent, "{stats}");
        assert_eq!(
            get(&stats, "lost") + get(&stats, "missed_at_join"),
            0,
            "{stats}"
        );
    });
}

/// A foreign sender speaking the wire format by hand over an XPUB socket
/// (so it can wait for a subscription before sending).
struct RawSender {
    socket: zmq::Socket,
    publisher: u64,
}

impl RawSender {
    fn connect(ctx: &zmq::Context, endpoint: &str, publisher: u64) -> RawSender {
        let socket = ctx.socket(zmq::XPUB).expect("xpub");
        socket.connect(endpoint).expect("connect");
        Self::ready(socket, publisher)
    }

    fn bind(ctx: &zmq::Context, publisher: u64) -> (RawSender, String) {
        let socket = ctx.socket(zmq::XPUB).expect("xpub");
        socket.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = socket
            .get_last_endpoint()
            .expect("endpoint")
            .expect("utf-8");
        (RawSender { socket, publisher }, endpoint)
    }

    fn ready(socket: zmq::Socket, publisher: u64) -> RawSender {
        let sender = RawSender { socket, publisher };
        sender.wait_for_subscription();
        sender
    }

    fn wait_for_subscription(&self) {
        let ms = i64::try_from(WAIT.as_millis()).expect("ms");
        assert!(
            self.socket.poll(zmq::POLLIN, ms).expect("poll") > 0,
            "no subscription arrived"
        );
        let message = self.socket.recv_bytes(0).expect("subscription");
        assert_eq!(message.first(), Some(&1), "a subscribe message");
    }

    fn event(&self, event_type: &str, sequence: u64) {
        let header = Header {
            publisher: self.publisher,
            sequence,
        }
        .encode();
        let body = Event::builder(event_type).build().to_bytes();
        self.frames(event_type, &header, &body);
    }

    fn mark(&self, event_type: &str, sequence: u64, body: &[u8]) {
        let header = Header {
            publisher: self.publisher,
            sequence,
        }
        .encode_mark();
        self.frames(event_type, &header, body);
    }

    fn frames(&self, topic: &str, header: &[u8], body: &[u8]) {
        self.socket
            .send_multipart([topic.as_bytes(), header, body], 0)
            .expect("send");
    }
}

/// Sends the hostile sequence: three streams started normally, then three
/// marks at 2^63 on each (it wrapped `in.apps.lost` to 9223372036854775813),
/// an event jumping 2,000,000 ahead on a fourth stream, a mark with a body,
/// then a mark at 2^63 on three streams never seen; finally the genuine
/// sequences go on.
fn send_hostile(sender: &RawSender) {
    for topic in ["h.a", "h.b", "h.c", "h.d"] {
        sender.event(topic, 1);
    }
    for topic in ["h.a", "h.b", "h.c"] {
        for _ in 0..3 {
            sender.mark(topic, 1 << 63, b"");
        }
    }
    sender.event("h.d", 2_000_002);
    sender.mark("h.a", 5, b"not empty");
    for topic in ["h.x", "h.y", "h.z"] {
        sender.mark(topic, 1 << 63, b"");
    }
    // The genuine stream goes on: a jump back beyond the window follows it
    // (suspicious once), then everything is in order again.
    sender.event("h.a", 2);
    sender.event("h.a", 3);
}

/// What a receiver must say after [`send_hostile`], under `prefix`.
fn assert_hostile_accounted(stats: &Stats, prefix: &str) {
    let at = |name: &str| get(stats, &format!("{prefix}{name}"));
    assert_eq!(at("lost"), 0, "nothing was believed lost: {stats}");
    // Three forward jumps (h.a, h.b, h.c), one on h.d, one back on h.a,
    // and three first marks (h.x, h.y, h.z) claiming 2^63 events before.
    assert_eq!(at("suspicious"), 8, "{stats}");
    assert_eq!(at("undecodable"), 1, "the mark with a body: {stats}");
    assert_eq!(at("received"), 7, "{stats}");
    // Marks at 2^63 on streams never seen: not believed either.
    assert_eq!(at("missed_at_join"), 0, "{stats}");
    assert_eq!(at("duplicates"), 0, "{stats}");
}

/// The hostile input sent to a real router's input.
#[test]
fn hostile_sequences_at_a_router_input() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let router = start(
            &ctx,
            &config(
                InputConfig::bind("apps", "tcp://127.0.0.1:*"),
                OutputConfig::bind("all", "tcp://127.0.0.1:*"),
            ),
        );
        // A subscriber downstream, so the router subscribes upstream.
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&router.endpoints().output("all")[0]),
        )
        .expect("subscriber");
        let sender = RawSender::connect(&ctx, &router.endpoints().input("apps")[0], 77);
        send_hostile(&sender);
        assert!(
            wait_for(WAIT, || get(&router.stats(), "in.apps.received") == 7),
            "{}",
            router.stats()
        );
        let stats = router.shutdown().expect("shutdown");
        assert_hostile_accounted(&stats, "in.apps.");
        assert_eq!(
            get(&stats, "in.apps.marks"),
            12,
            "well-formed marks: {stats}"
        );
        // The router re-stamps: downstream, nothing hostile is left.
        let downstream = drain_until(&mut subscriber, |s| get(s, "received") == 7);
        assert_eq!(get(&downstream, "lost"), 0, "{downstream}");
        assert_eq!(get(&downstream, "suspicious"), 0, "{downstream}");
        assert_eq!(get(&downstream, "missed_at_join"), 0, "{downstream}");
    });
}

/// The hostile input sent straight to a real subscriber.
#[test]
fn hostile_sequences_at_a_subscriber() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let (sender, endpoint) = RawSender::bind(&ctx, 78);
        let mut subscriber =
            Subscriber::new(&ctx, &SubscriberConfig::connect(&endpoint)).expect("subscriber");
        // Service the socket until the subscription is out.
        let _ = subscriber.recv(Duration::from_millis(1)).expect("recv");
        sender.wait_for_subscription();
        send_hostile(&sender);
        let stats = drain_until(&mut subscriber, |s| {
            get(s, "received") == 7 && get(s, "marks") == 12 && get(s, "undecodable") == 1
        });
        assert_hostile_accounted(&stats, "");
        // A counter past i64::MAX (none is left after the hostile input):
        // a stats event clamps, it does not go negative.
        let mut stats = stats;
        stats.push("saturated", u64::MAX);
        let document = stats.to_document();
        let counters = document.get_document("counters").expect("counters");
        assert_eq!(counters.get_i64("saturated").ok(), Some(i64::MAX));
    });
}
