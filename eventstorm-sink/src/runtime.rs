//! The sink runtime: subscriber thread → bounded channel → batching → sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use eventstorm_core::{Counter, EventSink, Matcher, RawEvent, ReceiveCounters, Stats};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::subscriber::{Subscriber, SubscriberConfig};

pub use eventstorm_core::WhenFull;

/// How a [`SinkRuntime`] receives and batches.
///
/// ```
/// use eventstorm_sink::{RuntimeConfig, WhenFull};
///
/// let config: RuntimeConfig = toml::from_str(r#"
///     connect = ["tcp://127.0.0.1:5556"]
///     subscribe = ["volume."]
///     filter = 'volume.* where body.size_gb >= 100'
///     channel_capacity = 50000
///     when_full = "drop"
///     batch_max_events = 500
///     batch_max_delay_ms = 50
/// "#)?;
/// assert_eq!(config.when_full, WhenFull::Drop);
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// The subscriber's socket and subscriptions.
    #[serde(flatten)]
    pub subscriber: SubscriberConfig,
    /// Only events matching this are handed to the sink; the others are
    /// counted as `filtered` (default: all).
    pub filter: Option<Matcher>,
    /// Events queued between the subscriber thread and the sink thread
    /// ([`Self::DEFAULT_CHANNEL_CAPACITY`]). They travel in chunks of up to
    /// 256 events (one channel operation per chunk; never more than a batch);
    /// a chunk waits at most 1 ms (or the batch delay, if shorter) to fill.
    /// With `when_full = "drop"` a chunk that finds no room is dropped whole,
    /// each event counted.
    pub channel_capacity: usize,
    /// What the subscriber thread does when that queue is full (default: block).
    pub when_full: WhenFull,
    /// Most events in one batch ([`Self::DEFAULT_BATCH_MAX_EVENTS`]).
    pub batch_max_events: usize,
    /// Longest a batch waits to fill before it is written
    /// ([`Self::DEFAULT_BATCH_MAX_DELAY_MS`]).
    pub batch_max_delay_ms: u64,
    /// Fail at start when the sink's healthcheck fails (default false: warn and go on).
    pub require_healthy: bool,
}

impl RuntimeConfig {
    /// Default capacity of the subscriber → sink channel.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 10_000;
    /// Default batch size.
    pub const DEFAULT_BATCH_MAX_EVENTS: usize = 1_000;
    /// Default batch delay, in milliseconds.
    pub const DEFAULT_BATCH_MAX_DELAY_MS: u64 = 100;

    /// A config around a subscriber config, with the other defaults.
    pub fn new(subscriber: SubscriberConfig) -> Self {
        RuntimeConfig {
            subscriber,
            ..Default::default()
        }
    }

    /// Sets the batch limits.
    pub fn with_batch(mut self, max_events: usize, max_delay: Duration) -> Self {
        self.batch_max_events = max_events;
        self.batch_max_delay_ms = max_delay.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Sets the channel capacity and what happens when it is full.
    pub fn with_channel(mut self, capacity: usize, when_full: WhenFull) -> Self {
        self.channel_capacity = capacity;
        self.when_full = when_full;
        self
    }

    /// Sets the filter.
    pub fn with_filter(mut self, filter: Matcher) -> Self {
        self.filter = Some(filter);
        self
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            subscriber: SubscriberConfig::default(),
            filter: None,
            channel_capacity: Self::DEFAULT_CHANNEL_CAPACITY,
            when_full: WhenFull::Block,
            batch_max_events: Self::DEFAULT_BATCH_MAX_EVENTS,
            batch_max_delay_ms: Self::DEFAULT_BATCH_MAX_DELAY_MS,
            require_healthy: false,
        }
    }
}

/// The runtime's counters.
#[derive(Debug, Default)]
struct RuntimeCounters {
    filtered: Counter,
    dropped_queue_full: Counter,
    written: Counter,
    dropped_sink: Counter,
    batches: Counter,
    sink_errors: Counter,
    /// Events counted as written when accepted, then given up by the sink in
    /// a later write or flush (also in `dropped_sink`).
    flush_dropped: Counter,
}

impl RuntimeCounters {
    fn written(&self) -> u64 {
        self.written.get().saturating_sub(self.flush_dropped.get())
    }
}

