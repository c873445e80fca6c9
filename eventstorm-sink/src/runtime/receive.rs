//! The subscriber thread: receive, filter, hand chunks over to the sink
//! thread, counting what cannot be handed over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use eventstorm_core::{Matcher, RawEvent, WhenFull};

use super::counters::RuntimeCounters;
use crate::dead_letter::{DeadLetters, GiveUp};
use crate::error::Result;
use crate::subscriber::Subscriber;

/// How often the receive loop checks the stop flag while idle.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Most events carried in one channel message.
pub(super) const CHUNK: usize = 256;

/// Longest a chunk waits in the subscriber thread to fill (never longer than
/// the batch delay): a bounded addition to latency that saves a hand-over per
/// few events when they arrive quickly.
pub(super) const CHUNK_LINGER: Duration = Duration::from_millis(1);

/// The subscriber thread's side of the channel: filters and hands chunks
/// over, counting what it cannot hand over.
pub(super) struct HandOver<'a> {
    pub(super) tx: &'a Sender<Vec<RawEvent>>,
    pub(super) filter: Option<Matcher>,
    pub(super) when_full: WhenFull,
    pub(super) counters: &'a RuntimeCounters,
    pub(super) stop: &'a AtomicBool,
    /// Where events that cannot be handed over go (with their cause).
    pub(super) dead_letters: DeadLetters,
    /// The sink's name, as the dead letters' destination.
    pub(super) sink: String,
    /// Once stopping, how long what is already queued is still handed over.
    pub(super) drain: Duration,
    /// When that ends (set when the stop is first seen).
    pub(super) drain_until: Option<Instant>,
}

impl HandOver<'_> {
    /// Counts a chunk that cannot be handed over, and gives it up.
    fn drop_chunk(&mut self, chunk: Vec<RawEvent>, cause: GiveUp) {
        let n = chunk.len() as u64;
        let reason = match cause {
            GiveUp::DroppedNoSink => {
                self.counters.dropped_no_sink.add(n);
                "the sink's thread had ended"
            }
            _ => {
                self.counters.dropped_queue_full.add(n);
                "the queue to the sink was full"
            }
        };
        if self.dead_letters.wanted() {
            for event in chunk {
                self.dead_letters.give_up(
                    || Some(event),
                    cause,
                    || self.sink.clone(),
                    || reason.to_owned(),
                );
            }
        }
    }

    /// Whether the drain time after a stop has run out (starting it).
    fn drain_over(&mut self) -> bool {
        let until = *self
            .drain_until
            .get_or_insert_with(|| Instant::now() + self.drain);
        Instant::now() >= until
    }

    fn send(&mut self, mut chunk: Vec<RawEvent>) {
        if let Some(filter) = &self.filter {
            let before = chunk.len();
            chunk.retain(|event| filter.matches_raw(event.view()));
            self.counters.filtered.add((before - chunk.len()) as u64);
        }
        if chunk.is_empty() {
            return;
        }
        match self.when_full {
            WhenFull::Block => loop {
                // Wait for room, but keep honouring the stop flag.
                match self.tx.send_timeout(chunk, POLL_INTERVAL) {
                    Ok(()) => break,
                    Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                        // Stopping: the sink thread keeps writing, so keep
                        // waiting for it, up to the drain timeout. A sink
                        // stuck beyond that: the events were received, so
                        // they are counted as dropped.
                        if self.stop.load(Ordering::Relaxed) && self.drain_over() {
                            self.drop_chunk(back, GiveUp::DroppedQueueFull);
                            break;
                        }
                        chunk = back;
                    }
                    Err(crossbeam_channel::SendTimeoutError::Disconnected(back)) => {
                        self.drop_chunk(back, GiveUp::DroppedNoSink);
                        break;
                    }
                }
            },
            WhenFull::Drop => match self.tx.try_send(chunk) {
                Ok(()) => {}
                Err(TrySendError::Full(back)) => self.drop_chunk(back, GiveUp::DroppedQueueFull),
                Err(TrySendError::Disconnected(back)) => {
                    self.drop_chunk(back, GiveUp::DroppedNoSink);
                }
            },
        }
    }
}

pub(super) fn receive_loop(
    mut subscriber: Subscriber,
    hand_over: &mut HandOver<'_>,
    chunk_size: usize,
    linger: Duration,
) -> Result<()> {
    let mut received = Vec::with_capacity(chunk_size);
    let mut result = fill_and_hand_over(
        &mut subscriber,
        &mut *hand_over,
        &mut received,
        chunk_size,
        linger,
    );
    // Stopping: what is already queued in the socket (an upstream that
    // stopped first sent it all) is received and handed over too, within
    // the drain timeout.
    if result.is_ok() {
        result = drain(&mut subscriber, hand_over, &mut received, chunk_size);
    }
    // Stopping, or the socket failed: what was received is handed over too.
    hand_over.send(received);
    result
}

/// Receives what the socket already holds, without waiting, until it is
/// empty or the drain timeout runs out.
fn drain(
    subscriber: &mut Subscriber,
    hand_over: &mut HandOver<'_>,
    received: &mut Vec<RawEvent>,
    chunk_size: usize,
) -> Result<()> {
    loop {
        let room = chunk_size - received.len();
        let n = subscriber.recv_batch(received, room)?;
        if received.len() >= chunk_size {
            hand_over.send(std::mem::replace(received, Vec::with_capacity(chunk_size)));
        }
        if n == 0 || hand_over.drain_over() {
            return Ok(());
        }
    }
}

/// Receives into chunks and hands them over until the stop flag is set.
fn fill_and_hand_over(
    subscriber: &mut Subscriber,
    hand_over: &mut HandOver<'_>,
    received: &mut Vec<RawEvent>,
    chunk_size: usize,
    linger: Duration,
) -> Result<()> {
    let mut first_at = Instant::now();
    while !hand_over.stop.load(Ordering::Relaxed) {
        if received.is_empty() {
            match subscriber.recv(POLL_INTERVAL)? {
                Some(event) => received.push(event),
                None => continue,
            }
            first_at = Instant::now();
        }
        let room = chunk_size - received.len();
        subscriber.recv_batch(received, room)?;
        if received.len() < chunk_size {
            // Let a short chunk fill: one hand-over (and one wake-up of the
            // sink thread) per chunk, not per few events. Sleeping rather
            // than polling the socket lets events pile up in its queue
            // instead of waking this thread for each.
            let left = linger.saturating_sub(first_at.elapsed());
            if !left.is_zero() {
                std::thread::sleep(left);
                continue;
            }
        }
        hand_over.send(std::mem::replace(received, Vec::with_capacity(chunk_size)));
    }
    Ok(())
}
