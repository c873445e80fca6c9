//! cargo run --release -p eventstorm-benches --bin collect_vs_rsyslog [-- --quick] [--rounds N] [--lines N] [--threads]
//!
//! Eventstorm against rsyslog on the same input, interleaved, on this
//! machine: syslog over TCP (RFC 5424, octet counting, one connection) to a
//! JSON-lines file, and an nginx access log followed to a JSON-lines file.
//! Prints lines/s, CPU seconds per million lines (every process of the
//! pipeline, all threads, from `/proc`) and the ratios, and fails when a
//! line is missing from an output. See docs/performance.md.
//!
//! rsyslog is Debian's package, unpacked into `.test-env/rsyslog` by
//! `scripts/services/rsyslog.sh` (never installed system-wide, never run as
//! the system daemon: each rsyslogd here has its own configuration, pid file
//! and work directory). The Eventstorm binaries are built in release mode
//! first (`cargo build --release`).

mod pipelines;
mod procs;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eventstorm_benches::stats::median;
use pipelines::{EsKind, Input, Pipeline, RsyslogKind};

pub(crate) type Res<T> = Result<T, String>;

/// The pipelines, in the order each round runs them.
const PIPELINES: [&str; 6] = [
    "rsyslog",
    "rsyslog_sd",
    "es_direct",
    "es_routed",
    "rsyslog_nginx",
    "es_nginx",
];

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("collect_vs_rsyslog: {e}");
        std::process::exit(1);
    }
}

#[derive(Debug)]
struct Options {
    rounds: usize,
    lines: u64,
    nginx_lines: u64,
    threads: bool,
    /// Eventstorm's `batch_events` at the source and the router's output.
    batch: u64,
    /// Eventstorm's `batch_bytes` there (64 KiB: 8 KiB, the default, costs
    /// the routed pipeline about 1.5 µs of CPU per line more).
    batch_bytes: u64,
    /// Only the pipelines of these names (all when empty).
    only: Vec<String>,
}

fn options(args: &[String]) -> Res<Options> {
    let mut o = Options {
        rounds: 5,
        lines: 1_000_000,
        nginx_lines: 300_000,
        threads: false,
        batch: 256,
        batch_bytes: 65_536,
        only: Vec::new(),
    };
    let mut it = args.iter();
    let number = |v: Option<&String>, what: &str| {
        v.and_then(|n| n.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or(format!("{what} needs a positive number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => {
                o.rounds = 3;
                o.lines = 200_000;
                o.nginx_lines = 100_000;
            }
            "--rounds" => o.rounds = number(it.next(), "--rounds")? as usize,
            "--lines" => {
                o.lines = number(it.next(), "--lines")?;
                o.nginx_lines = o.lines.min(o.nginx_lines);
            }
            "--threads" => o.threads = true,
            "--batch" => o.batch = number(it.next(), "--batch")?,
            "--batch-bytes" => o.batch_bytes = number(it.next(), "--batch-bytes")?,
            "--only" => {
                let names = it.next().ok_or("--only needs pipeline names")?;
                o.only = names.split(',').map(str::to_owned).collect();
                if let Some(bad) = o.only.iter().find(|n| !PIPELINES.contains(&n.as_str())) {
                    return Err(format!(
                        "--only: no pipeline {bad:?} (expected some of {})",
                        PIPELINES.join(",")
                    ));
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --quick, --rounds N, --lines N, --threads, --batch N, --batch-bytes N, --only NAME,...)"
                ));
            }
        }
    }
    Ok(o)
}