/// Drives an [`EventSink`]: a subscriber thread receives, validates and counts;
/// a bounded channel carries events to the sink thread, which batches them (by
/// count and delay) and writes.
///
/// Every event received is, in the end, exactly one of: `written`, `filtered`,
/// `dropped_queue_full` or `dropped_sink` ([`SinkRuntime::shutdown`] waits until
/// nothing is in flight). Together with the subscriber's `lost` and
/// `missed_at_join`, this accounts for every event the publishers sent.
///
/// ```no_run
/// use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig, sinks::StdoutSink};
///
/// let ctx = zmq::Context::new();
/// let config = RuntimeConfig::new(SubscriberConfig::connect("tcp://127.0.0.1:5556"));
/// let runtime = SinkRuntime::spawn(&ctx, config, Box::new(StdoutSink::json_lines()))?;
/// // ... later, on SIGTERM:
/// let stats = runtime.shutdown()?;
/// eprintln!("{stats}");
/// # Ok::<(), eventstorm_sink::Error>(())
/// ```
#[derive(Debug)]
pub struct SinkRuntime {
    stop: Arc<AtomicBool>,
    receiver: Option<JoinHandle<Result<()>>>,
    writer: Option<JoinHandle<()>>,
    subscriber: Arc<ReceiveCounters>,
    counters: Arc<RuntimeCounters>,
    sink_stats: Arc<Mutex<Stats>>,
    endpoints: Vec<String>,
}

impl SinkRuntime {
    /// Opens the subscriber and starts both threads. Runs the sink's
    /// healthcheck first (see [`RuntimeConfig::require_healthy`]).
    pub fn spawn(
        ctx: &zmq::Context,
        config: RuntimeConfig,
        mut sink: Box<dyn EventSink>,
    ) -> Result<SinkRuntime> {
        if config.batch_max_events == 0 {
            return Err(Error::config("batch_max_events", "must be at least 1"));
        }
        if let Err(e) = sink.healthcheck() {
            if config.require_healthy {
                return Err(Error::Unhealthy {
                    sink: sink.name().to_string(),
                    source: e,
                });
            }
            tracing::warn!(
                sink = sink.name(),
                "healthcheck failed, starting anyway: {e}"
            );
        }
        let subscriber = Subscriber::new(ctx, &config.subscriber)?;
        let endpoints = subscriber.endpoints().to_vec();
        let subscriber_counters = subscriber.counters();
        let counters = Arc::new(RuntimeCounters::default());
        let sink_stats = Arc::new(Mutex::new(sink.stats()));
        let stop = Arc::new(AtomicBool::new(false));
        // Events travel in chunks of up to CHUNK (one channel operation per
        // chunk, not per event; never more than a batch); at most
        // `channel_capacity` events are queued.
        let capacity = config.channel_capacity.max(1);
        let chunk = capacity.min(CHUNK).min(config.batch_max_events);
        let (tx, rx) = bounded(capacity / chunk);
        let linger = CHUNK_LINGER.min(Duration::from_millis(config.batch_max_delay_ms));

        let writer = {
            let counters = Arc::clone(&counters);
            let sink_stats = Arc::clone(&sink_stats);
            let batching = Batching {
                max_events: config.batch_max_events,
                max_delay: Duration::from_millis(config.batch_max_delay_ms),
            };
            std::thread::Builder::new()
                .name(format!("sink-{}", sink.name()))
                .spawn(move || write_loop(&mut *sink, &rx, batching, &counters, &sink_stats))
                .map_err(Error::Thread)?
        };
        let receiver = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let filter = config.filter.clone();
            let when_full = config.when_full;
            std::thread::Builder::new()
                .name("sink-subscriber".into())
                .spawn(move || {
                    let hand_over = HandOver {
                        tx: &tx,
                        filter,
                        when_full,
                        counters: &counters,
                        stop: &stop,
                    };
                    receive_loop(subscriber, &hand_over, chunk, linger)
                })
                .map_err(Error::Thread)?
        };
        Ok(SinkRuntime {
            stop,
            receiver: Some(receiver),
            writer: Some(writer),
            subscriber: subscriber_counters,
            counters,
            sink_stats,
            endpoints,
        })
    }

    /// The subscriber's endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Events received and decoded so far.
    pub fn received(&self) -> u64 {
        self.subscriber.received.get()
    }

    /// Events missed so far (sequence gaps, see [`ReceiveCounters`]).
    pub fn lost(&self) -> u64 {
        self.subscriber.lost.get()
    }

    /// Events the sink has written so far.
    pub fn written(&self) -> u64 {
        self.counters.written()
    }

    /// A snapshot of every counter: the subscriber's, the runtime's, then the
    /// sink's own (prefixed with `sink.`).
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        let mut stats = Stats::new("sink-runtime");
        self.subscriber.append_to(&mut stats);
        stats
            .push("filtered", c.filtered.get())
            .push("dropped_queue_full", c.dropped_queue_full.get())
            .push("written", c.written())
            .push("dropped_sink", c.dropped_sink.get())
            .push("batches", c.batches.get())
            .push("sink_errors", c.sink_errors.get());
        let sink = self
            .sink_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        stats.extend_prefixed("sink", &sink);
        stats
    }

    /// Stops receiving, writes everything already received, flushes the sink,
    /// and returns the final counters.
    pub fn shutdown(mut self) -> Result<Stats> {
        let result = self.stop_threads();
        let stats = self.stats();
        result.map(|()| stats)
    }

    fn stop_threads(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        if let Some(receiver) = self.receiver.take() {
            result = receiver.join().unwrap_or_else(|_| {
                Err(Error::Thread(std::io::Error::other(
                    "subscriber thread panicked",
                )))
            });
        }
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            result = Err(Error::Thread(std::io::Error::other("sink thread panicked")));
        }
        result
    }
}

