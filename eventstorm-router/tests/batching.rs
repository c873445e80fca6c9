//! Batches through a router, over real sockets: a batching source, a
//! batching output and a plain one side by side, every event accounted for
//! at every hop, stats events included.

mod common;

use std::time::{Duration, Instant};

use common::{wait_for, with_timeout};
use eventstorm_core::{Event, Matcher, Stats};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime, RuleConfig};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{DeliveryMode, Publisher, PublisherConfig};

const LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);

fn get(stats: &Stats, name: &str) -> u64 {
    stats.get(name).unwrap_or(0)
}

/// Receives until `done` holds for the subscriber's counters, keeping the
/// `i` of every event in arrival order, per type.
fn drain_until(
    subscriber: &mut Subscriber,
    seen: &mut Vec<(String, i64)>,
    mut done: impl FnMut(&Stats) -> bool,
) -> Stats {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(event) = subscriber.recv(Duration::from_millis(20)).expect("recv") {
            let i = event
                .view()
                .get("body.i")
                .and_then(|v| v.as_i64())
                .expect("i");
            seen.push((event.event_type().to_string(), i));
        }
        let stats = subscriber.stats();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "never settled: {stats}");
    }
}

#[test]
fn batches_cross_a_router_with_every_event_accounted_for() {
    with_timeout(LIMIT, || {
        const TYPES: [&str; 3] = ["app.a", "app.b", "app.c"];
        const EVENTS: usize = 6_000;
        let ctx = zmq::Context::new();
        let mut batched = OutputConfig::bind("batched", "tcp://127.0.0.1:*");
        batched.socket.batch_events = Some(50);
        batched.socket.mode = DeliveryMode::Block;
        let mut plain = OutputConfig::bind("plain", "tcp://127.0.0.1:*");
        plain.socket.mode = DeliveryMode::Block;
        let mut config = RouterConfig {
            inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
            outputs: vec![batched, plain],
            ..Default::default()
        };
        config.router.default_output = Some("batched".into());
        // Every event goes to both outputs; stats events to the batched one
        // only, often, so that they fall between batches of routes.
        config.rules = vec![RuleConfig::new(Matcher::any(), ["batched", "plain"])];
        config.router.stats_interval_ms = 20;
        config.router.stats_outputs = vec!["batched".into()];
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let endpoints = router.endpoints();
        let mut subscribers: Vec<Subscriber> = ["batched", "plain"]
            .into_iter()
            .map(|name| {
                let config =
                    SubscriberConfig::connect(&endpoints.output(name)[0]).subscribe(["app."]);
                Subscriber::new(&ctx, &config).expect("subscriber")
            })
            .collect();
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(&endpoints.input("apps")[0])
                .with_mode(DeliveryMode::Block)
                .with_batch_events(32),
        )
        .expect("publisher");
        // Both outputs hold their subscriber's prefix, and it reached the
        // publisher through the router.
        assert!(
            wait_for(WAIT, || {
                let stats = router.stats();
                get(&stats, "out.batched.subscriptions") >= 1
                    && get(&stats, "out.plain.subscriptions") >= 1
            }),
            "{}",
            router.stats()
        );
        assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));

        // Runs of one type of every length from 1 to 97, flushed now and
        // then, as a source runner does after each poll.
        let mut sent = Vec::new();
        let mut run = 1;
        while sent.len() < EVENTS {
            let event_type = TYPES[run % TYPES.len()];
            for _ in 0..run.min(EVENTS - sent.len()) {
                let i = sent.len() as i64;
                let event = Event::builder(event_type).field("i", i).build();
                publisher.send(&event).expect("send");
                sent.push((event_type.to_string(), i));
            }
            if run % 5 == 0 {
                publisher.flush().expect("flush");
            }
            run = run % 97 + 1;
        }
        let source = publisher.close();
        assert_eq!(get(&source, "sent"), EVENTS as u64, "{source}");
        assert_eq!(get(&source, "dropped_hwm"), 0, "{source}");
        assert!(
            wait_for(WAIT, || get(&router.stats(), "in.apps.marks") >= 3),
            "{}",
            router.stats()
        );
        let stats = router.shutdown().expect("shutdown");

        assert_eq!(get(&stats, "in.apps.received"), EVENTS as u64, "{stats}");
        assert_eq!(get(&stats, "in.apps.lost"), 0, "{stats}");
        assert_eq!(get(&stats, "in.apps.undecodable"), 0, "{stats}");
        assert_eq!(get(&stats, "routed"), 2 * EVENTS as u64, "{stats}");
        assert!(get(&stats, "stats_events") >= 2, "{stats}");
        // out.NAME.sent summed = routed + stats events sent.
        assert_eq!(get(&stats, "out.plain.sent"), EVENTS as u64, "{stats}");
        assert_eq!(
            get(&stats, "out.batched.sent"),
            EVENTS as u64 + get(&stats, "stats_events"),
            "{stats}"
        );
        assert_eq!(get(&stats, "out.batched.dropped_hwm"), 0, "{stats}");
        for (name, subscriber) in ["batched", "plain"].iter().zip(&mut subscribers) {
            let mut seen = Vec::new();
            let got = drain_until(subscriber, &mut seen, |s| {
                get(s, "received") == EVENTS as u64 && get(s, "marks") >= 3
            });
            assert_eq!(get(&got, "lost"), 0, "{name}: {got}");
            assert_eq!(get(&got, "missed_at_join"), 0, "{name}: {got}");
            assert_eq!(get(&got, "duplicates"), 0, "{name}: {got}");
            assert_eq!(get(&got, "undecodable"), 0, "{name}: {got}");
            // Each type's events arrive in the order they were sent.
            for event_type in TYPES {
                let want: Vec<i64> = sent
                    .iter()
                    .filter(|(t, _)| t == event_type)
                    .map(|(_, i)| *i)
                    .collect();
                let have: Vec<i64> = seen
                    .iter()
                    .filter(|(t, _)| t == event_type)
                    .map(|(_, i)| *i)
                    .collect();
                assert_eq!(have, want, "{name}: {event_type}");
            }
        }
    });
}

