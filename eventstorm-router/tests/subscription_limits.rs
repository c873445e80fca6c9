//! An output's per-host subscription limit, seen from upstream: a flooding
//! subscriber host gets its `max_subscriptions_per_peer` prefixes sent
//! upstream and no more, another host still subscribes, and when the
//! flooding host disconnects the router unsubscribes its prefixes upstream.
//!
//! The two subscriber "hosts" are 127.0.0.2 and 127.0.0.3 on this machine
//! (libzmq's `tcp://SOURCE:0;DEST:PORT` binds a connection's source
//! address; Linux routes all of 127/8 to lo).

mod common;

use std::time::Duration;

use common::{wait_for, with_timeout};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_source::{Publisher, PublisherConfig};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

/// An XSUB socket connected from `source` to `endpoint`.
fn subscriber_from(ctx: &zmq::Context, source: &str, endpoint: &str) -> zmq::Socket {
    let port = endpoint.rsplit(':').next().expect("port");
    let socket = ctx.socket(zmq::XSUB).expect("xsub");
    socket.set_linger(0).expect("linger");
    socket.set_sndhwm(0).expect("sndhwm");
    socket
        .connect(&format!("tcp://{source}:0;127.0.0.1:{port}"))
        .expect("connect");
    socket
}

fn subscribe(socket: &zmq::Socket, prefix: &str) {
    let mut msg = vec![1u8];
    msg.extend_from_slice(prefix.as_bytes());
    socket.send(msg, 0).expect("subscribe");
}

/// What the upstream publisher was asked for, sorted.
fn upstream(publisher: &mut Publisher) -> Vec<String> {
    publisher.poll_subscriptions().expect("subscriptions");
    let mut prefixes = publisher.subscriptions().prefixes();
    prefixes.sort();
    prefixes
}

#[test]
fn a_flooding_host_is_limited_and_unsubscribed_upstream_when_it_leaves() {
    with_timeout(LIMIT, || {
        const FLOOD: u64 = 300;
        const PER_HOST: usize = 20;
        let ctx = zmq::Context::new();
        let mut output = OutputConfig::bind("all", "tcp://127.0.0.1:*");
        output.socket.max_subscriptions_per_peer = Some(PER_HOST);
        let mut config = RouterConfig {
            inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
            outputs: vec![output],
            ..Default::default()
        };
        config.router.default_output = Some("all".into());
        config.router.stats_interval_ms = 0;
        let router = RouterRuntime::new(&ctx, &config)
            .expect("router")
            .start()
            .expect("spawn");
        let mut publisher = Publisher::new(
            &ctx,
            &PublisherConfig::connect(&router.endpoints().input("apps")[0]),
        )
        .expect("publisher");
        let output = router.endpoints().output("all")[0].clone();

        let flooder = subscriber_from(&ctx, "127.0.0.2", &output);
        for i in 0..FLOOD {
            subscribe(&flooder, &format!("flood.{i:04}"));
        }
        let other = subscriber_from(&ctx, "127.0.0.3", &output);
        subscribe(&other, "app.");
        assert!(
            wait_for(WAIT, || router.stats().get("out.all.subscriptions")
                == Some(FLOOD + 1)),
            "{}",
            router.stats()
        );
        let stats = router.stats();
        assert_eq!(
            stats.get("out.all.subscriptions_refused_peer"),
            Some(FLOOD - PER_HOST as u64),
            "{stats}"
        );
        assert_eq!(
            stats.get("out.all.subscriptions_refused"),
            Some(0),
            "{stats}"
        );
        // Upstream: the flooder's first PER_HOST prefixes and the other
        // host's one.
        assert!(
            wait_for(WAIT, || upstream(&mut publisher).len() == PER_HOST + 1),
            "{:?}",
            upstream(&mut publisher)
        );
        assert!(upstream(&mut publisher).contains(&"app.".to_string()));

        // The flooder leaves: the router unsubscribes its prefixes upstream.
        drop(flooder);
        assert!(
            wait_for(WAIT, || upstream(&mut publisher) == ["app."]),
            "{:?}",
            upstream(&mut publisher)
        );
        drop(other);
        assert!(
            wait_for(WAIT, || upstream(&mut publisher).is_empty()),
            "{:?}",
            upstream(&mut publisher)
        );
        router.shutdown().expect("shutdown");
    });
}

/// `max_subscriptions_per_peer` is read from an output's table and checked
/// against `max_subscriptions` at start-up.
#[test]
fn the_per_host_limit_is_configured_and_checked() {
    let parse = |extra: &str| -> Result<RouterConfig, String> {
        let text = format!(
            "[[inputs]]\nname = \"in\"\nbind = [\"tcp://127.0.0.1:*\"]\n\
             [[outputs]]\nname = \"out\"\nbind = [\"tcp://127.0.0.1:*\"]\n{extra}\n\
             [router]\ndefault_output = \"out\"\n"
        );
        RouterConfig::from_toml_str(&text, "router.toml").map_err(|e| e.to_string())
    };
    let config = parse("max_subscriptions_per_peer = 5").expect("valid");
    assert_eq!(config.outputs[0].socket.max_subscriptions_per_peer, Some(5));
    assert_eq!(config.outputs[0].socket.subscriptions_per_peer(), 5);
    let config = parse("max_subscriptions = 300").expect("valid");
    assert_eq!(config.outputs[0].socket.subscriptions_per_peer(), 300);
    let error =
        parse("max_subscriptions = 10\nmax_subscriptions_per_peer = 11").expect_err("too many");
    assert!(error.contains("max_subscriptions_per_peer"), "{error}");
    let error = parse("max_subscriptions_per_peer = 0").expect_err("zero");
    assert!(error.contains("max_subscriptions_per_peer"), "{error}");
}
