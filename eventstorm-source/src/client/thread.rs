//! The client's publisher thread and what it shares with callers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::MAX_RECYCLED_CAPACITY;
use crate::publisher::Publisher;

/// What callers hand to the publisher thread.
pub(super) enum Command {
    /// An encoded event (`buf[..doc_len]`) followed by its type (the topic), in
    /// one allocation.
    Event {
        buf: Vec<u8>,
        doc_len: usize,
    },
    Flush(Sender<()>),
    Stop,
}

/// The publisher and its encoding buffer, shared by the publisher thread and
/// callers that send directly. `None` once the client is closed.
pub(super) struct Direct {
    pub(super) publisher: Publisher,
    pub(super) buf: Vec<u8>,
}

/// The publisher thread's end of the queue.
pub(super) struct Queue {
    pub(super) rx: Receiver<Command>,
    /// Events queued and not yet sent (not kept by a batching client, which
    /// never sends on a caller's thread).
    pub(super) pending: Arc<AtomicUsize>,
    /// Cleared once the queue is empty (see the client's `saturated`).
    pub(super) saturated: Arc<AtomicBool>,
    /// Where sent events' buffers go back to callers.
    pub(super) recycle: Sender<Vec<u8>>,
    pub(super) batching: bool,
}

/// Locks the shared publisher, whatever a panicking holder left behind.
pub(super) fn lock(direct: &Mutex<Option<Direct>>) -> std::sync::MutexGuard<'_, Option<Direct>> {
    direct.lock().unwrap_or_else(|e| e.into_inner())
}

/// The publisher thread: sends queued events (a batching publisher: sends
/// its batch whenever the queue is empty), ticks when idle, stops on `Stop`
/// or when every sender is gone. The caller closes the publisher, which sends
/// the last batch.
pub(super) fn run_publisher(direct: &Mutex<Option<Direct>>, queue: &Queue) {
    let rx = &queue.rx;
    let idle = Duration::from_millis(100);
    loop {
        match rx.recv_timeout(idle) {
            Ok(Command::Event { buf, doc_len }) => {
                let (body, topic) = buf.split_at(doc_len);
                // The type was validated as ASCII before it was queued.
                let event_type = std::str::from_utf8(topic).unwrap_or_default();
                let mut guard = lock(direct);
                if let Some(direct) = guard.as_mut() {
                    if let Err(e) = direct.publisher.send_bytes(event_type, body) {
                        tracing::warn!("publisher send failed: {e}");
                    }
                    // A batching publisher sends its batch once nothing more
                    // is queued: a batch never waits for events not coming.
                    if rx.is_empty() {
                        flush(&mut direct.publisher);
                        if queue.saturated.load(Ordering::Relaxed) {
                            queue.saturated.store(false, Ordering::Relaxed);
                        }
                    }
                }
                drop(guard);
                if !queue.batching {
                    queue.pending.fetch_sub(1, Ordering::AcqRel);
                }
                if buf.capacity() <= MAX_RECYCLED_CAPACITY {
                    // A full return queue means callers have spares.
                    let _ = queue.recycle.try_send(buf);
                }
            }
            Ok(Command::Stop) => break,
            Ok(Command::Flush(done)) => {
                if let Some(direct) = lock(direct).as_mut() {
                    flush(&mut direct.publisher);
                }
                let _ = done.send(());
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if let Some(direct) = lock(direct).as_mut() {
                    flush(&mut direct.publisher);
                    if let Err(e) = direct.publisher.tick() {
                        tracing::warn!("publisher tick failed: {e}");
                    }
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Sends the batch being filled, if any (nothing for a client that does not
/// batch). A batch given up in drop mode is counted by the publisher.
fn flush(publisher: &mut Publisher) {
    if let Err(e) = publisher.flush() {
        tracing::warn!("publisher flush failed: {e}");
    }
}
