//! [`Deferred`]: a sink whose destination was unreachable when the process
//! started, built again with backoff while its events wait (bounded).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use eventstorm_core::{Counter, EventSink, RawEvent, SinkError, Stats};

use crate::dead_letter::{DeadLetterHandler, GiveUp};

/// Builds the real sink; an error says why it cannot be built yet.
pub(crate) type Factory = Box<dyn FnMut() -> Result<Box<dyn EventSink>, String> + Send>;

/// First and longest pause between two attempts to build the sink.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A sink built later: until the factory succeeds, events wait (at most
/// `max_held`; the others are given up as `dropped_full`), and each write
/// or flush tries to build the sink when the backoff has passed. Then the
/// waiting events are written first, in order.
pub(crate) struct Deferred {
    name: String,
    factory: Factory,
    inner: Option<Box<dyn EventSink>>,
    held: VecDeque<RawEvent>,
    max_held: usize,
    next_attempt: Instant,
    backoff: Duration,
    last_error: String,
    attempts: Counter,
    dropped_full: Counter,
    dead_letters: Option<Box<dyn DeadLetterHandler>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("name", &self.name)
            .field("built", &self.inner.is_some())
            .field("held", &self.held.len())
            .finish()
    }
}

impl Deferred {
    /// A sink that could not be built at start (`error` says why).
    pub(crate) fn new(
        name: String,
        factory: Factory,
        max_held: usize,
        error: String,
        dead_letters: Option<Box<dyn DeadLetterHandler>>,
    ) -> Self {
        tracing::warn!(
            sink = %name,
            max_held,
            "cannot start the sink yet ({error}); retrying with backoff, events wait meanwhile"
        );
        Deferred {
            name,
            factory,
            inner: None,
            held: VecDeque::new(),
            max_held: max_held.max(1),
            next_attempt: Instant::now() + FIRST_BACKOFF,
            backoff: FIRST_BACKOFF,
            last_error: error,
            attempts: Counter::new(),
            dropped_full: Counter::new(),
            dead_letters,
        }
    }

    /// Builds the sink if the backoff has passed; writes what waited.
    fn try_build(&mut self) -> Result<(), SinkError> {
        if self.inner.is_some() || Instant::now() < self.next_attempt {
            return Ok(());
        }
        self.attempts.inc();
        match (self.factory)() {
            Ok(sink) => {
                tracing::info!(sink = %self.name, waiting = self.held.len(), "sink started");
                self.inner = Some(sink);
                let held: Vec<RawEvent> = self.held.drain(..).collect();
                match self.inner.as_mut() {
                    Some(sink) if !held.is_empty() => sink.write(&held),
                    _ => Ok(()),
                }
            }
            Err(e) => {
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.next_attempt = Instant::now() + self.backoff;
                tracing::debug!(sink = %self.name, "still cannot start the sink: {e}");
                self.last_error = e;
                Ok(())
            }
        }
    }

    fn give_up(&mut self, event: &RawEvent, cause: GiveUp, reason: &str) {
        if let Some(handler) = &mut self.dead_letters {
            handler.dead_letter(crate::DeadLetter::new(
                event.clone(),
                cause,
                self.name.clone(),
                reason,
            ));
        }
    }
}

/// The first error of two, failures added up.
fn combine(a: Result<(), SinkError>, b: Result<(), SinkError>) -> Result<(), SinkError> {
    match (a, b) {
        (Ok(()), r) | (r, Ok(())) => r,
        (Err(mut a), Err(b)) => {
            a.failed += b.failed;
            Err(a)
        }
    }
}

impl EventSink for Deferred {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[RawEvent]) -> Result<(), SinkError> {
        let first = self.try_build();
        if let Some(sink) = self.inner.as_mut() {
            return combine(first, sink.write(batch));
        }
        let room = self.max_held.saturating_sub(self.held.len());
        let (kept, dropped) = batch.split_at(room.min(batch.len()));
        self.held.extend(kept.iter().cloned());
        if dropped.is_empty() {
            return first;
        }
        self.dropped_full.add(dropped.len() as u64);
        let reason = format!(
            "{} events already wait for the sink to start ({})",
            self.max_held, self.last_error
        );
        for event in dropped {
            self.give_up(event, GiveUp::DroppedFull, &reason);
        }
        combine(first, Err(SinkError::retryable(dropped.len(), reason)))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let first = self.try_build();
        match self.inner.as_mut() {
            Some(sink) => combine(first, sink.flush()),
            None => first,
        }
    }

    fn healthcheck(&mut self) -> eventstorm_core::Result<()> {
        match self.inner.as_mut() {
            Some(sink) => sink.healthcheck(),
            None => Err(eventstorm_core::Error::Custom(
                format!("not started yet: {}", self.last_error).into(),
            )),
        }
    }

    fn stats(&self) -> Stats {
        let mut stats = match &self.inner {
            Some(sink) => sink.stats(),
            None => Stats::new(self.name.clone()),
        };
        stats
            .push("start_attempts", self.attempts.get())
            .push("waiting_for_start", self.held.len() as u64)
            .push("dropped_before_start", self.dropped_full.get());
        stats
    }

    fn pending(&self) -> usize {
        self.held.len() + self.inner.as_ref().map_or(0, |s| s.pending())
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let held: Vec<RawEvent> = self.held.drain(..).collect();
        tracing::warn!(
            sink = %self.name,
            count = held.len(),
            "the sink never started: the events waiting for it are given up ({})",
            self.last_error
        );
        let reason = format!("the sink never started: {}", self.last_error);
        for event in &held {
            self.give_up(event, GiveUp::DroppedAtClose, &reason);
        }
    }
}
