//! `UsageSink` vs `MongoSink` on the same OpenStack notifications: the usage
//! sink applies each one (processed-id check, the entity's versions read,
//! a version written, the id recorded), the MongoDB sink stores each raw.

use std::time::{Duration, Instant};

use eventstorm_core::{EventSink, RawEvent};
use eventstorm_sink::mongo::{MongoSink, MongoSinkConfig};
use eventstorm_sink::usage::{UsageConfig, UsageSink};
use eventstorm_source::parse::{OpenStackParser, Parser};

use crate::{Res, Side};

/// Events per `write`, as the sink runtime batches them.
const BATCH: usize = 1000;

fn database(side: &str, round: usize) -> String {
    format!("eventstorm_bench_{side}_{}_{round}", std::process::id())
}

/// `n` notifications, four per instance/volume pair: an instance created
/// and resized, a volume created and attached to it.
pub(crate) fn events(n: usize) -> Res<Vec<RawEvent>> {
    let line = |i: usize, kind: usize| {
        let k = i / 4;
        let (event_type, payload) = match kind {
            0 => (
                "compute.instance.create.end",
                serde_json::json!({
                "instance_id": format!("i-{k}"), "tenant_id": format!("p-{}", k % 50),
                "instance_type": "m1.small", "created_at": "2026-03-01 09:00:00.000000",
                "image_meta": {"distro": "ubuntu", "version": "22.04"}, "hostname": format!("vm-{k}")}),
            ),
            1 => (
                "compute.instance.resize.confirm.end",
                serde_json::json!({
                "instance_id": format!("i-{k}"), "tenant_id": format!("p-{}", k % 50),
                "instance_type": "m1.large"}),
            ),
            2 => (
                "volume.create.end",
                serde_json::json!({
                "volume_id": format!("v-{k}"), "tenant_id": format!("p-{}", k % 50), "size": 10,
                "volume_type": "ssd", "display_name": format!("vol-{k}"),
                "created_at": "2026-03-01 09:00:00.000000"}),
            ),
            _ => (
                "volume.attach.end",
                serde_json::json!({
                "volume_id": format!("v-{k}"), "tenant_id": format!("p-{}", k % 50),
                "volume_attachment": [{"instance_uuid": format!("i-{k}")}]}),
            ),
        };
        serde_json::json!({
            "message_id": format!("m-{i}"), "event_type": event_type, "priority": "INFO",
            "timestamp": format!("2026-03-01 {:02}:00:00.000000", 10 + kind),
            "publisher_id": "bench.host", "payload": payload,
        })
        .to_string()
    };
    (0..n)
        .map(|i| {
            let event = OpenStackParser
                .parse(&line(i, i % 4))
                .map_err(|e| format!("parse: {e}"))?;
            RawEvent::from_event(&event).map_err(|e| format!("event: {e}"))
        })
        .collect()
}

/// The usage sink, a fresh database per round.
struct Usage {
    uri: String,
}

impl Side for Usage {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let config = UsageConfig::new(&self.uri, database("usage", round), "bench-token");
        let (mut sink, _api) = UsageSink::new(config).map_err(|e| format!("usage sink: {e}"))?;
        let start = Instant::now();
        for batch in events.chunks(BATCH) {
            sink.write(batch).map_err(|e| format!("usage write: {e}"))?;
        }
        let took = start.elapsed();
        let stats = sink.stats();
        let applied = stats.get("applied").unwrap_or(0);
        if applied != events.len() as u64 {
            return Err(format!(
                "the usage sink applied {applied} of {}: {stats}",
                events.len()
            ));
        }
        Ok(took)
    }
}

/// The MongoDB sink storing the same events raw.
struct Raw {
    uri: String,
}

impl Side for Raw {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration> {
        let config = MongoSinkConfig::new(&self.uri, database("raw", round));
        let mut sink = MongoSink::new(config).map_err(|e| format!("mongo sink: {e}"))?;
        let start = Instant::now();
        for batch in events.chunks(BATCH) {
            sink.write(batch).map_err(|e| format!("sink write: {e}"))?;
        }
        sink.flush().map_err(|e| format!("sink flush: {e}"))?;
        Ok(start.elapsed())
    }
}

/// Drops the bench's databases when the run ends.
pub(crate) struct Cleanup(pub(crate) String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let _ = runtime.block_on(async {
            let client = mongodb::Client::with_uri_str(&self.0).await?;
            let mine = format!("_{}_", std::process::id());
            for name in client.list_database_names().await? {
                if name.starts_with("eventstorm_bench_") && name.contains(&mine) {
                    let _ = client.database(&name).drop().await;
                }
            }
            Ok::<(), mongodb::error::Error>(())
        });
    }
}

/// Both sides against the same server.
pub(crate) fn sides(uri: &str) -> (Box<dyn Side>, Box<dyn Side>) {
    eprintln!("MongoDB server: {uri}; sink = UsageSink, plain = MongoSink (raw events)");
    (
        Box::new(Usage {
            uri: uri.to_owned(),
        }),
        Box::new(Raw {
            uri: uri.to_owned(),
        }),
    )
}
