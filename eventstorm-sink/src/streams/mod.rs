//! The stream engine (feature `streams`): stream definitions that select
//! events, group them by fields, and fire actions when criteria are met or
//! expire them after a time, changed at run time over an HTTP API.
//!
//! A **definition** names matchers (`select`, in the project's matcher
//! grammar), group-by field paths, an expiration (`first + 10m`, `last +
//! 2h`), fire criteria (a matcher and a count each, all required), an
//! optional fire delay, and the actions to run when a stream fires or
//! expires. A **stream** is one definition plus one value of its group-by
//! fields: it opens with the first event of that value and closes when it
//! fires or expires; a later event of the same value opens a new stream.
//!
//! [`StreamsSink::new`] gives the sink, for a
//! [`SinkRuntime`](crate::SinkRuntime), and a [`StreamsHandle`] whose
//! [`router`](StreamsHandle::router) serves the API on an
//! [`eventstorm_core::http::Server`]; the `eventstorm-sink` binary does both
//! for a `type = "streams"` sink. `docs/streams.md` is the guide.
//!
//! ```
//! use eventstorm_core::{Event, EventSink, RawEvent};
//! use eventstorm_sink::streams::{StreamsConfig, StreamsSink};
//!
//! let mut config: StreamsConfig = toml::from_str(r#"
//!     [actions.log]
//!     type = "log"
//!     [[definitions]]
//!     name = "instance-create"
//!     select = ["compute.instance.create.*"]
//!     group_by = ["body.instance_id"]
//!     expiration = "first + 10m"
//!     fire_criteria = [{ match = "compute.instance.create.end" }]
//!     fire_actions = ["log"]
//! "#)?;
//! let (mut sink, handle) = StreamsSink::new(config)?;
//! for t in ["compute.instance.create.start", "compute.instance.create.end"] {
//!     let event = Event::builder(t).field("instance_id", "i-1").build();
//!     sink.write(&[RawEvent::from_event(&event)?])?;
//! }
//! sink.flush()?;
//! assert_eq!(sink.stats().get("streams_fired"), Some(1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod actions;
mod api;
mod config;
mod counters;
mod definition;
mod engine;
pub mod store;
mod stream;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use eventstorm_core::http::Router;
use eventstorm_core::transport::PublishCounters;
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats, ThreadError};

pub use config::{
    ActionConfig, LogActionConfig, PublishActionConfig, StoreConfig, StreamsConfig, WebhookConfig,
};
pub use counters::StreamCounters;
pub use definition::{
    Criterion, DefinitionSpec, Expiration, ExpireFrom, FieldError, format_duration, parse_duration,
};

use actions::{Actions, SharedDeadLetters};
use counters::Lags;
use engine::{Cmd, Engine, Gauges};

/// The stream engine's sink: hands what it is given to the engine thread
/// (see the [module docs](self)). Dropping it stops the engine, which
/// commits its state first.
pub struct StreamsSink {
    name: String,
    tx: Option<Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// Serves the API of a [`StreamsSink`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamsHandle {
    tx: Sender<Cmd>,
    shared: Arc<Shared>,
}

/// What the sink, its handle and the engine share.
struct Shared {
    counters: Arc<StreamCounters>,
    lags: Arc<Lags>,
    gauges: Arc<Gauges>,
    dead: SharedDeadLetters,
    publisher: Option<Arc<PublishCounters>>,
    max_body: usize,
    max_depth: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StreamsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsSink")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl StreamsSink {
    /// Checks `config`, opens the store and reads its state back, installs
    /// the configured definitions, opens the publisher and the webhook
    /// workers, and starts the engine thread. Fails with
    /// [`Error::Config`](crate::Error::Config) naming the key, or when the
    /// store cannot be opened or read.
    pub fn new(config: StreamsConfig) -> crate::Result<(StreamsSink, StreamsHandle)> {
        config
            .validate()
            .map_err(|(key, message)| crate::Error::config(format!("streams.{key}"), message))?;
        let counters = Arc::new(StreamCounters::default());
        let lags = Arc::new(Lags::default());
        let gauges = Arc::new(Gauges::default());
        let dead: SharedDeadLetters = Arc::new(Mutex::new(None));
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let store = store::open(&config.store)
            .map_err(|e| crate::Error::config("streams.store", e.to_string()))?;
        let ctx = zmq::Context::new();
        let actions = Actions::start(&config, &ctx, &counters, &dead, &done_tx)?;
        let publisher = actions.publisher_counters();
        let shared = Arc::new(Shared {
            counters: Arc::clone(&counters),
            lags: Arc::clone(&lags),
            gauges: Arc::clone(&gauges),
            dead: Arc::clone(&dead),
            publisher,
            max_body: config.max_definition_bytes,
            max_depth: config.max_json_depth,
        });
        let queue = config.queue_batches;
        let mut engine = Engine::new(config, store, actions, counters, lags, gauges, dead);
        engine
            .load()
            .map_err(|e| crate::Error::config("streams.store", e.to_string()))?;
        let (tx, rx) = crossbeam_channel::bounded(queue);
        let thread = ThreadError::spawn("streams-engine", move || {
            engine.run(&rx, &done_rx);
            drop(ctx);
        })?;
        let handle = StreamsHandle {
            tx: tx.clone(),
            shared: Arc::clone(&shared),
        };
        let sink = StreamsSink {
            name: "streams".into(),
            tx: Some(tx),
            thread: Some(thread),
            shared,
        };
        Ok((sink, handle))
    }

