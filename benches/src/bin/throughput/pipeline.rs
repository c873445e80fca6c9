//! The measurements: raw baselines, the router, the whole pipeline, `emit`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstorm_benches::raw::{
    CurveClient, Progress, RawProxy, RawPublisher, RawSubscriber, Transport,
};
use eventstorm_benches::typical_event;
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats};
use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterHandle, RouterRuntime};
use eventstorm_sink::sinks::NullSink;
use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig};
use eventstorm_source::{Client, DeliveryMode};

/// Any error, as text.
pub(crate) type Res<T> = Result<T, String>;

/// How long a receiver waits for more after the sender stopped.
const QUIET: Duration = Duration::from_millis(250);

/// The sink runtime's batch delay in the end-to-end runs.
const E2E_BATCH_DELAY: Duration = Duration::from_millis(5);

/// The start of a run not measured (connections, buffers and caches
/// warming up): this fraction of the sending time. Rates are measured from
/// the first delivery after it to the last delivery.
fn warm_up(duration: Duration) -> Duration {
    duration / 4
}
/// How long set-up waits for subscriptions to reach a publisher.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The event type of the typical event.
pub(crate) const TYPE: &str = "compute.instance.create.end";

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

/// One measured run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// Events per second delivered (or calls per second for `emit`).
    pub(crate) rate: f64,
    /// Events the sender tried to send.
    pub(crate) sent: u64,
    /// Events delivered at the end of the pipeline.
    pub(crate) received: u64,
    /// Events counted as lost along the way (sequence gaps, drops).
    pub(crate) lost: u64,
    /// Events a hop counted as sent before it first saw their stream: not
    /// lost, not received (0 when every hop joined before the first event).
    pub(crate) missed_at_join: u64,
    /// Whether `sent = received + lost + missed_at_join` holds.
    pub(crate) accounted: bool,
    /// Where the losses were counted, for the report.
    pub(crate) detail: Vec<(String, u64)>,
    /// CPU time of the whole process (every thread, libzmq's included) per
    /// delivered event, in microseconds: steadier than rates on a busy
    /// machine, and the thing to compare when every core is busy.
    pub(crate) cpu_us_per_event: f64,
}

/// Measures the process's CPU time from now on.
struct CpuMeter(Duration);

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter(process_cpu_time())
    }

    /// CPU microseconds per event since [`CpuMeter::start`].
    fn per_event(&self, events: u64) -> f64 {
        let used = process_cpu_time().saturating_sub(self.0);
        if events == 0 {
            0.0
        } else {
            used.as_secs_f64() * 1e6 / events as f64
        }
    }
}

/// User + system time of this process, every thread included (Linux
/// `/proc/self/stat`, in clock ticks of 10 ms; zero elsewhere).
fn process_cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces) start at state.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn body() -> Vec<u8> {
    typical_event(0).to_bytes()
}

/// Raw PUB → SUB: a raw publisher binds, a SUB connects.
pub(crate) fn raw_direct(transport: Transport, duration: Duration) -> Res<Run> {
    let ctx = zmq::Context::new();
    let (mut publisher, endpoint) =
        RawPublisher::open(&ctx, &transport.endpoint(), true, TYPE, body())
            .map_err(err("raw publisher"))?;
    let subscriber = RawSubscriber::connect(&ctx, &endpoint).map_err(err("raw subscriber"))?;
    if !publisher.wait_for_subscriber(JOIN_TIMEOUT) {
        return Err("raw subscriber never subscribed".into());
    }
    measure_raw(&mut publisher, subscriber, duration)
}

/// Runs a raw publisher against a raw subscriber for `duration`; every
/// message is either received or counted as dropped by the publisher (the
/// hops after it are lossless).
fn measure_raw(
    publisher: &mut RawPublisher,
    subscriber: RawSubscriber,
    duration: Duration,
) -> Res<Run> {
    let stop = AtomicBool::new(false);
    let expected = AtomicU64::new(u64::MAX);
    std::thread::scope(|s| {
        let (stop, expected) = (&stop, &expected);
        let warm_at = Instant::now() + warm_up(duration);
        let counter = s.spawn(move || subscriber.count_until(stop, expected, QUIET, warm_at));
        let cpu = CpuMeter::start();
        let start = Instant::now();
        let sent = publisher.send_for(duration);
        // Everything not dropped arrives (the hops after the publisher are
        // lossless): the receiver stops as soon as it has it all.
        if let Ok(sent) = &sent {
            expected.store(sent - publisher.dropped(), Ordering::Relaxed);
        }
        stop.store(true, Ordering::Relaxed);
        let (received, last, warm) = counter
            .join()
            .map_err(|_| "subscriber panicked".to_string())?
            .map_err(err("receiving"))?;
        let sent = sent.map_err(err("sending"))?;
        let lost = publisher.dropped();
        Ok(Run {
            rate: Progress::rate(warm, received, start, last),
            sent,
            received,
            lost,
            missed_at_join: 0,
            accounted: sent == received + lost,
            detail: vec![("publisher.dropped".to_string(), lost)],
            cpu_us_per_event: cpu.per_event(received),
        })
    })
}

