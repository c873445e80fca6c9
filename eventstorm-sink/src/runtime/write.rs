//! The sink thread: batch by count and delay, write, flush when idle.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use eventstorm_core::{EventSink, RawEvent, Stats};

use super::counters::RuntimeCounters;

#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    pub(super) max_events: usize,
    pub(super) max_delay: Duration,
}

pub(super) fn write_loop(
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
                } else {
                    // Idle: counters a sink moves on its own (webhook
                    // deliveries, expiries) are read again.
                    counters.set_pending(writer.sink.pending());
                    *sink_stats.lock().unwrap_or_else(|e| e.into_inner()) = writer.sink.stats();
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
    let result = sink.write(batch);
    // Raised before `handed_over`, so that `written` never reads too high.
    if let Err(e) = &result {
        // `failed` may exceed the batch: a sink that keeps pending events
        // (a database sink during an outage) can give up on events it
        // accepted in earlier calls.
        counters.dropped_sink.add(e.failed as u64);
        counters.sink_errors.inc();
        tracing::warn!(sink = sink.name(), "{e}");
    }
    counters.set_pending(sink.pending());
    counters.handed_over.add(n);
    batch.clear();
    *sink_stats.lock().unwrap_or_else(|e| e.into_inner()) = sink.stats();
}

fn flush(sink: &mut dyn EventSink, counters: &RuntimeCounters, sink_stats: &Mutex<Stats>) {
    if let Err(e) = sink.flush() {
        // Events a sink kept pending and could not flush are given up.
        counters.dropped_sink.add(e.failed as u64);
        counters.sink_errors.inc();
        tracing::warn!(sink = sink.name(), "flush failed: {e}");
    }
    counters.set_pending(sink.pending());
    *sink_stats.lock().unwrap_or_else(|e| e.into_inner()) = sink.stats();
}
