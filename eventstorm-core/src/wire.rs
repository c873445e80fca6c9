//! The wire format: how an event travels as a ZeroMQ multipart message.
//!
//! Every event is one message of exactly three frames (see `docs/wire-format.md`):
//!
//! 1. **topic**: the event type as UTF-8, e.g. `compute.instance.create.end`.
//!    Plain ZeroMQ SUB sockets filter on this frame by prefix.
//! 2. **header**: [`HEADER_LEN`] bytes: version (1 byte, [`VERSION`]), flags
//!    (1 byte, 0), publisher id (u64 little endian), sequence (u64 little endian).
//! 3. **body**: the event, one BSON document.
//!
//! A *batch* ([`VERSION_BATCH`], 2) carries several events of one type in one
//! message: the same three frames, a header whose sequence is the first
//! event's, and a body of BSON documents back to back (see [`BatchEvents`]).
//!
//! The sequence counts the events of one *stream*: one publisher id and one event
//! type, starting at 1. Because subscriptions select whole types, a subscriber sees
//! every event of each stream it receives, so a gap in a stream's sequence is an
//! exact count of events it missed.

use crate::error::DecodeError;
use crate::event::RawEventRef;

/// The wire version this crate writes and reads.
pub const VERSION: u8 = 1;

/// The wire version of a batch: several events of one type in one message.
/// The header has the same 18 bytes (its sequence is the first event's; the
/// next events take the following sequences) and the body frame holds one
/// BSON document per event, back to back. A receiver that speaks only
/// version 1 refuses such a message as undecodable (`wire version 2 is not
/// supported`), counted, rather than misreading it.
pub const VERSION_BATCH: u8 = 2;

/// Length of the header frame of [`VERSION`] 1 and [`VERSION_BATCH`] 2.
pub const HEADER_LEN: usize = 18;

/// Header flag: this message is a *sequence mark*, not an event. Its body frame
/// is empty and its sequence is the last one the publisher used on the stream,
/// so a receiver counts events lost at the end of a burst too.
pub const FLAG_MARK: u8 = 0x01;

/// The header frame: who published the event and its place in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The publishing hop's identity, random per publisher instance.
    pub publisher: u64,
    /// The event's sequence number within (publisher, type), from 1.
    pub sequence: u64,
}

impl Header {
    /// The frame's bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0] = VERSION;
        out[1] = 0;
        out[2..10].copy_from_slice(&self.publisher.to_le_bytes());
        out[10..18].copy_from_slice(&self.sequence.to_le_bytes());
        out
    }

    /// The frame's bytes for a batch ([`VERSION_BATCH`]) whose first event
    /// has this header's sequence.
    pub fn encode_batch(&self) -> [u8; HEADER_LEN] {
        let mut out = self.encode();
        out[0] = VERSION_BATCH;
        out
    }

    /// The frame's bytes for a sequence mark (see [`FLAG_MARK`]).
    pub fn encode_mark(&self) -> [u8; HEADER_LEN] {
        let mut out = self.encode();
        out[1] = FLAG_MARK;
        out
    }

    /// Reads a version-1 header frame. Unknown flag bits are ignored; another
    /// version is an error (the frame layout may differ; a batch's header is
    /// read by [`decode_message`]).
    pub fn decode(frame: &[u8]) -> Result<Header, DecodeError> {
        let version = *frame.first().ok_or(DecodeError::HeaderLength(0))?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        Self::decode_fields(frame)
    }

    /// The publisher and sequence of a header frame of either version.
    fn decode_fields(frame: &[u8]) -> Result<Header, DecodeError> {
        if frame.len() != HEADER_LEN {
            return Err(DecodeError::HeaderLength(frame.len()));
        }
        let mut publisher = [0u8; 8];
        let mut sequence = [0u8; 8];
        publisher.copy_from_slice(&frame[2..10]);
        sequence.copy_from_slice(&frame[10..18]);
        Ok(Header {
            publisher: u64::from_le_bytes(publisher),
            sequence: u64::from_le_bytes(sequence),
        })
    }
}

