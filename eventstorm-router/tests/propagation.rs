//! Subscription propagation, resubscription after an upstream restart, and
//! subscribers receiving again after the router restarts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bson::doc;
use common::{wait_for, with_timeout};
use eventstorm_core::Event;
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime, RuleConfig};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode, Publisher, PublisherConfig};

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);

fn config(input: InputConfig, outputs: Vec<OutputConfig>) -> RouterConfig {
    let mut config = RouterConfig {
        inputs: vec![input],
        outputs,
        ..Default::default()
    };
    config.router.default_output = Some(config.outputs[0].name.clone());
    config.router.stats_interval_ms = 0;
    config
}

/// A subscriber to `volume.` gets only volume events, and the client never
/// sent the others: it counts them as `unsubscribed` (skipped before
/// encoding, because no subscription reached it).
#[test]
fn subscriptions_reach_the_source() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let config = config(
            InputConfig::bind("apps", "tcp://127.0.0.1:*"),
            vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
        );
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&router.endpoints().output("all")[0]).subscribe(["volume."]),
        )
        .expect("subscriber");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(&router.endpoints().input("apps")[0])
            .mode(DeliveryMode::Block)
            .build()
            .expect("client");
        assert!(
            wait_for(WAIT, || client.is_wanted("volume.create.end")),
            "the subscription never reached the client"
        );
        assert!(!client.is_wanted("compute.instance.create.end"));
        for i in 0..100 {
            client.emit("volume.create.end", doc! { "i": i });
            client.emit("compute.instance.create.end", doc! { "i": i });
        }
        assert!(client.flush(WAIT));
        let mut received = 0;
        while received < 100 {
            let event = subscriber
                .recv(WAIT)
                .expect("recv")
                .expect("an event in time");
            assert!(event.event_type().starts_with("volume."));
            received += 1;
        }
        let stats = client.stats();
        assert_eq!(stats.get("unsubscribed"), Some(100), "{stats}");
        assert_eq!(stats.get("sent"), Some(100), "{stats}");
        let final_stats = router.shutdown().expect("shutdown");
        assert_eq!(
            final_stats.get("in.apps.received"),
            Some(100),
            "{final_stats}"
        );
        assert_eq!(final_stats.get("out.all.sent"), Some(100), "{final_stats}");
        assert_eq!(subscriber.stats().get("lost"), Some(0));
    });
}

/// A subscriber to everything on an output that only gets `volume.*` makes
/// the router subscribe upstream to `volume.` only.
#[test]
fn rules_narrow_what_is_asked_upstream() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let mut config = config(
            InputConfig::bind("apps", "tcp://127.0.0.1:*"),
            vec![OutputConfig::bind("billing", "tcp://127.0.0.1:*")],
        );
        config.router.default_output = None;
        config.rules.push(RuleConfig::new(
            "volume.*".parse().expect("matcher"),
            ["billing"],
        ));
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let _subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&router.endpoints().output("billing")[0]),
        )
        .expect("subscriber");
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(&router.endpoints().input("apps")[0]),
        )
        .expect("publisher");
        assert!(publisher.wait_for_subscribers(1, WAIT).expect("wait"));
        assert_eq!(
            publisher.subscriptions().prefixes(),
            vec!["volume.".to_string()]
        );
        drop(router);
    });
}

fn bind_publisher(ctx: &zmq::Context, endpoint: &str) -> Publisher {
    let deadline = Instant::now() + WAIT;
    loop {
        match Publisher::new(ctx, &PublisherConfig::bind(endpoint).with_linger_ms(0)) {
            Ok(publisher) => return publisher,
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebinding {endpoint}: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot bind {endpoint}: {e}"),
        }
    }
}

