//! cargo run --example pubsub_publisher -- [ENDPOINT] [COUNT]
//!
//! The publishing half of a two-process pair (run `pubsub_subscriber` in another
//! terminal first). Binds ENDPOINT (default `tcp://127.0.0.1:5555`), waits up to
//! 10 s for a subscriber, publishes COUNT (default 10000) events of three types,
//! and prints its counters.

use std::time::Duration;

use eventstorm_core::Event;
use eventstorm_source::{Publisher, PublisherConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://127.0.0.1:5555".into());
    let count: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);

    let ctx = zmq::Context::new();
    let config = PublisherConfig::bind(endpoint).with_wait_for_subscriber_ms(10_000);
    let mut publisher = Publisher::new(&ctx, &config)?;
    eprintln!("publishing on {:?}", publisher.endpoints());

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
            publisher.tick()?;
        }
    }
    eprintln!("{}", publisher.stats());
    std::thread::sleep(Duration::from_millis(100));
    publisher.close(); // sends the final sequence marks
    Ok(())
}
