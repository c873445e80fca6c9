//! Drives any [`EventSource`] into a [`Publisher`] on a thread of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use eventstorm_core::{Counter, EventSource, SourceStatus, Stats, ThreadError};

use crate::config::PublisherConfig;
use crate::error::{Error, Result};
use crate::publisher::{Publisher, PublisherCounters};

/// Events asked of a source per poll.
const BATCH: usize = 1024;

/// Runs sources: see [`SourceRunner::spawn`].
#[derive(Debug)]
pub struct SourceRunner;

/// A source running on a thread of its own, from [`SourceRunner::spawn`];
/// [`shutdown`](Self::shutdown) stops it and returns its final counters.
#[derive(Debug)]
pub struct SourceHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<Stats>>>,
    counters: Arc<PublisherCounters>,
    /// Events the publisher could not encode (`invalid`).
    invalid: Arc<Counter>,
    /// The source's own counters, refreshed by the runner thread after each poll.
    source_stats: Arc<Mutex<Stats>>,
    endpoints: Vec<String>,
}

impl SourceRunner {
    /// Opens a publisher and starts polling `source` on a new thread: each batch
    /// the source appends is published, then the source is told to
    /// [`commit`](EventSource::commit). Returns once the publisher is open (and
    /// has seen a subscriber, if the config says to wait for one).
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventstorm_core::{Event, EventSource, Result, SourceStatus};
    /// use eventstorm_source::{PublisherConfig, SourceRunner};
    ///
    /// struct Once(bool);
    /// impl EventSource for Once {
    ///     fn name(&self) -> &str { "once" }
    ///     fn poll(&mut self, out: &mut Vec<Event>, _max: usize, _t: Duration) -> Result<SourceStatus> {
    ///         if !self.0 { out.push(Event::builder("hello").build()); self.0 = true; }
    ///         Ok(SourceStatus::Finished)
    ///     }
    /// }
    ///
    /// let ctx = zmq::Context::new();
    /// let config = PublisherConfig::bind("tcp://127.0.0.1:*");
    /// let handle = SourceRunner::spawn(&ctx, config, Box::new(Once(false)))?;
    /// let stats = handle.join()?; // the source finishes by itself
    /// assert_eq!(stats.get("sent"), Some(1));
    /// # Ok::<(), eventstorm_source::Error>(())
    /// ```
    pub fn spawn(
        ctx: &zmq::Context,
        config: PublisherConfig,
        mut source: Box<dyn EventSource>,
    ) -> Result<SourceHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let thread_stop = Arc::clone(&stop);
        let name = format!("source-{}", source.name());
        let source_stats = Arc::new(Mutex::new(source.stats()));
        let thread_source_stats = Arc::clone(&source_stats);
        let invalid = Arc::new(Counter::new());
        let thread_invalid = Arc::clone(&invalid);
        let thread = ThreadError::spawn(name, move || {
            // The runner sends its batch after each poll of the source.
            let config = config.batching_by_default();
            let mut publisher = match Publisher::new(&ctx, &config) {
                Ok(p) => p,
                Err(e) => {
                    // The caller of `spawn` gets the error.
                    let _ = ready_tx.send(Err(e));
                    return Ok(Stats::new("publisher"));
                }
            };
            let _ = ready_tx.send(Ok((publisher.counters(), publisher.endpoints().to_vec())));
            let result = run(
                &mut *source,
                &mut publisher,
                &thread_stop,
                &thread_source_stats,
                &thread_invalid,
            );
            // Read after closing, so that the final marks are counted.
            let mut stats = publisher.close();
            stats.push("invalid", thread_invalid.get());
            stats.extend_prefixed(source.name(), &source.stats());
            result.map(|()| stats)
        })?;
        match ready_rx.recv() {
            Ok(Ok((counters, endpoints))) => Ok(SourceHandle {
                stop,
                thread: Some(thread),
                counters,
                invalid,
                source_stats,
                endpoints,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(match ThreadError::join(thread) {
                Err(e) => e.into(),
                Ok(_) => Error::Thread(ThreadError::Stopped {
                    thread: "source".into(),
                }),
            }),
        }
    }
}

impl SourceHandle {
    /// The publisher's endpoints, with `*` ports resolved.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The live counters: the publisher's, `invalid` (events the source
    /// produced that could not be encoded: an invalid type, a body nested too
    /// deep), then the source's own prefixed with its name (as of its last
    /// poll).
    pub fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot("publisher");
        stats.push("invalid", self.invalid.get());
        let source = self
            .source_stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        stats.extend_prefixed(source.component(), &source);
        stats
    }

