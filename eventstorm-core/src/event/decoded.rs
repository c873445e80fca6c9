//! [`Event`]: the decoded, owned form of an event, to build and inspect.

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use serde::de::DeserializeOwned;

use super::{EventBuilder, Severity, encode, fields, validate_type};
use crate::error::{Error, Result};

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
    /// An event from a document the builder assembled (envelope in order).
    pub(super) fn from_parts(doc: Document) -> Event {
        Event { doc }
    }

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
        super::optional::normalize(&mut doc)?;
        Ok(Event { doc })
    }

    /// Decodes an event from the bytes of a BSON document.
    ///
    /// `bytes` must be exactly one document. Its whole structure is checked
    /// before anything is allocated (lengths, terminators, element types,
    /// UTF-8, nesting at most [`MAX_DEPTH`](super::MAX_DEPTH) deep): a short,
    /// hostile frame cannot make the decoder reserve the 2 GiB its prefix may
    /// claim, nor a deeply nested one make it overflow the stack.
    pub fn from_bytes(bytes: &[u8]) -> Result<Event> {
        super::validate::document(bytes)?;
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
    ///
    /// An event nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH) levels is
    /// an error ([`Error::InvalidEvent`]): receivers would refuse it.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        // Straight into `buf`: `Document::to_writer` would encode into a
        // buffer of its own first, then copy.
        encode::write_document(buf, &self.doc)
    }

    /// The encoded document: the bytes of the body frame.
    ///
    /// Empty when the event cannot be encoded (a key with a NUL byte, nesting
    /// deeper than [`MAX_DEPTH`](super::MAX_DEPTH)), which every receiver
    /// refuses; [`encode_into`](Self::encode_into) says why.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(256);
        if self.encode_into(&mut buf).is_err() {
            buf.clear();
        }
        buf
    }
}

fn bson_as_i64(value: &Bson) -> Option<i64> {
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
