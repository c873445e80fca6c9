//! cargo run --release -p eventstorm-benches --bin throughput [-- --quick] [-- --json]
//!
//! Measures, in one run on one machine, plain ZeroMQ and Eventstorm side by
//! side and prints their ratios: raw PUB→SUB and raw PUB→proxy→SUB with the
//! exact frames Eventstorm sends; the router's forwarding rate against the
//! raw proxy; source → router → null sink in drop and block modes over tcp
//! and ipc against the raw routed baseline; `Client::emit` calls per second;
//! latency at a fixed rate; the router's and the sink's memory while a
//! publisher outruns the sink tenfold; with a libzmq that has CURVE
//! (`scripts/cargo-curve.sh run --release -p eventstorm-benches --bin
//! throughput`), the router with CURVE on every hop against the plain
//! router. Each throughput measurement runs
//! several times, interleaved (A B C A B C ...); a ratio is the median of the
//! ratios within each round (measured seconds apart), so a noisy shared
//! machine does not bias one side.
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
    /// `drop`: the raw publisher drops (and counts) instead of waiting.
    Routed(Middle, Transport, bool),
    /// `batch`: the client's and the router output's `batch_events`
    /// (`None`: the defaults, which batch).
    EndToEnd {
        block: bool,
        transport: Transport,
        batch: Option<usize>,
    },
    Emit {
        prebuilt: bool,
        /// The client's `batch_events` (`None`: the default).
        batch: Option<usize>,
    },
    /// Raw sends of the pre-encoded event, the baseline of `Emit`.
    RawSend,
    /// The router with CURVE on every hop (needs a libzmq with CURVE).
    RouterCurve(Transport),
}

impl Kind {
    fn name(self) -> String {
        match self {
            Kind::RawDirect(t) => format!("raw_pubsub_{}", t.name()),
            Kind::Routed(Middle::Proxy, t, false) => format!("raw_proxy_{}", t.name()),
            Kind::Routed(Middle::Proxy, t, true) => format!("raw_proxy_drop_{}", t.name()),
            Kind::Routed(Middle::Router, t, false) => format!("router_{}", t.name()),
            Kind::Routed(Middle::Router, t, true) => format!("router_drop_{}", t.name()),
            Kind::Routed(Middle::RouterUnbatched, t, false) => {
                format!("router_unbatched_{}", t.name())
            }
            Kind::Routed(Middle::RouterUnbatched, t, true) => {
                format!("router_unbatched_drop_{}", t.name())
            }
            Kind::EndToEnd {
                block,
                transport,
                batch,
            } => format!(
                "e2e_{}{}_{}",
                if batch.is_some() { "unbatched_" } else { "" },
                if block { "block" } else { "drop" },
                transport.name()
            ),
            Kind::Emit {
                prebuilt: false,
                batch,
            } => format!(
                "client_emit{}",
                if batch.is_some() { "_unbatched" } else { "" }
            ),
            Kind::Emit {
                prebuilt: true,
                batch,
            } => format!(
                "client_send_prebuilt{}",
                if batch.is_some() { "_unbatched" } else { "" }
            ),
            Kind::RawSend => "raw_send".into(),
            Kind::RouterCurve(t) => format!("router_curve_{}", t.name()),
        }
    }

    /// Whether the measurement runs in block mode end to end, so that any
    /// loss is a failure.
    fn lossless(self) -> bool {
        match self {
            Kind::RawDirect(_) => true,
            Kind::Routed(_, _, drop) => !drop,
            Kind::RouterCurve(_) => true,
            Kind::EndToEnd { block, .. } => block,
            // `emit` runs in drop mode, but in bursts that fit its queue.
            Kind::Emit { .. } => false,
            Kind::RawSend => true,
        }
    }

    fn run(self, duration: Duration) -> pipeline::Res<Run> {
        match self {
            Kind::RawDirect(t) => pipeline::raw_direct(t, duration),
            Kind::Routed(m, t, drop) => pipeline::routed(m, t, drop, duration),
            Kind::EndToEnd {
                block,
                transport,
                batch,
            } => pipeline::end_to_end(block, transport, batch, duration),
            Kind::Emit { prebuilt, batch } => pipeline::emit_rate(prebuilt, batch, duration),
            Kind::RawSend => pipeline::raw_send_rate(duration),
            Kind::RouterCurve(t) => pipeline::routed_curve(t, duration),
        }
    }
}

