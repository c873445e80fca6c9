//! Loss accounting through a router when both hops drop: a drop-mode
//! publisher floods the router, whose drop-mode output floods a subscriber
//! that is not reading. Every event the publisher was asked to send is either
//! received at the end or counted at exactly one hop: as `lost`, or (when a
//! queue dropped the first events of a stream) as `missed_at_join`.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{wait_for, with_timeout};
use eventstorm_core::Event;
use eventstorm_router::{DeliveryMode, InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Publisher, PublisherConfig};

const EVENTS: u64 = 30_000;

fn get(stats: &eventstorm_core::Stats, name: &str) -> u64 {
    stats.get(name).unwrap_or(0)
}

/// What a receiver counted as sent but not received, under `prefix`.
fn missed(stats: &eventstorm_core::Stats, prefix: &str) -> u64 {
    get(stats, &format!("{prefix}lost")) + get(stats, &format!("{prefix}missed_at_join"))
}

#[test]
fn losses_at_both_hops_add_up() {
    with_timeout(Duration::from_secs(90), || {
        let ctx = zmq::Context::new();
        let mut input = InputConfig::bind("in", "tcp://127.0.0.1:*");
        input.socket.endpoint.hwm = 100;
        let mut config = RouterConfig {
            inputs: vec![input],
            outputs: vec![{
                let mut output =
                    OutputConfig::bind("out", "tcp://127.0.0.1:*").with_mode(DeliveryMode::Drop);
                output.socket.endpoint.hwm = 100;
                output
            }],
            ..Default::default()
        };
        config.router.default_output = Some("out".into());
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let input = router.endpoints().input("in")[0].clone();
        let output = router.endpoints().output("out")[0].clone();

        // The subscriber reads on its own thread, but only once told to, so
        // the router's output overflows meanwhile.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<u64>();
        let sub_ctx = ctx.clone();
        let reader = thread::spawn(move || {
            let mut config = SubscriberConfig::connect(output);
            config.socket.endpoint.hwm = 100;
            let mut subscriber = Subscriber::new(&sub_ctx, &config).expect("subscriber");
            // Service the connection (so the subscription flows upstream),
            // then stop reading until told.
            let mut received = u64::from(
                subscriber
                    .recv(Duration::from_millis(200))
                    .expect("recv")
                    .is_some(),
            );
            go_rx.recv().expect("go");
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut target = None;
            while Instant::now() < deadline {
                if subscriber
                    .recv(Duration::from_millis(20))
                    .expect("recv")
                    .is_some()
                {
                    received += 1;
                }
                if target.is_none() {
                    target = done_rx.try_recv().ok();
                }
                let lost = missed(&subscriber.stats(), "");
                if target.is_some_and(|t| received + lost == t) {
                    break;
                }
            }
            (received, subscriber.stats())
        });

        let config = PublisherConfig::connect(input)
            .with_mode(eventstorm_source::DeliveryMode::Drop)
            .with_hwm(100)
            .with_wait_for_subscriber_ms(10_000);
        let mut publisher = Publisher::new(&ctx, &config).expect("publisher");
        let types = ["a.one", "b.two", "c.three"];
        for i in 0..EVENTS {
            let event = Event::builder(types[(i % 3) as usize])
                .field("i", i as i64)
                .field("pad", "x".repeat(300))
                .build();
            publisher.send(&event).expect("send");
        }
        let publisher_stats = publisher.stats();
        publisher.close(); // final sequence marks to the router

        // Hop 1 is settled once the router has seen every event or its gap.
        assert!(
            wait_for(Duration::from_secs(30), || {
                let stats = router.stats();
                get(&stats, "in.in.received") + missed(&stats, "in.in.") == EVENTS
            }),
            "router input did not account for every event: {}",
            router.stats()
        );
        go_tx.send(()).expect("go");
        let router_stats = router.shutdown().expect("shutdown"); // final marks downstream
        let stamped =
            get(&router_stats, "out.out.sent") + get(&router_stats, "out.out.dropped_hwm");
        done_tx.send(stamped).expect("target");
        let (received, subscriber_stats) = reader.join().expect("reader");

        let hop1_lost = missed(&router_stats, "in.in.");
        let hop2_lost = missed(&subscriber_stats, "");
        assert_eq!(get(&router_stats, "in.in.suspicious"), 0, "{router_stats}");
        assert_eq!(
            get(&subscriber_stats, "suspicious"),
            0,
            "{subscriber_stats}"
        );
        assert!(
            get(&publisher_stats, "dropped_hwm") + get(&router_stats, "out.out.dropped_hwm") > 0,
            "the test must overflow a queue: {publisher_stats} / {router_stats}"
        );
        assert_eq!(
            hop1_lost,
            get(&publisher_stats, "dropped_hwm"),
            "{router_stats}"
        );
        assert_eq!(
            stamped,
            get(&router_stats, "in.in.received"),
            "{router_stats}"
        );
        assert_eq!(
            hop2_lost,
            get(&router_stats, "out.out.dropped_hwm"),
            "{subscriber_stats}"
        );
        assert_eq!(
            received + hop2_lost + hop1_lost,
            EVENTS,
            "sent = received + lost + missed_at_join at each hop: {publisher_stats} / {router_stats} / {subscriber_stats}"
        );
    });
}
