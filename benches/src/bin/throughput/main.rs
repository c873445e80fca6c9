//! cargo run --release -p eventstorm-benches --bin throughput [-- --quick] [-- --json]
//!
//! Measures, in one run on one machine, plain ZeroMQ and Eventstorm side by
//! side and prints their ratios: raw PUB→SUB and raw PUB→proxy→SUB with the
//! exact frames Eventstorm sends; the router's forwarding rate against the
//! raw proxy; source → router → null sink in drop and block modes over tcp
//! and ipc against the raw routed baseline; `Client::emit` calls per second;
//! latency at a fixed rate; the router's and the sink's memory while a
//! publisher outruns the sink tenfold. Each throughput measurement runs
//! several times, interleaved (A B C A B C ...), and the medians are
//! reported, so a noisy shared machine does not bias one side.
//! See docs/performance.md.

mod memory;
mod pipeline;

use std::time::{Duration, Instant};

use eventstorm_benches::raw::Transport;
use eventstorm_benches::stats::median;
use pipeline::{Middle, Run};
use serde_json::{Map, Value, json};

/// One kind of throughput measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RawDirect(Transport),
    Routed(Middle, Transport),
    EndToEnd { block: bool, transport: Transport },
    Emit { prebuilt: bool },
}

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::RawDirect(t) => format!("raw_pubsub_{}", t.name()),
            Kind::Routed(Middle::Proxy, t) => format!("raw_proxy_{}", t.name()),
            Kind::Routed(Middle::Router, t) => format!("router_{}", t.name()),
            Kind::EndToEnd { block, transport } => format!(
                "e2e_{}_{}",
                if block { "block" } else { "drop" },
                transport.name()
            ),
            Kind::Emit { prebuilt: false } => "client_emit".into(),
            Kind::Emit { prebuilt: true } => "client_send_prebuilt".into(),
        }
    }

    fn run(self, duration: Duration) -> pipeline::Res<Run> {
        match self {
            Kind::RawDirect(t) => pipeline::raw_direct(t, duration),
            Kind::Routed(m, t) => pipeline::routed(m, t, duration),
            Kind::EndToEnd { block, transport } => pipeline::end_to_end(block, transport, duration),
            Kind::Emit { prebuilt } => pipeline::emit_rate(prebuilt, duration),
        }
    }
}

struct Options {
    quick: bool,
    json: bool,
    /// Run only this measurement, once (for profiling, e.g. under callgrind).
    only: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        if let Err(e) = memory::child(&args[1..]) {
            eprintln!("throughput child: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut options = Options {
        quick: false,
        json: false,
        only: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => options.only = args.next().cloned(),
            "--quick" => options.quick = true,
            "--json" => options.json = true,
            "-h" | "--help" => {
                println!(
                    "usage: throughput [--quick] [--json] [--only MEASUREMENT]   (see docs/performance.md)"
                );
                return;
            }
            other => {
                eprintln!("throughput: unknown argument {other:?} (expected --quick, --json)");
                std::process::exit(2);
            }
        }
    }
    if let Err(e) = run(&options) {
        eprintln!("throughput: {e}");
        std::process::exit(1);
    }
}

/// The measured runs of each kind, in plan order.
type Results = Vec<(Kind, Vec<Run>)>;

