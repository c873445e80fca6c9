//! cargo run --release -p eventstorm-benches --bin sink_bench -- mongo|cql|file|usage [--quick] [--events N]
//!
//! A database sink against a plain driver loop, same driver, batch size (or
//! concurrency) and server, in one run: `mongo` compares `MongoSink` with an
//! `insert_many` loop of `RawDocumentBuf`s (mongodb crate); `cql` compares
//! `CqlSink` with a loop of prepared inserts, as many in flight as the sink
//! allows (scylla crate); `file` compares the JSON-lines `JsonLinesFileSink`
//! (batches of 1000) with a loop that renders the same lines with the bson
//! crate and serde_json into a buffered file; `usage` compares the usage
//! sink (applying OpenStack notifications) with `MongoSink` storing the same
//! events raw. Runs alternate (sink, plain, sink, plain, ...) and
//! the medians are compared, so the noise of a shared machine does not
//! favour one side. The server is `EVENTSTORM_MONGODB_URI` /
//! `EVENTSTORM_CQL_URI`, or the test server `scripts/services/*.sh start`
//! starts; a test server started here is stopped again however the run ends
//! (one that was already running is left alone). The last line printed is
//! `ratio=X` (sink ÷ plain loop).

mod cql;
mod file;
mod mongo;
mod service;
mod usage;

use std::time::Duration;

use eventstorm_benches::stats::median;
use eventstorm_benches::typical_event;
use eventstorm_core::RawEvent;
use service::Service;

/// Any error, as text.
type Res<T> = Result<T, String>;

/// The two sides of a comparison: the sink, then the plain loop.
type Pair = (Box<dyn Side>, Box<dyn Side>);

/// One side of the comparison, run once over `events`; returns the time taken.
trait Side {
    fn name(&self) -> &'static str;
    fn run(&mut self, round: usize, events: &[RawEvent]) -> Res<Duration>;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("sink_bench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Res<()> {
    let mut target = None;
    let mut quick = false;
    let mut events = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "mongo" | "cql" | "file" | "usage" => target = Some(arg.clone()),
            "--quick" => quick = true,
            "--events" => {
                events = Some(
                    it.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .ok_or("--events needs a number")?,
                )
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected mongo|cql|file|usage [--quick] [--events N])"
                ));
            }
        }
    }
    let target = target.ok_or("say which: sink_bench mongo | cql | file | usage")?;
    let rounds = if quick { 2 } else { 5 };
    if target == "file" {
        let ((sink, plain), _dir) = file::sides()?;
        let n = if quick { 20_000 } else { 200_000 };
        return compare(sink, plain, events.unwrap_or(n), rounds);
    }
    // Dropped last: the server outlives both sides.
    let service;
    if target == "usage" {
        service = Service::from_env_or_start("EVENTSTORM_MONGODB_URI", "mongo.sh")?;
        let _cleanup = usage::Cleanup(service.uri.clone());
        let (sink, plain) = usage::sides(&service.uri);
        let n = events.unwrap_or(if quick { 2_000 } else { 8_000 });
        return compare_events(sink, plain, usage::events(n)?, rounds);
    }
    let ((sink, plain), n) = match target.as_str() {
        "mongo" => {
            service = Service::from_env_or_start("EVENTSTORM_MONGODB_URI", "mongo.sh")?;
            let n = if quick { 5_000 } else { 20_000 };
            (mongo::sides(&service.uri)?, n)
        }
        _ => {
            service = Service::from_env_or_start("EVENTSTORM_CQL_URI", "cql.sh")?;
            let n = if quick { 2_000 } else { 10_000 };
            (cql::sides(&service.uri)?, n)
        }
    };
    compare(sink, plain, events.unwrap_or(n), rounds)
}

fn compare(sink: Box<dyn Side>, plain: Box<dyn Side>, n: usize, rounds: usize) -> Res<()> {
    let events: Vec<RawEvent> = (0..n as u64)
        .map(|i| RawEvent::from_event(&typical_event(i)).map_err(|e| format!("event: {e}")))
        .collect::<Res<_>>()?;
    compare_events(sink, plain, events, rounds)
}

fn compare_events(
    mut sink: Box<dyn Side>,
    mut plain: Box<dyn Side>,
    events: Vec<RawEvent>,
    rounds: usize,
) -> Res<()> {
    let n = events.len();
    // One untimed warm-up of each (connections, first collection/table).
    sink.run(1000, &events[..events.len().min(500)])?;
    plain.run(1000, &events[..events.len().min(500)])?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which side goes first: A B B A A B ...
        let order: [&mut Box<dyn Side>; 2] = if round % 2 == 0 {
            [&mut sink, &mut plain]
        } else {
            [&mut plain, &mut sink]
        };
        for side in order {
            let took = side.run(round, &events)?;
            let rate = n as f64 / took.as_secs_f64();
            println!(
                "round {}: {:<6} {rate:>10.0} events/s ({:.2} s)",
                round + 1,
                side.name(),
                took.as_secs_f64()
            );
            if side.name() == "sink" {
                a.push(rate)
            } else {
                b.push(rate)
            }
        }
    }
    let (ma, mb) = (median(&a), median(&b));
    println!("sink   median {ma:.0} events/s");
    println!("plain  median {mb:.0} events/s");
    println!("ratio={:.3}", if mb > 0.0 { ma / mb } else { 0.0 });
    Ok(())
}