/// Decodes the three frames of a message into its header and a validated view of
/// its body. The topic must equal the body's `type`.
///
/// ```
/// use eventstorm_core::{Event, wire::{self, Header}};
///
/// let event = Event::builder("volume.create.end").build();
/// let body = event.to_bytes();
/// let header = Header { publisher: 7, sequence: 1 }.encode();
/// let frames: [&[u8]; 3] = [b"volume.create.end", &header, &body];
/// let (h, raw) = wire::decode(&frames).unwrap();
/// assert_eq!((h.publisher, h.sequence), (7, 1));
/// assert_eq!(raw.event_type(), "volume.create.end");
/// ```
pub fn decode<'a>(frames: &[&'a [u8]]) -> Result<(Header, RawEventRef<'a>), DecodeError> {
    match decode_message(frames)? {
        Message::Event(header, raw) => Ok((header, raw)),
        Message::Mark(_, _) => Err(DecodeError::UnexpectedMark),
        Message::Batch(_, _) => Err(DecodeError::UnexpectedBatch),
    }
}

/// A decoded message: an event, or a sequence mark.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// An event with its header.
    Event(Header, RawEventRef<'a>),
    /// A sequence mark for the stream of the given topic (see [`FLAG_MARK`]).
    Mark(Header, &'a [u8]),
    /// A batch ([`VERSION_BATCH`]): its events, each checked as it is read.
    Batch(Header, BatchEvents<'a>),
}

/// Decodes the three frames of a message, events and sequence marks alike.
/// A mark whose body frame is not empty is [`DecodeError::MarkWithBody`];
/// one whose topic is not a valid event type (1 to
/// [`MAX_TYPE_LEN`](crate::event::MAX_TYPE_LEN) bytes of the allowed
/// characters) is [`DecodeError::MarkTopic`].
pub fn decode_message<'a>(frames: &[&'a [u8]]) -> Result<Message<'a>, DecodeError> {
    let [topic, header_frame, body] = frames else {
        return Err(DecodeError::FrameCount(frames.len()));
    };
    if header_frame.first() == Some(&VERSION_BATCH) {
        let header = Header::decode_fields(header_frame)?;
        if header_frame[1] & FLAG_MARK != 0 {
            return Err(DecodeError::Batch(
                "a batch cannot be a sequence mark (flag 0x01): marks are version 1".into(),
            ));
        }
        if body.is_empty() {
            return Err(DecodeError::Batch(
                "a batch must hold at least one event".into(),
            ));
        }
        return Ok(Message::Batch(
            header,
            BatchEvents::new(header, topic, body),
        ));
    }
    let header = Header::decode(header_frame)?;
    if header_frame[1] & FLAG_MARK != 0 {
        // The wire format says a mark's body is empty: anything else is a
        // sender that does not speak it, and is not accounted for.
        if !body.is_empty() {
            return Err(DecodeError::MarkWithBody(body.len()));
        }
        // Checked like an event's type, so that a mark cannot make a
        // receiver track a stream under a topic of up to the largest frame.
        let valid = std::str::from_utf8(topic)
            .map_err(|_| format!("{} bytes, not UTF-8", topic.len()))
            .and_then(|t| crate::event::validate_type(t).map_err(|e| e.to_string()));
        if let Err(problem) = valid {
            return Err(DecodeError::MarkTopic(problem));
        }
        return Ok(Message::Mark(header, topic));
    }
    Ok(Message::Event(header, event_of(topic, body)?))
}

/// The events of a batch ([`VERSION_BATCH`]), in order, each with its own
/// header (the batch's publisher, the batch's first sequence plus its index;
/// a batch of sequence 0 is not sequenced).
///
/// Each document is checked as [`decode_message`] checks a version-1 body
/// (whole structure, envelope, type equal to the topic): one that fails is an
/// `Err` for that event only, and the next follows. A document whose length
/// runs past the frame (or is under 5 bytes) ends the batch: the error is
/// yielded once, and the events after it cannot be found.
///
/// ```
/// use eventstorm_core::{Event, wire::{self, Header, Message}};
///
/// let mut body = Event::builder("app.tick").build().to_bytes();
/// body.extend(Event::builder("app.tick").build().to_bytes());
/// let header = Header { publisher: 7, sequence: 41 }.encode_batch();
/// let frames: [&[u8]; 3] = [b"app.tick", &header, &body];
/// let Ok(Message::Batch(_, events)) = wire::decode_message(&frames) else { panic!() };
/// let sequences: Vec<u64> = events.map(|e| e.unwrap().0.sequence).collect();
/// assert_eq!(sequences, [41, 42]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BatchEvents<'a> {
    header: Header,
    topic: &'a [u8],
    body: &'a [u8],
    cursor: BatchCursor,
}

