//! Running the sinks of a configuration file, as the `eventstorm-sink`
//! binary does (feature `service`): each `[[sinks]]` entry gets its sink,
//! its subscriber and runtime, and its dead-letter file; the process logs a
//! stats line per sink and publishes `_eventstorm.stats` events; shutdown
//! writes everything received.
//!
//! ```no_run
//! use eventstorm_sink::service::{SinkService, SinksConfig};
//!
//! let config = SinksConfig::from_file("sinks.toml".as_ref())?;
//! let ctx = zmq::Context::new();
//! let service = SinkService::spawn(&ctx, config)?;
//! // ... until SIGTERM:
//! for stats in service.shutdown()? {
//!     println!("{stats}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod build;
mod config;
#[cfg(feature = "cql")]
mod deferred;
mod replay;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use eventstorm_core::http::{Router, Server};
use eventstorm_core::transport::{PubSocket, TrySend};
use eventstorm_core::{STATS_TYPE, Stats, ThreadError};

use crate::dead_letter::DeadLetterFile;
use crate::error::{Error, Result};
use crate::runtime::{SinkHandle, SinkRuntime};

pub use build::{BuiltSink, build_sink};
pub use config::{ProcessConfig, SinkEntry, SinkKind, SinksConfig, StdoutSinkConfig};
pub use replay::{ReplaySummary, replay};

/// A commented configuration with every sink type, for
/// `eventstorm-sink --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Starts the sinks of a [`SinksConfig`]: see [`SinkService::spawn`].
#[derive(Debug)]
pub struct SinkService;

/// One running sink.
#[derive(Debug)]
struct Running {
    name: String,
    handle: SinkHandle,
    dead_letters: Option<DeadLetterFile>,
}

impl Running {
    fn stats(&self, process: &str) -> Stats {
        let mut stats = self
            .handle
            .stats()
            .with_component(format!("{process}/{}", self.name));
        if let Some(dead) = &self.dead_letters {
            stats.extend_prefixed("dead_letter", &dead.stats());
        }
        stats
    }
}

/// The running sinks, from [`SinkService::spawn`].
#[derive(Debug)]
pub struct ServiceHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Stats>>>,
    snapshot: Arc<Mutex<Vec<Stats>>>,
    endpoints: Vec<(String, Vec<String>)>,
    http: Option<Server>,
}

impl SinkService {
    /// Builds and starts every sink of `config` (their subscribers bind or
    /// connect now), then a thread that logs and publishes their stats.
    /// A sink that cannot be built (a file that cannot be opened, a
    /// configuration a database refuses) fails the whole start, and the
    /// sinks already started are stopped; a database that is merely
    /// unreachable does not (see [`build_sink`]).
    pub fn spawn(ctx: &zmq::Context, config: SinksConfig) -> Result<ServiceHandle> {
        let process = config.process.clone();
        // Every sink is built first, so that the listener serves all their
        // routes from its first request, and binds before any subscriber.
        let mut built = Vec::with_capacity(config.sinks.len());
        let mut routes = Router::new();
        let mut with_routes = 0;
        for entry in config.sinks {
            let mut sink = build_sink(&entry)?;
            if let Some(r) = sink.routes.take() {
                routes = routes.merge(r);
                with_routes += 1;
            }
            built.push((entry, sink));
        }
        let http = match &config.http {
            Some(http) => {
                let server = Server::start(http, routes)?;
                tracing::info!(
                    addr = %server.local_addr(),
                    sinks = with_routes,
                    "HTTP listener started"
                );
                Some(server)
            }
            None => None,
        };
        let mut running = Vec::with_capacity(built.len());
        let mut endpoints = Vec::new();
        for (entry, built) in built {
            let handle = match (&built.dead_letters, entry.dead_letter.as_ref()) {
                (Some(dead), Some(dc)) if dc.queue_full => SinkRuntime::spawn_with_dead_letters(
                    ctx,
                    entry.runtime.clone(),
                    built.sink,
                    Box::new(dead.clone()),
                )?,
                _ => SinkRuntime::spawn(ctx, entry.runtime.clone(), built.sink)?,
            };
            tracing::info!(
                sink = %entry.name,
                kind = entry.kind.as_str(),
                endpoints = ?handle.endpoints(),
                "sink started"
            );
            endpoints.push((entry.name.clone(), handle.endpoints().to_vec()));
            running.push(Running {
                name: entry.name,
                handle,
                dead_letters: built.dead_letters,
            });
        }
        let publisher = if process.stats_connect.is_empty() {
            None
        } else {
            let config = config::stats_publisher(&process.stats_connect);
            Some(PubSocket::open(ctx, "stats", &config)?)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(Mutex::new(
            running.iter().map(|r| r.stats(&process.name)).collect(),
        ));
        let thread = {
            let stop = Arc::clone(&stop);
            let snapshot = Arc::clone(&snapshot);
            ThreadError::spawn("sink-service", move || {
                let mut reporter = Reporter {
                    process,
                    running,
                    publisher,
                    snapshot,
                };
                reporter.run(&stop);
                reporter.shutdown()
            })?
        };
        Ok(ServiceHandle {
            stop,
            thread: Some(thread),
            snapshot,
            endpoints,
            http,
        })
    }
}

impl ServiceHandle {
    /// Each sink's name and its subscriber's endpoints (`*` ports
    /// resolved).
    pub fn endpoints(&self) -> &[(String, Vec<String>)] {
        &self.endpoints
    }

