//! The [`Client`]: the Metlog-style API applications emit events with.

//!
//! The client is split by responsibility: its configuration and builder
//! (`config`), how an event reaches the socket (`delivery`), the publisher
//! thread (`thread`) and the Metlog-style helpers (`metrics`).

mod config;
mod delivery;
mod metrics;
mod thread;

use std::borrow::Borrow;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bson::Document;
use crossbeam_channel::{Receiver, Sender, bounded};
use eventstorm_core::event::{CheckedBody, Envelope, encode_event, encode_event_checked};
use eventstorm_core::{Counter, Event, Severity, Stats, ThreadError};

use crate::config::DeliveryMode;
use crate::error::{Error, Result};
use crate::publisher::{Publisher, PublisherCounters, Subscriptions};
use thread::{Command, Direct, Queue, lock, run_publisher};

pub use config::{ClientBuilder, ClientConfig};
pub use metrics::Timer;

/// The client's own counters (the publisher's are in [`Client::stats`] too),
/// bumped by callers on every call: on cache lines of their own, apart from
/// anything the client's thread writes.
#[derive(Debug, Default)]
#[repr(align(128))]
struct ClientCounters {
    pub(super) emitted: Counter,
    dropped_queue_full: Counter,
    unsubscribed: Counter,
    invalid: Counter,
}

/// Smallest buffer an event is encoded into.
const MIN_BUFFER: usize = 256;
/// Largest buffer size remembered for the next event.
const MAX_BUFFER_HINT: usize = 64 * 1024;
/// Buffers of queued events that the publisher thread hands back for reuse,
/// at most, each of at most [`MAX_RECYCLED_CAPACITY`] bytes: at most 4 MiB
/// kept. Without it every queued event is allocated by its caller and freed
/// by the publisher thread, and glibc's allocator then takes a lock shared by
/// both threads, about a third of a queued call's cost.
const RECYCLED_BUFFERS: usize = 256;
/// Largest buffer handed back for reuse.
const MAX_RECYCLED_CAPACITY: usize = 16 * 1024;

struct Inner {
    tx: Sender<Command>,
    /// Buffers of sent events, handed back by the publisher thread to encode
    /// later events into (see [`RECYCLED_BUFFERS`]).
    recycled: Receiver<Vec<u8>>,
    direct: Arc<Mutex<Option<Direct>>>,
    /// Events queued and not yet handed to the socket. A caller sends directly
    /// only when it is 0, so events never overtake queued ones.
    pending: Arc<AtomicUsize>,
    /// Set when a call found the queue full, cleared by the client's thread
    /// once the queue is empty: only then do calls check whether the queue
    /// is full before encoding (reading the queue's fill costs a cache miss
    /// on a line the client's thread writes for every event it takes).
    saturated: Arc<AtomicBool>,
    /// The capacity to encode the next event into (the last event's size).
    size_hint: AtomicUsize,
    mode: DeliveryMode,
    /// `batch_events` above 1: every event goes through the queue, and the
    /// publisher thread sends what it finds queued as batches.
    batching: bool,
    logger: String,
    severity: Severity,
    hostname: String,
    pid: i64,
    skip_unsubscribed: bool,
    subscriptions: Arc<Subscriptions>,
    counters: ClientCounters,
    publisher: Arc<PublisherCounters>,
    endpoints: Vec<String>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The application-side API: emit events, logs, counters, gauges and timers
/// from any thread, fire-and-forget.
///
/// A `Client` is a cheap handle (`Clone`, `Send`, `Sync`) to a publisher
/// owned by a thread of its own (which sends queued events and, when idle,
/// sequence marks). A call encodes the event on the caller's thread and
/// queues it; the publisher thread sends what it finds queued as version-2
/// batches of one type (up to `batch_events`, 256 by default), sending the
/// batch it is filling as soon as the queue is empty. So a batch never waits
/// for events that are not coming: a lone event goes at once (as a plain
/// message), and under load many share one message; a call costs the caller
/// an encoding and a hand-over, not a socket send. Events from one thread
/// stay in order.
///
/// - Drop mode (the default): calls never block. When the queue is full the
///   event is dropped (before it is encoded) and counted.
/// - Block mode: a call that finds the queue full waits for room; nothing
///   is lost.
/// - Without batches (`batch_events = 1`, [`ClientBuilder::batch_events`],
///   for subscribers that read only wire version 1): a call sends on the
///   caller's thread when the publisher is free. In drop mode a call that
///   finds it busy, or events already queued, queues its event; in block
///   mode it waits for the publisher, as it waits for a subscriber's full
///   queue.
///
/// When no subscriber listens for a type, events of it are not even encoded.
///
/// ```
/// use std::time::Duration;
/// use eventstorm_core::Severity;
/// use eventstorm_source::Client;
///
/// let client = Client::builder()
///     .bind("tcp://127.0.0.1:*")
///     .logger("checkout")
///     .build()?;
/// client.emit("order.placed", bson::doc! { "order_id": 42, "total": 99.5 });
/// client.log(Severity::Warning, "payment provider slow");
/// client.incr("orders", 1);
/// client.gauge("queue.depth", 17.0);
/// {
///     let _t = client.timer("db.query"); // sends the elapsed time when dropped
/// }
/// client.close();
/// # Ok::<(), eventstorm_source::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("logger", &self.inner.logger)
            .field("endpoints", &self.inner.endpoints)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Starts a client from its configuration, with a new ZeroMQ context.
    pub fn new(config: ClientConfig) -> Result<Client> {
        Client::with_context(&zmq::Context::new(), config)
    }

