//! cargo run --release -p eventstorm-benches --bin streams_bench -- [--quick] [--json] [--keep N]
//!
//! The stream engine on this machine, in one run:
//!
//! 1. **Memory per active stream**: the process's resident size before and
//!    after opening 100,000 streams (one event each) in a fresh engine on a
//!    redb file, divided by the streams (measured first, in a fresh
//!    process).
//! 2. **Throughput** with 10 definitions and 10,000 active streams, side by
//!    side with the null sink: `EventSink::write` of batches of 1000 typical
//!    ~550-byte events then `flush` (which returns once the engine thread
//!    has handled and committed every event), timed from the first write to
//!    the flush's return. Every definition selects `app.dN.*` and groups by
//!    `body.user` (1000 users each); every tenth event of a group is
//!    `app.dN.end`, which fires its stream (a `log` action, which reads no
//!    events back from the store); the group's next event opens a
//!    new stream, so 10,000 streams stay active. Each event is checked
//!    against all 10 definitions and joins one. Rounds alternate null sink,
//!    engine with the in-memory store, engine with the redb file; the ratio
//!    is the median of the per-round ratios (a slow spell of this shared
//!    machine hits both sides of a round).
//! 3. **Expiry lag**: 50,000 streams opened at once with `first + 2s`
//!    expire within the same moment; the lag from each deadline to its
//!    actions (`StreamsHandle::expiry_lags`), p50, p99 and the largest.
//!
//! `--keep N` sets `max_events_per_stream` (default 1000): every kept
//! event is one row of the store, written at the next commit and deleted
//! with its stream, which is where most of the engine's time goes.

use std::time::{Duration, Instant};

use eventstorm_benches::stats::{median, memory_kib, percentile};
use eventstorm_benches::typical_event;
use eventstorm_core::{EventSink, RawEvent};
use eventstorm_sink::sinks::NullSink;
use eventstorm_sink::streams::{StreamsConfig, StreamsHandle, StreamsSink};
use serde_json::{Value, json};

const DEFS: u64 = 10;
const USERS: u64 = 1_000;
const BATCH: usize = 1_000;
/// Events per stream: the tenth fires it.
const PER_STREAM: u64 = 10;

type Res<T> = Result<T, String>;

/// `--keep N`: `max_events_per_stream` (default 1000, the engine's).
static KEEP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let as_json = args.iter().any(|a| a == "--json");
    if let Some(i) = args.iter().position(|a| a == "--keep") {
        match args.get(i + 1).and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => KEEP.set(n).expect("set once"),
            None => {
                eprintln!("streams_bench: --keep takes a number of events");
                std::process::exit(2);
            }
        }
    }
    match run(quick) {
        Ok(report) if as_json => println!("{report}"),
        Ok(report) => print(&report),
        Err(e) => {
            eprintln!("streams_bench: {e}");
            std::process::exit(1);
        }
    }
}

/// Event `g` of the throughput workload (see the module docs).
fn event(g: u64, users: u64) -> RawEvent {
    let def = g % DEFS;
    let user = (g / DEFS) % users;
    let step = g / (DEFS * users);
    let kind = if step % PER_STREAM == PER_STREAM - 1 {
        "end"
    } else {
        "step"
    };
    let mut doc = typical_event(g).into_document();
    doc.insert("type", format!("app.d{def}.{kind}"));
    if let Ok(body) = doc.get_document_mut("body") {
        body.insert("user", format!("user-{user}"));
    }
    let event = eventstorm_core::Event::from_document(doc).expect("event");
    RawEvent::from_event(&event).expect("encode")
}

/// Events `from..from + n`, in batches.
fn batches(from: u64, n: u64, users: u64) -> Vec<Vec<RawEvent>> {
    let events: Vec<RawEvent> = (from..from + n).map(|g| event(g, users)).collect();
    events.chunks(BATCH).map(<[RawEvent]>::to_vec).collect()
}