    /// The address the `[http]` listener is bound to (with the port
    /// resolved), when there is one.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(Server::local_addr)
    }

    /// Every sink's counters, at most 200 ms old.
    pub fn stats(&self) -> Vec<Stats> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops receiving, writes everything already received, flushes each
    /// sink, and returns every sink's final counters.
    ///
    /// The HTTP listener stops last, so the pages it serves stay up while
    /// the sinks drain; a dashboard ends its browsers' streams when it stops.
    pub fn shutdown(mut self) -> Result<Vec<Stats>> {
        self.stop.store(true, Ordering::Relaxed);
        let finals = match self.thread.take() {
            Some(thread) => ThreadError::join(thread).map_err(Error::from),
            None => Ok(Vec::new()),
        };
        if let Some(http) = self.http.take() {
            http.shutdown();
        }
        finals
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How often the snapshot is refreshed (and the stop flag checked).
const TICK: Duration = Duration::from_millis(200);

/// The service thread: owns the running sinks and the stats publisher.
struct Reporter {
    process: ProcessConfig,
    running: Vec<Running>,
    publisher: Option<PubSocket>,
    snapshot: Arc<Mutex<Vec<Stats>>>,
}

impl Reporter {
    fn run(&mut self, stop: &AtomicBool) {
        let interval = Duration::from_millis(self.process.stats_interval_ms);
        let mut next_report = Instant::now() + interval;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            let stats = self.refresh();
            if let Some(publisher) = &mut self.publisher
                && let Err(e) = publisher.tick()
            {
                tracing::debug!("stats publisher: {e}");
            }
            if !interval.is_zero() && Instant::now() >= next_report {
                next_report += interval;
                self.report(&stats);
            }
        }
    }

    fn refresh(&self) -> Vec<Stats> {
        let stats: Vec<Stats> = self
            .running
            .iter()
            .map(|r| r.stats(&self.process.name))
            .collect();
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = stats.clone();
        stats
    }

    /// Logs one line per sink and publishes one stats event per sink.
    fn report(&mut self, stats: &[Stats]) {
        for s in stats {
            tracing::info!(target: "eventstorm_sink::stats", "{s}");
            let Some(publisher) = &mut self.publisher else {
                continue;
            };
            let body = s.to_event().to_bytes();
            match publisher.try_send(STATS_TYPE.as_bytes(), &body[..], zmq::DONTWAIT) {
                Ok(TrySend::Sent) => {}
                Ok(_) => publisher.count_dropped(STATS_TYPE.as_bytes()),
                Err(e) => tracing::debug!("stats event not published: {e}"),
            }
        }
    }

    /// Stops every sink (each writes what it received) and returns their
    /// final counters.
    fn shutdown(mut self) -> Vec<Stats> {
        let mut finals = Vec::with_capacity(self.running.len());
        for running in std::mem::take(&mut self.running) {
            let name = format!("{}/{}", self.process.name, running.name);
            let dead = running.dead_letters.clone();
            let mut stats = match running.handle.shutdown() {
                Ok(s) => s.with_component(name),
                Err(e) => {
                    tracing::error!(sink = %running.name, "stopping the sink failed: {e}");
                    Stats::new(name)
                }
            };
            if let Some(dead) = dead {
                stats.extend_prefixed("dead_letter", &dead.stats());
            }
            tracing::info!(target: "eventstorm_sink::stats", "final {stats}");
            finals.push(stats);
        }
        if let Some(publisher) = &mut self.publisher {
            for s in &finals {
                let body = s.to_event().to_bytes();
                let _ = publisher.try_send(STATS_TYPE.as_bytes(), &body[..], zmq::DONTWAIT);
            }
            publisher.close();
        }
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = finals.clone();
        finals
    }
}
