//! A source for foreign ZeroMQ publishers: subscribes to a PUB endpoint that
//! is not Eventstorm's (rsyslog's `omczmq`, pyzmq scripts, any program that
//! publishes text) and parses each message's payload into an event with
//! any of the [parsers](crate::parse).
//!
//! - **Framing.** A message of two or more frames is `[topic][...][payload]`:
//!   the payload is the last frame; a single-frame message is all payload.
//!   A message of more than [`max_frames`](ZmqSourceConfig::max_frames)
//!   frames (2 by default) or with an empty payload is rejected
//!   (`bad_framing`); its frames are read and released, never kept.
//! - **Limits.** Each frame is bounded by the socket's `max_message_size`
//!   (libzmq's `ZMQ_MAXMSGSIZE`: a peer that sends a larger frame is
//!   disconnected before the frame is buffered, and libzmq reconnects or
//!   waits for it to); a payload longer than
//!   [`max_payload_bytes`](ZmqSourceConfig::max_payload_bytes) is rejected
//!   (`too_long`) without being parsed.
//! - **Parsing.** The payload is read as UTF-8 (invalid bytes become U+FFFD),
//!   trailing `\n`, `\r` and NUL are ignored. A parser error is counted
//!   (`rejected`) and logged at most once per 10 s with the sender's
//!   address; nothing else is lost.
//! - **Reserved types.** An event of a reserved type (`_eventstorm.*`,
//!   Eventstorm's own, e.g. with the `json` parser) is refused
//!   (`refused_reserved`).
//!
//! The socket is read by [`poll`](EventSource::poll), on the runner's thread:
//! no other thread and no queue, so nothing is dropped between the socket
//! and the publisher. When the publisher is slower than the foreign
//! publisher (a `block` publisher waiting for a slow router), the SUB
//! socket's queue fills up to its `hwm` and the foreign PUB drops what
//! follows, as ZeroMQ's PUB sockets do; nothing on this side can count
//! those.
//!
//! Counters ([`ZmqCounters`]): every message received is an event or
//! rejected: `received = events + rejected + bad_framing + too_long +
//! refused_reserved`.
//!
//! A foreign PUB drops what it sends before a subscription has reached it
//! (the slow-joiner effect): messages published before this source has
//! connected and subscribed are lost on the publisher's side, uncounted.
//!
//! ```
//! use std::time::Duration;
//! use eventstorm_core::EventSource;
//! use eventstorm_source::zmq_source::{ZmqSource, ZmqSourceConfig};
//!
//! let ctx = zmq::Context::new();
//! let mut source = ZmqSource::new(&ctx, ZmqSourceConfig::bind("tcp://127.0.0.1:*"))?;
//! let publisher = ctx.socket(zmq::PUB)?;
//! publisher.connect(&source.endpoints()[0])?;
//! let mut out = Vec::new();
//! while out.is_empty() {
//!     // Sent again until the subscription has reached the publisher.
//!     publisher.send_multipart([&b"syslog"[..], b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed"], 0)?;
//!     source.poll(&mut out, 1, Duration::from_millis(50))?;
//! }
//! assert_eq!(out[0].event_type(), "syslog.auth");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;

use std::sync::Arc;
use std::time::Duration;

use eventstorm_core::event::{BodyWriter, finish_event};
use eventstorm_core::transport::{RawMessage, RawSubSocket};
use eventstorm_core::{Event, EventSource, RawEvent, SourceStatus, Stats};

pub use config::ZmqSourceConfig;

use crate::error::{Error, Result};
use crate::parse::{Parser, parser_by_name};
use crate::ratelimit::RateLimitedWarn;
use crate::reserved::{RESERVED_PREFIX, is_reserved};

eventstorm_core::counters! {
    /// The counters of a [`ZmqSource`], readable from any thread.
    pub struct ZmqCounters {
        /// Messages received (whatever their frames).
        received,
        /// Payload bytes of the messages received.
        bytes,
        /// Messages parsed into events.
        events,
        /// Messages the parser rejected.
        rejected,
        /// Messages of more frames than `max_frames`, or with an empty
        /// payload.
        bad_framing,
        /// Messages whose payload is longer than `max_payload_bytes`.
        too_long,
        /// Events of a reserved type (`_eventstorm.*`) refused.
        refused_reserved,
    }
}