/// The engine's configuration: 10 definitions, the given store and
/// expiration.
fn config(store: Value, expiration: &str) -> Res<StreamsConfig> {
    let definitions: Vec<Value> = (0..DEFS)
        .map(|d| {
            json!({
                "name": format!("d{d}"),
                "select": [format!("app.d{d}.*")],
                "group_by": ["body.user"],
                "expiration": expiration,
                "fire_criteria": [{"match": format!("app.d{d}.end")}],
                "fire_actions": ["log"],
                "expire_actions": ["log"],
            })
        })
        .collect();
    serde_json::from_value(json!({
        "store": store,
        "actions": {"log": {"type": "log"}},
        "max_events_per_stream": KEEP.get().copied().unwrap_or(1000),
        "max_action_events": KEEP.get().copied().unwrap_or(1000).min(100),
        "definitions": definitions,
    }))
    .map_err(|e| format!("config: {e}"))
}

fn redb(dir: &tempfile::TempDir, name: &str) -> Value {
    json!({"type": "redb", "path": dir.path().join(name)})
}

/// Writes every batch and flushes: the time taken.
fn timed(sink: &mut dyn EventSink, batches: &[Vec<RawEvent>]) -> Res<Duration> {
    let start = Instant::now();
    for batch in batches {
        sink.write(batch).map_err(|e| e.to_string())?;
    }
    sink.flush().map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}

fn stat(sink: &dyn EventSink, name: &str) -> u64 {
    sink.stats().get(name).unwrap_or(0)
}

fn throughput(quick: bool) -> Res<Value> {
    let rounds = if quick { 3 } else { 5 };
    let per_round: u64 = if quick { 100_000 } else { 200_000 };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut null = NullSink::new();
    let (memory, mem_handle) = StreamsSink::new(config(json!({"type": "memory"}), "last + 1h")?)
        .map_err(|e| e.to_string())?;
    let (file, file_handle) =
        StreamsSink::new(config(redb(&dir, "t.redb"), "last + 1h")?).map_err(|e| e.to_string())?;
    let mut engines: [(StreamsSink, StreamsHandle); 2] =
        [(memory, mem_handle), (file, file_handle)];
    // Warm-up: every group's first stream, untimed.
    let warm = batches(0, DEFS * USERS, USERS);
    for (sink, _) in &mut engines {
        timed(sink, &warm)?;
    }
    let mut next = DEFS * USERS;
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut active = Vec::new();
    for round in 0..rounds {
        let work = batches(next, per_round, USERS);
        next += per_round;
        let n = per_round as f64;
        rates[0].push(n / timed(&mut null, &work)?.as_secs_f64());
        for (i, (sink, handle)) in engines.iter_mut().enumerate() {
            rates[i + 1].push(n / timed(sink, &work)?.as_secs_f64());
            active.push(handle.active_streams());
        }
        eprintln!(
            "round {round}: null {:.0}/s, memory store {:.0}/s, redb {:.0}/s",
            rates[0][round], rates[1][round], rates[2][round]
        );
    }
    let ratio = |i: usize| {
        let r: Vec<f64> = rates[0]
            .iter()
            .zip(&rates[i])
            .map(|(null, x)| x / null)
            .collect();
        median(&r)
    };
    let (memory, file) = (&engines[0].0, &engines[1].0);
    for sink in [memory, file] {
        let expected = DEFS * USERS + rounds as u64 * per_round;
        if stat(sink, "events") != expected {
            return Err(format!("the engine saw {} events", stat(sink, "events")));
        }
    }
    Ok(json!({
        "definitions": DEFS,
        "active_streams_min": active.iter().min(),
        "active_streams_max": active.iter().max(),
        "events_per_round": per_round,
        "rounds": rounds,
        "null_events_per_s": median(&rates[0]),
        "memory_store_events_per_s": median(&rates[1]),
        "redb_events_per_s": median(&rates[2]),
        "memory_store_ratio_to_null": ratio(1),
        "redb_ratio_to_null": ratio(2),
        "memory_store_rounds": rates[1],
        "redb_rounds": rates[2],
        "fired_per_engine": stat(file, "streams_fired"),
        "commits_redb": stat(file, "commits"),
    }))
}