/// What sits between a raw publisher and a raw subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Middle {
    /// The hand-written XSUB/XPUB proxy.
    Proxy,
    /// Eventstorm's router, forwarding everything to one block-mode output
    /// (which batches, as by default).
    Router,
    /// The same with the output sending one event per message
    /// (`batch_events = 1`).
    RouterUnbatched,
}

/// A router config: one input, one output, everything to it.
fn router_config(
    transport: Transport,
    mode: eventstorm_router::DeliveryMode,
    batch: Option<usize>,
) -> RouterConfig {
    let mut output = OutputConfig::bind("out", transport.endpoint()).with_mode(mode);
    output.socket.batch_events = batch;
    let mut config = RouterConfig {
        inputs: vec![InputConfig::bind("in", transport.endpoint())],
        outputs: vec![output],
        ..Default::default()
    };
    config.router.default_output = Some("out".into());
    config.router.stats_interval_ms = 0;
    config
}

/// Spawns a router (its output batching as by default); returns it with its
/// input and output endpoints.
pub(crate) fn spawn_router(
    ctx: &zmq::Context,
    transport: Transport,
    mode: eventstorm_router::DeliveryMode,
) -> Res<(RouterHandle, String, String)> {
    spawn_router_batching(ctx, transport, mode, None)
}

/// [`spawn_router`] whose output sends up to `batch` events per message
/// (`None`: the default).
fn spawn_router_batching(
    ctx: &zmq::Context,
    transport: Transport,
    mode: eventstorm_router::DeliveryMode,
    batch: Option<usize>,
) -> Res<(RouterHandle, String, String)> {
    let handle =
        RouterRuntime::spawn(ctx, router_config(transport, mode, batch)).map_err(err("router"))?;
    let input = handle.endpoints().input("in")[0].clone();
    let output = handle.endpoints().output("out")[0].clone();
    Ok((handle, input, output))
}

/// Raw publisher → (proxy or router) → raw SUB. With `drop`, the publisher
/// sends without waiting and drops (and counts) what does not fit.
pub(crate) fn routed(
    middle: Middle,
    transport: Transport,
    drop: bool,
    duration: Duration,
) -> Res<Run> {
    let ctx = zmq::Context::new();
    let (proxy, router, frontend, backend) = match middle {
        Middle::Proxy => {
            let proxy = RawProxy::spawn(&ctx, transport).map_err(err("raw proxy"))?;
            let (f, b) = (proxy.frontend.clone(), proxy.backend.clone());
            (Some(proxy), None, f, b)
        }
        Middle::Router | Middle::RouterUnbatched => {
            let batch = (middle == Middle::RouterUnbatched).then_some(1);
            let (handle, f, b) = spawn_router_batching(
                &ctx,
                transport,
                eventstorm_router::DeliveryMode::Block,
                batch,
            )?;
            (None, Some(handle), f, b)
        }
    };
    let subscriber = RawSubscriber::connect(&ctx, &backend).map_err(err("raw subscriber"))?;
    let (mut publisher, _) =
        RawPublisher::open(&ctx, &frontend, false, TYPE, body()).map_err(err("raw publisher"))?;
    if drop {
        publisher.drop_when_full();
    }
    if !publisher.wait_for_subscriber(JOIN_TIMEOUT) {
        return Err("the subscription never reached the publisher".into());
    }
    let mut run = measure_raw(&mut publisher, subscriber, duration)?;
    if let Some(proxy) = proxy {
        proxy.stop();
    }
    if let Some(router) = router {
        let stats = router.shutdown().map_err(err("router shutdown"))?;
        run.detail.extend(pick(
            &stats,
            &[
                "in.in.received",
                "in.in.lost",
                "in.in.missed_at_join",
                "in.in.suspicious",
                "out.out.sent",
            ],
        ));
    }
    Ok(run)
}