/// The unpacked rsyslogd (installed by the service script when missing).
fn rsyslogd() -> Res<String> {
    let out = std::process::Command::new("bash")
        .arg(format!("{ROOT}/scripts/services/rsyslog.sh"))
        .arg("bin")
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("running rsyslog.sh: {e}"))?;
    if !out.status.success() {
        return Err("scripts/services/rsyslog.sh could not install rsyslog".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds the three binaries in release mode; returns their directory.
fn build_binaries() -> Res<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in ["eventstorm-source", "eventstorm-router", "eventstorm-sink"] {
        let status = std::process::Command::new(&cargo)
            .current_dir(ROOT)
            .args([
                "build",
                "--release",
                "-p",
                package,
                "--features",
                "cli",
                "--bin",
                package,
            ])
            .status()
            .map_err(|e| format!("cargo build: {e}"))?;
        if !status.success() {
            return Err(format!("cargo build --release of {package} failed"));
        }
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no directory for this executable")?;
    Ok(dir.to_path_buf())
}

/// `n` RFC 5424 messages, octet counted, as one buffer.
fn syslog_input(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 200);
    let mut msg = String::new();
    for i in 0..n {
        msg.clear();
        use std::fmt::Write as _;
        let _ = write!(
            msg,
            "<{pri}>1 2026-03-01T10:{m:02}:{s:02}.{ms:03}Z web-{h:02}.example.net app-{a} {pid} ID{id} \
             [origin@32473 ip=\"10.0.{h}.{a}\" seq=\"{i}\"] request {i} served in {t} ms for user{u}",
            pri = 128 + 6 + (i % 2),
            m = (i / 60_000) % 60,
            s = (i / 1000) % 60,
            ms = i % 1000,
            h = i % 50,
            a = i % 7,
            pid = 1000 + i % 90,
            id = i % 100,
            t = i % 997,
            u = i % 5000,
        );
        let _ = write!(out, "{} {msg}", msg.len());
    }
    out
}

/// `n` nginx access log lines (the `combined` format).
fn nginx_input(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n as usize * 200);
    for i in 0..n {
        let _ = writeln!(
            out,
            "10.1.{}.{} - {} [01/Mar/2026:10:{:02}:{:02} +0100] \"GET /api/v1/items/{i}?page={} HTTP/1.1\" {} {} \
             \"https://shop.example.net/list\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\"",
            i % 200,
            i % 250,
            if i % 3 == 0 { "alice" } else { "-" },
            (i / 60_000) % 60,
            (i / 1000) % 60,
            i % 20,
            [200, 200, 200, 304, 404, 500][(i % 6) as usize],
            i % 50_000,
        );
    }
    out
}

/// Lines in a pipeline's output file so far (its size is remembered, so
/// that each check reads only what was added).
#[derive(Debug, Default)]
struct LineCount {
    offset: u64,
    lines: u64,
}

impl LineCount {
    fn update(&mut self, path: &Path) -> Res<u64> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(self.lines);
        };
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(self.lines);
            }
            self.offset += n as u64;
            self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
}

/// One pipeline, with its counts and the measurements of each round.
#[derive(Debug)]
struct Runner {
    pipeline: Pipeline,
    count: LineCount,
    expected: u64,
    rates: Vec<f64>,
    cpu_per_m: Vec<f64>,
    /// Per process and thread: CPU seconds of the last measured round.
    threads: BTreeMap<String, f64>,
}

impl Runner {
    fn new(pipeline: Pipeline) -> Runner {
        Runner {
            pipeline,
            count: LineCount::default(),
            expected: 0,
            rates: Vec::new(),
            cpu_per_m: Vec::new(),
            threads: BTreeMap::new(),
        }
    }

    fn cpu(&self) -> f64 {
        self.pipeline
            .procs
            .iter()
            .map(|p| procs::cpu_secs(p.pid()))
            .sum()
    }

    fn thread_snapshot(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for p in &self.pipeline.procs {
            let total = procs::cpu_secs(p.pid());
            let threads = procs::thread_secs(p.pid());
            let live: f64 = threads.values().sum();
            for (name, t) in threads {
                out.insert(format!("{}/{name}", p.name), t);
            }
            // Threads that have ended (a closed connection's).
            out.insert(format!("{}/(threads that ended)", p.name), total - live);
        }
        out
    }

