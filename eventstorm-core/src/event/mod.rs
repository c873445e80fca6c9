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

mod encode;
mod optional;
mod raw;
mod scan;
mod severity;

pub use encode::{Envelope, encode_event, write_document};
pub use raw::{RawEvent, RawEventRef};
pub use severity::{ParseSeverityError, Severity};

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// An event: envelope plus body, held as one BSON document.
///
/// ```
/// use eventstorm_core::{Event, Severity};
/// use bson::doc;
///
/// let event = Event::builder("compute.instance.create.end")
///     .severity(Severity::Notice)
///     .tenant("acme")
///     .field("instance_id", "i-42")
///     .field("memory_mb", 2048)
///     .build();
/// assert_eq!(event.event_type(), "compute.instance.create.end");
/// assert_eq!(event.tenant(), Some("acme"));
/// assert_eq!(event.body().get_i32("memory_mb").unwrap(), 2048);
///
/// // Encode to the bytes that travel in the body frame, and read them back.
/// let bytes = event.to_bytes();
/// let back = Event::from_bytes(&bytes).unwrap();
/// assert_eq!(back, event);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    doc: Document,
}

impl Event {
    /// Starts building an event of the given type, stamped now with a fresh id.
    pub fn builder(event_type: impl Into<String>) -> EventBuilder {
        EventBuilder::new(event_type.into())
    }

    /// Wraps a document that has the envelope fields. `_id` and `ts` are added
    /// when missing; `type` must be present and pass [`validate_type`]; `body`
    /// becomes an empty document when missing. The optional envelope fields
    /// must have their wire types (`severity` an integer from 0 to 7, stored
    /// as int32; `pid` an integer, stored as int64; `logger`, `hostname` and
    /// `tenant` strings), so that every receiver accepts the encoded event.
    pub fn from_document(mut doc: Document) -> Result<Event> {
        match doc.get(fields::TYPE) {
            Some(Bson::String(event_type)) => validate_type(event_type)?,
            Some(other) => {
                return Err(Error::InvalidEvent(format!(
                    "`type` must be a string, got {:?}",
                    other.element_type()
                )));
            }
            None => return Err(Error::InvalidEvent("missing `type` field".into())),
        }
        // One lookup per field: check the type when present, add it when not.
        type FieldDefault = (&'static str, bson::spec::ElementType, fn() -> Bson);
        let defaults: [FieldDefault; 3] = [
            (fields::ID, bson::spec::ElementType::ObjectId, || {
                Bson::ObjectId(ObjectId::new())
            }),
            (fields::TIMESTAMP, bson::spec::ElementType::DateTime, || {
                Bson::DateTime(DateTime::now())
            }),
            (
                fields::BODY,
                bson::spec::ElementType::EmbeddedDocument,
                || Bson::Document(Document::new()),
            ),
        ];
        for (key, expected, default) in defaults {
            match doc.get(key) {
                Some(value) if value.element_type() != expected => {
                    return Err(Error::InvalidEvent(format!(
                        "`{key}` must be {expected:?}, got {:?}",
                        value.element_type()
                    )));
                }
                Some(_) => {}
                None => {
                    doc.insert(key, default());
                }
            }
        }
        optional::normalize(&mut doc)?;
        Ok(Event { doc })
    }

    /// Decodes an event from the bytes of a BSON document.
    ///
    /// `bytes` must be exactly one document. (The length prefix is checked
    /// against `bytes` before anything is allocated: a short, hostile frame
    /// cannot make the decoder reserve the 2 GiB its prefix may claim.)
    pub fn from_bytes(bytes: &[u8]) -> Result<Event> {
        let bson_error =
            |e: bson::error::Error| Error::Decode(crate::DecodeError::Bson(e.to_string()));
        let raw = bson::raw::RawDocument::from_bytes(bytes).map_err(bson_error)?;
        let doc = Document::try_from(raw).map_err(bson_error)?;
        Event::from_document(doc)
    }

    /// The unique id.
    pub fn id(&self) -> ObjectId {
        self.doc.get_object_id(fields::ID).unwrap_or_default()
    }

    /// The event type (also its ZeroMQ topic).
    pub fn event_type(&self) -> &str {
        // Events keep the envelope order (`_id`, `type`, ...), so the type is
        // the second element: found without hashing the key, which matters
        // because this runs for every event sent.
        if let Some((key, Bson::String(value))) = self.doc.iter().nth(1)
            && key == fields::TYPE
        {
            return value;
        }
        self.doc.get_str(fields::TYPE).unwrap_or_default()
    }

    /// When the event happened.
    pub fn timestamp(&self) -> DateTime {
        self.doc
            .get_datetime(fields::TIMESTAMP)
            .copied()
            .unwrap_or(DateTime::MIN)
    }

    /// The severity; [`Severity::Informational`] when absent or out of range.
    pub fn severity(&self) -> Severity {
        self.doc
            .get(fields::SEVERITY)
            .and_then(bson_as_i64)
            .and_then(Severity::from_code)
            .unwrap_or_default()
    }

    /// The logger or source name.
    pub fn logger(&self) -> Option<&str> {
        self.doc.get_str(fields::LOGGER).ok()
    }

    /// The host that emitted the event.
    pub fn hostname(&self) -> Option<&str> {
        self.doc.get_str(fields::HOSTNAME).ok()
    }

    /// The emitting process id.
    pub fn pid(&self) -> Option<i64> {
        self.doc.get(fields::PID).and_then(bson_as_i64)
    }

    /// The tenant.
    pub fn tenant(&self) -> Option<&str> {
        self.doc.get_str(fields::TENANT).ok()
    }

    /// Sets or replaces the tenant.
    pub fn set_tenant(&mut self, tenant: impl Into<String>) {
        self.doc.insert(fields::TENANT, tenant.into());
    }

    /// Sets the severity.
    pub fn set_severity(&mut self, severity: Severity) {
        self.doc
            .insert(fields::SEVERITY, i32::from(severity.code()));
    }

    /// The body: the event's own fields.
    pub fn body(&self) -> &Document {
        match self.doc.get(fields::BODY) {
            Some(Bson::Document(body)) => body,
            _ => empty_document(),
        }
    }

    /// Mutable access to the body.
    pub fn body_mut(&mut self) -> &mut Document {
        if !matches!(self.doc.get(fields::BODY), Some(Bson::Document(_))) {
            self.doc.insert(fields::BODY, Document::new());
        }
        match self.doc.get_mut(fields::BODY) {
            Some(Bson::Document(body)) => body,
            _ => unreachable!("body was just inserted as a document"),
        }
    }

    /// A value by dotted path from the document root, e.g. `tenant` or
    /// `body.instance.flavor`. Numeric segments index arrays.
    pub fn get(&self, path: &str) -> Option<&Bson> {
        let mut segments = path.split('.');
        let mut current = self.doc.get(segments.next()?)?;
        for segment in segments {
            current = match current {
                Bson::Document(doc) => doc.get(segment)?,
                Bson::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// Deserializes the body into a typed payload.
    ///
    /// ```
    /// use eventstorm_core::Event;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize, Debug, PartialEq)]
    /// struct VolumeCreated { volume_id: String, size_gb: i64 }
    ///
    /// let created = VolumeCreated { volume_id: "v-1".into(), size_gb: 20 };
    /// let event = Event::builder("volume.create.end").payload(&created)?.build();
    /// assert_eq!(event.payload::<VolumeCreated>()?, created);
    /// # Ok::<(), eventstorm_core::Error>(())
    /// ```
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(bson::deserialize_from_document(self.body().clone())?)
    }

    /// The whole document.
    pub fn as_document(&self) -> &Document {
        &self.doc
    }

    /// The whole document, by value.
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Appends the encoded document to `buf` (reuse one buffer for many events).
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        // Straight into `buf`: `Document::to_writer` would encode into a
        // buffer of its own first, then copy.
        encode::write_document(buf, &self.doc)
    }

    /// The encoded document: the bytes of the body frame.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(256);
        // Writing a document into a Vec fails only for keys with NUL bytes,
        // which the builder and `from_document` cannot produce from valid input.
        if self.encode_into(&mut buf).is_err() {
            buf.clear();
        }
        buf
    }
}

pub(crate) fn bson_as_i64(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

fn empty_document() -> &'static Document {
    static EMPTY: std::sync::OnceLock<Document> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Document::new)
}

