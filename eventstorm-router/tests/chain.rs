//! Router → router: an edge router forwards to a central router; loss
//! accounting holds on every hop, and the edge's stats events arrive too.

mod common;

use std::time::Duration;

use bson::doc;
use common::{wait_for, with_timeout};
use eventstorm_router::{
    DeliveryMode, InputConfig, OutputConfig, RouterConfig, RouterRuntime, STATS_TYPE,
};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::Client;

const EVENTS: u64 = 20_000;
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn edge_to_central_keeps_loss_accounting() {
    with_timeout(Duration::from_secs(60), || {
        let ctx = zmq::Context::new();
        let mut central = RouterConfig {
            // The edge's stats events (`_eventstorm.stats`) travel on only
            // through a trusted input.
            inputs: vec![InputConfig::bind("edges", "tcp://127.0.0.1:*").with_trusted(true)],
            outputs: vec![
                OutputConfig::bind("all", "tcp://127.0.0.1:*").with_mode(DeliveryMode::Block),
            ],
            ..Default::default()
        };
        central.router.name = "central".into();
        central.router.default_output = Some("all".into());
        let central = RouterRuntime::new(&ctx, &central)
            .expect("central")
            .start()
            .expect("spawn");

        let mut edge = RouterConfig {
            inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
            outputs: vec![
                OutputConfig::connect("central", central.endpoints().input("edges")[0].clone())
                    .with_mode(DeliveryMode::Block),
            ],
            ..Default::default()
        };
        edge.outputs[0].name = "central".into();
        edge.router.name = "edge".into();
        edge.router.default_output = Some("central".into());
        edge.router.stats_outputs = vec!["central".into()];
        edge.router.stats_interval_ms = 100;
        let edge = RouterRuntime::new(&ctx, &edge)
            .expect("edge")
            .start()
            .expect("spawn");

        let out = central.endpoints().output("all")[0].clone();
        let mut subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&out).subscribe(["volume."]),
        )
        .expect("subscriber");
        let mut stats_subscriber = Subscriber::new(
            &ctx,
            &SubscriberConfig::connect(&out).subscribe([STATS_TYPE]),
        )
        .expect("subscriber");
        let client = Client::builder()
            .context(ctx.clone())
            .connect(&edge.endpoints().input("apps")[0])
            .mode(eventstorm_source::DeliveryMode::Block)
            .build()
            .expect("client");
        assert!(
            wait_for(WAIT, || client.is_wanted("volume.attach")),
            "subscription did not cross two routers"
        );
        assert!(!client.is_wanted("compute.x"));

        let started = std::time::Instant::now();
        for i in 0..EVENTS {
            client.emit("volume.attach", doc! { "i": i as i64 });
        }
        let mut received = 0;
        while received < EVENTS {
            subscriber
                .recv(WAIT)
                .expect("recv")
                .expect("an event in time");
            received += 1;
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{EVENTS} events through two routers in {elapsed:?} ({:.0} events/s)",
            EVENTS as f64 / elapsed.as_secs_f64()
        );
        client.close();

        let stats_event = stats_subscriber
            .recv(WAIT)
            .expect("recv")
            .expect("a stats event from the edge");
        assert_eq!(stats_event.event_type(), STATS_TYPE);
        assert!(
            stats_event.get("body.counters.in.apps.received").is_none(),
            "dotted names are keys, not paths"
        );

        let edge_stats = edge.shutdown().expect("edge");
        // Every hop: what its upstream stamped = received + lost + missed_at_join.
        let stamped = edge_stats.get("out.central.sent").unwrap_or(0)
            + edge_stats.get("out.central.dropped_hwm").unwrap_or(0);
        let seen = |s: &eventstorm_core::Stats| {
            s.get("in.edges.received").unwrap_or(0)
                + s.get("in.edges.lost").unwrap_or(0)
                + s.get("in.edges.missed_at_join").unwrap_or(0)
        };
        assert!(
            wait_for(WAIT, || seen(&central.stats()) == stamped),
            "{edge_stats}\n{}",
            central.stats()
        );
        let central_stats = central.shutdown().expect("central");
        while subscriber
            .recv(Duration::from_millis(200))
            .expect("recv")
            .is_some()
        {}

        assert_eq!(
            edge_stats.get("in.apps.received"),
            Some(EVENTS),
            "{edge_stats}"
        );
        assert_eq!(edge_stats.get("in.apps.lost"), Some(0), "{edge_stats}");
        assert_eq!(
            central_stats.get("in.edges.lost"),
            Some(0),
            "{central_stats}"
        );
        let sub = subscriber.stats();
        assert_eq!(sub.get("received"), Some(EVENTS), "{sub}");
        assert_eq!(sub.get("lost"), Some(0), "{sub}");
        assert_eq!(sub.get("missed_at_join"), Some(0), "{sub}");
    });
}
