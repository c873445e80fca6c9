//! The client's publisher thread and what it shares with callers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

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

/// Locks the shared publisher, whatever a panicking holder left behind.
pub(super) fn lock(direct: &Mutex<Option<Direct>>) -> std::sync::MutexGuard<'_, Option<Direct>> {
    direct.lock().unwrap_or_else(|e| e.into_inner())
}

/// The publisher thread: sends queued events, ticks when idle, stops on
/// `Stop` or when every sender is gone. The caller closes the publisher.
pub(super) fn run_publisher(
    direct: &Mutex<Option<Direct>>,
    pending: &AtomicUsize,
    rx: &Receiver<Command>,
) {
    let idle = Duration::from_millis(100);
    loop {
        match rx.recv_timeout(idle) {
            Ok(Command::Event { buf, doc_len }) => {
                let (body, topic) = buf.split_at(doc_len);
                // The type was validated as ASCII before it was queued.
                let event_type = std::str::from_utf8(topic).unwrap_or_default();
                let mut guard = lock(direct);
                if let Some(direct) = guard.as_mut()
                    && let Err(e) = direct.publisher.send_bytes(event_type, body)
                {
                    tracing::warn!("publisher send failed: {e}");
                }
                pending.fetch_sub(1, Ordering::AcqRel);
            }
            Ok(Command::Stop) => break,
            Ok(Command::Flush(done)) => {
                let _ = done.send(());
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if let Some(direct) = lock(direct).as_mut()
                    && let Err(e) = direct.publisher.tick()
                {
                    tracing::warn!("publisher tick failed: {e}");
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
}
