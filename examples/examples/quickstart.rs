//! cargo run --release --example quickstart
//!
//! One process, the whole pipeline: a `Client` publishes a few thousand varied
//! events over tcp loopback, a `SinkRuntime` subscribes and writes them as JSON
//! lines to stdout. It ends by itself; its last line is
//! `sent=N received=N lost=0`.
//!
//! The client runs in block mode (lossless back-pressure) and waits for the
//! subscriber before it sends, so nothing is lost to the slow-joiner effect.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bson::doc;
use eventstorm_core::Severity;
use eventstorm_sink::{
    RuntimeConfig, SinkHandle, SinkRuntime, SubscriberConfig, sinks::StdoutSink,
};
use eventstorm_source::{Client, DeliveryMode};

const EVENTS: u64 = 5_000;

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
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let ctx = zmq::Context::new();

    // The subscriber binds a free port; the client connects to it.
    let sink = StdoutSink::json_lines();
    let runtime = SinkRuntime::spawn(
        &ctx,
        RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*")),
        Box::new(sink),
    )?;
    let endpoint = runtime.endpoints()[0].clone();

    let client = Client::builder()
        .context(ctx.clone())
        .connect(endpoint)
        .logger("quickstart")
        .mode(DeliveryMode::Block)
        .wait_for_subscriber(Duration::from_secs(5))
        .build()?;

    let tenants = ["acme", "globex", "initech"];
    let flavors = ["m1.small", "m1.medium", "m1.large"];
    for i in 0..EVENTS {
        let tenant = tenants[(i % 3) as usize];
        match i % 5 {
            0 => client.send(
                &client
                    .event("compute.instance.create.end")
                    .tenant(tenant)
                    .field("instance_id", format!("i-{i:05}"))
                    .field("flavor", flavors[(i % 3) as usize])
                    .field("memory_mb", 512 << (i % 3))
                    .build(),
            ),
            1 => client.send(
                &client
                    .event("volume.create.end")
                    .tenant(tenant)
                    .field("volume_id", format!("v-{i:05}"))
                    .field("size_gb", (i % 100) as i64 + 1)
                    .build(),
            ),
            2 => client.log(
                Severity::Warning,
                format!("request {i} took longer than expected"),
            ),
            3 => client.incr("requests", 1),
            _ => {
                let _timer = client.timer("db.query");
                client.emit("app.heartbeat", doc! { "seq": i as i64, "ok": true })
            }
        };
    }

    // Wait until everything sent has arrived (or 30 s), then shut down.
    let sent = client.stats().get("emitted").unwrap_or(0);
    client.close();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Every event sent is written, lost on the way, or was sent before the
    // subscriber saw its stream (`missed_at_join`, 0 here: the client waits).
    let accounted = |runtime: &SinkHandle| {
        let missed_at_join = runtime.stats().get("missed_at_join").unwrap_or(0);
        runtime.written() + runtime.lost() + missed_at_join
    };
    while accounted(&runtime) < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = runtime.shutdown()?;
    let received = stats.get("received").unwrap_or(0);
    let lost = stats.get("lost").unwrap_or(0);
    eprintln!("{stats}");
    println!("sent={sent} received={received} lost={lost}");
    Ok(())
}
