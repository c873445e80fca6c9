//! cargo run --release -p eventstorm-examples --example steady_publisher -- [--connect ENDPOINT] [--rate N] [--seconds S] [--stats ENDPOINT]
//!
//! Traffic for the dashboard (docs/dashboard.md): publishes N events per
//! second (default 500) to a router's input (default: connects to
//! `tcp://127.0.0.1:5555`), a mix of types, tenants and severities, for S
//! seconds (default 0: until Ctrl-C). With `--stats ENDPOINT` (the
//! dashboard's `tcp://127.0.0.1:5560`), it also publishes its own
//! publisher's counters as `_eventstorm.stats` events every 2 s there, so
//! the dashboard lists it as a source.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::{Event, Severity};
use eventstorm_source::{Publisher, PublisherConfig};

/// (type, share of the traffic in percent, severity)
const MIX: [(&str, u64, Severity); 5] = [
    ("order.placed", 45, Severity::Informational),
    ("user.login", 25, Severity::Informational),
    ("compute.instance.create.end", 15, Severity::Notice),
    ("volume.attach.end", 10, Severity::Informational),
    ("payment.failed", 5, Severity::Error),
];
const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

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
    let mut endpoint = "tcp://127.0.0.1:5555".to_string();
    let mut rate: u64 = 500;
    let mut seconds: u64 = 0;
    let mut stats_endpoint = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--connect" => endpoint = value("--connect")?,
            "--rate" => rate = value("--rate")?.parse()?,
            "--seconds" => seconds = value("--seconds")?.parse()?,
            "--stats" => stats_endpoint = Some(value("--stats")?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;

    let ctx = zmq::Context::new();
    let config = PublisherConfig::connect(endpoint.clone()).with_wait_for_subscriber_ms(10_000);
    let mut publisher = Publisher::new(&ctx, &config)?;
    let mut stats_publisher = match stats_endpoint {
        Some(e) => Some(Publisher::new(&ctx, &PublisherConfig::connect(e))?),
        None => None,
    };
    eprintln!("publishing {rate} events/s to {endpoint} (Ctrl-C stops)");

    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut next_stats = start;
    // Ticks of 10 ms, each sending what is due by then.
    let mut tick: u64 = 0;
    while !stop.load(Ordering::Relaxed) && (seconds == 0 || start.elapsed().as_secs() < seconds) {
        tick += 1;
        let due = rate * tick / 100;
        while sent < due {
            let pick = sent * 7919 % 100;
            let mut share = 0;
            let (event_type, _, severity) = MIX
                .iter()
                .find(|(_, p, _)| {
                    share += p;
                    pick < share
                })
                .copied()
                .unwrap_or(MIX[0]);
            let event = Event::builder(event_type)
                .severity(severity)
                .tenant(TENANTS[(sent % 3) as usize])
                .field("seq", sent as i64)
                .build();
            publisher.send(&event)?;
            sent += 1;
        }
        publisher.tick()?;
        if let Some(stats) = &mut stats_publisher
            && Instant::now() >= next_stats
        {
            next_stats += Duration::from_secs(2);
            let counters = publisher.stats().with_component("steady_publisher");
            stats.send(&counters.to_event())?;
        }
        let next = start + Duration::from_millis(10 * tick);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    eprintln!("{}", publisher.close());
    Ok(())
}