/// Subscribes to foreign publishers and parses their messages: see the
/// [module docs](self).
#[derive(Debug)]
pub struct ZmqSource {
    socket: RawSubSocket,
    ingest: Ingest,
    /// The events of a [`poll`](EventSource::poll), before they are
    /// decoded (reused).
    encoded: Vec<RawEvent>,
}

/// What turns a message into an event, apart from the socket (which the
/// message borrows).
#[derive(Debug)]
struct Ingest {
    name: String,
    parser: Box<dyn Parser>,
    max_frames: usize,
    max_payload_bytes: usize,
    counters: Arc<ZmqCounters>,
    /// The body of the event being written, reused from one message to
    /// the next.
    body: BodyWriter,
    /// One rate limiter per kind, so that one never hides another.
    warn_rejected: RateLimitedWarn,
    warn_framing: RateLimitedWarn,
    warn_too_long: RateLimitedWarn,
    warn_reserved: RateLimitedWarn,
}

impl ZmqSource {
    /// Builds the parser and opens the socket (subscribed, bound and
    /// connected); the runner's thread then owns it. Fails on an unknown
    /// parser, a setting out of range ([`ZmqSourceConfig::validate`]) or an
    /// endpoint that cannot be bound.
    pub fn new(ctx: &zmq::Context, config: ZmqSourceConfig) -> Result<ZmqSource> {
        config.validate()?;
        let parser = parser_by_name(&config.parser, &config.parser_options)
            .map_err(|e| Error::config("parser", e.to_string()))?;
        let socket = RawSubSocket::open(ctx, &config.name, &config.subscribe, &config.socket)?;
        tracing::info!(
            source = %config.name,
            endpoints = ?socket.endpoints(),
            subscribe = ?config.subscribe,
            parser = %config.parser,
            "subscribed to foreign publishers"
        );
        Ok(ZmqSource {
            socket,
            ingest: Ingest {
                name: config.name,
                parser,
                max_frames: config.max_frames,
                max_payload_bytes: config.max_payload_bytes,
                counters: Arc::new(ZmqCounters::default()),
                body: BodyWriter::new(),
                warn_rejected: RateLimitedWarn::default(),
                warn_framing: RateLimitedWarn::default(),
                warn_too_long: RateLimitedWarn::default(),
                warn_reserved: RateLimitedWarn::default(),
            },
            encoded: Vec::new(),
        })
    }

    /// The socket's endpoints, with `*` ports resolved for bound ones.
    pub fn endpoints(&self) -> &[String] {
        self.socket.endpoints()
    }

    /// The live counters (clone the `Arc` before handing the source to a
    /// runner).
    pub fn counters(&self) -> Arc<ZmqCounters> {
        Arc::clone(&self.ingest.counters)
    }
}

impl EventSource for ZmqSource {
    fn name(&self) -> &str {
        &self.ingest.name
    }

