//! Usage accounting for OpenStack tenants (feature `usage`), compatible
//! with Almanach's API: a sink that keeps, in MongoDB, the versions of
//! every instance and volume from the notifications the `openstack` parser
//! makes events of, and serves them (and a billing summary) over HTTP.
//!
//! [`UsageSink::new`] gives the sink, for a [`SinkRuntime`](crate::SinkRuntime),
//! and a [`UsageHandle`] whose [`router`](UsageHandle::router) serves the
//! API on an [`eventstorm_core::http::Server`]. The `eventstorm-sink`
//! binary does both for a `type = "usage"` sink, on the listener of its
//! `[http]` table. `docs/usage.md` is the guide: the notifications read,
//! the version rules, the routes, the counters.
//!
//! An entity has one version per period in which nothing billed about it
//! changed; its active version has no `end`. A change closes the active
//! version at the change's time and opens the next one from there. Beyond
//! Almanach: a notification seen twice (same `message_id`) changes nothing;
//! a change for an entity not created yet is parked in MongoDB (bounded)
//! and applied when the create arrives, or kept in the dead-letter file
//! after `park_max_tries`; versions never overlap (MongoDB itself refuses a
//! second active version of an entity).
//!
//! ```no_run
//! use eventstorm_core::http::{HttpConfig, Server};
//! use eventstorm_core::{Event, EventSink, RawEvent};
//! use eventstorm_sink::usage::{UsageConfig, UsageSink};
//!
//! let config = UsageConfig::new("mongodb://127.0.0.1:27017", "almanach", "s3cret-token");
//! let (mut sink, handle) = UsageSink::new(config)?;
//! let server = Server::start(&HttpConfig::listen("127.0.0.1:0"), handle.router())?;
//! // A SinkRuntime would call `write` with what its subscriber receives.
//! let event = Event::builder("volume.create.end")
//!     .field("message_id", "m-1")
//!     .field("volume_id", "v-1")
//!     .field("tenant_id", "acme")
//!     .field("created_at", "2026-03-01 09:00:00.000000")
//!     .field("size", 50)
//!     .build();
//! sink.write(&[RawEvent::from_event(&event)?])?;
//! println!("curl -H 'X-Auth-Token: s3cret-token' 'http://{}/v1/project/acme/volumes?start=2026-03-01T00:00:00Z'",
//!     server.local_addr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api;
mod billing;
mod config;
mod engine;
mod model;
mod notification;
mod rules;
mod store;
mod time;
mod writes;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventstorm_core::http::Router;
use eventstorm_core::{EventSink, RawEvent, SinkError, Stats, ThreadError};

use crate::dead_letter::DeadLetterHandler;
pub use config::UsageConfig;
use engine::Engine;

eventstorm_core::counters! {
    /// The usage sink's counters: every event received ends in exactly one
    /// of `applied`, `unchanged`, `stale`, `duplicates`, `parked`,
    /// `refused`, `invalid`, `ignored`, `failed`, `parked_overflow`; a
    /// parked one later in `parked_applied` or `parked_expired`.
    pub struct UsageCounters {
        /// Changes written (a version opened, closed, updated or dropped).
        applied,
        /// Notifications that changed nothing (same flavor, image, name).
        unchanged,
        /// Creates older than what is stored, ignored (Almanach's rule).
        stale,
        /// Notifications applied (or parked) already: same `message_id`.
        duplicates,
        /// Changes parked: their entity was not created yet.
        parked,
        /// Parked changes applied once their entity existed.
        parked_applied,
        /// Parked changes given up after `park_max_tries` (dead letters).
        parked_expired,
        /// Changes not parked because `max_parked` were (dead letters).
        parked_overflow,
        /// Changes that cannot be applied without rewriting closed history,
        /// or for a deleted entity (dead letters).
        refused,
        /// Usage notifications without what they need (dead letters).
        invalid,
        /// Events that are not usage notifications (create.start, ...).
        ignored,
        /// Changes given up because MongoDB failed for longer than
        /// `retry_timeout_ms`, or refused the write (dead letters).
        failed,
        /// Writes tried again after a MongoDB error.
        retries,
        /// API requests answered 401 (no or a wrong `X-Auth-Token`).
        api_unauthorized,
    }
}

