//! One router output: an XPUB socket that restamps each event's header with
//! this hop's publisher id and per-type sequence, and forwards the body bytes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventstorm_core::{Counter, Header, Stamper, Stats};

use crate::config::{DeliveryMode, OutputConfig};
use crate::error::{Error, Result};

/// The counters of one output, readable from any thread.
#[derive(Debug, Default)]
pub struct OutputCounters {
    /// Events handed to the socket.
    pub sent: Counter,
    /// Bytes of the body frames sent.
    pub bytes: Counter,
    /// Events dropped because a subscriber's queue was full (drop mode, or
    /// block mode at shutdown).
    pub dropped_hwm: Counter,
    /// Sequence marks sent.
    pub marks: Counter,
    /// Subscription messages received from downstream (subscribe and unsubscribe).
    pub subscriptions: Counter,
}

impl OutputCounters {
    /// Appends the counters to a snapshot as `out.NAME.*`.
    pub fn append_to(&self, name: &str, stats: &mut Stats) {
        stats
            .push(format!("out.{name}.sent"), self.sent.get())
            .push(format!("out.{name}.bytes"), self.bytes.get())
            .push(format!("out.{name}.dropped_hwm"), self.dropped_hwm.get())
            .push(format!("out.{name}.marks"), self.marks.get())
            .push(
                format!("out.{name}.subscriptions"),
                self.subscriptions.get(),
            );
    }
}

/// How long one blocking send waits before checking for shutdown.
const BLOCK_SLICE_MS: i32 = 100;

pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) socket: zmq::Socket,
    mode: DeliveryMode,
    stamper: Stamper,
    pub(crate) counters: Arc<OutputCounters>,
    pub(crate) endpoints: Vec<String>,
    linger_ms: i32,
    mark_interval: Option<Duration>,
    last_mark: Instant,
    marked: HashMap<Box<[u8]>, u64>,
    /// The prefixes downstream subscribers asked for.
    pub(crate) prefixes: BTreeSet<Vec<u8>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Output {
    pub(crate) fn open(ctx: &zmq::Context, config: &OutputConfig) -> Result<Output> {
        let mut socket = ctx
            .socket(zmq::XPUB)
            .map_err(|e| Error::zmq("creating an XPUB socket", e))?;
        socket
            .set_sndhwm(config.hwm)
            .map_err(|e| Error::zmq("setting the high-water mark", e))?;
        crate::sys::set_xpub_nodrop(&mut socket)?;
        let linger_ms = i32::try_from(config.linger_ms).unwrap_or(i32::MAX);
        socket
            .set_linger(linger_ms)
            .map_err(|e| Error::zmq("setting linger", e))?;
        if config.mode == DeliveryMode::Block {
            socket
                .set_sndtimeo(BLOCK_SLICE_MS)
                .map_err(|e| Error::zmq("setting the send timeout", e))?;
        }
        let endpoints = crate::input::attach(
            &socket,
            "output",
            &config.name,
            &config.bind,
            &config.connect,
        )?;
        Ok(Output {
            name: config.name.clone(),
            socket,
            mode: config.mode,
            stamper: Stamper::new(),
            counters: Arc::new(OutputCounters::default()),
            endpoints,
            linger_ms,
            mark_interval: (config.mark_interval_ms > 0)
                .then(|| Duration::from_millis(config.mark_interval_ms)),
            last_mark: Instant::now(),
            marked: HashMap::new(),
            prefixes: BTreeSet::new(),
        })
    }

    /// This output's publisher id in the headers it stamps.
    pub(crate) fn publisher_id(&self) -> u64 {
        self.stamper.publisher_id()
    }

    /// Stamps and sends one event. `body` is moved (a received frame: no copy)
    /// or copied (a slice). Returns whether it was sent.
    #[inline]
    pub(crate) fn send<B: Into<zmq::Message>>(
        &mut self,
        topic: &[u8],
        body: B,
        len: usize,
        stop: &AtomicBool,
    ) -> Result<bool> {
        let header = self.stamper.next(topic).encode();
        if !self.send_first(topic, stop)? {
            self.counters.dropped_hwm.inc();
            return Ok(false);
        }
        // Once the first frame is accepted, libzmq accepts the whole message.
        self.socket
            .send(&header[..], zmq::SNDMORE)
            .map_err(|e| Error::zmq("sending a header frame", e))?;
        self.socket
            .send(body, 0)
            .map_err(|e| Error::zmq("sending a body frame", e))?;
        // Only the router's thread writes these.
        self.counters.sent.inc_single_writer();
        self.counters.bytes.add_single_writer(len as u64);
        Ok(true)
    }

    /// Sends the topic frame as the mode says: never waiting (drop), or
    /// waiting in slices until there is room or the router stops (block).
    fn send_first(&mut self, topic: &[u8], stop: &AtomicBool) -> Result<bool> {
        let flags = match self.mode {
            DeliveryMode::Drop => zmq::DONTWAIT | zmq::SNDMORE,
            DeliveryMode::Block => zmq::SNDMORE,
        };
        loop {
            match self.socket.send(topic, flags) {
                Ok(()) => return Ok(true),
                Err(zmq::Error::EAGAIN) => {
                    if self.mode == DeliveryMode::Drop || stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                }
                Err(zmq::Error::EINTR) => {}
                Err(e) => return Err(Error::zmq("sending a topic frame", e)),
            }
        }
    }

    /// Reads pending subscription messages; returns whether the set of
    /// downstream prefixes changed.
    pub(crate) fn read_subscriptions(&mut self) -> Result<bool> {
        let mut changed = false;
        loop {
            let msg = match self.socket.recv_bytes(zmq::DONTWAIT) {
                Ok(msg) => msg,
                Err(zmq::Error::EAGAIN) => return Ok(changed),
                Err(e) => return Err(Error::zmq("reading subscriptions", e)),
            };
            self.counters.subscriptions.inc();
            match msg.split_first() {
                Some((1, prefix)) => changed |= self.prefixes.insert(prefix.to_vec()),
                Some((0, prefix)) => changed |= self.prefixes.remove(prefix),
                _ => {}
            }
        }
    }

    /// When the mark interval has passed, announces the last sequence of every
    /// stream that changed since the last marks.
    pub(crate) fn tick(&mut self) -> Result<()> {
        if let Some(interval) = self.mark_interval
            && self.last_mark.elapsed() >= interval
        {
            self.send_marks(zmq::DONTWAIT)?;
        }
        Ok(())
    }

    /// Time until the next mark is due, if marks are on.
    pub(crate) fn next_mark_in(&self) -> Option<Duration> {
        self.mark_interval
            .map(|i| i.saturating_sub(self.last_mark.elapsed()))
    }

    fn send_marks(&mut self, flags: i32) -> Result<()> {
        self.last_mark = Instant::now();
        let publisher = self.stamper.publisher_id();
        let pending: Vec<(Box<[u8]>, u64)> = self
            .stamper
            .streams()
            .filter(|(topic, seq)| self.marked.get(*topic) != Some(seq))
            .map(|(topic, seq)| (topic.into(), seq))
            .collect();
        for (topic, sequence) in pending {
            let header = Header {
                publisher,
                sequence,
            }
            .encode_mark();
            match self.socket.send(&topic[..], flags | zmq::SNDMORE) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => continue,
                Err(e) => return Err(Error::zmq("sending a sequence mark", e)),
            }
            self.socket
                .send(&header[..], zmq::SNDMORE)
                .map_err(|e| Error::zmq("sending a sequence mark", e))?;
            self.socket
                .send(&[][..], 0)
                .map_err(|e| Error::zmq("sending a sequence mark", e))?;
            self.counters.marks.inc();
            self.marked.insert(topic, sequence);
        }
        Ok(())
    }

    /// Sends the final sequence marks, waiting up to the linger for room.
    pub(crate) fn close(&mut self) {
        if self.socket.set_sndtimeo(self.linger_ms).is_ok()
            && let Err(e) = self.send_marks(0)
        {
            tracing::debug!(output = %self.name, "final sequence marks not sent: {e}");
        }
    }
}
