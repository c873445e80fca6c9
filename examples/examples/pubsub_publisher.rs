//! cargo run --example pubsub_publisher -- [--connect] [ENDPOINT] [COUNT]
//!
//! The publishing half of a two-process pair (run `pubsub_subscriber` in another
//! terminal first). Binds ENDPOINT (default `tcp://127.0.0.1:5555`), or with
//! `--connect` connects to it, waits up to 10 s for a subscriber, publishes
//! COUNT (default 10000) events of three types, closes (sending the final
//! sequence marks) and prints its final counters. For each type the
//! subscriber receives, what was sent here is what it counts as
//! `received + lost + missed_at_join`.
//!
//! Through a router: run `eventstorm-router --config examples/config/router.toml`
//! (input `tcp://127.0.0.1:5555`; its `billing` output, `tcp://127.0.0.1:5557`,
//! carries the compute and volume events), then
//! `pubsub_subscriber tcp://127.0.0.1:5557 volume.` and
//! `pubsub_publisher --connect tcp://127.0.0.1:5555`.

use std::process::ExitCode;

use eventstorm_core::Event;
use eventstorm_source::{Publisher, PublisherConfig};

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
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let connect = args.first().is_some_and(|a| a == "--connect");
    if connect {
        args.remove(0);
    }
    let mut args = args.into_iter();
    let endpoint = args.next().unwrap_or_else(|| "tcp://127.0.0.1:5555".into());
    let count: u64 = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| format!("COUNT {n:?} is not a number: {e}"))?,
        None => 10_000,
    };

    let ctx = zmq::Context::new();
    let config = if connect {
        PublisherConfig::connect(endpoint)
    } else {
        PublisherConfig::bind(endpoint)
    };
    let config = config.with_wait_for_subscriber_ms(10_000);
    let mut publisher = Publisher::new(&ctx, &config)?;
    let verb = if connect { "connected to" } else { "bound" };
    eprintln!("publishing: {verb} {:?}", publisher.endpoints());

    let types = [
        "compute.instance.create.end",
        "volume.create.end",
        "volume.delete.end",
    ];
    for i in 0..count {
        let event = Event::builder(types[(i % 3) as usize])
            .tenant(if i % 2 == 0 { "acme" } else { "globex" })
            .field("seq", i as i64)
            .build();
        publisher.send(&event)?;
        if i % 1000 == 999 {
            publisher.tick()?; // reads subscriptions, sends marks when due
        }
    }
    // Closing sends the final sequence marks; the counters it returns count them.
    eprintln!("{}", publisher.close());
    Ok(())
}
