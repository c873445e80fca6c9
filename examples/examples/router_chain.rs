//! cargo run --release --example router_chain
//!
//! Router → router: an edge router (one per host, in real life) forwards to a
//! central router; a subscriber on the central router asks for `volume.`
//! only, and that subscription travels through both routers to the client,
//! which then skips every other event before even encoding it. At the end each
//! hop's counters show `received + lost + missed_at_join` equal to what the
//! hop before it sent.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bson::doc;
use eventstorm_router::{DeliveryMode, InputConfig, OutputConfig, RouterConfig, RouterRuntime};
use eventstorm_sink::{Subscriber, SubscriberConfig};
use eventstorm_source::Client;

const EVENTS: u64 = 200_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(eventstorm_core::log::use_color())
        .init();
    let ctx = zmq::Context::new();

    // The central router binds its input; edges connect to it.
    let mut central = RouterConfig {
        inputs: vec![InputConfig::bind("edges", "tcp://127.0.0.1:*")],
        outputs: vec![
            OutputConfig::bind("all", "tcp://127.0.0.1:*").with_mode(DeliveryMode::Block),
        ],
        ..Default::default()
    };
    central.router.name = "central".into();
    central.router.default_output = Some("all".into());
    let central = RouterRuntime::spawn(&ctx, central)?;

    // The edge router: applications publish to it; its output connects to
    // the central router's input.
    let mut edge = RouterConfig {
        inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
        outputs: vec![
            OutputConfig::connect("central", &central.endpoints().input("edges")[0])
                .with_mode(DeliveryMode::Block),
        ],
        ..Default::default()
    };
    edge.router.name = "edge".into();
    edge.router.default_output = Some("central".into());
    let edge = RouterRuntime::spawn(&ctx, edge)?;

    let mut subscriber = Subscriber::new(
        &ctx,
        &SubscriberConfig::connect(&central.endpoints().output("all")[0]).subscribe(["volume."]),
    )?;
    let client = Client::builder()
        .context(ctx.clone())
        .connect(&edge.endpoints().input("apps")[0])
        .mode(eventstorm_source::DeliveryMode::Block)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.is_wanted("volume.attach") {
        if Instant::now() > deadline {
            return Err("the subscription never reached the client".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let started = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut n = 0;
        while n < EVENTS {
            match subscriber.recv(Duration::from_secs(10)) {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
        }
        subscriber
    });
    for i in 0..EVENTS {
        client.emit("volume.attach", doc! { "i": i as i64, "size_gb": 20 });
        client.emit("compute.instance.create.end", doc! { "i": i as i64 }); // nobody wants these
    }
    let mut subscriber = receiver.join().map_err(|_| "receiver panicked")?;
    let elapsed = started.elapsed();
    client.close();
    let edge_stats = edge.shutdown()?;
    std::thread::sleep(Duration::from_millis(300)); // let the edge's final marks arrive
    let central_stats = central.shutdown()?;
    while subscriber.recv(Duration::from_millis(200))?.is_some() {}

    println!("client:     {}", client.stats());
    println!("edge:       {edge_stats}");
    println!("central:    {central_stats}");
    println!("subscriber: {}", subscriber.stats());
    println!(
        "{EVENTS} events through two routers in {elapsed:.2?}: {:.0} events/s",
        EVENTS as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