impl Drop for SinkRuntime {
    fn drop(&mut self) {
        let _ = self.stop_threads();
    }
}

/// How often the receive loop checks the stop flag while idle.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Most events carried in one channel message.
const CHUNK: usize = 256;

/// Longest a chunk waits in the subscriber thread to fill (never longer than
/// the batch delay): a bounded addition to latency that saves a hand-over per
/// few events when they arrive quickly.
const CHUNK_LINGER: Duration = Duration::from_millis(1);

/// The subscriber thread's side of the channel: filters and hands chunks
/// over, counting what it cannot hand over.
struct HandOver<'a> {
    tx: &'a Sender<Vec<RawEvent>>,
    filter: Option<Matcher>,
    when_full: WhenFull,
    counters: &'a RuntimeCounters,
    stop: &'a AtomicBool,
}

impl HandOver<'_> {
    fn send(&self, mut chunk: Vec<RawEvent>) {
        if let Some(filter) = &self.filter {
            let before = chunk.len();
            chunk.retain(|event| filter.matches_raw(event.view()));
            self.counters.filtered.add((before - chunk.len()) as u64);
        }
        if chunk.is_empty() {
            return;
        }
        let n = chunk.len() as u64;
        match self.when_full {
            WhenFull::Block => loop {
                // Wait for room, but keep honouring the stop flag.
                match self.tx.send_timeout(chunk, POLL_INTERVAL) {
                    Ok(()) => break,
                    Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                        if self.stop.load(Ordering::Relaxed) {
                            // Shutting down with a stuck sink: the events
                            // were received, so they are counted as dropped.
                            self.counters.dropped_queue_full.add(n);
                            break;
                        }
                        chunk = back;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => {
                        self.counters.dropped_sink.add(n);
                        break;
                    }
                }
            },
            WhenFull::Drop => match self.tx.try_send(chunk) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.counters.dropped_queue_full.add(n),
                Err(TrySendError::Disconnected(_)) => self.counters.dropped_sink.add(n),
            },
        }
    }
}

fn receive_loop(
    mut subscriber: Subscriber,
    hand_over: &HandOver<'_>,
    chunk_size: usize,
    linger: Duration,
) -> Result<()> {
    let mut received = Vec::with_capacity(chunk_size);
    let result = fill_and_hand_over(
        &mut subscriber,
        hand_over,
        &mut received,
        chunk_size,
        linger,
    );
    // Stopping, or the socket failed: what was received is handed over too.
    hand_over.send(received);
    result
}

