//! cargo run --example pubsub_subscriber -- [ENDPOINT] [PREFIX...]
//!
//! The subscribing half of a two-process pair: connects to ENDPOINT (default
//! `tcp://127.0.0.1:5555`), subscribes to the given type prefixes (default: all),
//! prints each event as a pretty line, and every 2 s of quiet prints its
//! counters (received, lost, missed_at_join, undecodable). Stop it with Ctrl-C.
//!
//! Try `cargo run --example pubsub_subscriber -- tcp://127.0.0.1:5555 volume.`:
//! only volume events arrive, and `lost=0` shows per-type sequences keep the
//! accounting exact under prefix subscriptions.

use std::time::Duration;

use eventstorm_core::EventSink;
use eventstorm_sink::sinks::StdoutSink;
use eventstorm_sink::{Subscriber, SubscriberConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://127.0.0.1:5555".into());
    let prefixes: Vec<String> = args.collect();
    let mut config = SubscriberConfig::connect(endpoint);
    if !prefixes.is_empty() {
        config = config.subscribe(prefixes);
    }

    let ctx = zmq::Context::new();
    let mut subscriber = Subscriber::new(&ctx, &config)?;
    let mut printer = StdoutSink::pretty();
    let mut batch = Vec::new();
    loop {
        match subscriber.recv(Duration::from_secs(2))? {
            Some(event) => {
                batch.push(event);
                subscriber.recv_batch(&mut batch, 999)?;
                printer.write(&batch)?;
                batch.clear();
            }
            None => eprintln!("{}", subscriber.stats()),
        }
    }
}
