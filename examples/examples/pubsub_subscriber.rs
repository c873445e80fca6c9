//! cargo run --example pubsub_subscriber -- [ENDPOINT] [PREFIX...]
//!
//! The subscribing half of a two-process pair: connects to ENDPOINT (default
//! `tcp://127.0.0.1:5555`), subscribes to the given type prefixes (default: all),
//! prints each event as a pretty line on stdout, and its counters (received,
//! lost, missed_at_join, undecodable, ...) on stderr every 2 s and when
//! stopped with Ctrl-C (or SIGTERM).
//!
//! Try `cargo run --example pubsub_subscriber -- tcp://127.0.0.1:5555 volume.`:
//! only volume events arrive, and `lost=0` shows per-type sequences keep the
//! accounting exact under prefix subscriptions.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::EventSink;
use eventstorm_sink::sinks::StdoutSink;
use eventstorm_sink::{Subscriber, SubscriberConfig};

/// How often the counters are printed.
const STATS_EVERY: Duration = Duration::from_secs(2);

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
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://127.0.0.1:5555".into());
    let prefixes: Vec<String> = args.collect();
    let mut config = SubscriberConfig::connect(endpoint);
    if !prefixes.is_empty() {
        config = config.subscribe(prefixes);
    }

    // Ctrl-C (SIGINT) and SIGTERM set the flag; the loop sees it within
    // one receive timeout and prints the final counters.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }

    let ctx = zmq::Context::new();
    let mut subscriber = Subscriber::new(&ctx, &config)?;
    eprintln!("subscribed at {:?}; Ctrl-C stops", subscriber.endpoints());
    let mut printer = StdoutSink::pretty();
    let mut batch = Vec::new();
    let mut next_stats = Instant::now() + STATS_EVERY;
    while !stop.load(Ordering::Relaxed) {
        if let Some(event) = subscriber.recv(Duration::from_millis(200))? {
            batch.push(event);
            subscriber.recv_batch(&mut batch, 999)?;
            printer.write(&batch)?;
            batch.clear();
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + STATS_EVERY;
            eprintln!("{}", subscriber.stats());
        }
    }
    printer.flush()?;
    eprintln!("final: {}", subscriber.stats());
    Ok(())
}