impl<'a> BatchEvents<'a> {
    fn new(header: Header, topic: &'a [u8], body: &'a [u8]) -> Self {
        BatchEvents {
            header,
            topic,
            body,
            cursor: BatchCursor::new(header),
        }
    }
}

impl<'a> Iterator for BatchEvents<'a> {
    type Item = Result<(Header, RawEventRef<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor
            .next(self.header.publisher, self.topic, self.body)
    }
}

/// Where reading a batch's body stands: the offset of the next document
/// and the sequence it takes. Kept apart from the frames so that a receiver
/// can hold it across calls while the frames stay in its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCursor {
    offset: usize,
    sequence: u64,
    done: bool,
}

impl BatchCursor {
    /// A cursor at the first event of a batch with this header.
    pub fn new(header: Header) -> Self {
        BatchCursor {
            offset: 0,
            sequence: header.sequence,
            done: false,
        }
    }

    /// Whether a batch whose body is `len` bytes has another event (or a
    /// framing error) to read.
    pub fn has_next(&self, len: usize) -> bool {
        !self.done && self.offset < len
    }

    /// The next event of the batch whose body is `body`, its header and its
    /// byte range in `body`; `None` once the batch is read (or after a
    /// framing error, which is returned once).
    #[inline]
    pub fn next_range<'a>(
        &mut self,
        publisher: u64,
        topic: &[u8],
        body: &'a [u8],
    ) -> Option<Result<BatchEvent<'a>, DecodeError>> {
        if self.done || self.offset >= body.len() {
            self.done = true;
            return None;
        }
        let start = self.offset;
        let rest = &body[start..];
        let len = rest
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let len = match len {
            Some(len) if (5..=rest.len()).contains(&len) => len,
            _ => {
                self.done = true;
                return Some(Err(DecodeError::Batch(format!(
                    "the document at byte {start} of the body claims {} bytes, {} are left",
                    len.map_or_else(|| "an unreadable number of".to_string(), |l| l.to_string()),
                    rest.len()
                ))));
            }
        };
        self.offset = start + len;
        let header = Header {
            publisher,
            sequence: self.sequence,
        };
        // A batch of sequence 0 is not sequenced; otherwise each event
        // takes the next (saturating: a forged first sequence near the top
        // is tracked as suspicious, not wrapped).
        if self.sequence != 0 {
            self.sequence = self.sequence.saturating_add(1);
        }
        let range = start..start + len;
        Some(event_of(topic, &body[range.clone()]).map(|raw| (header, raw, range)))
    }

    /// As [`next_range`](Self::next_range), without the range.
    #[inline]
    pub fn next<'a>(
        &mut self,
        publisher: u64,
        topic: &[u8],
        body: &'a [u8],
    ) -> Option<Result<(Header, RawEventRef<'a>), DecodeError>> {
        self.next_range(publisher, topic, body)
            .map(|r| r.map(|(header, raw, _)| (header, raw)))
    }
}

/// One event of a batch: its header, the validated event, and its byte
/// range in the batch's body.
pub type BatchEvent<'a> = (Header, RawEventRef<'a>, std::ops::Range<usize>);

/// A validated event whose type equals the topic.
#[inline]
fn event_of<'a>(topic: &[u8], body: &'a [u8]) -> Result<RawEventRef<'a>, DecodeError> {
    let raw = RawEventRef::from_bytes(body)?;
    if raw.event_type().as_bytes() != topic {
        return Err(DecodeError::TopicMismatch {
            topic: String::from_utf8_lossy(topic).into_owned(),
            event_type: raw.event_type().to_string(),
        });
    }
    Ok(raw)
}
