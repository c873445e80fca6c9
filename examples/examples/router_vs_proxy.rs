//! cargo run --release --example router_vs_proxy
//!
//! Throughput of the router against a raw libzmq XSUB/XPUB proxy on the same
//! traffic: a publisher sends pre-encoded ~500-byte events in block mode, a
//! plain SUB socket counts messages. Prints events/s for both and the ratio.

use std::time::{Duration, Instant};

use eventstorm_core::Event;
use eventstorm_router::{DeliveryMode, InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_source::{Publisher, PublisherConfig};

const EVENTS: u64 = 500_000;

fn body() -> Vec<u8> {
    Event::builder("compute.instance.update")
        .tenant("acme")
        .field("instance_id", "6c3c3e2a-2b1f-4bb5-9a44-1f2b1d8e9f10")
        .field("flavor", "m1.small")
        .field("payload", "x".repeat(380))
        .build()
        .to_bytes()
}

/// Sends EVENTS through `input` and counts them at `output`; returns events/s.
fn run(ctx: &zmq::Context, input: &str, output: &str) -> f64 {
    let sub = ctx.socket(zmq::SUB).expect("sub");
    sub.set_rcvhwm(0).expect("hwm");
    sub.set_rcvtimeo(5_000).expect("timeout");
    sub.set_subscribe(b"").expect("subscribe");
    sub.connect(output).expect("connect");
    let mut publisher = Publisher::new(
        ctx,
        &PublisherConfig::connect(input).with_mode(eventstorm_source::DeliveryMode::Block),
    )
    .expect("publisher");
    assert!(
        publisher
            .wait_for_subscribers(1, Duration::from_secs(5))
            .expect("wait")
    );
    let body = body();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        for _ in 0..EVENTS {
            publisher
                .send_bytes("compute.instance.update", &body)
                .expect("send");
        }
        publisher
    });
    let mut msg = zmq::Message::new();
    let mut n = 0;
    while n < EVENTS {
        if sub.recv(&mut msg, 0).is_err() {
            eprintln!("only {n} of {EVENTS} events arrived");
            break;
        }
        if !msg.get_more() {
            n += 1;
        }
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    drop(sender.join());
    rate
}

fn main() {
    let ctx = zmq::Context::new();

    // Raw proxy.
    let proxy_ctx = ctx.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let xsub = proxy_ctx.socket(zmq::XSUB).expect("xsub");
        let xpub = proxy_ctx.socket(zmq::XPUB).expect("xpub");
        // No high-water mark: a plain XPUB would drop at it (the router uses
        // ZMQ_XPUB_NODROP instead), and the count would never complete.
        xpub.set_sndhwm(0).expect("hwm");
        xsub.set_rcvhwm(0).expect("hwm");
        xsub.bind("tcp://127.0.0.1:*").expect("bind");
        xpub.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoints = (
            xsub.get_last_endpoint().expect("e").expect("e"),
            xpub.get_last_endpoint().expect("e").expect("e"),
        );
        tx.send(endpoints).expect("send");
        let _ = zmq::proxy(&xsub, &xpub);
    });
    let (input, output) = rx.recv().expect("proxy endpoints");
    let proxy = run(&ctx, &input, &output);
    println!("raw XSUB/XPUB proxy: {proxy:.0} events/s");

    let mut config = RouterConfig {
        inputs: vec![InputConfig::bind("in", "tcp://127.0.0.1:*")],
        outputs: vec![
            OutputConfig::bind("out", "tcp://127.0.0.1:*").with_mode(DeliveryMode::Block),
        ],
        ..Default::default()
    };
    config.router.default_output = Some("out".into());
    config.router.stats_interval_ms = 0;
    let router = RouterRuntime::new(&ctx, &config)
        .expect("router")
        .start()
        .expect("spawn");
    let rate = run(
        &ctx,
        &router.endpoints().input("in")[0],
        &router.endpoints().output("out")[0],
    );
    println!(
        "eventstorm-router:   {rate:.0} events/s ({:.2}x the raw proxy)",
        rate / proxy
    );
    println!("{}", router.shutdown().expect("shutdown"));
    std::process::exit(0);
}
