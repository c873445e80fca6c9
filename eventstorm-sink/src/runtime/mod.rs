//! The sink runtime: subscriber thread → bounded channel → batching → sink.
//!
//! Split by part: the configuration (`config`), the counters (`counters`),
//! the subscriber thread (`receive`) and the sink thread (`write`).

mod config;
mod counters;
mod receive;
mod write;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::bounded;
use eventstorm_core::{EventSink, ReceiveCounters, Stats, ThreadError};

use crate::dead_letter::{DeadLetterHandler, DeadLetters};
use crate::error::{Error, Result};
use crate::subscriber::Subscriber;
use counters::RuntimeCounters;
use receive::{CHUNK, CHUNK_LINGER, HandOver, receive_loop};
use write::{Batching, write_loop};

pub use config::RuntimeConfig;
pub use eventstorm_core::WhenFull;

/// Runs sinks: see [`SinkRuntime::spawn`].
#[derive(Debug)]
pub struct SinkRuntime;

/// Drives an [`EventSink`]: a subscriber thread receives, validates and counts;
/// a bounded channel carries events to the sink thread, which batches them (by
/// count and delay) and writes.
///
/// Every event received is, in the end, exactly one of: `filtered`,
/// `dropped_queue_full`, `dropped_no_sink` or `handed_over` to the sink;
/// and every event handed over is `written` (the sink confirmed it),
/// `pending` (the sink holds it, during an outage for example) or
/// `dropped_sink` (the sink gave up on it). [`SinkHandle::shutdown`] waits
/// until nothing is in flight and the sink has flushed, so then `pending` is
/// 0. Together with the subscriber's `lost` and `missed_at_join`, this
/// accounts for every event the publishers sent.
///
/// ```no_run
/// use eventstorm_sink::{RuntimeConfig, SinkRuntime, SubscriberConfig, sinks::StdoutSink};
///
/// let ctx = zmq::Context::new();
/// let config = RuntimeConfig::new(SubscriberConfig::connect("tcp://127.0.0.1:5556"));
/// let handle = SinkRuntime::spawn(&ctx, config, Box::new(StdoutSink::json_lines()))?;
/// // ... later, on SIGTERM:
/// let stats = handle.shutdown()?;
/// eprintln!("{stats}");
/// # Ok::<(), eventstorm_sink::Error>(())
/// ```
#[derive(Debug)]
pub struct SinkHandle {
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
        sink: Box<dyn EventSink>,
    ) -> Result<SinkHandle> {
        Self::spawn_inner(ctx, config, sink, DeadLetters::default())
    }

    /// Like [`spawn`](Self::spawn), and events the runtime itself gives up
    /// (`dropped_queue_full`, `dropped_no_sink`) are handed to
    /// `dead_letters` as well as counted. (Events the sink gives up go to
    /// the sink's own handler: `MongoSink::with_dead_letters`, say.)
    pub fn spawn_with_dead_letters(
        ctx: &zmq::Context,
        config: RuntimeConfig,
        sink: Box<dyn EventSink>,
        dead_letters: Box<dyn DeadLetterHandler>,
    ) -> Result<SinkHandle> {
        let mut letters = DeadLetters::default();
        letters.set(dead_letters);
        Self::spawn_inner(ctx, config, sink, letters)
    }

    fn spawn_inner(
        ctx: &zmq::Context,
        config: RuntimeConfig,
        mut sink: Box<dyn EventSink>,
        dead_letters: DeadLetters,
    ) -> Result<SinkHandle> {
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
        let subscriber = Subscriber::new(ctx, &config.subscriber())?;
        let sink_name = sink.name().to_string();
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
            let name = format!("sink-{}", sink.name());
            ThreadError::spawn(name, move || {
                write_loop(&mut *sink, &rx, batching, &counters, &sink_stats);
            })?
        };
        let receiver = {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            let filter = config.filter.clone();
            let when_full = config.when_full;
            let sink_name = sink_name.clone();
            let drain = Duration::from_millis(config.drain_timeout_ms);
            ThreadError::spawn("sink-subscriber", move || {
                let mut hand_over = HandOver {
                    tx: &tx,
                    filter,
                    when_full,
                    counters: &counters,
                    stop: &stop,
                    dead_letters,
                    sink: sink_name,
                    drain,
                    drain_until: None,
                };
                receive_loop(subscriber, &mut hand_over, chunk, linger)
            })?
        };
        Ok(SinkHandle {
            stop,
            receiver: Some(receiver),
            writer: Some(writer),
            subscriber: subscriber_counters,
            counters,
            sink_stats,
            endpoints,
        })
    }
}

/// A sink running behind its subscriber, from [`SinkRuntime::spawn`];
/// [`shutdown`](Self::shutdown) writes what was received and returns the
/// final counters.
impl SinkHandle {
    /// The subscriber's endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Events received and decoded so far.
    pub fn received(&self) -> u64 {
        self.subscriber.received.get()
    }

    /// Events missed so far after their streams were first seen (sequence
    /// gaps, see [`ReceiveCounters`]).
    pub fn lost(&self) -> u64 {
        self.subscriber.lost.get()
    }

    /// Events the sink has confirmed as written so far (not those it holds
    /// pending, see [`EventSink::pending`]).
    pub fn written(&self) -> u64 {
        self.counters.written()
    }

    /// A snapshot of every counter: the subscriber's, the runtime's, then the
    /// sink's own (prefixed with `sink.`).
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::new("sink-runtime");
        self.subscriber.append_to(&mut stats);
        self.counters.append_to(&mut stats);
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
            result = ThreadError::join(receiver)
                .map_err(Error::from)
                .and_then(|r| r);
        }
        if let Some(writer) = self.writer.take()
            && let Err(e) = ThreadError::join(writer)
        {
            result = Err(e.into());
        }
        result
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        let _ = self.stop_threads();
    }
}
