//! The router runtime: owns the sockets and runs the forwarding loop on one
//! thread.
//!
//! Split by part: the loop and its housekeeping here, the forwarding path
//! (`forward`), subscription propagation (`subscriptions`) and the handle
//! of a spawned router (`handle`).

mod forward;
mod handle;
mod subscriptions;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventstorm_core::{EventRouter, Routed, Stats, ThreadError};

pub use handle::{Endpoints, RouterHandle};

use crate::config::RouterConfig;
use crate::error::{Error, Result};
use crate::input::Input;
use crate::output::Output;
use crate::rules::Rules;
use crate::stats::{Counters, InputCounters, RuntimeCounters};

/// Most messages read from one input before the others get a turn.
const BATCH: usize = 4096;
/// Longest the loop sleeps, so that a stop request is seen quickly.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// Delay before subscriptions are sent again after a peer connected.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(100);

/// A router with its sockets open, ready to [`run`](Self::run) on this thread
/// or to be [`start`](Self::start)ed on a thread of its own;
/// [`RouterRuntime::spawn`] does both steps at once, as
/// `SourceRunner::spawn` and `SinkRuntime::spawn` do.
///
/// ```
/// use eventstorm_router::{InputConfig, OutputConfig, RouterConfig, RouterRuntime};
///
/// let config = RouterConfig {
///     inputs: vec![InputConfig::bind("apps", "tcp://127.0.0.1:*")],
///     outputs: vec![OutputConfig::bind("all", "tcp://127.0.0.1:*")],
///     ..Default::default()
/// };
/// let mut config = config;
/// config.router.default_output = Some("all".into());
/// let handle = RouterRuntime::spawn(&zmq::Context::new(), config)?;
/// println!("publish to {:?}", handle.endpoints().input("apps"));
/// let stats = handle.shutdown()?;
/// assert_eq!(stats.get("in.apps.received"), Some(0));
/// # Ok::<(), eventstorm_router::Error>(())
/// ```
pub struct RouterRuntime {
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    router: Box<dyn EventRouter>,
    /// Per output, the prefixes its events can have (`None`: any).
    reachable: Vec<Option<Vec<Vec<u8>>>>,
    upstream: BTreeSet<Vec<u8>>,
    stats_interval: Option<Duration>,
    stats_outputs: Vec<usize>,
    counters: Counters,
    snapshot: Arc<Mutex<Stats>>,
    routes: Vec<Routed>,
    resubscribe_at: Option<Instant>,
    last_stats: Instant,
}

