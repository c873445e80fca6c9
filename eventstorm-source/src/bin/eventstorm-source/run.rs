//! Runs the configured sources until SIGINT/SIGTERM (or until they all finish),
//! with a periodic stats line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::transport::{PubSocket, PublishConfig, TrySend};
use eventstorm_core::{EventSource, STATS_TYPE, Stats};
use eventstorm_source::http::HttpSource;
use eventstorm_source::sources_config::SourcesConfig;
use eventstorm_source::syslog_listener::SyslogSource;
use eventstorm_source::tail::TailSource;
use eventstorm_source::zmq_source::ZmqSource;
use eventstorm_source::{PublisherConfig, SourceHandle, SourceRunner};

/// One running source.
struct Running {
    name: String,
    runner: SourceHandle,
}

/// Builds every source, runs them, and stops them all on a signal. Err when a
/// source cannot start or stopped with an error.
pub(crate) fn run(config: SourcesConfig) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    let ctx = zmq::Context::new();
    let mut running = Vec::new();
    let started = start_all(&ctx, &config, &mut running);
    if let Err(e) = started {
        shutdown(running, &mut None);
        return Err(e);
    }
    let mut stats_publisher = match stats_publisher(&ctx, &config.stats_connect) {
        Ok(p) => p,
        Err(e) => {
            shutdown(running, &mut None);
            return Err(e);
        }
    };
    tracing::info!(sources = running.len(), "running; SIGINT or SIGTERM stops");
    let interval = Duration::from_secs(config.stats_interval_secs);
    let mut next_stats = Instant::now() + interval;
    while !stop.load(Ordering::Relaxed) && running.iter().any(|r| !r.runner.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(publisher) = &mut stats_publisher
            && let Err(e) = publisher.tick()
        {
            tracing::debug!("stats publisher: {e}");
        }
        if !interval.is_zero() && Instant::now() >= next_stats {
            next_stats += interval;
            for r in &running {
                let stats = r.runner.stats().with_component(r.name.clone());
                tracing::info!("stats {stats}");
                publish_stats(&mut stats_publisher, &stats);
            }
        }
    }
    tracing::info!("stopping: committing positions and closing publishers");
    if shutdown(running, &mut stats_publisher) {
        Ok(())
    } else {
        Err("a source stopped with an error".to_string())
    }
}

fn start_all(
    ctx: &zmq::Context,
    config: &SourcesConfig,
    running: &mut Vec<Running>,
) -> Result<(), String> {
    let publisher = &config.publisher;
    for tail in &config.tail {
        let source = TailSource::new(tail.clone())
            .map_err(|e| format!("tail {}: {e}", tail.source_name()))?;
        start(ctx, running, Box::new(source), publisher)?;
    }
    for syslog in &config.syslog {
        let source = SyslogSource::new(syslog.clone())
            .map_err(|e| format!("syslog {}: {e}", syslog.name))?;
        start(ctx, running, Box::new(source), publisher)?;
    }
    for http in &config.http {
        let source =
            HttpSource::new(http.clone()).map_err(|e| format!("http {}: {e}", http.name))?;
        start(ctx, running, Box::new(source), publisher)?;
    }
    for zmq in &config.zmq {
        let source =
            ZmqSource::new(ctx, zmq.clone()).map_err(|e| format!("zmq {}: {e}", zmq.name))?;
        start(ctx, running, Box::new(source), publisher)?;
    }
    Ok(())
}

fn start(
    ctx: &zmq::Context,
    running: &mut Vec<Running>,
    source: Box<dyn EventSource>,
    publisher: &PublisherConfig,
) -> Result<(), String> {
    let name = source.name().to_string();
    let runner =
        SourceRunner::spawn(ctx, publisher.clone(), source).map_err(|e| format!("{name}: {e}"))?;
    tracing::info!(source = %name, endpoints = ?runner.endpoints(), "publishing");
    running.push(Running { name, runner });
    Ok(())
}

/// Stops every runner (each commits and closes its publisher, which sends its
/// final sequence marks), logs the final stats and publishes them, then
/// closes the stats publisher. False if one failed.
fn shutdown(running: Vec<Running>, stats_publisher: &mut Option<PubSocket>) -> bool {
    let mut ok = true;
    for r in running {
        match r.runner.shutdown() {
            Ok(stats) => {
                tracing::info!("final {stats}");
                publish_stats(stats_publisher, &stats.with_component(r.name));
            }
            Err(e) => {
                ok = false;
                tracing::error!(source = %r.name, "stopped with an error: {e}");
            }
        }
    }
    if let Some(mut publisher) = stats_publisher.take() {
        publisher.close();
    }
    ok
}

/// The socket the stats events go out on, when `stats_connect` names
/// endpoints: drop mode, so a stats endpoint that is down or slow never
/// holds up a source.
fn stats_publisher(ctx: &zmq::Context, endpoints: &[String]) -> Result<Option<PubSocket>, String> {
    if endpoints.is_empty() {
        return Ok(None);
    }
    let mut config = PublishConfig::default();
    config.endpoint.connect = endpoints.to_vec();
    PubSocket::open(ctx, "stats", &config)
        .map(Some)
        .map_err(|e| format!("stats_connect: {e}"))
}

/// Publishes one stats event without waiting; one that finds no room is
/// counted by the stats socket (`dropped_hwm`).
fn publish_stats(publisher: &mut Option<PubSocket>, stats: &Stats) {
    let Some(publisher) = publisher else { return };
    let body = stats.to_event().to_bytes();
    match publisher.try_send(STATS_TYPE.as_bytes(), &body[..], zmq::DONTWAIT) {
        Ok(TrySend::Sent) => {}
        Ok(_) => publisher.count_dropped(STATS_TYPE.as_bytes()),
        Err(e) => tracing::debug!("stats event not published: {e}"),
    }
}
