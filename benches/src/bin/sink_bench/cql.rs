//! `CqlSink` vs a plain loop of prepared inserts.

use std::time::{Duration, Instant};

use eventstorm_core::{EventSink, RawEvent};
use eventstorm_sink::cql::{CqlSink, CqlSinkConfig, DEFAULT_MAX_CONCURRENT_REQUESTS};
use futures_util::StreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::CqlTimestamp;

use crate::{Res, Side};

/// One keyspace per side for the whole run: every round writes the same
/// events (same primary keys) again, so the server holds one copy of them
/// per side however many rounds run (the CQL test server keeps everything in
/// memory and cannot drop a keyspace).
fn keyspace(side: &str) -> String {
    format!("bench_{}_{side}", std::process::id())
}

/// The sink: `write` in batches of 1000, then `flush`.
struct Sink {
    uri: String,
}

impl Side for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

    fn run(&mut self, _round: usize, events: &[RawEvent]) -> Res<Duration> {
        let mut sink = CqlSink::new(CqlSinkConfig::from_uri(&self.uri, keyspace("sink")))
            .map_err(|e| format!("cql sink: {e}"))?;
        let start = Instant::now();
        for batch in events.chunks(1000) {
            sink.write(batch).map_err(|e| format!("sink write: {e}"))?;
        }
        sink.flush().map_err(|e| format!("sink flush: {e}"))?;
        let took = start.elapsed();
        let written = sink.counters().written.get();
        if written != events.len() as u64 {
            return Err(format!("the sink wrote {written} of {}", events.len()));
        }
        Ok(took)
    }
}

/// One row in the sink's column order.
type Row = (
    String,
    CqlTimestamp,
    CqlTimestamp,
    Vec<u8>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Vec<u8>,
);

fn row(event: &RawEvent) -> Row {
    let view = event.view();
    let ts = event.timestamp().timestamp_millis();
    let bucket = ts.div_euclid(3_600_000) * 3_600_000;
    let text = |path: &str| event.get(path).and_then(|v| v.as_str()).map(str::to_owned);
    (
        event.event_type().to_owned(),
        CqlTimestamp(bucket),
        CqlTimestamp(ts),
        event.id().bytes().to_vec(),
        view.severity().map(|s| i32::from(s.code())),
        text("logger"),
        text("hostname"),
        event.get("pid").and_then(|v| v.as_i64()),
        view.tenant().map(str::to_owned),
        event.as_bytes().to_vec(),
    )
}

/// The plain loop: the same driver and server, the sink's table and insert,
/// as many requests in flight as the sink's default.
struct Plain {
    uri: String,
    runtime: tokio::runtime::Runtime,
    session: Session,
}

impl Side for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn run(&mut self, _round: usize, events: &[RawEvent]) -> Res<Duration> {
        // A sink creates the keyspace and the table and says its insert.
        let cql = CqlSink::new(CqlSinkConfig::from_uri(&self.uri, keyspace("plain")))
            .map_err(|e| format!("schema: {e}"))?
            .insert_cql();
        let session = &self.session;
        let prepared = self
            .runtime
            .block_on(session.prepare(cql))
            .map_err(|e| format!("prepare: {e}"))?;
        let rows: Vec<Row> = events.iter().map(row).collect();
        let start = Instant::now();
        let (failed, first) = self.runtime.block_on(async {
            futures_util::stream::iter(rows.iter())
                .map(|row| session.execute_unpaged(&prepared, row))
                .buffer_unordered(DEFAULT_MAX_CONCURRENT_REQUESTS)
                .fold((0_usize, None), |(n, first), r| {
                    std::future::ready(match r {
                        Ok(_) => (n, first),
                        Err(e) => (n + 1, first.or(Some(e.to_string()))),
                    })
                })
                .await
        });
        let took = start.elapsed();
        if failed > 0 {
            return Err(format!(
                "{failed} plain inserts failed; first error: {}",
                first.unwrap_or_default()
            ));
        }
        Ok(took)
    }
}

/// Both sides against the same server.
pub(crate) fn sides(uri: &str) -> Res<(Box<dyn Side>, Box<dyn Side>)> {
    let uri = uri.to_owned();
    eprintln!("CQL server: {uri}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let contact_points = CqlSinkConfig::from_uri(&uri, "x").contact_points;
    let session = runtime
        .block_on(SessionBuilder::new().known_nodes(&contact_points).build())
        .map_err(|e| format!("cql session: {e}"))?;
    Ok((
        Box::new(Sink { uri: uri.clone() }),
        Box::new(Plain {
            uri,
            runtime,
            session,
        }),
    ))
}