/// Raw publisher → router → raw SUB, as [`routed`] with the router (block
/// mode), every hop encrypted and authenticated with CURVE: the router's
/// input and output are CURVE servers with an allow-list, the publisher and
/// the subscriber CURVE clients on it. Needs a libzmq with CURVE.
pub(crate) fn routed_curve(transport: Transport, duration: Duration) -> Res<Run> {
    use eventstorm_core::transport::{KeyPair, SecurityConfig};
    let dir = std::env::temp_dir().join(format!(
        "eventstorm-throughput-curve-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = KeyPair::generate().map_err(err("router key pair"))?;
    let client = KeyPair::generate().map_err(err("client key pair"))?;
    let (secret, _) = server
        .write(&dir.join("router"))
        .map_err(err("key files"))?;
    let allow_list = dir.join("clients.toml");
    std::fs::write(
        &allow_list,
        format!(
            "[[clients]]\nkey = \"{}\"\nname = \"bench\"\n",
            client.public_z85()
        ),
    )
    .map_err(err("allow-list"))?;
    let security = SecurityConfig::default().with_curve_server(secret, Some(allow_list));
    let mut config = router_config(transport, eventstorm_router::DeliveryMode::Block, None);
    config.inputs[0].socket.endpoint.security = security.clone();
    config.outputs[0].socket.endpoint.security = security;
    let ctx = zmq::Context::new();
    let router = RouterRuntime::spawn(&ctx, config).map_err(err("router"))?;
    let (frontend, backend) = (
        router.endpoints().input("in")[0].clone(),
        router.endpoints().output("out")[0].clone(),
    );
    let keys = CurveClient {
        server: *server.public(),
        public: *client.public(),
        secret: *client.secret(),
    };
    let subscriber =
        RawSubscriber::connect_with(&ctx, &backend, Some(&keys)).map_err(err("raw subscriber"))?;
    let (mut publisher, _) =
        RawPublisher::open_with(&ctx, &frontend, false, TYPE, body(), Some(&keys))
            .map_err(err("raw publisher"))?;
    if !publisher.wait_for_subscriber(JOIN_TIMEOUT) {
        return Err("the subscription never reached the publisher (CURVE refused?)".into());
    }
    let mut run = measure_raw(&mut publisher, subscriber, duration)?;
    let stats = router.shutdown().map_err(err("router shutdown"))?;
    run.detail.extend(pick(
        &stats,
        &[
            "in.in.received",
            "in.in.lost",
            "in.in.zap_accepted",
            "out.out.sent",
        ],
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

fn pick(stats: &Stats, names: &[&str]) -> Vec<(String, u64)> {
    names
        .iter()
        .map(|n| ((*n).to_string(), stats.get(n).unwrap_or(0)))
        .collect()
}

fn source_mode(block: bool) -> DeliveryMode {
    if block {
        DeliveryMode::Block
    } else {
        DeliveryMode::Drop
    }
}

fn router_mode(block: bool) -> eventstorm_router::DeliveryMode {
    if block {
        eventstorm_router::DeliveryMode::Block
    } else {
        eventstorm_router::DeliveryMode::Drop
    }
}

/// A client connected to `endpoint`, waiting until the subscription reached it.
/// `batch`: the client's `batch_events` (`None`: the default).
fn connected_client(
    ctx: &zmq::Context,
    endpoint: &str,
    block: bool,
    batch: Option<usize>,
) -> Res<Client> {
    let builder = Client::builder();
    let builder = match batch {
        Some(batch) => builder.batch_events(batch),
        None => builder,
    };
    builder
        .context(ctx.clone())
        .connect(endpoint)
        .logger("bench")
        .mode(source_mode(block))
        .wait_for_subscriber(JOIN_TIMEOUT)
        .build()
        .map_err(err("client"))
}

/// Watches a counter until it reaches `target` (`u64::MAX` while unknown),
/// or `stop` is set and it stayed still for `quiet`; returns the instant it
/// last changed and its value at the first change at or after `warm_at`.
fn settle(
    counter: impl Fn() -> u64,
    stop: &AtomicBool,
    target: &AtomicU64,
    quiet: Duration,
    warm_at: Instant,
) -> (Instant, Option<Progress>) {
    let mut value = counter();
    let mut changed = Instant::now();
    let mut warm = None;
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let now = counter();
        if now != value {
            value = now;
            changed = Instant::now();
            if warm.is_none() && changed >= warm_at {
                warm = Some(Progress {
                    at: changed,
                    count: value,
                });
            }
        } else if stop.load(Ordering::Relaxed) && changed.elapsed() >= quiet {
            return (changed, warm);
        }
        if value >= target.load(Ordering::Relaxed) {
            return (changed, warm);
        }
    }
}

/// `Client::send` → router → `SinkRuntime` with a null sink; the client and
/// the router's output send up to `batch` events per message (`None`: the
/// default).
pub(crate) fn end_to_end(
    block: bool,
    transport: Transport,
    batch: Option<usize>,
    duration: Duration,
) -> Res<Run> {
    let ctx = zmq::Context::new();
    let (router, input, output) =
        spawn_router_batching(&ctx, transport, router_mode(block), batch)?;
    let sink = SinkRuntime::spawn(
        &ctx,
        // Batches of 1000 as by default, but written after at most 5 ms
        // rather than 100: otherwise the last partial batch of a run waits
        // out the delay, and that wait (a latency, not a cost) would count
        // against the rate of a sub-second run.
        RuntimeConfig::new(SubscriberConfig::connect(output)).with_batch(1000, E2E_BATCH_DELAY),
        Box::new(NullSink::new()),
    )
    .map_err(err("sink runtime"))?;
    let client = connected_client(&ctx, &input, block, batch)?;
    let events: Vec<_> = (0..16).map(typical_event).collect();
    let stop = AtomicBool::new(false);
    let cpu = CpuMeter::start();
    let warm_at = Instant::now() + warm_up(duration);
    let target = AtomicU64::new(u64::MAX);
    let (attempted, start, (last, warm)) = std::thread::scope(|s| {
        let watcher = s.spawn(|| settle(|| sink.written(), &stop, &target, QUIET, warm_at));
        let start = Instant::now();
        let mut attempted = 0u64;
        while start.elapsed() < duration {
            for event in &events {
                client.send(event);
            }
            attempted += events.len() as u64;
        }
        client.close();
        if block {
            // Block mode loses nothing: the watcher stops once all arrived.
            target.store(attempted, Ordering::Relaxed);
        }
        stop.store(true, Ordering::Relaxed);
        let last = watcher.join().unwrap_or_else(|_| (Instant::now(), None));
        (attempted, start, last)
    });
    let client_stats = client.stats();
    let router_stats = router.shutdown().map_err(err("router shutdown"))?;
    // Let the router's final sequence marks reach the sink.
    let marks = AtomicBool::new(true);
    // Marks follow the last events within milliseconds: a shorter quiet.
    settle(
        || {
            let stats = sink.stats();
            ["received", "lost", "missed_at_join"]
                .iter()
                .map(|n| stats.get(n).unwrap_or(0))
                .sum()
        },
        &marks,
        &AtomicU64::new(u64::MAX),
        QUIET / 2,
        Instant::now(),
    );
    let sink_stats = sink.shutdown().map_err(err("sink shutdown"))?;
    let received = sink_stats.get("written").unwrap_or(0);
    let get = |s: &Stats, n: &str| s.get(n).unwrap_or(0);
    let detail = vec![
        (
            "client.not_queued".to_string(),
            attempted - get(&client_stats, "emitted"),
        ),
        (
            "publisher.dropped_hwm".to_string(),
            get(&client_stats, "dropped_hwm"),
        ),
        (
            "router.in.lost".to_string(),
            get(&router_stats, "in.in.lost"),
        ),
        (
            "router.in.missed_at_join".to_string(),
            get(&router_stats, "in.in.missed_at_join"),
        ),
        (
            "router.in.undecodable".to_string(),
            get(&router_stats, "in.in.undecodable"),
        ),
        (
            "router.out.dropped_hwm".to_string(),
            get(&router_stats, "out.out.dropped_hwm"),
        ),
        ("sink.lost".to_string(), get(&sink_stats, "lost")),
        (
            "sink.missed_at_join".to_string(),
            get(&sink_stats, "missed_at_join"),
        ),
        (
            "sink.undecodable".to_string(),
            get(&sink_stats, "undecodable"),
        ),
        (
            "sink.dropped_queue_full".to_string(),
            get(&sink_stats, "dropped_queue_full"),
        ),
        (
            "sink.dropped_sink".to_string(),
            get(&sink_stats, "dropped_sink"),
        ),
    ];
    // publisher.dropped_hwm is inside router.in.lost, and router.out.dropped_hwm
    // inside sink.lost (each is a sequence gap at the next hop): not added twice.
    // missed_at_join is not a loss: it is accounted for on its own.
    let lost: u64 = detail
        .iter()
        .filter(|(n, _)| !n.ends_with("dropped_hwm") && !n.ends_with("missed_at_join"))
        .map(|(_, v)| v)
        .sum();
    let missed_at_join: u64 = detail
        .iter()
        .filter(|(n, _)| n.ends_with("missed_at_join"))
        .map(|(_, v)| v)
        .sum();
    Ok(Run {
        rate: Progress::rate(warm, received, start, last),
        sent: attempted,
        received,
        lost,
        missed_at_join,
        accounted: attempted == received + lost + missed_at_join,
        detail,
        cpu_us_per_event: cpu.per_event(received),
    })
}

/// Calls per burst in [`emit_rate`]: well under the client's queue capacity.
const EMIT_BURST: u64 = 16_384;

/// `Client::emit` (or `send` of a prebuilt event) calls per second on one
/// thread, with a subscriber attached so that every event is encoded.
/// `batch`: the client's `batch_events` (`None`: the default, batches).
pub(crate) fn emit_rate(prebuilt: bool, batch: Option<usize>, duration: Duration) -> Res<Run> {
    let ctx = zmq::Context::new();
    let builder = Client::builder();
    let builder = match batch {
        Some(batch) => builder.batch_events(batch),
        None => builder,
    };
    let client = builder
        .context(ctx.clone())
        .bind("tcp://127.0.0.1:*")
        .logger("bench")
        .build()
        .map_err(err("client"))?;
    let subscriber =
        RawSubscriber::connect(&ctx, &client.endpoints()[0]).map_err(err("subscriber"))?;
    let deadline = Instant::now() + JOIN_TIMEOUT;
    while !client.is_wanted(TYPE) {
        if Instant::now() > deadline {
            return Err("the subscriber never reached the client".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let event = typical_event(0);
    let fields = event.body().clone();
    let stop = AtomicBool::new(false);
    let cpu = CpuMeter::start();
    std::thread::scope(|s| {
        let stop = &stop;
        let unknown = AtomicU64::new(u64::MAX);
        let counter =
            s.spawn(move || subscriber.count_until(stop, &unknown, QUIET, Instant::now()));
        // Only the calls are timed; the body document is the application's
        // and is passed by reference (building it is the application's cost).
        // Calls come in bursts that fit the client's queue, with a flush
        // (not timed) between bursts: every call encodes and queues its
        // event. A call that found the queue full would return at once
        // without encoding (drop mode sheds load there), which is not the
        // cost this measures.
        let start = Instant::now();
        let mut timed = Duration::ZERO;
        let mut calls = 0u64;
        while start.elapsed() < duration {
            let t = Instant::now();
            for _ in 0..EMIT_BURST {
                if prebuilt {
                    client.send(&event);
                } else {
                    client.emit(TYPE, &fields);
                }
            }
            timed += t.elapsed();
            calls += EMIT_BURST;
            if !client.flush(JOIN_TIMEOUT) {
                return Err("the client's publisher thread did not catch up".to_string());
            }
        }
        let elapsed = timed.as_secs_f64();
        client.close();
        stop.store(true, Ordering::Relaxed);
        let received = counter.join().ok().and_then(Result::ok).map_or(0, |r| r.0);
        let stats = client.stats();
        let lost =
            stats.get("dropped_queue_full").unwrap_or(0) + stats.get("dropped_hwm").unwrap_or(0);
        Ok(Run {
            rate: calls as f64 / elapsed,
            sent: calls,
            received,
            lost,
            missed_at_join: 0,
            accounted: calls == received + lost,
            detail: pick(&stats, &["emitted", "dropped_queue_full", "dropped_hwm"]),
            cpu_us_per_event: cpu.per_event(calls),
        })
    })
}

/// The baseline of [`emit_rate`]: raw sends of the pre-encoded typical
/// event (the three frames Eventstorm sends) on one thread, to a counting
/// subscriber over tcp, in the same bursts, with a wait (not timed) between
/// bursts until the subscriber has everything. What `emit` costs beyond this
/// is encoding, stamping and the client's bookkeeping; what this costs is the
/// machine's price for one `zmq_send` of the event.
pub(crate) fn raw_send_rate(duration: Duration) -> Res<Run> {
    let ctx = zmq::Context::new();
    let body = typical_event(0).to_bytes();
    let (mut publisher, endpoint) = RawPublisher::open(&ctx, "tcp://127.0.0.1:*", true, TYPE, body)
        .map_err(err("publisher"))?;
    let subscriber = RawSubscriber::connect(&ctx, &endpoint).map_err(err("subscriber"))?;
    if !publisher.wait_for_subscriber(JOIN_TIMEOUT) {
        return Err("the subscriber never reached the publisher".into());
    }
    let stop = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let cpu = CpuMeter::start();
    std::thread::scope(|s| {
        let (stop, received) = (&stop, &received);
        let counter = s.spawn(move || subscriber.count_into(stop, received));
        let start = Instant::now();
        let mut timed = Duration::ZERO;
        let mut calls = 0u64;
        let mut result = Ok(());
        while result.is_ok() && start.elapsed() < duration {
            let t = Instant::now();
            for _ in 0..EMIT_BURST {
                if let Err(e) = publisher.send() {
                    result = Err(format!("send: {e}"));
                    break;
                }
            }
            timed += t.elapsed();
            calls += EMIT_BURST;
            let deadline = Instant::now() + JOIN_TIMEOUT;
            while received.load(Ordering::Relaxed) < calls {
                if Instant::now() > deadline {
                    result = Err("the subscriber did not catch up".into());
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let counted = counter.join().ok().and_then(Result::ok).unwrap_or(0);
        result?;
        Ok(Run {
            rate: calls as f64 / timed.as_secs_f64(),
            sent: calls,
            received: counted,
            lost: 0,
            missed_at_join: 0,
            accounted: calls == counted,
            detail: Vec::new(),
            cpu_us_per_event: cpu.per_event(calls),
        })
    })
}

/// Records, per event, the time from `emit` to the sink's `write`.
#[derive(Debug)]
struct LatencySink {
    epoch: Instant,
    samples: Arc<Mutex<Vec<u64>>>,
}

impl EventSink for LatencySink {
    fn name(&self) -> &str {
        "latency"
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        for event in batch {
            if let Some(sent) = event.get("body.sent_ns").and_then(|v| v.as_i64()) {
                samples.push(now.saturating_sub(sent as u64));
            }
        }
        Ok(())
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency {
    pub(crate) rate: u64,
    pub(crate) samples: usize,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) max_us: f64,
}

/// Emits at a fixed `rate` through router and sink runtime (block mode, tcp,
/// batches of one) and measures each event's time from `emit` to `write`.
pub(crate) fn latency(rate: u64, duration: Duration) -> Res<Latency> {
    let ctx = zmq::Context::new();
    let (router, input, output) = spawn_router(&ctx, Transport::Tcp, router_mode(true))?;
    let epoch = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sink = SinkRuntime::spawn(
        &ctx,
        RuntimeConfig::new(SubscriberConfig::connect(output))
            .with_batch(1, Duration::from_millis(1)),
        Box::new(LatencySink {
            epoch,
            samples: Arc::clone(&samples),
        }),
    )
    .map_err(err("sink runtime"))?;
    let client = connected_client(&ctx, &input, true, None)?;
    let fields = typical_event(0).body().clone();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < duration {
        let due = start + interval * n;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let mut body = fields.clone();
        body.insert("sent_ns", epoch.elapsed().as_nanos() as i64);
        client.emit(TYPE, body);
        n += 1;
    }
    client.close();
    let done = AtomicBool::new(true);
    settle(
        || sink.written(),
        &done,
        &AtomicU64::new(u64::MAX),
        QUIET,
        Instant::now(),
    );
    let _ = router.shutdown();
    let _ = sink.shutdown();
    let mut all = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    // The first 5% include connection warm-up.
    let all = all.split_off(all.len() / 20);
    let mut sorted = all;
    sorted.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(Latency {
        rate,
        samples: sorted.len(),
        p50_us: us(eventstorm_benches::stats::percentile(&sorted, 50.0)),
        p99_us: us(eventstorm_benches::stats::percentile(&sorted, 99.0)),
        max_us: us(sorted.last().copied().unwrap_or(0)),
    })
}