    /// Renames the sink (logs and stats; default `streams`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where webhook deliveries that fail are sent (the binary's
    /// dead-letter file).
    pub fn with_dead_letters(self, handler: Box<dyn crate::DeadLetterHandler>) -> Self {
        *self.shared.dead.lock().unwrap_or_else(|e| e.into_inner()) = Some(handler);
        self
    }
}

impl EventSink for StreamsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(SinkError::permanent(batch.len(), "the engine stopped"));
        };
        let n = batch.len() as u64;
        self.shared
            .gauges
            .unconfirmed
            .fetch_add(n, Ordering::Relaxed);
        if tx.send(Cmd::Events(batch.to_vec())).is_err() {
            self.shared
                .gauges
                .unconfirmed
                .fetch_sub(n, Ordering::Relaxed);
            return Err(SinkError::permanent(
                batch.len(),
                "the stream engine's thread ended (see the log)",
            ));
        }
        Ok(())
    }

    /// Commits the engine's state (waits at most 30 s).
    fn flush(&mut self) -> Result<(), SinkError> {
        let Some(tx) = &self.tx else { return Ok(()) };
        let (reply, answer) = crossbeam_channel::bounded(1);
        if tx.send(Cmd::Flush(reply)).is_err() {
            return Err(SinkError::permanent(0, "the stream engine's thread ended"));
        }
        answer
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| SinkError::retryable(0, "the stream engine did not commit within 30 s"))
    }

    /// The engine's counters ([`StreamCounters`]), `definitions` and
    /// `active_streams` (gauges), `uncommitted` (changes waiting for the
    /// next commit), `expiry_lag_p99_ms` (deadline to actions, over the
    /// last 100 000 timer-driven closes), and the publisher's counters
    /// under `publish.`.
    fn stats(&self) -> Stats {
        let s = &self.shared;
        let mut stats = Stats::new(self.name.clone());
        s.counters.append_to(&mut stats);
        stats
            .push("definitions", s.gauges.definitions.load(Ordering::Relaxed))
            .push("active_streams", s.gauges.streams.load(Ordering::Relaxed))
            .push("uncommitted", s.gauges.uncommitted.load(Ordering::Relaxed))
            .push(
                "expiry_lag_p99_ms",
                u64::from(s.lags.quantile(0.99).unwrap_or(0)),
            );
        if let Some(p) = &s.publisher {
            stats.extend_prefixed("publish", &p.snapshot("publish"));
        }
        stats
    }

    fn pending(&self) -> usize {
        self.shared.gauges.unconfirmed.load(Ordering::Relaxed) as usize
    }
}

impl Drop for StreamsSink {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Cmd::Stop);
        }
        if let Some(thread) = self.thread.take()
            && let Err(e) = ThreadError::join(thread)
        {
            tracing::error!(sink = %self.name, "{e}");
        }
    }
}

impl StreamsHandle {
    /// The API routes (`/v1/stream-definitions`, `/v1/streams`): merge them
    /// into the listener's [`Router`].
    pub fn router(&self) -> Router {
        api::router(self)
    }

    /// The expiry lags measured (deadline → actions started, in ms), oldest
    /// first: the last 100 000.
    pub fn expiry_lags(&self) -> Vec<u32> {
        self.shared.lags.samples()
    }

    /// The engine's counters.
    pub fn counters(&self) -> &StreamCounters {
        &self.shared.counters
    }

    /// Active streams now.
    pub fn active_streams(&self) -> u64 {
        self.shared.gauges.streams.load(Ordering::Relaxed)
    }
}
