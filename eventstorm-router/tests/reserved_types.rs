//! Reserved event types (`_eventstorm.*`): a forged `_eventstorm.stats` sent
//! to an input that is not trusted is refused and counted, never forwarded
//! (it would leave the router with the router's own publisher id and pass
//! for its real stats); a trusted input (a chain of routers) forwards it.

mod common;

use std::time::Duration;

use common::{wait_for, with_timeout};
use eventstorm_core::Event;
use eventstorm_core::transport::{PubSocket, PublishConfig};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime, STATS_TYPE};
use eventstorm_sink::{Subscriber, SubscriberConfig};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

/// A publisher connected to `endpoint` that waited for the router's
/// subscription to everything.
fn publisher(ctx: &zmq::Context, endpoint: &str) -> PubSocket {
    let mut socket =
        PubSocket::open(ctx, "forger", &PublishConfig::connect(endpoint)).expect("publisher");
    assert!(
        socket.wait_for_subscribers(1, WAIT).expect("wait"),
        "the router never subscribed upstream"
    );
    socket
}

fn send(socket: &mut PubSocket, event_type: &str) {
    let body = Event::builder(event_type).build().to_bytes();
    assert!(
        socket
            .try_send(event_type.as_bytes(), body, 0)
            .expect("send")
            .is_sent()
    );
}

#[test]
fn forged_stats_are_refused_from_untrusted_inputs_and_forwarded_from_trusted_ones() {
    with_timeout(LIMIT, || {
        let ctx = zmq::Context::new();
        let mut config = RouterConfig {
            inputs: vec![
                InputConfig::bind("apps", "tcp://127.0.0.1:*"),
                InputConfig::bind("edges", "tcp://127.0.0.1:*").with_trusted(true),
            ],
            outputs: vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
            ..Default::default()
        };
        config.router.default_output = Some("all".into());
        config.router.stats_interval_ms = 0;
        let router = RouterRuntime::spawn(&ctx, config.clone()).expect("router");
        let endpoints = router.endpoints().clone();
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&endpoints.output("all")[0]).subscribe([""]),
        )
        .expect("subscriber");

        // Untrusted: the forged stats event is refused; the next event passes.
        let mut apps = publisher(&ctx, &endpoints.input("apps")[0]);
        send(&mut apps, STATS_TYPE);
        send(&mut apps, "_eventstorm.anything");
        send(&mut apps, "app.started");
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), "app.started");
        assert!(
            wait_for(WAIT, || {
                let stats = router.stats();
                stats.get("in.apps.refused_reserved") == Some(2)
                    && stats.get("in.apps.received") == Some(3)
            }),
            "{}",
            router.stats()
        );

        // Trusted: forwarded like any other event.
        let mut edges = publisher(&ctx, &endpoints.input("edges")[0]);
        send(&mut edges, STATS_TYPE);
        let event = subscriber.recv(WAIT).expect("recv").expect("an event");
        assert_eq!(event.event_type(), STATS_TYPE);
        assert!(
            wait_for(WAIT, || router.stats().get("in.edges.received") == Some(1)),
            "{}",
            router.stats()
        );

        apps.close();
        edges.close();
        let stats = router.shutdown().expect("shutdown");
        assert_eq!(stats.get("in.apps.refused_reserved"), Some(2), "{stats}");
        assert_eq!(stats.get("in.edges.refused_reserved"), Some(0), "{stats}");
        assert_eq!(stats.get("out.all.sent"), Some(2), "{stats}");
        assert!(
            subscriber
                .recv(Duration::from_millis(200))
                .expect("recv")
                .is_none(),
            "nothing else was forwarded"
        );
    });
}