/// The router connects to a publisher that binds; the publisher restarts on
/// the same endpoint; the new one gets the subscription again and events flow.
fn upstream_restart(resubscribe_on_connect: bool) {
    let ctx = zmq::Context::new();
    let first = bind_publisher(&ctx, "tcp://127.0.0.1:*");
    // The restarted publisher binds the port this one picked.
    let endpoint = first.endpoints()[0].clone();
    let mut config = config(
        InputConfig::connect("upstream", &endpoint),
        vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
    );
    config.router.resubscribe_on_connect = resubscribe_on_connect;
    let router = RouterRuntime::new(&ctx, &config)
        .expect("router")
        .start()
        .expect("spawn");
    let mut subscriber = Subscriber::new(
        &ctx,
        &SubscriberConfig::connect(&router.endpoints().output("all")[0]).subscribe(["volume."]),
    )
    .expect("subscriber");
    let mut first = first;
    assert!(first.wait_for_subscribers(1, WAIT).expect("wait"));
    first
        .send(&Event::builder("volume.a").build())
        .expect("send");
    assert!(subscriber.recv(WAIT).expect("recv").is_some());
    let resubscribes = || router.stats().get("resubscribes").unwrap_or(0);
    let before = resubscribes();
    drop(first);

    let mut second = bind_publisher(&ctx, &endpoint);
    assert!(
        second.wait_for_subscribers(1, WAIT).expect("wait"),
        "the restarted publisher never got the subscription again"
    );
    assert_eq!(
        second.subscriptions().prefixes(),
        vec!["volume.".to_string()]
    );
    second
        .send(&Event::builder("volume.b").build())
        .expect("send");
    let event = subscriber
        .recv(WAIT)
        .expect("recv")
        .expect("an event after the restart");
    assert_eq!(event.event_type(), "volume.b");
    if resubscribe_on_connect {
        // The router resubscribes a short delay after it sees the connect,
        // which may come after the event libzmq's own resend let through.
        assert!(
            wait_for(WAIT, || resubscribes() > before),
            "no resubscription after the restart: {}",
            router.stats()
        );
    }
    router.shutdown().expect("shutdown");
}

#[test]
fn resubscribes_after_an_upstream_restart() {
    with_timeout(LIMIT, || upstream_restart(true));
}

/// What libzmq 4.3.4 does by itself: its XSUB sends the subscriptions it has
/// cached to every newly attached pipe, so a restarted publisher gets them
/// even without the router's own resubscription.
#[test]
fn libzmq_xsub_resends_subscriptions_on_reconnect() {
    with_timeout(LIMIT, || upstream_restart(false));
}

/// A publisher keeps sending through the router; the router restarts on the
/// same endpoints; the subscriber receives again within 2 seconds.
#[test]
fn subscribers_receive_again_after_a_router_restart() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let start = |ctx: &zmq::Context, config: &RouterConfig| {
            let deadline = Instant::now() + WAIT;
            loop {
                match RouterRuntime::new(ctx, config) {
                    Ok(runtime) => return runtime.start().expect("spawn"),
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("restarting the router: {e}");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("router: {e}"),
                }
            }
        };
        let router = start(
            &ctx,
            &config(
                InputConfig::bind("apps", "tcp://127.0.0.1:*"),
                vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
            ),
        );
        // The restarted router binds the ports this one picked.
        let input = router.endpoints().input("apps")[0].clone();
        let output = router.endpoints().output("all")[0].clone();
        let restarted_config = config(
            InputConfig::bind("apps", &input),
            vec![OutputConfig::bind("all", &output)],
        );

        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let pub_ctx = ctx.clone();
        let input_endpoint = input.clone();
        let sender = std::thread::spawn(move || {
            let mut publisher = Publisher::new(
                &pub_ctx,
                &PublisherConfig::connect(input_endpoint).with_linger_ms(0),
            )
            .expect("publisher");
            while !flag.load(Ordering::Relaxed) {
                publisher
                    .send(&Event::builder("volume.tick").build())
                    .expect("send");
                publisher.tick().expect("tick");
                std::thread::sleep(Duration::from_millis(2));
            }
        });

        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&output).subscribe(["volume."]),
        )
        .expect("subscriber");
        assert!(
            subscriber.recv(WAIT).expect("recv").is_some(),
            "nothing before the restart"
        );
        router.shutdown().expect("shutdown");
        // Drain what was queued before the restart.
        while subscriber
            .recv(Duration::from_millis(50))
            .expect("recv")
            .is_some()
        {}

        let restarted = Instant::now();
        let router = start(&ctx, &restarted_config);
        let event = subscriber.recv(Duration::from_secs(2)).expect("recv");
        let took = restarted.elapsed();
        stop.store(true, Ordering::Relaxed);
        sender.join().expect("sender");
        assert!(event.is_some(), "no event within 2 s of the router restart");
        eprintln!("receiving again {took:?} after the router restarted");
        assert!(took < Duration::from_secs(2));
        drop(router);
    });
}
