//! How an emitted event reaches the socket: on the caller's thread when the
//! publisher is free, otherwise through the bounded queue (drop mode) or by
//! waiting for the publisher (block mode). A batching client always goes
//! through the queue.

use std::sync::TryLockError;
use std::sync::atomic::Ordering;

use crossbeam_channel::TrySendError;
use eventstorm_core::event::validate_type;

use super::thread::{Command, lock};
use super::{Client, MAX_BUFFER_HINT, MIN_BUFFER};
use crate::config::DeliveryMode;
use crate::error::Result;
use crate::publisher::Publisher;

impl Client {
    /// Whether an event of this type is worth encoding: someone subscribed,
    /// the type is valid, and (drop mode) the queue has room. Counts the
    /// reason when not.
    pub(super) fn admit(&self, event_type: &str) -> bool {
        if !self.is_wanted(event_type) {
            self.inner.counters.unsubscribed.inc();
            return false;
        }
        if let Err(e) = validate_type(event_type) {
            self.inner.counters.invalid.inc();
            tracing::debug!("event not sent: {e}");
            return false;
        }
        // Under overload, shed the event before paying for its encoding
        // (checked only since a call found the queue full: see `saturated`).
        if self.inner.mode == DeliveryMode::Drop
            && self.inner.saturated.load(Ordering::Relaxed)
            && self.inner.tx.is_full()
        {
            self.inner.counters.dropped_queue_full.inc();
            return false;
        }
        true
    }

    /// Encodes and delivers an event: straight to the socket on the calling
    /// thread when it can (no hand-over, no allocation), otherwise through
    /// the queue to the publisher thread (drop mode only).
    pub(super) fn deliver(
        &self,
        event_type: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> eventstorm_core::Result<()>,
    ) -> bool {
        if self.inner.batching {
            return self.deliver_to_queue(event_type, encode);
        }
        match self.inner.mode {
            DeliveryMode::Block => self.deliver_waiting(event_type, encode),
            DeliveryMode::Drop => self.deliver_or_queue(event_type, encode),
        }
    }

    /// A batching client queues every event: the publisher thread is the only
    /// one that knows when the queue is empty, the moment to send a batch.
    /// Block mode waits for room in the queue; drop mode does not.
    fn deliver_to_queue(
        &self,
        event_type: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> eventstorm_core::Result<()>,
    ) -> bool {
        let mut body = self.buffer(event_type);
        if encode(&mut body).is_err() {
            self.inner.counters.invalid.inc();
            return false;
        }
        self.queue(event_type, body)
    }