    /// Feeds `lines` lines (`data`) to the pipeline and waits until all have
    /// been written; returns the elapsed time and the CPU seconds used.
    fn feed(&mut self, data: &[u8], lines: u64) -> Res<(Duration, f64)> {
        for p in &mut self.pipeline.procs {
            p.check_running(
                Path::new(&self.pipeline.output)
                    .parent()
                    .unwrap_or(Path::new(".")),
            )?;
        }
        // Empty the output between rounds (disk): the writers append.
        if self.expected > 0 && self.count.update(&self.pipeline.output)? == self.expected {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.pipeline.output)
                .and_then(|f| f.set_len(0))
                .map_err(|e| format!("truncating {}: {e}", self.pipeline.output.display()))?;
            self.count = LineCount::default();
            self.expected = 0;
        }
        self.expected += lines;
        let cpu0 = self.cpu();
        let start = Instant::now();
        match &self.pipeline.input {
            Input::Tcp(port) => {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", *port))
                    .map_err(|e| format!("{}: connecting: {e}", self.pipeline.name))?;
                s.write_all(data)
                    .map_err(|e| format!("{}: sending: {e}", self.pipeline.name))?;
            }
            Input::File(path) => {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| e.to_string())?;
                f.write_all(data).map_err(|e| e.to_string())?;
            }
        }
        let mut last = (self.count.lines, Instant::now());
        loop {
            let n = self.count.update(&self.pipeline.output)?;
            if n >= self.expected {
                break;
            }
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(20) {
                return Err(format!(
                    "{}: {n} of {} lines arrived, none for 20 s: lines lost (logs in {})",
                    self.pipeline.name,
                    self.expected,
                    self.pipeline
                        .output
                        .parent()
                        .unwrap_or(Path::new("."))
                        .display()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let elapsed = start.elapsed();
        if self.count.lines != self.expected {
            return Err(format!(
                "{}: {} lines written, {} expected",
                self.pipeline.name, self.count.lines, self.expected
            ));
        }
        Ok((elapsed, self.cpu() - cpu0))
    }

    fn measure(&mut self, data: &[u8], lines: u64, threads: bool) -> Res<()> {
        let before = threads.then(|| self.thread_snapshot());
        let (elapsed, cpu) = self.feed(data, lines)?;
        self.rates.push(lines as f64 / elapsed.as_secs_f64());
        self.cpu_per_m.push(cpu / lines as f64 * 1e6);
        if let Some(before) = before {
            self.threads = self
                .thread_snapshot()
                .into_iter()
                .map(|(k, v)| {
                    let d = v - before.get(&k).copied().unwrap_or(0.0);
                    (k, d)
                })
                .collect();
        }
        Ok(())
    }
}

fn run(args: &[String]) -> Res<()> {
    let o = options(args)?;
    let rsyslogd = rsyslogd()?;
    let bin_dir = build_binaries()?;
    let dir = std::env::temp_dir().join(format!("eventstorm-vs-rsyslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = compare(&o, &rsyslogd, &bin_dir, &dir);
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!(
            "collect_vs_rsyslog: logs and outputs kept in {}",
            dir.display()
        );
    }
    result
}

fn compare(o: &Options, rsyslogd: &str, bin_dir: &Path, dir: &Path) -> Res<()> {
    eprintln!(
        "generating {} syslog messages and {} nginx lines",
        o.lines, o.nginx_lines
    );
    let syslog = syslog_input(o.lines);
    let nginx = nginx_input(o.nginx_lines);
    let warm_syslog = syslog_input(o.lines / 10);
    let warm_nginx = nginx_input(o.nginx_lines / 10);
    let wanted = PIPELINES
        .iter()
        .filter(|name| o.only.is_empty() || o.only.iter().any(|n| n == *name));
    let mut runners = Vec::new();
    for &name in wanted {
        let es = |kind, routed| {
            pipelines::eventstorm(name, bin_dir, dir, kind, routed, (o.batch, o.batch_bytes))
        };
        let pipeline = match name {
            "rsyslog" => {
                pipelines::rsyslog(name, rsyslogd, dir, RsyslogKind::Tcp { sd_object: false })
            }
            "rsyslog_sd" => {
                pipelines::rsyslog(name, rsyslogd, dir, RsyslogKind::Tcp { sd_object: true })
            }
            "es_direct" => es(EsKind::Syslog, false),
            "es_routed" => es(EsKind::Syslog, true),
            "rsyslog_nginx" => pipelines::rsyslog(name, rsyslogd, dir, RsyslogKind::Nginx),
            _ => es(EsKind::Nginx, false),
        }?;
        runners.push(Runner::new(pipeline));
    }
    eprintln!("warming up (connections, subscriptions, caches)");
    for r in &mut runners {
        let (data, n) = match r.pipeline.input {
            Input::Tcp(_) => (&warm_syslog, o.lines / 10),
            Input::File(_) => (&warm_nginx, o.nginx_lines / 10),
        };
        r.feed(data, n)?;
    }
    for round in 1..=o.rounds {
        for r in &mut runners {
            let (data, n) = match r.pipeline.input {
                Input::Tcp(_) => (&syslog, o.lines),
                Input::File(_) => (&nginx, o.nginx_lines),
            };
            r.measure(data, n, o.threads)?;
            eprintln!(
                "round {round}: {:<14} {:>9.0} lines/s  {:>6.2} CPU s per 1M lines",
                r.pipeline.name,
                r.rates.last().copied().unwrap_or(0.0),
                r.cpu_per_m.last().copied().unwrap_or(0.0)
            );
        }
    }
    report(o, &runners);
    Ok(())
}

fn report(o: &Options, runners: &[Runner]) {
    println!(
        "\n{} rounds, interleaved; {} syslog messages (one TCP connection, octet counting), {} nginx lines per round; every line arrived in every run",
        o.rounds, o.lines, o.nginx_lines
    );
    println!(
        "{:<14} {:>12} {:>16}",
        "pipeline", "lines/s", "CPU s / 1M lines"
    );
    for r in runners {
        println!(
            "{:<14} {:>12.0} {:>16.2}",
            r.pipeline.name,
            median(&r.rates),
            median(&r.cpu_per_m)
        );
    }
    let by = |name: &str| runners.iter().find(|r| r.pipeline.name == name);
    let ratios = [
        ("es_direct", "rsyslog", 1.2),
        ("es_routed", "rsyslog", 1.0),
        ("es_routed", "rsyslog_sd", 1.0),
        ("es_nginx", "rsyslog_nginx", 1.0),
    ];
    println!("\nratios (median of per-round ratios; rate: higher is better, CPU: lower is better)");
    for (a, b, target) in ratios {
        let (Some(a), Some(b)) = (by(a), by(b)) else {
            continue;
        };
        let per_round =
            |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(x, y)| x / y).collect() };
        let rate = per_round(&a.rates, &b.rates);
        let cpu = per_round(&a.cpu_per_m, &b.cpu_per_m);
        let rounds: Vec<String> = rate.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{} / {}: rate {:.2} (rounds {}; target >= {target}), CPU per line {:.2}x",
            a.pipeline.name,
            b.pipeline.name,
            median(&rate),
            rounds.join(" "),
            median(&cpu)
        );
    }
    if o.threads {
        println!(
            "\nCPU per line by thread, last round (µs; threads of one name added up; libzmq's I/O thread has the name of the thread that started it; (threads that ended): the syslog TCP connection's)"
        );
        for r in runners {
            let lines = match r.pipeline.input {
                Input::Tcp(_) => o.lines,
                Input::File(_) => o.nginx_lines,
            } as f64;
            for (name, secs) in &r.threads {
                if *secs > 0.0 {
                    println!("  {name:<40} {:>7.2}", secs / lines * 1e6);
                }
            }
        }
    }
}