    /// Waits up to `timeout` for a message, then reads at most `max`
    /// messages (each an event or counted as rejected) without waiting.
    fn poll(
        &mut self,
        out: &mut Vec<Event>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<SourceStatus> {
        // The messages are parsed into encoded events (what the runner
        // publishes, see `poll_raw`), decoded here for other callers.
        let mut encoded = std::mem::take(&mut self.encoded);
        let status = self.read(&mut encoded, max, timeout);
        eventstorm_core::decode_polled(encoded.drain(..), out, |e| {
            self.ingest.counters.rejected.inc_single_writer();
            tracing::error!(source = %self.ingest.name, "an event could not be decoded: {e}");
        });
        self.encoded = encoded;
        status
    }

    /// As [`poll`](EventSource::poll), the events as the parser wrote
    /// them: the runner publishes them without encoding them again.
    fn poll_raw(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<Option<SourceStatus>> {
        self.read(out, max, timeout).map(Some)
    }

    fn stats(&self) -> Stats {
        self.ingest.counters.snapshot(&self.ingest.name)
    }
}

impl ZmqSource {
    /// Waits up to `timeout` for a message, then reads at most `max`
    /// messages into `out` (each an event or counted as rejected) without
    /// waiting.
    fn read(
        &mut self,
        out: &mut Vec<RawEvent>,
        max: usize,
        timeout: Duration,
    ) -> eventstorm_core::Result<SourceStatus> {
        if max == 0 {
            return Ok(SourceStatus::Ready);
        }
        if !self.socket.wait(timeout).map_err(socket_error)? {
            return Ok(SourceStatus::Idle);
        }
        for _ in 0..max {
            let Some(mut message) = self.socket.try_recv().map_err(socket_error)? else {
                break;
            };
            if let Some(event) = self.ingest.message(&mut message) {
                out.push(event);
            }
        }
        Ok(SourceStatus::Ready)
    }
}

/// A failed socket stops the source: say which operation failed.
fn socket_error(e: eventstorm_core::transport::TransportError) -> eventstorm_core::Error {
    eventstorm_core::Error::Io {
        context: "the zmq source's socket".to_string(),
        source: std::io::Error::other(e),
    }
}

impl Ingest {
    /// Counts one message and turns it into an event, or counts why not.
    fn message(&mut self, message: &mut RawMessage<'_>) -> Option<RawEvent> {
        let counters = &self.counters;
        counters.received.inc_single_writer();
        let payload_len = message.payload().len();
        counters.bytes.add_single_writer(payload_len as u64);
        let frames = message.frames();
        if frames > self.max_frames || payload_len == 0 {
            counters.bad_framing.inc_single_writer();
            let max = self.max_frames;
            self.warn_framing.warn(&self.name, || {
                let what = if frames > max {
                    format!("{frames} frames, expected at most {max} (max_frames)")
                } else {
                    "an empty payload".to_string()
                };
                format!("message from {} rejected: {what}", peer(message))
            });
            return None;
        }
        if payload_len > self.max_payload_bytes {
            counters.too_long.inc_single_writer();
            let max = self.max_payload_bytes;
            self.warn_too_long.warn(&self.name, || {
                format!(
                    "message from {} rejected: a payload of {payload_len} bytes, longer than {max} (max_payload_bytes)",
                    peer(message)
                )
            });
            return None;
        }
        let text = String::from_utf8_lossy(message.payload());
        let text = text.trim_end_matches(['\n', '\r', '\0']);
        let written = self
            .parser
            .parse_into(text, &mut self.body)
            .map_err(|e| e.to_string())
            .and_then(|head| {
                if is_reserved(&head.event_type) {
                    return Ok(Err(head.event_type.into_owned()));
                }
                // A body the parser could not encode (a key with a NUL).
                finish_event(&head, &mut self.body)
                    .map(Ok)
                    .map_err(|e| e.to_string())
            });
        let event = match written {
            Ok(Ok(event)) => event,
            Ok(Err(event_type)) => {
                counters.refused_reserved.inc_single_writer();
                self.warn_reserved.warn(&self.name, || {
                    format!(
                        "event of the reserved type {event_type:?} from {} refused (types starting with `{RESERVED_PREFIX}` are Eventstorm's own)",
                        peer(message)
                    )
                });
                return None;
            }
            Err(e) => {
                counters.rejected.inc_single_writer();
                let parser = self.parser.name();
                self.warn_rejected.warn(&self.name, || {
                    format!(
                        "message from {} rejected by the {parser} parser: {e}",
                        peer(message)
                    )
                });
                return None;
            }
        };
        counters.events.inc_single_writer();
        Some(event)
    }
}

/// The sender's address for a log line.
fn peer(message: &mut RawMessage<'_>) -> String {
    message
        .peer_address()
        .map_or_else(|| "an unknown peer".to_string(), str::to_string)
}
