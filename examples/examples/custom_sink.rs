//! cargo run --example custom_sink
//!
//! How to write your own sink: implement `EventSink` (a name and `write` for a
//! batch; `flush`, `healthcheck` and `stats` have defaults) and hand it to a
//! `SinkRuntime`. This one keeps per-tenant totals of volume sizes, reading one
//! field of each event without decoding the rest.

use std::collections::BTreeMap;
use std::time::Duration;

// The sink needs `eventstorm-sink` alone; the client only makes traffic.
use eventstorm_sink::{
    EventSink, RawEvent, RuntimeConfig, SinkError, SinkRuntime, Stats, SubscriberConfig,
};
use eventstorm_source::{Client, DeliveryMode};

/// Sums `body.size_gb` of volume events per tenant, printing on flush.
#[derive(Default)]
struct VolumeTotals {
    gb_by_tenant: BTreeMap<String, i64>,
    events: u64,
}

impl EventSink for VolumeTotals {
    fn name(&self) -> &str {
        "volume-totals"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        for event in batch {
            let view = event.view();
            let tenant = view.tenant().unwrap_or("-").to_string();
            let size = event
                .get("body.size_gb")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            *self.gb_by_tenant.entry(tenant).or_default() += size;
            self.events += 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        println!("{:?}", self.gb_by_tenant);
        Ok(())
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name());
        stats.push("events", self.events);
        stats
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = zmq::Context::new();
    let config =
        RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*").subscribe(["volume."]));
    let runtime = SinkRuntime::spawn(&ctx, config, Box::new(VolumeTotals::default()))?;

    let client = Client::builder()
        .context(ctx.clone())
        .connect(runtime.endpoints()[0].clone())
        .mode(DeliveryMode::Block)
        .wait_for_subscriber(Duration::from_secs(5))
        .build()?;
    for i in 0..300i64 {
        let tenant = ["acme", "globex", "initech"][(i % 3) as usize];
        client.send(
            &client
                .event("volume.create.end")
                .tenant(tenant)
                .field("size_gb", i % 10 + 1)
                .build(),
        );
        client.emit("compute.instance.create.end", bson::doc! { "i": i }); // not subscribed: skipped
    }
    client.close();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runtime.received() < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{}", runtime.shutdown()?);
    Ok(())
}