    /// Starts a client on an existing ZeroMQ context.
    pub fn with_context(context: &zmq::Context, mut config: ClientConfig) -> Result<Client> {
        // The publisher thread sends a batch whenever the queue is empty.
        config.publisher = config.publisher.batching_by_default();
        let batching = config.publisher.batch_events() > 1;
        let (tx, rx) = bounded(config.queue_capacity.max(1));
        let (ready_tx, ready_rx) = bounded(1);
        let context = context.clone();
        let publisher_config = config.publisher.clone();
        let drop_wait = Duration::from_millis(config.drop_wait_ms);
        let direct: Arc<Mutex<Option<Direct>>> = Arc::new(Mutex::new(None));
        let pending = Arc::new(AtomicUsize::new(0));
        let (recycle, recycled) = bounded(RECYCLED_BUFFERS);
        let saturated = Arc::new(AtomicBool::new(false));
        let queue = Queue {
            rx,
            pending: Arc::clone(&pending),
            saturated: Arc::clone(&saturated),
            recycle,
            batching,
        };
        let thread_direct = Arc::clone(&direct);
        let thread = ThreadError::spawn("eventstorm-client", move || {
            match Publisher::new(&context, &publisher_config)
                .and_then(|mut p| p.set_drop_wait(Some(drop_wait)).map(|()| p))
            {
                Ok(publisher) => {
                    let shared = (
                        publisher.counters(),
                        publisher.subscriptions(),
                        publisher.endpoints().to_vec(),
                    );
                    *lock(&thread_direct) = Some(Direct {
                        publisher,
                        buf: Vec::with_capacity(1024),
                    });
                    if ready_tx.send(Ok(shared)).is_ok() {
                        run_publisher(&thread_direct, &queue);
                    }
                    if let Some(direct) = lock(&thread_direct).take() {
                        direct.publisher.close();
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })?;
        let (publisher, subscriptions, endpoints) = match ready_rx.recv() {
            Ok(Ok(shared)) => shared,
            Ok(Err(e)) => {
                // The thread reported why it could not start; a panic after
                // that is logged, the start-up error is the one returned.
                if let Err(panic) = ThreadError::join(thread) {
                    tracing::error!("{panic}");
                }
                return Err(e);
            }
            Err(_) => {
                // The thread ended without a word: it panicked.
                return Err(match ThreadError::join(thread) {
                    Err(e) => e.into(),
                    Ok(()) => Error::Thread(ThreadError::Stopped {
                        thread: "eventstorm-client".into(),
                    }),
                });
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                tx,
                recycled,
                direct,
                pending,
                saturated,
                size_hint: AtomicUsize::new(512),
                mode: config.publisher.mode,
                batching,
                logger: config.logger,
                severity: config.severity,
                hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                pid: i64::from(std::process::id()),
                skip_unsubscribed: config.skip_unsubscribed,
                subscriptions,
                counters: ClientCounters::default(),
                publisher,
                endpoints,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The publisher's endpoints, with `*` ports resolved.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// Whether some subscriber listens for events of this type.
    pub fn is_wanted(&self, event_type: &str) -> bool {
        !self.inner.skip_unsubscribed || self.inner.subscriptions.wants(event_type)
    }

    /// Starts an event with this client's envelope (logger, hostname, pid,
    /// default severity) filled in.
    pub fn event(&self, event_type: &str) -> eventstorm_core::EventBuilder {
        Event::builder(event_type)
            .logger(self.inner.logger.as_str())
            .hostname(self.inner.hostname.as_str())
            .pid(self.inner.pid)
            .severity(self.inner.severity)
    }

    /// Emits an event of `event_type` with these body fields at the default
    /// severity. `fields` is a `Document` or a `&Document`: a program emitting
    /// the same shape often can keep one document and pass a reference.
    /// Returns whether the event was queued; when it was not, the reason is
    /// counted (`unsubscribed`, `dropped_queue_full`, `invalid`).
    pub fn emit(&self, event_type: &str, fields: impl Borrow<Document>) -> bool {
        self.emit_with(event_type, self.inner.severity, fields)
    }

    /// Emits an event with an explicit severity.
    pub fn emit_with(
        &self,
        event_type: &str,
        severity: Severity,
        fields: impl Borrow<Document>,
    ) -> bool {
        if !self.admit(event_type) {
            return false;
        }
        // Encoded straight from the parts: the same bytes as building the
        // event with `self.event(..)` and encoding it, without the
        // intermediate documents (about 3x cheaper).
        let envelope = Envelope {
            event_type,
            severity,
            logger: Some(self.inner.logger.as_str()),
            hostname: Some(self.inner.hostname.as_str()),
            pid: Some(self.inner.pid),
            tenant: None,
        };
        self.deliver(event_type, |buf| {
            encode_event(buf, &envelope, fields.borrow())
        })
    }

    /// Emits an event whose body is already BSON (bytes from another
    /// language, a file, a socket), checked once with
    /// [`CheckedBody::new`]: the bytes are copied into the event without
    /// being decoded. Counts and returns as [`Client::emit`] does.
    ///
    /// ```
    /// use eventstorm_core::Severity;
    /// use eventstorm_core::event::CheckedBody;
    /// use eventstorm_source::Client;
    ///
    /// let client = Client::builder().bind("tcp://127.0.0.1:*").build()?;
    /// let mut bytes = Vec::new();
    /// bson::doc! { "order_id": 7 }.to_writer(&mut bytes)?;
    /// let body = CheckedBody::new(&bytes)?;
    /// client.emit_bson("order.placed", Severity::Notice, body);
    /// client.close();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn emit_bson(&self, event_type: &str, severity: Severity, body: CheckedBody<'_>) -> bool {
        if !self.admit(event_type) {
            return false;
        }
        let envelope = Envelope {
            event_type,
            severity,
            logger: Some(self.inner.logger.as_str()),
            hostname: Some(self.inner.hostname.as_str()),
            pid: Some(self.inner.pid),
            tenant: None,
        };
        self.deliver(event_type, |buf| {
            encode_event_checked(buf, &envelope, body);
            Ok(())
        })
    }

    /// The default severity of [`Client::emit`].
    pub fn severity(&self) -> Severity {
        self.inner.severity
    }

    /// Sends a complete event. Returns whether it was queued; when it was not,
    /// the reason is counted (`unsubscribed`, `dropped_queue_full`, `invalid`).
    pub fn send(&self, event: &Event) -> bool {
        if !self.admit(event.event_type()) {
            return false;
        }
        self.deliver(event.event_type(), |buf| event.encode_into(buf))
    }

    /// Waits until every event queued so far was handed to the socket, or the
    /// timeout passes. Returns whether it finished in time.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = bounded(1);
        let deadline = Instant::now() + timeout;
        if self
            .inner
            .tx
            .send_deadline(Command::Flush(done_tx), deadline)
            .is_err()
        {
            return false;
        }
        done_rx.recv_deadline(deadline).is_ok()
    }

    /// A snapshot of the counters: the client's, then the publisher's.
    ///
    /// Every call is counted once: `emitted` (handed to the publisher, on the
    /// caller's thread or through the queue), `dropped_queue_full`,
    /// `unsubscribed` or `invalid`. Once everything emitted has been handled
    /// ([`Client::flush`] or [`Client::close`]), `emitted` = `sent` +
    /// `dropped_hwm` + `send_errors`.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let mut stats = Stats::new("client");
        stats
            .push("emitted", c.emitted.get())
            .push("dropped_queue_full", c.dropped_queue_full.get())
            .push("unsubscribed", c.unsubscribed.get())
            .push("invalid", c.invalid.get());
        for (name, value) in self.inner.publisher.snapshot("publisher").entries() {
            stats.push(name, value);
        }
        stats
    }

    /// Sends everything queued, sends final sequence marks and stops the
    /// publisher thread. Other clones of this client stop working too. A
    /// panic of the publisher thread is logged; [`Client::shutdown`]
    /// returns it.
    pub fn close(&self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(logger = %self.inner.logger, "{e}");
        }
    }

    /// Like [`Client::close`], then returns the final counters, or
    /// [`Error::Thread`] ([`ThreadError::Panicked`]) when the publisher
    /// thread panicked: the events it had not sent then were lost. Once
    /// closed, later calls return the counters.
    pub fn shutdown(&self) -> Result<Stats> {
        let handle = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            // Clones may still hold senders, so `Stop` marks the end of the
            // queue; everything queued before it is sent first.
            let _ = self.inner.tx.send(Command::Stop);
            ThreadError::join(handle)?;
        }
        Ok(self.stats())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(handle) = self
            .thread
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = self.tx.send(Command::Stop);
            if let Err(e) = ThreadError::join(handle) {
                tracing::error!(logger = %self.logger, "{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_of_the_publisher_thread_is_an_error_of_shutdown() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let client = Client::builder()
                .bind("inproc://client-thread-panic")
                .build()
                .expect("client");
            let stats = client.shutdown().expect("the real thread stops cleanly");
            assert_eq!(stats.get("emitted"), Some(0));
            // Stand a thread that panicked in for the publisher thread.
            let panicked =
                ThreadError::spawn("eventstorm-client", || panic!("boom")).expect("spawn a thread");
            *client.inner.thread.lock().expect("thread slot") = Some(panicked);
            match client.shutdown() {
                Err(Error::Thread(ThreadError::Panicked { thread, message })) => {
                    assert_eq!(thread, "eventstorm-client");
                    assert_eq!(message.as_deref(), Some("boom"));
                }
                other => panic!("expected the panic, got {other:?}"),
            }
            // Closed: later calls return the counters.
            assert!(client.shutdown().is_ok());
            client.close();
            let _ = done_tx.send(());
        });
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the test finished in time and did not panic");
    }
}