/// Builds an [`Event`]; see [`Event::builder`].
#[derive(Debug, Clone)]
pub struct EventBuilder {
    event_type: String,
    id: Option<ObjectId>,
    timestamp: Option<DateTime>,
    severity: Severity,
    logger: Option<String>,
    hostname: Option<String>,
    pid: Option<i64>,
    tenant: Option<String>,
    body: Document,
}

impl EventBuilder {
    fn new(event_type: String) -> Self {
        EventBuilder {
            event_type,
            id: None,
            timestamp: None,
            severity: Severity::default(),
            logger: None,
            hostname: None,
            pid: None,
            tenant: None,
            body: Document::new(),
        }
    }

    /// Uses this id instead of a fresh one (to keep a source's own message id).
    pub fn id(mut self, id: ObjectId) -> Self {
        self.id = Some(id);
        self
    }

    /// Uses this timestamp instead of now.
    pub fn timestamp(mut self, timestamp: DateTime) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the severity (default: informational).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the logger or source name.
    pub fn logger(mut self, logger: impl Into<String>) -> Self {
        self.logger = Some(logger.into());
        self
    }

    /// Sets the host name.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Sets the process id.
    pub fn pid(mut self, pid: i64) -> Self {
        self.pid = Some(pid);
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets one body field.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Bson>) -> Self {
        self.body.insert(key, value);
        self
    }

    /// Merges these fields into the body.
    pub fn fields(mut self, fields: Document) -> Self {
        self.body.extend(fields);
        self
    }

    /// Serializes a typed payload (a struct or map) into the body fields.
    pub fn payload<T: Serialize + ?Sized>(mut self, payload: &T) -> Result<Self> {
        let doc = bson::serialize_to_document(payload)?;
        self.body.extend(doc);
        Ok(self)
    }

    /// The event.
    pub fn build(self) -> Event {
        let mut doc = Document::new();
        doc.insert(fields::ID, self.id.unwrap_or_default());
        doc.insert(fields::TYPE, self.event_type);
        doc.insert(
            fields::TIMESTAMP,
            self.timestamp.unwrap_or_else(DateTime::now),
        );
        doc.insert(fields::SEVERITY, i32::from(self.severity.code()));
        if let Some(logger) = self.logger {
            doc.insert(fields::LOGGER, logger);
        }
        if let Some(hostname) = self.hostname {
            doc.insert(fields::HOSTNAME, hostname);
        }
        if let Some(pid) = self.pid {
            doc.insert(fields::PID, pid);
        }
        if let Some(tenant) = self.tenant {
            doc.insert(fields::TENANT, tenant);
        }
        doc.insert(fields::BODY, self.body);
        Event { doc }
    }
}
