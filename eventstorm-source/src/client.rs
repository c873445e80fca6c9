//! The [`Client`]: the Metlog-style API applications emit events with.

use std::borrow::Borrow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bson::{Bson, Document};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use eventstorm_core::event::{Envelope, encode_event, validate_type};
use eventstorm_core::{Counter, Event, Severity, Stats};
use serde::{Deserialize, Serialize};

use crate::config::{DeliveryMode, PublisherConfig};
use crate::error::{Error, Result};
use crate::publisher::{Publisher, PublisherCounters};
use crate::subscriptions::Subscriptions;

/// How a [`Client`] is set up. Build one with [`Client::builder`] or deserialize
/// it from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// The publisher's socket.
    #[serde(flatten)]
    pub publisher: PublisherConfig,
    /// The logger name stamped on every event (default: the program's name).
    pub logger: String,
    /// Severity of events that do not say ([`Severity::Informational`]).
    pub severity: Severity,
    /// Drop mode: events queued for the publisher thread when a caller finds
    /// the publisher busy ([`Self::DEFAULT_QUEUE_CAPACITY`]). When full, the
    /// event is dropped before it is encoded and counted
    /// (`dropped_queue_full`). Block mode does not queue events: a caller
    /// waits for the publisher.
    pub queue_capacity: usize,
    /// Skip (and count as `unsubscribed`) events no subscriber asked for,
    /// without encoding them (default true).
    pub skip_unsubscribed: bool,
    /// Drop mode: how long the publisher thread waits for room when a
    /// subscriber's queue is full before it drops an event
    /// ([`Self::DEFAULT_DROP_WAIT_MS`]; 0: drop at once). While it waits the
    /// client's queue fills, and further events are dropped by the emitting
    /// call before they are encoded, the cheapest place to shed load.
    pub drop_wait_ms: u64,
}

impl ClientConfig {
    /// Default capacity of the queue to the publisher thread.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 65_536;
    /// Default wait for a full subscriber queue in drop mode, in milliseconds.
    pub const DEFAULT_DROP_WAIT_MS: u64 = 100;
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            publisher: PublisherConfig::default(),
            logger: program_name(),
            severity: Severity::Informational,
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            skip_unsubscribed: true,
            drop_wait_ms: Self::DEFAULT_DROP_WAIT_MS,
        }
    }
}

fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "eventstorm".to_string())
}

/// Builds a [`Client`].
#[derive(Clone, Default)]
pub struct ClientBuilder {
    config: ClientConfig,
    context: Option<zmq::Context>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Binds this endpoint (may be called several times).
    pub fn bind(mut self, endpoint: impl Into<String>) -> Self {
        self.config.publisher.bind.push(endpoint.into());
        self
    }

    /// Connects to this endpoint (may be called several times).
    pub fn connect(mut self, endpoint: impl Into<String>) -> Self {
        self.config.publisher.connect.push(endpoint.into());
        self
    }

    /// Sets the logger name.
    pub fn logger(mut self, logger: impl Into<String>) -> Self {
        self.config.logger = logger.into();
        self
    }