    /// Block mode never queues events: a caller that finds the publisher busy
    /// encodes into a buffer of its own, then waits for the publisher, as it
    /// would wait for the socket.
    fn deliver_waiting(
        &self,
        event_type: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> eventstorm_core::Result<()>,
    ) -> bool {
        let inner = &*self.inner;
        let mut guard = match inner.direct.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let mut body = self.buffer(event_type);
                if encode(&mut body).is_err() {
                    inner.counters.invalid.inc();
                    return false;
                }
                let mut guard = lock(&inner.direct);
                let Some(direct) = guard.as_mut() else {
                    return false; // closed
                };
                let sent = direct.publisher.send_direct(event_type, &body);
                return self.sent_directly(&mut direct.publisher, event_type, sent);
            }
        };
        let Some(direct) = guard.as_mut() else {
            return false; // closed
        };
        direct.buf.clear();
        if encode(&mut direct.buf).is_err() {
            inner.counters.invalid.inc();
            return false;
        }
        let sent = direct.publisher.send_direct(event_type, &direct.buf);
        self.sent_directly(&mut direct.publisher, event_type, sent)
    }

    /// Drop mode never waits: it sends directly when the publisher is free
    /// and nothing is queued, and queues otherwise.
    fn deliver_or_queue(
        &self,
        event_type: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> eventstorm_core::Result<()>,
    ) -> bool {
        let inner = &*self.inner;
        if inner.pending.load(Ordering::Acquire) == 0
            && let Ok(mut guard) = inner.direct.try_lock()
        {
            let Some(direct) = guard.as_mut() else {
                return false; // closed
            };
            // Checked again under the lock: the publisher thread lowers it
            // only once a queued event is on the socket, so a direct send
            // never overtakes a queued event.
            if inner.pending.load(Ordering::Acquire) == 0 {
                direct.buf.clear();
                if encode(&mut direct.buf).is_err() {
                    inner.counters.invalid.inc();
                    return false;
                }
                return match direct.publisher.send_direct(event_type, &direct.buf) {
                    Ok(false) => {
                        // A subscriber's queue is full: the publisher thread
                        // waits for room (drop_wait) while the queue fills
                        // and sheds what follows.
                        let mut buf = Vec::with_capacity(direct.buf.len() + event_type.len());
                        buf.extend_from_slice(&direct.buf);
                        drop(guard);
                        self.queue(event_type, buf)
                    }
                    sent => self.sent_directly(&mut direct.publisher, event_type, sent),
                };
            }
        }
        let mut body = self.buffer(event_type);
        if encode(&mut body).is_err() {
            inner.counters.invalid.inc();
            return false;
        }
        self.queue(event_type, body)
    }

    /// Counts the outcome of a send on the caller's thread. Every event
    /// handed to the publisher is emitted: one lost to a socket error is
    /// counted by the publisher (`send_errors`), and one that found a full
    /// queue (which block mode's waiting sends do not) as `dropped_hwm`.
    fn sent_directly(
        &self,
        publisher: &mut Publisher,
        event_type: &str,
        sent: Result<bool>,
    ) -> bool {
        self.inner.counters.emitted.inc();
        match sent {
            Ok(true) => true,
            Ok(false) => {
                publisher.count_dropped(event_type);
                false
            }
            Err(e) => {
                tracing::warn!("publisher send failed: {e}");
                false
            }
        }
    }

    /// A buffer for one event and its type: as large as the last event
    /// encoded, so that a typical event is written without growing it (one
    /// allocation per event, not two or three).
    fn buffer(&self, event_type: &str) -> Vec<u8> {
        let capacity = self.inner.size_hint.load(Ordering::Relaxed) + event_type.len();
        match self.inner.recycled.try_recv() {
            Ok(mut buf) => {
                buf.clear();
                buf.reserve(capacity);
                buf
            }
            Err(_) => Vec::with_capacity(capacity),
        }
    }

    /// Queues an encoded event to the publisher thread, counting the outcome:
    /// drop mode does not wait for room (a full queue drops the event), block
    /// mode (batching clients only) does.
    fn queue(&self, event_type: &str, mut buf: Vec<u8>) -> bool {
        let doc_len = buf.len();
        // The next buffer's size: this event's, with a little room, within
        // bounds (one huge event must not make every later buffer huge).
        let hint = (doc_len + 64).clamp(MIN_BUFFER, MAX_BUFFER_HINT);
        if hint != self.inner.size_hint.load(Ordering::Relaxed) {
            self.inner.size_hint.store(hint, Ordering::Relaxed);
        }
        buf.extend_from_slice(event_type.as_bytes());
        let command = Command::Event { buf, doc_len };
        // Raised before the event is queued, so that no caller sends directly
        // ahead of it; lowered by the publisher thread once it is sent. A
        // batching client never sends directly.
        let pending = !self.inner.batching;
        if pending {
            self.inner.pending.fetch_add(1, Ordering::AcqRel);
        }
        let queued = match self.inner.mode {
            // Only an ended publisher thread refuses: the client is closed.
            DeliveryMode::Block => self.inner.tx.send(command).is_ok(),
            DeliveryMode::Drop => match self.inner.tx.try_send(command) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.inner.saturated.store(true, Ordering::Relaxed);
                    self.inner.counters.dropped_queue_full.inc();
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        };
        if queued {
            self.inner.counters.emitted.inc();
        } else if pending {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
        }
        queued
    }
}