impl std::fmt::Debug for RouterRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterRuntime")
            .field("name", &self.counters.name)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl RouterRuntime {
    /// Opens every socket of `config`, routing with its [`Rules`], and runs
    /// the router on a thread of its own; stop it with
    /// [`RouterHandle::shutdown`]. Takes its configuration by value, as
    /// `SourceRunner::spawn` and `SinkRuntime::spawn` do.
    pub fn spawn(ctx: &zmq::Context, config: RouterConfig) -> Result<RouterHandle> {
        RouterRuntime::new(ctx, &config)?.start()
    }

    /// Opens every socket of `config`, routing with its [`Rules`].
    pub fn new(ctx: &zmq::Context, config: &RouterConfig) -> Result<Self> {
        let rules = Rules::new(config)?;
        let reachable = rules
            .output_prefixes()
            .into_iter()
            .map(|list| Some(list.into_iter().map(String::into_bytes).collect()))
            .collect();
        let counters = rules.counters();
        let mut runtime = Self::open(ctx, config, Box::new(rules), reachable)?;
        runtime.counters.rules = Some(counters);
        Ok(runtime)
    }

    /// Opens every socket of `config` but routes with a custom [`EventRouter`],
    /// whose [`outputs`](EventRouter::outputs) must name configured outputs
    /// (the config's rules are ignored). Downstream subscriptions are sent
    /// upstream unchanged.
    pub fn with_router(
        ctx: &zmq::Context,
        config: &RouterConfig,
        router: Box<dyn EventRouter>,
    ) -> Result<Self> {
        let mut config = config.clone();
        config.rules.clear();
        config.validate()?;
        let names = router.outputs();
        let mut ordered = Vec::with_capacity(names.len());
        for name in &names {
            let output = config
                .outputs
                .iter()
                .find(|o| &o.name == name)
                .ok_or_else(|| {
                    crate::ConfigError::new(
                        "outputs",
                        format!("the router names output `{name}`, which is not configured"),
                    )
                })?;
            ordered.push(output.clone());
        }
        config.outputs = ordered;
        let reachable = vec![None; names.len()];
        Self::open(ctx, &config, router, reachable)
    }

    fn open(
        ctx: &zmq::Context,
        config: &RouterConfig,
        router: Box<dyn EventRouter>,
        reachable: Vec<Option<Vec<Vec<u8>>>>,
    ) -> Result<Self> {
        let monitor = config.router.resubscribe_on_connect;
        let inputs = config
            .inputs
            .iter()
            .map(|c| Input::open(ctx, c, monitor))
            .collect::<Result<Vec<_>>>()?;
        let outputs = config
            .outputs
            .iter()
            .map(|c| Output::open(ctx, c))
            .collect::<Result<Vec<_>>>()?;
        let index = |name: &str| outputs.iter().position(|o| o.name == name);
        let stats_outputs = config
            .router
            .stats_outputs
            .iter()
            .filter_map(|n| index(n))
            .collect();
        let counters = Counters {
            name: config.router.name.clone(),
            inputs: inputs
                .iter()
                .map(|i| InputCounters {
                    name: i.name.clone(),
                    socket: i.counters(),
                    refused_reserved: i.refused_reserved(),
                    refused_tenant: i.refused_tenant(),
                    security: i.security_counters(),
                })
                .collect(),
            outputs: outputs
                .iter()
                .map(|o| (o.name.clone(), o.counters(), o.socket.security_counters()))
                .collect(),
            rules: None,
            runtime: Arc::new(RuntimeCounters::default()),
        };
        for output in &outputs {
            tracing::info!(output = %output.name, endpoints = ?output.socket.endpoints(), publisher_id = output.socket.publisher_id(), "output ready");
        }
        for input in &inputs {
            tracing::info!(input = %input.name, endpoints = ?input.socket.endpoints(), "input ready");
        }
        Ok(RouterRuntime {
            inputs,
            outputs,
            router,
            reachable,
            upstream: BTreeSet::new(),
            stats_interval: (config.router.stats_interval_ms > 0)
                .then(|| Duration::from_millis(config.router.stats_interval_ms)),
            stats_outputs,
            snapshot: Arc::new(Mutex::new(Stats::new(config.router.name.clone()))),
            counters,
            routes: Vec::with_capacity(8),
            resubscribe_at: None,
            last_stats: Instant::now(),
        })
    }

    /// The resolved endpoints.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            inputs: self
                .inputs
                .iter()
                .map(|i| (i.name.clone(), i.socket.endpoints().to_vec()))
                .collect(),
            outputs: self
                .outputs
                .iter()
                .map(|o| (o.name.clone(), o.socket.endpoints().to_vec()))
                .collect(),
        }
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        stats_of(&self.counters, self.router.as_ref())
    }

    /// Runs on a new thread; stop it with [`RouterHandle::shutdown`].
    pub fn start(self) -> Result<RouterHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let endpoints = self.endpoints();
        let snapshot = Arc::clone(&self.snapshot);
        let flag = Arc::clone(&stop);
        let thread = ThreadError::spawn("eventstorm-router", move || self.run(&flag))?;
        Ok(RouterHandle {
            stop,
            thread: Some(thread),
            snapshot,
            endpoints,
        })
    }

    /// Forwards until `stop` is set, then sends final sequence marks (and a
    /// final stats event), logs the final stats line and returns the stats.
    ///
    /// Shutdown is bounded by one deadline, the longest `linger_ms` of the
    /// outputs from when `stop` was seen: what is already queued at the
    /// inputs is forwarded without waiting (a block-mode output with no room
    /// counts it as `dropped_hwm`), and every output's final marks and
    /// queued messages get the time left until that deadline, however many
    /// outputs are stalled.
    pub fn run(mut self, stop: &AtomicBool) -> Result<Stats> {
        let mut last_snapshot = Instant::now();
        let mut ready = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let mut wait = MAX_WAIT;
            for output in &self.outputs {
                wait = wait.min(output.socket.next_mark_in().unwrap_or(MAX_WAIT));
            }
            self.poll(&mut ready, wait)?;
            let (n_in, n_out) = (self.inputs.len(), self.outputs.len());
            for (i, _) in ready[..n_in].iter().enumerate().filter(|(_, r)| **r) {
                self.drain(i, stop)?;
            }
            self.flush_outputs(stop)?;
            let mut changed = false;
            for o in 0..n_out {
                if ready[n_in + o] {
                    changed |= self.outputs[o].socket.read_subscriptions()?.changed;
                }
            }
            if changed {
                self.propagate()?;
            }
            for i in 0..n_in {
                if ready[n_in + n_out + i] && self.inputs[i].peer_connected() {
                    self.resubscribe_at
                        .get_or_insert(Instant::now() + RESUBSCRIBE_DELAY);
                }
            }
            if self.resubscribe_at.is_some_and(|at| at <= Instant::now()) {
                self.resubscribe_at = None;
                self.resubscribe()?;
            }
            for output in &mut self.outputs {
                output.socket.tick()?;
            }
            if last_snapshot.elapsed() >= MAX_WAIT {
                last_snapshot = Instant::now();
                self.refresh_snapshot();
            }
            if let Some(interval) = self.stats_interval
                && self.last_stats.elapsed() >= interval
            {
                self.last_stats = Instant::now();
                self.report(stop)?;
            }
        }
        let linger = self
            .outputs
            .iter()
            .map(|o| o.socket.linger())
            .max()
            .unwrap_or_default();
        let deadline = Instant::now() + linger;
        for i in 0..self.inputs.len() {
            self.drain_at_shutdown(i, stop, deadline)?;
        }
        self.flush_outputs(stop)?;
        // The last stats event goes out before the final marks, so the marks
        // cover it; the last stats line comes after them, so it counts them.
        self.publish_stats(&self.stats(), stop)?;
        for output in &mut self.outputs {
            output.socket.close_within(deadline);
        }
        let stats = self.stats();
        tracing::info!(target: "eventstorm_router::stats", "final: {stats}");
        self.refresh_snapshot();
        Ok(stats)
    }

    fn refresh_snapshot(&self) {
        let stats = self.stats();
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    /// Logs the stats line and publishes the stats event.
    fn report(&mut self, stop: &AtomicBool) -> Result<()> {
        let stats = self.stats();
        tracing::info!(target: "eventstorm_router::stats", "{stats}");
        self.publish_stats(&stats, stop)
    }

    /// Publishes the stats as an event on the stats outputs.
    fn publish_stats(&mut self, stats: &Stats, stop: &AtomicBool) -> Result<()> {
        if !self.stats_outputs.is_empty() {
            let body = crate::stats::stats_event(stats);
            for &o in &self.stats_outputs {
                let output = &mut self.outputs[o];
                // A stalled stats output waits like any block-mode output.
                // A batching output may send the routes before it.
                let routes = output.send(
                    crate::STATS_TYPE.as_bytes(),
                    &body[..],
                    false,
                    stop,
                    &mut || {},
                )?;
                self.counters.runtime.routed.add_single_writer(routes);
            }
            self.counters.runtime.stats_events.inc();
            self.flush_outputs(stop)?;
        }
        Ok(())
    }

    /// Waits for a readable input, output (subscriptions, or a subscriber
    /// connecting or leaving) or monitor.
    fn poll(&mut self, ready: &mut Vec<bool>, wait: Duration) -> Result<()> {
        let mut items: Vec<zmq::PollItem<'_>> =
            Vec::with_capacity(2 * self.inputs.len() + 2 * self.outputs.len());
        for input in &self.inputs {
            items.push(input.socket.socket().as_poll_item(zmq::POLLIN));
        }
        for output in &self.outputs {
            items.push(output.socket.socket().as_poll_item(zmq::POLLIN));
        }
        for input in &self.inputs {
            if let Some(m) = &input.monitor {
                items.push(m.as_poll_item(zmq::POLLIN));
            }
        }
        for output in &self.outputs {
            items.push(output.socket.monitor_socket().as_poll_item(zmq::POLLIN));
        }
        let ms = i64::try_from(wait.as_millis()).unwrap_or(50).max(1);
        match zmq::poll(&mut items, ms) {
            Ok(_) | Err(zmq::Error::EINTR) => {}
            Err(e) => return Err(Error::zmq("polling", e)),
        }
        ready.clear();
        ready.extend(items.iter().map(zmq::PollItem::is_readable));
        // An output whose monitor is readable is read like one whose socket
        // is: a subscriber leaving releases its host's prefixes.
        let (n_in, n_out) = (self.inputs.len(), self.outputs.len());
        for o in 0..n_out {
            let monitor = ready[ready.len() - n_out + o];
            ready[n_in + o] |= monitor;
        }
        ready.truncate(ready.len() - n_out);
        // Inputs without a monitor are never ready on the monitor side.
        let mut monitors = ready
            .split_off(self.inputs.len() + self.outputs.len())
            .into_iter();
        for input in &self.inputs {
            ready.push(input.monitor.is_some() && monitors.next().unwrap_or(false));
        }
        Ok(())
    }
}

/// Every counter of a router, with a custom router's own stats.
pub(super) fn stats_of(counters: &Counters, router: &dyn EventRouter) -> Stats {
    let own = counters.rules.is_none().then(|| router.stats());
    counters.snapshot(own.as_ref())
}