/// Receives into chunks and hands them over until the stop flag is set.
fn fill_and_hand_over(
    subscriber: &mut Subscriber,
    hand_over: &HandOver<'_>,
    received: &mut Vec<RawEvent>,
    chunk_size: usize,
    linger: Duration,
) -> Result<()> {
    let mut first_at = Instant::now();
    while !hand_over.stop.load(Ordering::Relaxed) {
        if received.is_empty() {
            match subscriber.recv(POLL_INTERVAL)? {
                Some(event) => received.push(event),
                None => continue,
            }
            first_at = Instant::now();
        }
        let room = chunk_size - received.len();
        subscriber.recv_batch(received, room)?;
        if received.len() < chunk_size {
            // Let a short chunk fill: one hand-over (and one wake-up of the
            // sink thread) per chunk, not per few events. Sleeping rather
            // than polling the socket lets events pile up in its queue
            // instead of waking this thread for each.
            let left = linger.saturating_sub(first_at.elapsed());
            if !left.is_zero() {
                std::thread::sleep(left);
                continue;
            }
        }
        hand_over.send(std::mem::replace(received, Vec::with_capacity(chunk_size)));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Batching {
    max_events: usize,
    max_delay: Duration,
}

fn write_loop(
    sink: &mut dyn EventSink,
    rx: &Receiver<Vec<RawEvent>>,
    batching: Batching,
    counters: &RuntimeCounters,
    sink_stats: &Mutex<Stats>,
) {
    let mut writer = Writer {
        sink,
        batch: Vec::with_capacity(batching.max_events),
        batching,
        deadline: None,
        unflushed: false,
        counters,
        sink_stats,
    };
    loop {
        let received = match writer.deadline {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv_timeout(Duration::from_millis(200)),
        };
        match received {
            Ok(chunk) => {
                writer.absorb(chunk);
                // Take what else is queued, up to a full batch.
                while !writer.batch.is_empty() && writer.batch.len() < batching.max_events {
                    match rx.try_recv() {
                        Ok(chunk) => writer.absorb(chunk),
                        Err(_) => break,
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !writer.batch.is_empty() {
                    writer.write();
                } else if writer.unflushed {
                    flush(writer.sink, counters, sink_stats);
                    writer.unflushed = false;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    if !writer.batch.is_empty() {
        writer.write();
    }
    flush(writer.sink, counters, sink_stats);
}

/// The sink thread's batching state.
struct Writer<'a> {
    sink: &'a mut dyn EventSink,
    batch: Vec<RawEvent>,
    batching: Batching,
    deadline: Option<Instant>,
    unflushed: bool,
    counters: &'a RuntimeCounters,
    sink_stats: &'a Mutex<Stats>,
}

impl Writer<'_> {
    /// Adds a chunk of events, writing every batch that fills up.
    fn absorb(&mut self, chunk: Vec<RawEvent>) {
        for event in chunk {
            if self.batch.is_empty() {
                self.deadline = Some(Instant::now() + self.batching.max_delay);
            }
            self.batch.push(event);
            if self.batch.len() >= self.batching.max_events {
                self.write();
            }
        }
    }

    fn write(&mut self) {
        write_batch(self.sink, &mut self.batch, self.counters, self.sink_stats);
        self.deadline = None;
        self.unflushed = true;
    }
}

fn write_batch(
    sink: &mut dyn EventSink,
    batch: &mut Vec<RawEvent>,
    counters: &RuntimeCounters,
    sink_stats: &Mutex<Stats>,
) {
    let n = batch.len() as u64;
    counters.batches.inc();
    match sink.write(batch) {
        Ok(()) => counters.written.add(n),
        Err(e) => {
            // `failed` may exceed the batch: a sink that keeps pending events
            // (a database sink during an outage) can give up on events it
            // accepted in earlier calls, which were counted as written then.
            let failed = e.failed as u64;
            let from_batch = failed.min(n);
            counters.written.add(n - from_batch);
            counters.dropped_sink.add(failed);
            counters.flush_dropped.add(failed - from_batch);
            counters.sink_errors.inc();
            tracing::warn!(sink = sink.name(), "{e}");
        }
    }
    batch.clear();
    *sink_stats.lock().unwrap_or_else(|e| e.into_inner()) = sink.stats();
}

fn flush(sink: &mut dyn EventSink, counters: &RuntimeCounters, sink_stats: &Mutex<Stats>) {
    if let Err(e) = sink.flush() {
        // Events a sink buffered and could not flush were counted as written
        // when accepted; move them to dropped.
        let failed = e.failed as u64;
        counters.dropped_sink.add(failed);
        counters.flush_dropped.add(failed);
        counters.sink_errors.inc();
        tracing::warn!(sink = sink.name(), "flush failed: {e}");
    }
    *sink_stats.lock().unwrap_or_else(|e| e.into_inner()) = sink.stats();
}
