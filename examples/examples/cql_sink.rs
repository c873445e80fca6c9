//! eval "$(scripts/services/cql.sh start)" && cargo run --example cql_sink
//!
//! Events into Cassandra/ScyllaDB: a `Client` publishes a few hundred events,
//! a `SinkRuntime` subscribes and writes them with the `CqlSink` into the
//! keyspace `eventstorm_example` (created when missing), then the example
//! reads the last minute of `volume.create.end` events back with the query
//! helper.
//!
//! The cluster comes from `EVENTSTORM_CQL_URI` (`host:port[,host:port...]`):
//! `scripts/services/cql.sh start` starts the workspace's CQL test server and
//! prints it; a real Cassandra or ScyllaDB node works the same way.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bson::DateTime;
use eventstorm_core::{EventSink, Severity};
use eventstorm_sink::cql::{ColumnConfig, ColumnType, CqlSink, CqlSinkConfig};
use eventstorm_sink::{RuntimeConfig, SinkHandle, SinkRuntime, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

const EVENTS: u64 = 500;

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
    let uri = std::env::var("EVENTSTORM_CQL_URI").map_err(
        |_| "EVENTSTORM_CQL_URI is not set: run eval \"$(scripts/services/cql.sh start)\" first",
    )?;

    // The sink: default table layout, hour-long buckets, plus `size_gb` from
    // the body in a column of its own.
    let config = CqlSinkConfig {
        columns: vec![ColumnConfig {
            field: "body.size_gb".into(),
            column: "size_gb".into(),
            r#type: ColumnType::Bigint,
        }],
        ..CqlSinkConfig::from_uri(&uri, "eventstorm_example")
    };
    let mut sink = CqlSink::new(config)?; // connects, creates the schema
    sink.healthcheck()?;
    let reader = sink.reader(); // stays usable after the sink is gone

    // The subscriber binds a free port; the client connects to it and waits
    // until the subscription arrived before it sends (no slow-joiner losses).
    let ctx = zmq::Context::new();
    let runtime = SinkRuntime::spawn(
        &ctx,
        RuntimeConfig::new(SubscriberConfig::bind("tcp://127.0.0.1:*"))
            .with_batch(100, Duration::from_millis(50)),
        Box::new(sink),
    )?;
    let client = Client::builder()
        .context(ctx.clone())
        .connect(runtime.endpoints()[0].clone())
        .logger("cql-example")
        .mode(DeliveryMode::Block)
        .wait_for_subscriber(Duration::from_secs(5))
        .build()?;

    let started = DateTime::now();
    for i in 0..EVENTS {
        let event = if i % 2 == 0 {
            client
                .event("volume.create.end")
                .tenant(["acme", "globex"][(i % 4 / 2) as usize])
                .field("volume_id", format!("v-{i:04}"))
                .field("size_gb", (i % 100) as i64 + 1)
                .build()
        } else {
            client
                .event("volume.delete.end")
                .severity(Severity::Notice)
                .field("volume_id", format!("v-{:04}", i - 1))
                .build()
        };
        client.send(&event);
    }

    // Wait until everything sent is written (or 30 s), then shut down: the
    // runtime flushes the sink, which waits for its last inserts.
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
    eprintln!("{stats}");

    // Read back: one partition per type and hour, visited in turn.
    let until = DateTime::from_millis(DateTime::now().timestamp_millis() + 1);
    let created = reader.events("volume.create.end", started, until)?;
    let deleted = reader.events("volume.delete.end", started, until)?;
    let total_gb: i64 = created
        .iter()
        .filter_map(|e| e.body().get_i64("size_gb").ok())
        .sum();
    println!(
        "sent={sent} written={} created={} deleted={} total_size_gb={total_gb}",
        stats.get("written").unwrap_or(0),
        created.len(),
        deleted.len()
    );
    if let Some(first) = created.first() {
        println!(
            "first: {} tenant={:?} host={:?} body={}",
            first.event_type(),
            first.tenant(),
            first.hostname(),
            first.body()
        );
    }
    Ok(())
}
