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
    /// A sink's destination is not reachable or not usable (see
    /// [`EventSink::healthcheck`](crate::EventSink::healthcheck)); the
    /// driver's error is kept as the source.
    #[error("{component} is not healthy: {source}")]
    Unhealthy {
        /// The component that checked (`mongodb sink`, ...).
        component: String,
        /// Why, as the driver or the system said it.
        #[source]
        source: BoxError,
    },
    /// An error of a source, router or sink implemented outside this crate,
    /// kept as it is so that callers can downcast it.
    #[error(transparent)]
    Custom(BoxError),
}

/// A boxed error that keeps its type (callers can downcast it).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A thread a component needs could not be started, or ended by panicking.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadError {
    /// The operating system refused to start the thread.
    #[error(
        "cannot start the `{thread}` thread: {source} (is the process out of threads or memory?)"
    )]
    Spawn {
        /// The thread's name.
        thread: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The thread panicked; its panic message was logged by the panic hook.
    #[error("the `{thread}` thread panicked{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Panicked {
        /// The thread's name.
        thread: String,
        /// The panic message, when it was a string.
        message: Option<String>,
    },
    /// The thread had already been stopped.
    #[error("the `{thread}` thread was already stopped")]
    Stopped {
        /// The thread's name.
        thread: String,
    },
}

impl ThreadError {
    /// Starts a named thread, mapping a refusal to [`ThreadError::Spawn`].
    pub fn spawn<F, T>(
        name: impl Into<String>,
        f: F,
    ) -> Result<std::thread::JoinHandle<T>, ThreadError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let thread = name.into();
        std::thread::Builder::new()
            .name(thread.clone())
            .spawn(f)
            .map_err(|source| ThreadError::Spawn { thread, source })
    }

    /// Joins a thread, mapping a panic to [`ThreadError::Panicked`].
    pub fn join<T>(handle: std::thread::JoinHandle<T>) -> Result<T, ThreadError> {
        let thread = handle.thread().name().unwrap_or("unnamed").to_string();
        handle.join().map_err(|payload| ThreadError::Panicked {
            thread,
            message: payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned()),
        })
    }
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
    #[error("wire version {0} is not supported (this receiver speaks versions {supported} and {batch})", supported = crate::wire::VERSION, batch = crate::wire::VERSION_BATCH)]
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
    /// A batch of events arrived where one event was expected
    /// ([`wire::decode`](crate::wire::decode)).
    #[error("a batch (wire version 2) arrived where one event was expected")]
    UnexpectedBatch,
    /// A batch (wire version 2) that is not well formed: what is wrong and
    /// where.
    #[error("malformed batch: {0}")]
    Batch(String),
    /// A sequence mark (header flag 0x01) whose body frame is not empty.
    #[error("a sequence mark must have an empty body frame, this one has {0} bytes")]
    MarkWithBody(usize),
    /// A sequence mark whose topic frame is not a valid event type (see
    /// [`validate_type`](crate::event::validate_type)): its stream could
    /// never carry an event, so it is not tracked.
    #[error("sequence mark topic is not a valid event type: {0}")]
    MarkTopic(String),
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