/// What the sink, its retry thread and the API share.
#[derive(Debug)]
struct Shared {
    engine: Mutex<Engine>,
    counters: Arc<UsageCounters>,
    parked_now: Arc<AtomicU64>,
    stop: AtomicBool,
}

impl Shared {
    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The usage sink (see the [module docs](self)).
#[derive(Debug)]
pub struct UsageSink {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Serves a [`UsageSink`]'s API; cheap to clone.
#[derive(Debug, Clone)]
pub struct UsageHandle {
    shared: Arc<Shared>,
    config: Arc<UsageConfig>,
    store: store::Store,
}

impl UsageSink {
    /// Checks `config`, starts the MongoDB client (an unreachable server is
    /// not an error here: indexes are created on the first write) and the
    /// thread that tries parked changes again.
    pub fn new(config: UsageConfig) -> crate::Result<(UsageSink, UsageHandle)> {
        config
            .validate()
            .map_err(|(key, message)| crate::Error::config(format!("usage.{key}"), message))?;
        let store = store::Store::open(&config)
            .map_err(|e| crate::Error::config("usage.uri", e.to_string()))?;
        let counters = Arc::new(UsageCounters::default());
        let engine = Engine::new(store.clone(), config.clone(), Arc::clone(&counters));
        let shared = Arc::new(Shared {
            parked_now: Arc::clone(&engine.parked_now),
            engine: Mutex::new(engine),
            counters,
            stop: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let interval = Duration::from_millis(config.park_retry_interval_ms);
            ThreadError::spawn("usage-parked", move || retry_rounds(&shared, interval))?
        };
        let handle = UsageHandle {
            shared: Arc::clone(&shared),
            config: Arc::new(config),
            store,
        };
        let sink = UsageSink {
            name: "usage".into(),
            shared,
            thread: Some(thread),
        };
        Ok((sink, handle))
    }

    /// Renames the sink (logs and stats; default `usage`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.shared.engine().name.clone_from(&self.name);
        self
    }

    /// Hands every event given up (invalid, refused, parked too long,
    /// beyond `max_parked`, MongoDB failing) to `handler`, with the reason.
    pub fn with_dead_letters(self, handler: Box<dyn DeadLetterHandler>) -> Self {
        self.shared.engine().dead_letters.set(handler);
        self
    }

    /// The counters, readable from any thread while the sink runs.
    pub fn counters(&self) -> Arc<UsageCounters> {
        Arc::clone(&self.shared.counters)
    }
}

/// The retry thread: every `interval`, the parked changes are tried again.
fn retry_rounds(shared: &Shared, interval: Duration) {
    let mut next = Instant::now() + interval;
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50).min(interval));
        if Instant::now() >= next {
            shared.engine().retry_parked(None);
            next = Instant::now() + interval;
        }
    }
}

impl EventSink for UsageSink {
    fn name(&self) -> &str {
        &self.name
    }

    /// Applies each event in order. Never fails as a whole: each event's
    /// fate is counted (see [`UsageCounters`]).
    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        for event in batch {
            self.shared.engine().write_event(event);
        }
        Ok(())
    }

    /// Pings MongoDB.
    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        self.shared
            .engine()
            .ping()
            .map_err(|e| eventstorm_core::Error::Unhealthy {
                component: "usage sink (MongoDB does not answer a ping)".into(),
                source: Box::new(e),
            })
    }

    /// The [`UsageCounters`], and `parked_now` (a gauge).
    fn stats(&self) -> Stats {
        let mut stats = Stats::new(self.name.clone());
        self.shared.counters.append_to(&mut stats);
        let parked = self.shared.parked_now.load(Ordering::Relaxed);
        stats.push("parked_now", parked);
        stats
    }
}

impl Drop for UsageSink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take()
            && let Err(e) = ThreadError::join(thread)
        {
            tracing::error!(sink = %self.name, "{e}");
        }
    }
}

impl UsageHandle {
    /// Every route, with and without `/v1`, under the configured `mount`:
    /// merge it into the listener's [`Router`].
    pub fn router(&self) -> Router {
        api::router(self)
    }

    /// Where the routes are mounted (`/`).
    pub fn mount(&self) -> &str {
        &self.config.mount
    }
}