fn run(options: &Options) -> pipeline::Res<()> {
    let started = Instant::now();
    let (rounds, duration, latency_secs, overload_secs) = if options.quick {
        (1, Duration::from_millis(400), 1.0, 3.0)
    } else {
        (3, Duration::from_millis(1000), 3.0, 8.0)
    };
    let (tcp, ipc) = (Transport::Tcp, Transport::Ipc);
    let plan = [
        Kind::RawDirect(tcp),
        Kind::Routed(Middle::Proxy, tcp),
        Kind::Routed(Middle::Router, tcp),
        Kind::EndToEnd {
            block: true,
            transport: tcp,
        },
        Kind::EndToEnd {
            block: false,
            transport: tcp,
        },
        Kind::RawDirect(ipc),
        Kind::Routed(Middle::Proxy, ipc),
        Kind::Routed(Middle::Router, ipc),
        Kind::EndToEnd {
            block: true,
            transport: ipc,
        },
        Kind::EndToEnd {
            block: false,
            transport: ipc,
        },
        Kind::Emit { prebuilt: false },
        Kind::Emit { prebuilt: true },
    ];
    if let Some(only) = &options.only {
        let kind = plan
            .iter()
            .find(|k| &k.name() == only)
            .ok_or_else(|| format!("no measurement {only:?}"))?;
        let run = kind.run(duration)?;
        println!(
            "{only}: {:.0}/s sent={} received={} lost={} {:?}",
            run.rate, run.sent, run.received, run.lost, run.detail
        );
        return Ok(());
    }
    let mut results: Results = plan.iter().map(|k| (*k, Vec::new())).collect();
    for round in 0..rounds {
        for (kind, runs) in &mut results {
            if !options.json {
                eprint!("\rround {}/{rounds}: {:<24}", round + 1, kind.name());
            }
            runs.push(
                kind.run(duration)
                    .map_err(|e| format!("{}: {e}", kind.name()))?,
            );
        }
    }
    if !options.json {
        eprintln!("\rlatency at 50k events/s ...                ");
    }
    let latency = pipeline::latency(50_000, Duration::from_secs_f64(latency_secs))?;
    if !options.json {
        eprintln!("overload: publisher 10x faster than the sink ...");
    }
    let memory = memory::overload(Duration::from_secs_f64(overload_secs), 20_000)?;
    let elapsed = started.elapsed().as_secs_f64();
    if options.json {
        println!("{}", to_json(&results, &latency, &memory, rounds, elapsed));
    } else {
        print_table(&results, &latency, &memory, rounds, elapsed);
    }
    Ok(())
}

fn med(results: &Results, name: &str) -> f64 {
    results
        .iter()
        .find(|(k, _)| k.name() == name)
        .map_or(0.0, |(_, runs)| {
            median(&runs.iter().map(|r| r.rate).collect::<Vec<_>>())
        })
}

/// The ratios the targets are about: (name, numerator, denominator, target).
const RATIOS: [(&str, &str, &str, f64); 8] = [
    (
        "router_vs_raw_proxy_tcp",
        "router_tcp",
        "raw_proxy_tcp",
        0.9,
    ),
    (
        "router_vs_raw_proxy_ipc",
        "router_ipc",
        "raw_proxy_ipc",
        0.9,
    ),
    (
        "e2e_block_vs_raw_routed_tcp",
        "e2e_block_tcp",
        "raw_proxy_tcp",
        0.8,
    ),
    (
        "e2e_drop_vs_raw_routed_tcp",
        "e2e_drop_tcp",
        "raw_proxy_tcp",
        0.8,
    ),
    (
        "e2e_block_vs_raw_routed_ipc",
        "e2e_block_ipc",
        "raw_proxy_ipc",
        0.8,
    ),
    (
        "e2e_drop_vs_raw_routed_ipc",
        "e2e_drop_ipc",
        "raw_proxy_ipc",
        0.8,
    ),
    (
        "raw_proxy_vs_raw_pubsub_tcp",
        "raw_proxy_tcp",
        "raw_pubsub_tcp",
        0.0,
    ),
    (
        "raw_proxy_vs_raw_pubsub_ipc",
        "raw_proxy_ipc",
        "raw_pubsub_ipc",
        0.0,
    ),
];

fn ratio(results: &Results, num: &str, den: &str) -> f64 {
    let d = med(results, den);
    if d > 0.0 { med(results, num) / d } else { 0.0 }
}

