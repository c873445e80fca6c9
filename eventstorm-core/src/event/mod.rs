//! The event model: an envelope plus a body of arbitrary BSON fields.
//!
//! An event is one BSON document:
//!
//! | field      | BSON type      | meaning                                              |
//! |------------|----------------|------------------------------------------------------|
//! | `_id`      | ObjectId       | unique id (also MongoDB's `_id`)                     |
//! | `type`     | string         | dotted name, e.g. `compute.instance.create.end`; the ZeroMQ topic |
//! | `ts`       | UTC datetime   | when the event happened (milliseconds)               |
//! | `severity` | int32          | syslog severity 0-7                                  |
//! | `logger`   | string         | name of the emitting program or source (optional)   |
//! | `hostname` | string         | host that emitted it (optional)                      |
//! | `pid`      | int64          | process id of the emitter (optional)                 |
//! | `tenant`   | string         | tenant, for multi-tenant deployments (optional)      |
//! | `body`     | document       | the event's own fields                               |
//!
//! [`Event`] is the decoded, owned form used to build and inspect events;
//! [`RawEvent`] and [`RawEventRef`] give borrowed access to received bytes
//! without decoding the whole document.

mod builder;
mod decoded;
mod encode;
mod lookup;
mod optional;
mod raw;
mod scan;
mod severity;
mod validate;
mod writer;

pub use builder::EventBuilder;
pub use decoded::Event;
pub use encode::{CheckedBody, Envelope, encode_event, encode_event_checked, write_document};
pub use raw::{RawEvent, RawEventRef};
pub use severity::{ParseSeverityError, Severity};
pub use writer::{BodyMark, BodyWriter, EventHead, finish_event};

use crate::error::{Error, Result};

/// Names of the envelope fields.
pub mod fields {
    /// Unique id (ObjectId).
    pub const ID: &str = "_id";
    /// Event type, a dotted name (string).
    pub const TYPE: &str = "type";
    /// Timestamp (UTC datetime).
    pub const TIMESTAMP: &str = "ts";
    /// Syslog severity 0-7 (int32).
    pub const SEVERITY: &str = "severity";
    /// Logger or source name (string).
    pub const LOGGER: &str = "logger";
    /// Host name (string).
    pub const HOSTNAME: &str = "hostname";
    /// Process id (int64).
    pub const PID: &str = "pid";
    /// Tenant (string).
    pub const TENANT: &str = "tenant";
    /// The body: the event's own fields (document).
    pub const BODY: &str = "body";
    /// All envelope field names, in the order they are written.
    pub const ALL: [&str; 9] = [
        ID, TYPE, TIMESTAMP, SEVERITY, LOGGER, HOSTNAME, PID, TENANT, BODY,
    ];
}

/// The longest event type accepted, in bytes.
pub const MAX_TYPE_LEN: usize = 255;

/// The deepest nesting of documents and arrays an event may have: the event
/// document is level 1, its `body` level 2, a document or array in the body
/// level 3, and so on (the scope of a code-with-scope value counts as a
/// document).
///
/// Receivers refuse a deeper event as undecodable
/// ([`DecodeError::TooDeep`](crate::DecodeError::TooDeep)) without reading
/// into it, and the encoders refuse to write one. Everything that reads a
/// whole event (conversion to a [`bson::Document`], JSON rendering, router
/// transforms, serde payloads) recurses once per level; at this depth that
/// stays far below what a 2 MiB thread stack holds. MongoDB documents the
/// same figure for what it stores. `docs/wire-format.md` gives the rationale.
pub const MAX_DEPTH: usize = 100;

/// The bytes allowed in an event type.
const TYPE_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':' | b'/');
        b += 1;
    }
    table
};

/// Checks that `event_type` is a usable event type: 1 to [`MAX_TYPE_LEN`] bytes
/// of ASCII letters, digits and `. _ - : /`.
///
/// ```
/// use eventstorm_core::event::validate_type;
/// assert!(validate_type("compute.instance.create.end").is_ok());
/// assert!(validate_type("bad type").is_err());
/// ```
pub fn validate_type(event_type: &str) -> Result<()> {
    if event_type.is_empty() || event_type.len() > MAX_TYPE_LEN {
        return Err(Error::InvalidEvent(format!(
            "event type must be 1 to {MAX_TYPE_LEN} bytes, got {}",
            event_type.len()
        )));
    }
    // A byte table: this runs for every event sent and received.
    if event_type.bytes().all(|b| TYPE_BYTES[usize::from(b)]) {
        return Ok(());
    }
    if let Some((at, c)) = event_type
        .char_indices()
        .find(|(_, c)| !c.is_ascii() || !TYPE_BYTES[*c as usize])
    {
        return Err(Error::InvalidEvent(format!(
            "event type {event_type:?} has {c:?} at byte {at}: expected ASCII letters, digits or . _ - : /"
        )));
    }
    Ok(())
}
