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

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Sends EVENTS through `input` and counts them at `output`; returns events/s.
fn measure(ctx: &zmq::Context, input: &str, output: &str) -> Result<f64> {
    let sub = ctx.socket(zmq::SUB)?;
    sub.set_rcvhwm(0)?;
    sub.set_rcvtimeo(5_000)?;
    sub.set_subscribe(b"")?;
    sub.connect(output)?;
    let mut publisher = Publisher::new(
        ctx,
        &PublisherConfig::connect(input).with_mode(eventstorm_source::DeliveryMode::Block),
    )?;
    if !publisher.wait_for_subscribers(1, Duration::from_secs(5))? {
        return Err(format!("no subscriber reached {input} within 5 s").into());
    }
    let body = body();
    let started = Instant::now();
    let sender = std::thread::spawn(move || -> eventstorm_source::Result<()> {
        for _ in 0..EVENTS {
            publisher.send_bytes("compute.instance.update", &body)?;
        }
        Ok(())
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
    sender.join().map_err(|_| "the sending thread panicked")??;
    Ok(rate)
}

/// A raw libzmq XSUB/XPUB proxy on a thread of its own; returns its input
/// and output endpoints.
fn start_proxy(ctx: &zmq::Context) -> Result<(String, String)> {
    let xsub = ctx.socket(zmq::XSUB)?;
    let xpub = ctx.socket(zmq::XPUB)?;
    // No high-water mark: a plain XPUB would drop at it (the router uses
    // ZMQ_XPUB_NODROP instead), and the count would never complete.
    xpub.set_sndhwm(0)?;
    xsub.set_rcvhwm(0)?;
    xsub.bind("tcp://127.0.0.1:*")?;
    xpub.bind("tcp://127.0.0.1:*")?;
    let endpoint = |s: &zmq::Socket| -> Result<String> {
        s.get_last_endpoint()?
            .map_err(|_| "an endpoint that is not UTF-8".into())
    };
    let endpoints = (endpoint(&xsub)?, endpoint(&xpub)?);
    // The sockets move to the proxy's thread, which owns them from now on.
    std::thread::spawn(move || {
        let _ = zmq::proxy(&xsub, &xpub);
    });
    Ok(endpoints)
}

fn main() {
    let ctx = zmq::Context::new();
    let code = match run(&ctx) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    // The proxy's thread never returns and keeps its sockets open, so
    // dropping the context would wait forever: exit without dropping it.
    std::process::exit(code);
}

fn run(ctx: &zmq::Context) -> Result<()> {
    let (input, output) = start_proxy(ctx)?;
    let proxy = measure(ctx, &input, &output)?;
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
    let router = RouterRuntime::spawn(ctx, config)?;
    let rate = measure(
        ctx,
        &router.endpoints().input("in")[0],
        &router.endpoints().output("out")[0],
    )?;
    println!(
        "eventstorm-router:   {rate:.0} events/s ({:.2}x the raw proxy)",
        rate / proxy
    );
    println!("{}", router.shutdown()?);
    Ok(())
}
