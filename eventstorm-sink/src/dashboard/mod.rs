//! A live dashboard (feature `dashboard`): a sink that counts the events it
//! receives per second, by event type prefix, severity and tenant, reads
//! the `_eventstorm.stats` events of every component (sources, routers,
//! sinks) into a table of rates and losses, and serves a page that draws
//! them, updated every second.
//!
//! [`DashboardSink::new`] gives the sink, for a
//! [`SinkRuntime`](crate::SinkRuntime), and a [`DashboardHandle`] whose
//! [`router`](DashboardHandle::router) serves the page on an
//! [`eventstorm_core::http::Server`]. The `eventstorm-sink` binary does
//! both for a `type = "dashboard"` sink, on the listener of its `[http]`
//! table.
//!
//! | route | what it serves |
//! |---|---|
//! | `GET /` | the page (no CDN: everything it loads is compiled in) |
//! | `GET /api/series` | the window's data, as JSON |
//! | `GET /api/stream` | Server-Sent Events: one update per second (`?updates=N`: close after N) |
//!
//! Counting reads the type, severity and tenant from the received bytes
//! (no decode), in per-second ring buffers over the window: memory depends
//! on the window and the series caps ([`DashboardConfig`]), never on the
//! number of events.
//!
//! ```
//! use eventstorm_core::http::{HttpConfig, Server};
//! use eventstorm_core::{Event, EventSink, RawEvent};
//! use eventstorm_sink::dashboard::{DashboardConfig, DashboardSink};
//!
//! let (mut sink, handle) = DashboardSink::new(DashboardConfig::default())?;
//! let server = Server::start(&HttpConfig::listen("127.0.0.1:0"), handle.router())?;
//! // A SinkRuntime would call `write` with what its subscriber receives.
//! let event = RawEvent::from_event(&Event::builder("order.placed").tenant("acme").build())?;
//! sink.write(&[event])?;
//! assert_eq!(handle.series()["events"], 1);
//! println!("open http://{}/", server.local_addr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aggregate;
mod components;
mod config;
mod routes;
mod series;
mod stream;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use eventstorm_core::http::Router;
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats, ThreadError};

use aggregate::{Aggregator, Clock};
pub use config::DashboardConfig;

eventstorm_core::counters! {
    /// The dashboard's stream counters, readable from any thread.
    struct StreamCounters {
        /// Updates written to a browser's stream.
        stream_updates,
        /// Updates a slow browser missed (its stream was full).
        stream_skipped,
        /// Browsers answered 503 (`max_stream_clients` reached).
        stream_refused,
    }
}

/// What the sink, its routes and its stream thread share.
#[derive(Debug)]
struct Shared {
    config: DashboardConfig,
    clock: Clock,
    aggregator: Mutex<Aggregator>,
    clients: Mutex<Vec<stream::Client>>,
    counters: StreamCounters,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Aggregator> {
        self.aggregator.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_clients(&self) -> MutexGuard<'_, Vec<stream::Client>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `/api/series`.
    fn series(&self) -> String {
        self.lock().series_json().to_string()
    }

    /// One stream update.
    fn update(&self) -> String {
        self.lock().update_json().to_string()
    }
}

/// The dashboard's sink: counts what it is given (see the [module
/// docs](self)). Dropping it ends the streams of the browsers following it.
#[derive(Debug)]
pub struct DashboardSink {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Serves a [`DashboardSink`]'s page and data; cheap to clone.
#[derive(Debug, Clone)]
pub struct DashboardHandle {
    shared: Arc<Shared>,
}

impl DashboardSink {
    /// Checks `config` and starts the thread that sends the stream's
    /// updates. Fails with [`Error::Config`](crate::Error::Config) naming
    /// the key, or when the thread cannot start.
    pub fn new(config: DashboardConfig) -> crate::Result<(DashboardSink, DashboardHandle)> {
        config
            .validate()
            .map_err(|(key, message)| crate::Error::config(format!("dashboard.{key}"), message))?;
        let clock = Clock::new();
        let shared = Arc::new(Shared {
            aggregator: Mutex::new(Aggregator::new(&config, clock)),
            config,
            clock,
            clients: Mutex::new(Vec::new()),
            counters: StreamCounters::default(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            ThreadError::spawn("dashboard-stream", move || stream::run(&shared))?
        };
        let handle = DashboardHandle {
            shared: Arc::clone(&shared),
        };
        let sink = DashboardSink {
            name: "dashboard".into(),
            shared,
            thread: Some(thread),
        };
        Ok((sink, handle))
    }

    /// Renames the sink (logs and stats; default `dashboard`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl EventSink for DashboardSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        self.shared.lock().write(batch);
        Ok(())
    }

    /// `events`, `stats_events`; `type_overflow` and `tenant_overflow`
    /// (events drawn as `other` because `max_series` names were tracked);
    /// `components`, `unreadable_stats` (stats events without a component
    /// or counters), `components_refused` (`max_components` live ones
    /// already); `stream_clients` (a gauge), `stream_updates`,
    /// `stream_skipped`, `stream_refused`.
    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        {
            let a = self.shared.lock();
            let (types, tenants) = a.overflow();
            stats
                .push("events", a.events)
                .push("stats_events", a.stats_events)
                .push("type_overflow", types)
                .push("tenant_overflow", tenants)
                .push("components", a.components.len() as u64)
                .push("unreadable_stats", a.components.unreadable)
                .push("components_refused", a.components.refused);
        }
        let clients = self.shared.lock_clients().len();
        stats.push("stream_clients", clients as u64);
        self.shared.counters.append_to(&mut stats);
        stats
    }
}

impl Drop for DashboardSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && let Err(e) = ThreadError::join(thread)
        {
            tracing::error!(sink = %self.name, "{e}");
        }
        self.shared.lock_clients().clear();
    }
}

impl DashboardHandle {
    /// The page, `api/series` and `api/stream`, under the configured
    /// `mount`: merge it into the listener's [`Router`].
    pub fn router(&self) -> Router {
        routes::router(&self.shared, &self.shared.config.mount)
    }

    /// What `/api/series` answers now.
    pub fn series(&self) -> serde_json::Value {
        self.shared.lock().series_json()
    }

    /// Where the routes are mounted (`/`, `/ops/`).
    pub fn mount(&self) -> &str {
        &self.shared.config.mount
    }
}