/// A drop-mode batching output whose subscriber stops reading gives up
/// whole batches, and every event is still accounted for: at the router
/// `routes = routed + dropped_hwm` and `sent = routed`, at the subscriber
/// `received + lost = sent by the router's output`.
#[test]
fn a_batching_drop_output_accounts_for_every_batch_it_gives_up() {
    with_timeout(LIMIT, || {
        const EVENTS: usize = 3_000;
        let ctx = zmq::Context::new();
        let mut out = OutputConfig::bind("out", "tcp://127.0.0.1:*");
        out.socket.batch_events = Some(8);
        out.socket.endpoint.hwm = 1;
        out.socket.mark_interval_ms = 0;
        let mut config = RouterConfig {
            inputs: vec![InputConfig::bind("in", "tcp://127.0.0.1:*")],
            outputs: vec![out],
            ..Default::default()
        };
        config.router.default_output = Some("out".into());
        config.router.stats_interval_ms = 0;
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let endpoints = router.endpoints();
        let mut sub_config = SubscriberConfig::connect(&endpoints.output("out")[0]);
        sub_config.socket.endpoint.hwm = 1;
        let mut subscriber = Subscriber::new(&ctx, &sub_config).expect("subscriber");
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(&endpoints.input("in")[0]).with_mode(DeliveryMode::Block),
        )
        .expect("publisher");
        assert!(
            wait_for(WAIT, || get(&router.stats(), "out.out.subscriptions") >= 1),
            "{}",
            router.stats()
        );
        assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));
        // 16 KiB events, so that the subscriber's socket buffers fill long
        // before the end: it does not read until everything was sent.
        let filler = "x".repeat(16 * 1024);
        for i in 0..EVENTS {
            let event = Event::builder("app.big")
                .field("i", i as i64)
                .field("filler", filler.as_str())
                .build();
            publisher.send(&event).expect("send");
        }
        publisher.close();
        assert!(
            wait_for(WAIT, || get(&router.stats(), "in.in.marks") >= 1),
            "{}",
            router.stats()
        );
        // Once the router has flushed after reading the input's last mark,
        // every event was sent or given up.
        assert!(
            wait_for(WAIT, || {
                let stats = router.stats();
                get(&stats, "routed") + get(&stats, "out.out.dropped_hwm") == EVENTS as u64
            }),
            "{}",
            router.stats()
        );
        let stats = router.stats();
        let received = get(&stats, "in.in.received");
        assert_eq!(received, EVENTS as u64, "{stats}");
        let (routed, dropped) = (get(&stats, "routed"), get(&stats, "out.out.dropped_hwm"));
        assert!(dropped > 0, "nothing was dropped: {stats}");
        assert_eq!(routed + dropped, received, "{stats}");
        assert_eq!(get(&stats, "out.out.sent"), routed, "{stats}");

        // The subscriber reads what was sent, then the router's final mark
        // (which a full queue would have skipped) tells it of the batches
        // given up after its last event.
        let mut seen = Vec::new();
        drain_until(&mut subscriber, &mut seen, |s| get(s, "received") == routed);
        let stats = router.shutdown().expect("shutdown");
        assert_eq!(get(&stats, "routed"), routed, "{stats}");
        let got = drain_until(&mut subscriber, &mut seen, |s| get(s, "marks") >= 1);
        assert_eq!(get(&got, "received"), routed, "{got}");
        assert_eq!(get(&got, "lost"), dropped, "{got}");
        assert_eq!(get(&got, "missed_at_join"), 0, "{got}");
        assert_eq!(get(&got, "suspicious"), 0, "{got}");
    });
}
