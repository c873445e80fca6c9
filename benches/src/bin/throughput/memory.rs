//! Memory under overload: the router and the sink run in child processes
//! (this binary, re-executed with `--child router|sink`), a client in this
//! process emits ten times faster than the sink writes, and the children's
//! `VmRSS` / `VmHWM` are sampled from `/proc/PID/status`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use eventstorm_benches::raw::Transport;
use eventstorm_benches::stats::memory_kib;
use eventstorm_benches::typical_event;
use eventstorm_core::{EventSink, RawEvent, SinkError};
use eventstorm_sink::sinks::NullSink;
use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

use crate::pipeline::{Res, TYPE};

/// What the overload run found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory {
    pub(crate) seconds: f64,
    pub(crate) publish_rate: u64,
    pub(crate) sink_rate: u64,
    pub(crate) emitted: u64,
    pub(crate) router_peak_kib: u64,
    pub(crate) router_mid_kib: u64,
    pub(crate) router_end_kib: u64,
    pub(crate) sink_peak_kib: u64,
    pub(crate) sink_mid_kib: u64,
    pub(crate) sink_end_kib: u64,
    pub(crate) sink_stats: String,
    pub(crate) router_stats: String,
}

impl Memory {
    /// Bounded: the resident size in the second half grew by less than 10%
    /// (plus 2 MiB of slack) over the first half.
    pub(crate) fn bounded(&self) -> bool {
        let ok = |mid: u64, end: u64| end <= mid + mid / 10 + 2048;
        ok(self.router_mid_kib, self.router_end_kib) && ok(self.sink_mid_kib, self.sink_end_kib)
    }
}

struct ChildProc {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl ChildProc {
    fn spawn(args: &[&str]) -> Res<ChildProc> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--child")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning child {args:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("child has no stdout")?;
        Ok(ChildProc {
            child,
            lines: BufReader::new(stdout),
        })
    }

    fn line(&mut self) -> Res<String> {
        let mut line = String::new();
        self.lines
            .read_line(&mut line)
            .map_err(|e| format!("reading from child: {e}"))?;
        Ok(line.trim().to_string())
    }

    fn rss(&self) -> (u64, u64) {
        memory_kib(Some(self.child.id())).unwrap_or((0, 0))
    }

    /// Closes its stdin (the signal to stop), reads its final stats line.
    fn finish(mut self) -> Res<String> {
        drop(self.child.stdin.take());
        let stats = self.line()?;
        let _ = self.child.wait();
        Ok(stats)
    }
}

/// The overload run.
pub(crate) fn overload(duration: Duration, sink_rate: u64) -> Res<Memory> {
    let mut router = ChildProc::spawn(&["router"])?;
    let endpoints = router.line()?;
    let (input, output) = endpoints
        .split_once(' ')
        .ok_or_else(|| format!("router child said {endpoints:?}"))?;
    let mut sink = ChildProc::spawn(&["sink", output, &sink_rate.to_string()])?;
    let ready = sink.line()?;
    if ready != "ready" {
        return Err(format!("sink child said {ready:?}"));
    }
    let ctx = zmq::Context::new();
    let client = Client::builder()
        .context(ctx)
        .connect(input)
        .mode(DeliveryMode::Drop)
        .wait_for_subscriber(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let publish_rate = sink_rate * 10;
    let fields = typical_event(0).body().clone();
    let mut memory = Memory {
        publish_rate,
        sink_rate,
        ..Memory::default()
    };
    let start = Instant::now();
    let mut next_sample = start;
    let mut sent = 0u64;
    // Send in 1 ms slices of publish_rate / 1000 events.
    let per_ms = (publish_rate / 1000).max(1);
    while start.elapsed() < duration {
        let due = start + Duration::from_millis(sent / per_ms);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        for _ in 0..per_ms {
            client.emit(TYPE, fields.clone());
        }
        sent += per_ms;
        if Instant::now() >= next_sample {
            next_sample += Duration::from_millis(100);
            let ((r, rh), (s, sh)) = (router.rss(), sink.rss());
            memory.router_peak_kib = memory.router_peak_kib.max(rh).max(r);
            memory.sink_peak_kib = memory.sink_peak_kib.max(sh).max(s);
            if start.elapsed() < duration / 2 {
                memory.router_mid_kib = r;
                memory.sink_mid_kib = s;
            }
            memory.router_end_kib = r;
            memory.sink_end_kib = s;
        }
    }
    memory.seconds = start.elapsed().as_secs_f64();
    memory.emitted = client.stats().get("emitted").unwrap_or(0);
    client.close();
    // The router first: its final sequence marks let the sink count what the
    // router dropped at the end.
    memory.router_stats = router.finish()?;
    std::thread::sleep(Duration::from_millis(300));
    memory.sink_stats = sink.finish()?;
    Ok(memory)
}

/// Writes at most `rate` events per second (sleeps after each batch).
#[derive(Debug)]
struct SlowSink {
    inner: NullSink,
    rate: u64,
}

impl EventSink for SlowSink {
    fn name(&self) -> &str {
        "slow"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        std::thread::sleep(Duration::from_secs_f64(
            batch.len() as f64 / self.rate.max(1) as f64,
        ));
        self.inner.write(batch)
    }
}

fn wait_for_stdin_eof() {
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
}

fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The child processes' side: `router` or `sink ENDPOINT RATE`.
pub(crate) fn child(args: &[String]) -> Res<()> {
    match args {
        [kind] if kind == "router" => {
            let ctx = zmq::Context::new();
            let (handle, input, output) = crate::pipeline::spawn_router(
                &ctx,
                Transport::Tcp,
                eventstorm_router::DeliveryMode::Drop,
            )?;
            say(&format!("{input} {output}"));
            wait_for_stdin_eof();
            let stats = handle.shutdown().map_err(|e| format!("router: {e}"))?;
            say(&stats.to_string());
            Ok(())
        }
        [kind, endpoint, rate] if kind == "sink" => {
            let rate: u64 = rate.parse().map_err(|e| format!("rate: {e}"))?;
            let ctx = zmq::Context::new();
            let runtime = SinkRuntime::spawn(
                &ctx,
                RuntimeConfig::new(SubscriberConfig::connect(endpoint.as_str())),
                Box::new(SlowSink {
                    inner: NullSink::new(),
                    rate,
                }),
            )
            .map_err(|e| format!("sink: {e}"))?;
            say("ready");
            wait_for_stdin_eof();
            let stats = runtime.shutdown().map_err(|e| format!("sink: {e}"))?;
            say(&stats.to_string());
            Ok(())
        }
        other => Err(format!("unknown child {other:?}")),
    }
}