    /// Sets the default severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.config.severity = severity;
        self
    }

    /// Sets the delivery mode.
    pub fn mode(mut self, mode: DeliveryMode) -> Self {
        self.config.publisher.mode = mode;
        self
    }

    /// Sets the publisher's high-water mark.
    pub fn hwm(mut self, hwm: i32) -> Self {
        self.config.publisher.hwm = hwm;
        self
    }

    /// Waits up to `timeout` at start for a first subscriber.
    pub fn wait_for_subscriber(mut self, timeout: Duration) -> Self {
        self.config.publisher.wait_for_subscriber_ms =
            timeout.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Sets the capacity of the queue to the publisher thread.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// Sets how long, in drop mode, the publisher thread waits for a full
    /// subscriber queue before dropping (zero: drop at once).
    pub fn drop_wait(mut self, wait: Duration) -> Self {
        self.config.drop_wait_ms = wait.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Uses this ZeroMQ context (needed for `inproc://` endpoints shared with
    /// other sockets of the process).
    pub fn context(mut self, context: zmq::Context) -> Self {
        self.context = Some(context);
        self
    }

    /// Starts the client: opens the publisher on its own thread.
    pub fn build(self) -> Result<Client> {
        let context = self.context.unwrap_or_default();
        Client::with_context(&context, self.config)
    }
}

/// The client's own counters (the publisher's are in [`Client::stats`] too).
#[derive(Debug, Default)]
struct ClientCounters {
    emitted: Counter,
    dropped_queue_full: Counter,
    unsubscribed: Counter,
    invalid: Counter,
}

enum Command {
    /// An encoded event (`buf[..doc_len]`) followed by its type (the topic), in
    /// one allocation.
    Event {
        buf: Vec<u8>,
        doc_len: usize,
    },
    Flush(Sender<()>),
    Stop,
}

/// Smallest buffer an event is encoded into.
const MIN_BUFFER: usize = 256;
/// Largest buffer size remembered for the next event.
const MAX_BUFFER_HINT: usize = 64 * 1024;

/// The publisher and its encoding buffer, shared by the publisher thread and
/// callers that send directly. `None` once the client is closed.
struct Direct {
    publisher: Publisher,
    buf: Vec<u8>,
}

struct Inner {
    tx: Sender<Command>,
    direct: Arc<Mutex<Option<Direct>>>,
    /// Events queued and not yet handed to the socket. A caller sends directly
    /// only when it is 0, so events never overtake queued ones.
    pending: Arc<AtomicUsize>,
    /// The capacity to encode the next event into (the last event's size).
    size_hint: AtomicUsize,
    mode: DeliveryMode,
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
/// shared with a thread of its own (which sends queued events and, when idle,
/// sequence marks). A call encodes the event on the caller's thread and, when
/// the publisher is free, sends it right there. Events from one thread stay
/// in order.
///
/// - Drop mode (the default): calls never block. A call that finds the
///   publisher busy, or events already queued, queues its event; when the
///   queue is full the event is dropped (before it is encoded) and counted.
/// - Block mode: a call that finds the publisher busy waits for it, as it
///   waits for a subscriber's full queue; nothing is lost.
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
    pub fn with_context(context: &zmq::Context, config: ClientConfig) -> Result<Client> {
        let (tx, rx) = bounded(config.queue_capacity.max(1));
        let (ready_tx, ready_rx) = bounded(1);
        let context = context.clone();
        let publisher_config = config.publisher.clone();
        let drop_wait = Duration::from_millis(config.drop_wait_ms);
        let direct: Arc<Mutex<Option<Direct>>> = Arc::new(Mutex::new(None));
        let pending = Arc::new(AtomicUsize::new(0));
        let (thread_direct, thread_pending) = (Arc::clone(&direct), Arc::clone(&pending));
        let thread = std::thread::Builder::new()
            .name("eventstorm-client".into())
            .spawn(move || {
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
                            run_publisher(&thread_direct, &thread_pending, &rx);
                        }
                        if let Some(direct) = lock(&thread_direct).take() {
                            direct.publisher.close();
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(Error::Thread)?;
        let (publisher, subscriptions, endpoints) = match ready_rx.recv() {
            Ok(Ok(shared)) => shared,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Thread(std::io::Error::other(
                    "publisher thread exited",
                )));
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                tx,
                direct,
                pending,
                size_hint: AtomicUsize::new(512),
                mode: config.publisher.mode,
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

    /// Sends a complete event. Returns whether it was queued; when it was not,
    /// the reason is counted (`unsubscribed`, `dropped_queue_full`, `invalid`).
    pub fn send(&self, event: &Event) -> bool {
        if !self.admit(event.event_type()) {
            return false;
        }
        self.deliver(event.event_type(), |buf| event.encode_into(buf))
    }

    /// Whether an event of this type is worth encoding: someone subscribed,
    /// the type is valid, and (drop mode) the queue has room. Counts the
    /// reason when not.
    fn admit(&self, event_type: &str) -> bool {
        if !self.is_wanted(event_type) {
            self.inner.counters.unsubscribed.inc();
            return false;
        }
        if let Err(e) = validate_type(event_type) {
            self.inner.counters.invalid.inc();
            tracing::debug!("event not sent: {e}");
            return false;
        }
        // Under overload, shed the event before paying for its encoding.
        if self.inner.mode == DeliveryMode::Drop && self.inner.tx.is_full() {
            self.inner.counters.dropped_queue_full.inc();
            return false;
        }
        true
    }

    /// Encodes and delivers an event: straight to the socket on the calling
    /// thread when it can (no hand-over, no allocation), otherwise through
    /// the queue to the publisher thread (drop mode only).
    fn deliver(
        &self,
        event_type: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> eventstorm_core::Result<()>,
    ) -> bool {
        match self.inner.mode {
            DeliveryMode::Block => self.deliver_waiting(event_type, encode),
            DeliveryMode::Drop => self.deliver_or_queue(event_type, encode),
        }
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
        let hint = self.inner.size_hint.load(Ordering::Relaxed);
        Vec::with_capacity(hint + event_type.len())
    }

    /// Drop mode: queues an encoded event to the publisher thread without
    /// waiting, counting the outcome.
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
        // ahead of it; lowered by the publisher thread once it is sent.
        self.inner.pending.fetch_add(1, Ordering::AcqRel);
        let queued = match self.inner.tx.try_send(command) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.inner.counters.dropped_queue_full.inc();
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        };
        if queued {
            self.inner.counters.emitted.inc();
        } else {
            self.inner.pending.fetch_sub(1, Ordering::AcqRel);
        }
        queued
    }

    /// Emits a log message (type `log`, body `{message}`).
    pub fn log(&self, severity: Severity, message: impl Into<String>) -> bool {
        self.emit_with("log", severity, bson::doc! { "message": message.into() })
    }

    /// Adds `n` to a counter (type `counter`, body `{name, value}`).
    pub fn incr(&self, name: &str, n: i64) -> bool {
        self.emit("counter", bson::doc! { "name": name, "value": n })
    }

    /// Reports a gauge's value (type `gauge`, body `{name, value}`).
    pub fn gauge(&self, name: &str, value: f64) -> bool {
        self.emit("gauge", bson::doc! { "name": name, "value": value })
    }

    /// Starts a timer; when the returned guard is dropped it emits the elapsed
    /// time (type `timer`, body `{name, elapsed_ms}`).
    pub fn timer(&self, name: &str) -> Timer {
        Timer {
            client: self.clone(),
            name: name.to_string(),
            start: Instant::now(),
            fields: Document::new(),
        }
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
        for (name, value) in self.inner.publisher.snapshot().entries() {
            stats.push(name, value);
        }
        stats
    }

    /// Sends everything queued, sends final sequence marks and stops the
    /// publisher thread. Other clones of this client stop working too.
    pub fn close(&self) {
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
            let _ = handle.join();
        }
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
            let _ = handle.join();
        }
    }
}

/// Times a block of code; see [`Client::timer`].
#[derive(Debug)]
pub struct Timer {
    client: Client,
    name: String,
    start: Instant,
    fields: Document,
}

impl Timer {
    /// Adds a field to the timer event.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Bson>) -> Self {
        self.fields.insert(key, value);
        self
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let elapsed_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut fields = std::mem::take(&mut self.fields);
        fields.insert("name", std::mem::take(&mut self.name));
        fields.insert("elapsed_ms", elapsed_ms);
        self.client.emit("timer", fields);
    }
}

/// Locks the shared publisher, whatever a panicking holder left behind.
fn lock(direct: &Mutex<Option<Direct>>) -> std::sync::MutexGuard<'_, Option<Direct>> {
    direct.lock().unwrap_or_else(|e| e.into_inner())
}

/// The publisher thread: sends queued events, ticks when idle, stops on
/// `Stop` or when every sender is gone. The caller closes the publisher.
fn run_publisher(direct: &Mutex<Option<Direct>>, pending: &AtomicUsize, rx: &Receiver<Command>) {
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
