//! Errors of `eventstorm-core`.

use std::fmt;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Eventstorm's core operations.
///
/// Operations whose callers must tell cases apart have their own error type
/// ([`DecodeError`] for frames from a socket, [`crate::matcher::ParseError`] for
/// matcher expressions); this enum wraps them where a single error is convenient.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An event is missing an envelope field or holds one of the wrong type.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// Bytes received from a socket or a file are not a valid event frame.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A matcher expression could not be parsed.
    #[error(transparent)]
    Matcher(#[from] crate::matcher::ParseError),
    /// A value could not be turned into BSON (serde serialization of a payload).
    #[error("cannot serialize payload to BSON: {0}")]
    Serialize(#[from] bson::error::Error),
    /// Configuration is invalid: which key, and what was expected.
    #[error("invalid configuration at `{key}`: {message}")]
    Config {
        /// The key (dotted path) that is wrong.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (for example "opening /var/log/app.log").
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A sink could not write or flush events.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A component was used after it was closed.
    #[error("{0} is closed")]
    Closed(&'static str),
    /// Any other error from a source, router or sink implementation.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Wraps an I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A configuration error at `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Why a received frame could not be decoded. Each case is counted as
/// `undecodable` by receivers; none of them stops a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message does not have the three frames `[type][header][body]`.
    #[error("expected 3 frames [type][header][body], got {0}")]
    FrameCount(usize),
    /// The header frame has the wrong length.
    #[error("header frame is {0} bytes, expected {expected}", expected = crate::wire::HEADER_LEN)]
    HeaderLength(usize),
    /// The header announces a wire version this receiver does not speak.
    #[error("wire version {0} is not supported (this receiver speaks version {supported})", supported = crate::wire::VERSION)]
    UnsupportedVersion(u8),
    /// The body is not a well-formed BSON document.
    #[error("body is not a BSON document: {0}")]
    Bson(String),
    /// A required envelope field is missing or has the wrong BSON type.
    #[error("envelope field `{field}`: {problem}")]
    Envelope {
        /// The envelope field.
        field: &'static str,
        /// What is wrong with it, and what was expected.
        problem: String,
    },
    /// The document nests documents and arrays deeper than
    /// [`MAX_DEPTH`](crate::event::MAX_DEPTH) levels: refused without being
    /// read into.
    #[error(
        "documents and arrays nest deeper than {limit} levels at `{path}` (byte {at}): receivers refuse such events (see docs/wire-format.md); flatten the event where it is made"
    )]
    TooDeep {
        /// The limit, [`MAX_DEPTH`](crate::event::MAX_DEPTH).
        limit: usize,
        /// Offset of the element whose value would be one level too deep.
        at: usize,
        /// That element's dotted path from the document root.
        path: String,
    },
    /// A sequence mark arrived where an event was expected.
    #[error("a sequence mark arrived where an event was expected")]
    UnexpectedMark,
    /// The topic frame differs from the body's `type` field.
    #[error("topic frame {topic:?} does not match the event type {event_type:?}")]
    TopicMismatch {
        /// The topic frame, lossily decoded.
        topic: String,
        /// The `type` field of the body.
        event_type: String,
    },
}

/// A sink's failure to write a batch: how many events of the batch were not
/// written (and so are counted as dropped by the runtime), and why.
#[derive(Debug, thiserror::Error)]
#[error("sink failed to write {failed} event(s): {message}")]
pub struct SinkError {
    /// How many events of the batch were not written.
    pub failed: usize,
    /// What went wrong, in words a user can act on.
    pub message: String,
    /// Whether retrying later may succeed (server unreachable) or not (bad data).
    pub retryable: bool,
}

impl SinkError {
    /// A failure of `failed` events that will not succeed if retried.
    pub fn permanent(failed: usize, message: impl fmt::Display) -> Self {
        SinkError {
            failed,
            message: message.to_string(),
            retryable: false,
        }
    }

    /// A failure of `failed` events that may succeed later.
    pub fn retryable(failed: usize, message: impl fmt::Display) -> Self {
        SinkError {
            failed,
            message: message.to_string(),
            retryable: true,
        }
    }
}