fn to_json(
    results: &Results,
    latency: &pipeline::Latency,
    memory: &memory::Memory,
    rounds: usize,
    elapsed: f64,
) -> Value {
    let mut rates = Map::new();
    for (kind, runs) in results {
        let sent: u64 = runs.iter().map(|r| r.sent).sum();
        let received: u64 = runs.iter().map(|r| r.received).sum();
        let lost: u64 = runs.iter().map(|r| r.lost).sum();
        let mut detail = Map::new();
        for run in runs {
            for (name, value) in &run.detail {
                let total = detail.get(name).and_then(Value::as_u64).unwrap_or(0) + value;
                detail.insert(name.clone(), json!(total));
            }
        }
        rates.insert(
            kind.name(),
            json!({
                "median_per_s": med(results, &kind.name()).round(),
                "runs_per_s": runs.iter().map(|r| r.rate.round()).collect::<Vec<_>>(),
                "sent": sent,
                "received": received,
                "lost": lost,
                "accounted": runs.iter().all(|r| r.accounted),
                "loss_detail": detail,
            }),
        );
    }
    let mut ratios = Map::new();
    for (name, num, den, target) in RATIOS {
        let r = ratio(results, num, den);
        ratios.insert(
            name.into(),
            json!({ "ratio": (r * 1000.0).round() / 1000.0, "target": target, "met": target == 0.0 || r >= target }),
        );
    }
    json!({
        "rounds": rounds,
        "elapsed_s": (elapsed * 10.0).round() / 10.0,
        "event_bytes": eventstorm_benches::typical_event(0).to_bytes().len(),
        "ratios": ratios,
        "rates": rates,
        "emit_target_met": med(results, "client_emit") >= 1_000_000.0,
        "latency": {
            "rate_per_s": latency.rate,
            "samples": latency.samples,
            "p50_us": latency.p50_us,
            "p99_us": latency.p99_us,
            "max_us": latency.max_us,
        },
        "overload_memory": {
            "seconds": memory.seconds,
            "publish_rate_per_s": memory.publish_rate,
            "sink_rate_per_s": memory.sink_rate,
            "emitted": memory.emitted,
            "router_peak_kib": memory.router_peak_kib,
            "router_mid_kib": memory.router_mid_kib,
            "router_end_kib": memory.router_end_kib,
            "sink_peak_kib": memory.sink_peak_kib,
            "sink_mid_kib": memory.sink_mid_kib,
            "sink_end_kib": memory.sink_end_kib,
            "bounded": memory.bounded(),
            "router_stats": memory.router_stats,
            "sink_stats": memory.sink_stats,
        },
    })
}

fn print_table(
    results: &Results,
    latency: &pipeline::Latency,
    memory: &memory::Memory,
    rounds: usize,
    elapsed: f64,
) {
    println!(
        "Eventstorm throughput: {rounds} interleaved round(s), medians; event {} bytes; {elapsed:.0} s\n",
        eventstorm_benches::typical_event(0).to_bytes().len()
    );
    println!("{:<34} {:>8} {:>7}  met", "ratio", "value", "target");
    for (name, num, den, target) in RATIOS {
        let r = ratio(results, num, den);
        let (t, met) = if target > 0.0 {
            (
                format!("{target:.2}"),
                if r >= target { "yes" } else { "NO" },
            )
        } else {
            ("-".to_string(), "")
        };
        println!("{name:<34} {r:>8.3} {t:>7}  {met}");
    }
    println!(
        "\n{:<22} {:>12} {:>12} {:>12} {:>10} {:>9}",
        "measurement", "median/s", "sent", "received", "lost", "accounted"
    );
    for (kind, runs) in results {
        let sum = |f: fn(&Run) -> u64| runs.iter().map(f).sum::<u64>();
        println!(
            "{:<22} {:>12.0} {:>12} {:>12} {:>10} {:>9}",
            kind.name(),
            med(results, &kind.name()),
            sum(|r| r.sent),
            sum(|r| r.received),
            sum(|r| r.lost),
            if runs.iter().all(|r| r.accounted) {
                "yes"
            } else {
                "NO"
            }
        );
        for run in runs.iter().take(1) {
            let nonzero: Vec<String> = run
                .detail
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            if !nonzero.is_empty() {
                println!("{:<22}   first run: {}", "", nonzero.join(" "));
            }
        }
    }
    let emit = med(results, "client_emit");
    println!(
        "\nClient::emit: {emit:.0} calls/s from one thread (target 1M: {})",
        if emit >= 1_000_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "latency at {} events/s (tcp, router, block mode, batches of 1): p50 {:.0} us, p99 {:.0} us, max {:.0} us ({} samples)",
        latency.rate, latency.p50_us, latency.p99_us, latency.max_us, latency.samples
    );
    println!(
        "overload {:.0} s, publisher {}/s vs sink {}/s: router RSS peak {} KiB (mid {} -> end {}), sink RSS peak {} KiB (mid {} -> end {}): {}",
        memory.seconds,
        memory.publish_rate,
        memory.sink_rate,
        memory.router_peak_kib,
        memory.router_mid_kib,
        memory.router_end_kib,
        memory.sink_peak_kib,
        memory.sink_mid_kib,
        memory.sink_end_kib,
        if memory.bounded() { "bounded" } else { "GREW" }
    );
    println!("  router: {}", memory.router_stats);
    println!("  sink:   {}", memory.sink_stats);
}