fn memory_per_stream(quick: bool) -> Res<Value> {
    let streams: u64 = if quick { 50_000 } else { 100_000 };
    let users = streams / DEFS;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut sink, handle) =
        StreamsSink::new(config(redb(&dir, "m.redb"), "last + 1h")?).map_err(|e| e.to_string())?;
    // Every event of the first PER_STREAM - 1 steps opens or joins a stream
    // and never fires: one event per stream.
    let work = batches(0, streams, users);
    let before = memory_kib(None).map_or(0, |(rss, _)| rss);
    timed(&mut sink, &work)?;
    let after = memory_kib(None).map_or(0, |(rss, _)| rss);
    drop(work);
    let active = handle.active_streams();
    if active != streams {
        return Err(format!("{active} streams active, {streams} expected"));
    }
    Ok(json!({
        "streams": streams,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_stream": (after.saturating_sub(before) * 1024) / streams,
    }))
}

fn expiry_lag(quick: bool) -> Res<Value> {
    let streams: u64 = if quick { 20_000 } else { 50_000 };
    let users = streams / DEFS;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut sink, handle) =
        StreamsSink::new(config(redb(&dir, "e.redb"), "first + 2s")?).map_err(|e| e.to_string())?;
    let work = batches(0, streams, users);
    let opened = timed(&mut sink, &work)?;
    // The gauge drops before the closing commit; the lags are recorded
    // after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.active_streams() > 0 || (handle.expiry_lags().len() as u64) < streams {
        if Instant::now() > deadline {
            return Err(format!(
                "{} streams still active, {} expired, after 60 s",
                handle.active_streams(),
                handle.expiry_lags().len()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut lags: Vec<u64> = handle.expiry_lags().into_iter().map(u64::from).collect();
    lags.sort_unstable();
    Ok(json!({
        "streams": streams,
        "opened_in_ms": opened.as_millis() as u64,
        "lag_p50_ms": percentile(&lags, 50.0),
        "lag_p99_ms": percentile(&lags, 99.0),
        "lag_max_ms": lags.last(),
    }))
}

fn run(quick: bool) -> Res<Value> {
    // Memory first: memory freed by the other phases would be reused.
    let memory = memory_per_stream(quick)?;
    Ok(json!({
        "memory": memory,
        "throughput": throughput(quick)?,
        "expiry": expiry_lag(quick)?,
    }))
}

fn print(report: &Value) {
    let t = &report["throughput"];
    println!(
        "throughput, {} definitions, {}-{} active streams, batches of {BATCH}:",
        t["definitions"], t["active_streams_min"], t["active_streams_max"]
    );
    println!(
        "  null sink      {:>12.0} events/s",
        t["null_events_per_s"].as_f64().unwrap_or(0.0)
    );
    for (name, key) in [("memory store", "memory_store"), ("redb file", "redb")] {
        println!(
            "  {name:<14} {:>12.0} events/s  ratio to null {:.3}",
            t[format!("{key}_events_per_s")].as_f64().unwrap_or(0.0),
            t[format!("{key}_ratio_to_null")].as_f64().unwrap_or(0.0)
        );
    }
    let m = &report["memory"];
    println!(
        "memory: {} streams, RSS {} -> {} KiB: {} bytes per active stream",
        m["streams"], m["rss_before_kib"], m["rss_after_kib"], m["bytes_per_stream"]
    );
    let e = &report["expiry"];
    println!(
        "expiry: {} streams opened in {} ms, lag p50 {} ms, p99 {} ms, max {} ms",
        e["streams"], e["opened_in_ms"], e["lag_p50_ms"], e["lag_p99_ms"], e["lag_max_ms"]
    );
}
