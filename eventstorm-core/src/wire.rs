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
//! The sequence counts the events of one *stream*: one publisher id and one event
//! type, starting at 1. Because subscriptions select whole types, a subscriber sees
//! every event of each stream it receives, so a gap in a stream's sequence is an
//! exact count of events it missed.

use crate::error::DecodeError;
use crate::event::RawEventRef;

/// The wire version this crate writes and reads.
pub const VERSION: u8 = 1;

/// Length of the header frame of [`VERSION`] 1.
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

    /// The frame's bytes for a sequence mark (see [`FLAG_MARK`]).
    pub fn encode_mark(&self) -> [u8; HEADER_LEN] {
        let mut out = self.encode();
        out[1] = FLAG_MARK;
        out
    }

    /// Reads a header frame. Unknown flag bits are ignored; another version is
    /// an error (the frame layout may differ).
    pub fn decode(frame: &[u8]) -> Result<Header, DecodeError> {
        let version = *frame.first().ok_or(DecodeError::HeaderLength(0))?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
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
    }
}

/// A decoded message: an event, or a sequence mark.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// An event with its header.
    Event(Header, RawEventRef<'a>),
    /// A sequence mark for the stream of the given topic (see [`FLAG_MARK`]).
    Mark(Header, &'a [u8]),
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
    let raw = RawEventRef::from_bytes(body)?;
    if raw.event_type().as_bytes() != *topic {
        return Err(DecodeError::TopicMismatch {
            topic: String::from_utf8_lossy(topic).into_owned(),
            event_type: raw.event_type().to_string(),
        });
    }
    Ok(Message::Event(header, raw))
}