/// `batch_events = 1` at the client and the router's output: one event per
/// message (the `*_unbatched*` measurements).
const UNBATCHED: Option<usize> = Some(1);

struct Options {
    quick: bool,
    json: bool,
    /// Run only these measurements (comma-separated; for profiling, e.g.
    /// under callgrind, or to compare a few).
    only: Option<String>,
    /// Rounds instead of the default (3, or 1 with `--quick`).
    rounds: Option<usize>,
}

const USAGE: &str = "usage: throughput [--quick] [--json] [--only NAME[,NAME...]] [--rounds N]   (see docs/performance.md)";

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
        rounds: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--only" => options.only = args.next().cloned(),
            "--quick" => options.quick = true,
            "--json" => options.json = true,
            "--rounds" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => options.rounds = Some(n),
                _ => {
                    eprintln!("throughput: --rounds needs a number above 0\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("throughput: unknown argument {other:?}\n{USAGE}");
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
    // The overload phase must outlast the filling of the router's queue
    // (up to `hwm` batches of 8 KiB: about 2.5 s here) by as much again, or
    // its second half still grows by design and "bounded" says nothing.
    let (rounds, duration, latency_secs, overload_secs) = if options.quick {
        (3, Duration::from_millis(300), 1.0, 6.0)
    } else {
        (3, Duration::from_millis(1000), 3.0, 8.0)
    };
    let rounds = options.rounds.unwrap_or(rounds);
    let (tcp, ipc) = (Transport::Tcp, Transport::Ipc);
    let mut plan = vec![
        // The raw proxy sits between the two measurements compared with it.
        Kind::RawDirect(tcp),
        Kind::Routed(Middle::Router, tcp, false),
        Kind::Routed(Middle::Proxy, tcp, false),
        Kind::Routed(Middle::RouterUnbatched, tcp, false),
        Kind::EndToEnd {
            block: true,
            transport: tcp,
            batch: None,
        },
        // The same with one event per message at the client and the router.
        Kind::EndToEnd {
            block: true,
            transport: tcp,
            batch: UNBATCHED,
        },
        Kind::Routed(Middle::Proxy, tcp, true),
        Kind::EndToEnd {
            block: false,
            transport: tcp,
            batch: None,
        },
        // The raw proxy sits between the two measurements compared with it.
        Kind::RawDirect(ipc),
        Kind::Routed(Middle::Router, ipc, false),
        Kind::Routed(Middle::Proxy, ipc, false),
        Kind::EndToEnd {
            block: true,
            transport: ipc,
            batch: None,
        },
        Kind::Routed(Middle::Proxy, ipc, true),
        Kind::EndToEnd {
            block: false,
            transport: ipc,
            batch: None,
        },
        Kind::RawSend,
        Kind::Emit {
            prebuilt: false,
            batch: None,
        },
        Kind::Emit {
            prebuilt: true,
            batch: None,
        },
        Kind::Emit {
            prebuilt: false,
            batch: UNBATCHED,
        },
    ];
    if eventstorm_core::transport::curve_available() {
        // Right after the plain router it is compared with.
        plan.insert(2, Kind::RouterCurve(tcp));
    } else if !options.json {
        eprintln!("{CURVE_MISSING}");
    }
    if let Some(only) = &options.only {
        let mut kinds = Vec::new();
        for name in only.split(',') {
            let kind = plan.iter().find(|k| k.name() == name).ok_or_else(|| {
                let names: Vec<String> = plan.iter().map(|k| k.name()).collect();
                format!(
                    "no measurement {name:?} (expected one of {})",
                    names.join(", ")
                )
            })?;
            kinds.push(*kind);
        }
        for round in 0..options.rounds.unwrap_or(1) {
            for kind in &kinds {
                let run = kind.run(duration)?;
                println!(
                    "{} #{}: {:.0}/s {:.2} cpu-us/event sent={} received={} lost={} missed_at_join={} accounted={} {:?}",
                    kind.name(),
                    round + 1,
                    run.rate,
                    run.cpu_us_per_event,
                    run.sent,
                    run.received,
                    run.lost,
                    run.missed_at_join,
                    run.accounted,
                    run.detail
                );
            }
        }
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

fn runs<'a>(results: &'a Results, name: &str) -> &'a [Run] {
    results
        .iter()
        .find(|(k, _)| k.name() == name)
        .map_or(&[], |(_, runs)| runs.as_slice())
}

fn med(results: &Results, name: &str) -> f64 {
    median(
        &runs(results, name)
            .iter()
            .map(|r| r.rate)
            .collect::<Vec<_>>(),
    )
}

fn med_cpu(results: &Results, name: &str) -> f64 {
    median(
        &runs(results, name)
            .iter()
            .map(|r| r.cpu_us_per_event)
            .collect::<Vec<_>>(),
    )
}

/// The ratios the targets are about: (name, numerator, denominator, target).
/// Drop mode is compared with the raw pipeline in drop mode: in both, the
/// sender never waits, so it keeps a core busy that the stages delivering
/// events would otherwise use. Its ratio to the lossless raw pipeline is
/// shown too, without a target. The targets are about the defaults (the
/// client and the router's outputs batch); the same pipelines with one
/// event per message (`*_unbatched*`) are shown beside them, without one.
const RATIOS: [(&str, &str, &str, f64); 14] = [
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
        "router_unbatched_vs_raw_proxy_tcp",
        "router_unbatched_tcp",
        "raw_proxy_tcp",
        0.0,
    ),
    (
        "e2e_unbatched_block_vs_raw_routed_tcp",
        "e2e_unbatched_block_tcp",
        "raw_proxy_tcp",
        0.0,
    ),
    (
        "e2e_drop_vs_raw_routed_drop_tcp",
        "e2e_drop_tcp",
        "raw_proxy_drop_tcp",
        0.8,
    ),
    (
        "e2e_block_vs_raw_routed_ipc",
        "e2e_block_ipc",
        "raw_proxy_ipc",
        0.8,
    ),
    (
        "e2e_drop_vs_raw_routed_drop_ipc",
        "e2e_drop_ipc",
        "raw_proxy_drop_ipc",
        0.8,
    ),
    (
        "e2e_drop_vs_raw_routed_tcp",
        "e2e_drop_tcp",
        "raw_proxy_tcp",
        0.0,
    ),
    (
        "e2e_drop_vs_raw_routed_ipc",
        "e2e_drop_ipc",
        "raw_proxy_ipc",
        0.0,
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
    ("client_emit_vs_raw_send", "client_emit", "raw_send", 0.0),
    (
        "client_emit_unbatched_vs_raw_send",
        "client_emit_unbatched",
        "raw_send",
        0.0,
    ),
];

/// The CURVE ratio: the router with CURVE on every hop ÷ the plain router,
/// over tcp, in the same run. Measured only when libzmq has CURVE.
const CURVE_RATIO: (&str, &str, &str) = (
    "router_curve_vs_router_tcp",
    "router_curve_tcp",
    "router_tcp",
);

/// Printed instead of the CURVE ratio when libzmq has no CURVE.
const CURVE_MISSING: &str = "router_curve_vs_router_tcp: not measured, this libzmq has no CURVE; \
     run `scripts/cargo-curve.sh run --release -p eventstorm-benches --bin throughput` for it";

/// Events lost in lossless (block-mode) measurements, over all runs: must be 0.
fn block_mode_lost(results: &Results) -> u64 {
    results
        .iter()
        .filter(|(kind, _)| kind.lossless())
        .flat_map(|(_, runs)| runs.iter().map(|r| r.lost))
        .sum()
}

/// The median over rounds of `num ÷ den` within each round: the two were
/// measured seconds apart, so a slow spell of the machine hits both.
fn ratio(results: &Results, num: &str, den: &str) -> f64 {
    let per_round: Vec<f64> = runs(results, num)
        .iter()
        .zip(runs(results, den))
        .filter(|(_, d)| d.rate > 0.0)
        .map(|(n, d)| n.rate / d.rate)
        .collect();
    median(&per_round)
}

/// The per-round values of [`ratio`], for the report.
fn ratio_rounds(results: &Results, num: &str, den: &str) -> Vec<f64> {
    runs(results, num)
        .iter()
        .zip(runs(results, den))
        .map(|(n, d)| {
            if d.rate > 0.0 {
                (n.rate / d.rate * 1000.0).round() / 1000.0
            } else {
                0.0
            }
        })
        .collect()
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
        let missed_at_join: u64 = runs.iter().map(|r| r.missed_at_join).sum();
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
                "cpu_us_per_event": (med_cpu(results, &kind.name()) * 100.0).round() / 100.0,
                "sent": sent,
                "received": received,
                "lost": lost,
                "missed_at_join": missed_at_join,
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
            json!({
                "ratio": (r * 1000.0).round() / 1000.0,
                "rounds": ratio_rounds(results, num, den),
                "of": [num, den],
                "target": target,
                "met": target == 0.0 || r >= target,
            }),
        );
    }
    let (name, num, den) = CURVE_RATIO;
    let curve = if runs(results, num).is_empty() {
        json!({ "ratio": null, "note": CURVE_MISSING })
    } else {
        json!({
            "ratio": (ratio(results, num, den) * 1000.0).round() / 1000.0,
            "rounds": ratio_rounds(results, num, den),
            "of": [num, den],
        })
    };
    ratios.insert(name.into(), curve);
    json!({
        "rounds": rounds,
        "elapsed_s": (elapsed * 10.0).round() / 10.0,
        "event_bytes": eventstorm_benches::typical_event(0).to_bytes().len(),
        "ratios": ratios,
        "rates": rates,
        "emit_target_met": med(results, "client_emit") >= 1_000_000.0,
        "block_mode_lost": block_mode_lost(results),
        "block_mode_lossless": block_mode_lost(results) == 0,
        "all_accounted": results.iter().all(|(_, runs)| runs.iter().all(|r| r.accounted)),
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
        "Eventstorm throughput: {rounds} interleaved round(s), medians (ratios: median of the per-round ratios); event {} bytes; {elapsed:.0} s\n",
        eventstorm_benches::typical_event(0).to_bytes().len()
    );
    println!(
        "{:<38} {:>8} {:>7}  {:<4} per round",
        "ratio", "value", "target", "met"
    );
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
        let rounds: Vec<String> = ratio_rounds(results, num, den)
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect();
        println!("{name:<38} {r:>8.3} {t:>7}  {met:<4} {}", rounds.join(" "));
    }
    let (name, num, den) = CURVE_RATIO;
    if runs(results, num).is_empty() {
        println!("{CURVE_MISSING}");
    } else {
        let r = ratio(results, num, den);
        let rounds: Vec<String> = ratio_rounds(results, num, den)
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect();
        println!(
            "{name:<38} {r:>8.3} {:>7}  {:<4} {}",
            "-",
            "",
            rounds.join(" ")
        );
    }
    println!(
        "\n{:<24} {:>12} {:>9} {:>12} {:>12} {:>10} {:>10} {:>9}",
        "measurement", "median/s", "cpu-us/ev", "sent", "received", "lost", "at_join", "accounted"
    );
    for (kind, runs) in results {
        let sum = |f: fn(&Run) -> u64| runs.iter().map(f).sum::<u64>();
        println!(
            "{:<24} {:>12.0} {:>9.2} {:>12} {:>12} {:>10} {:>10} {:>9}",
            kind.name(),
            med(results, &kind.name()),
            med_cpu(results, &kind.name()),
            sum(|r| r.sent),
            sum(|r| r.received),
            sum(|r| r.lost),
            sum(|r| r.missed_at_join),
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
                println!("{:<24}   first run: {}", "", nonzero.join(" "));
            }
        }
    }
    let lost = block_mode_lost(results);
    println!(
        "\nblock mode (lossless) runs: {lost} events lost ({})",
        if lost == 0 {
            "zero loss: met"
        } else {
            "NOT met"
        }
    );
    let emit = med(results, "client_emit");
    println!(
        "Client::emit: {emit:.0} calls/s from one thread (target 1M: {}); a raw send of the \
         pre-encoded event on this machine: {:.0}/s (emit ÷ raw send {:.2})",
        if emit >= 1_000_000.0 {
            "met"
        } else {
            "NOT met"
        },
        med(results, "raw_send"),
        ratio(results, "client_emit", "raw_send"),
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