    /// Whether the source thread has ended (the source finished or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the source to stop after its current poll, waits for it, and
    /// returns the final counters.
    pub fn shutdown(mut self) -> Result<Stats> {
        self.stop.store(true, Ordering::Relaxed);
        self.wait()
    }

    /// Waits for the source to finish by itself.
    pub fn join(mut self) -> Result<Stats> {
        self.wait()
    }

    fn wait(&mut self) -> Result<Stats> {
        match self.thread.take() {
            Some(thread) => ThreadError::join(thread)?,
            None => Ok(self.stats()),
        }
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    source: &mut dyn EventSource,
    publisher: &mut Publisher,
    stop: &AtomicBool,
    source_stats: &Mutex<Stats>,
    invalid: &Counter,
) -> Result<()> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut raw_batch = Vec::with_capacity(BATCH);
    // Until the source says it does not hold encoded events.
    let mut raw = true;
    while !stop.load(Ordering::Relaxed) {
        let timeout = Duration::from_millis(100);
        let status = match raw.then(|| source.poll_raw(&mut raw_batch, BATCH, timeout)) {
            Some(Ok(Some(status))) => status,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(None)) | None => {
                raw = false;
                source.poll(&mut batch, BATCH, timeout)?
            }
        };
        for event in raw_batch.drain(..) {
            // Encoded by the source's event writer, which checked the type.
            if let Err(e) = publisher.send_raw(&event) {
                warn_unpublished(source.name(), &e, invalid);
            }
        }
        for event in batch.drain(..) {
            if let Err(e) = publisher.send(&event) {
                warn_unpublished(source.name(), &e, invalid);
            }
        }
        // Nothing more to send at once: a batching publisher sends what it
        // holds (lost events are counted by the publisher).
        if let Err(e) = publisher.flush() {
            tracing::warn!(source = source.name(), "events not published: {e}");
        }
        source.commit()?;
        *source_stats.lock().unwrap_or_else(|e| e.into_inner()) = source.stats();
        publisher.tick()?;
        if status == SourceStatus::Finished {
            break;
        }
    }
    Ok(())
}

/// Logs an event that was not published; counts it `invalid` unless the
/// publisher counted it already.
fn warn_unpublished(source: &str, e: &Error, invalid: &Counter) {
    match e {
        // Counted by the publisher (`send_errors`).
        Error::Transport(e) => tracing::warn!(source, "event not published: {e}"),
        // A bad event (an invalid type, a body nested too deep) is the
        // source's bug, not a reason to stop: counted and skipped.
        e => {
            invalid.inc();
            tracing::warn!(source, "event not published: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use eventstorm_core::Event;

    use super::*;

    /// Yields one event of a valid type and one of an invalid type, then
    /// finishes.
    struct OneBad(bool);

    impl EventSource for OneBad {
        fn name(&self) -> &str {
            "one-bad"
        }

        fn poll(
            &mut self,
            out: &mut Vec<Event>,
            _max: usize,
            _timeout: Duration,
        ) -> eventstorm_core::Result<SourceStatus> {
            if !self.0 {
                self.0 = true;
                out.push(Event::builder("app.ok").build());
                out.push(Event::builder("not a type!").build());
            }
            Ok(SourceStatus::Finished)
        }
    }

    #[test]
    fn an_event_that_cannot_be_encoded_is_counted_invalid() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let ctx = zmq::Context::new();
            let config = PublisherConfig::bind("tcp://127.0.0.1:*");
            let handle = SourceRunner::spawn(&ctx, config, Box::new(OneBad(false)));
            let _ = tx.send(handle.and_then(SourceHandle::join));
        });
        // A bound that only proves the runner does not hang.
        let stats = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the runner finished")
            .expect("runner");
        assert_eq!(stats.get("sent"), Some(1), "{stats}");
        assert_eq!(stats.get("invalid"), Some(1), "{stats}");
    }
}
