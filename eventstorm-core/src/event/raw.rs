//! Borrowed access to received event bytes.

use bson::DateTime;
use bson::oid::ObjectId;
use bson::raw::{RawBsonRef, RawDocument};
use serde::Deserialize;

use super::{Event, Severity, fields};
use crate::error::{DecodeError, Error, Result};

/// A validated view of an event's encoded bytes: the envelope fields were checked,
/// nothing else was decoded. Reading one field costs a scan of the top-level
/// element headers, not a decode of the document.
///
/// ```
/// use eventstorm_core::{Event, RawEventRef};
///
/// let bytes = Event::builder("volume.attach").field("size_gb", 20).build().to_bytes();
/// let raw = RawEventRef::from_bytes(&bytes).unwrap();
/// assert_eq!(raw.event_type(), "volume.attach");
/// assert_eq!(raw.get("body.size_gb").and_then(|v| v.as_i32()), Some(20));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RawEventRef<'a> {
    doc: &'a RawDocument,
    event_type: &'a str,
    id: ObjectId,
    timestamp: DateTime,
}

impl<'a> RawEventRef<'a> {
    /// Validates `bytes` as an event document: a well-formed BSON document
    /// whose every element, in every nested document and array, is readable
    /// (lengths, terminators, element types, UTF-8 of strings and keys),
    /// nested at most [`MAX_DEPTH`](super::MAX_DEPTH) levels deep, with `_id`
    /// an ObjectId, `type` a valid event type string and `ts` a datetime, the
    /// optional envelope fields, when present, of the type the wire format
    /// gives them (`severity` an int32 from 0 to 7, `logger`, `hostname` and
    /// `tenant` strings, `pid` an int64, `body` a document), and no envelope
    /// field present twice (a duplicate would read differently here, where
    /// the first occurrence wins, than in a decoded [`Event`], where the last
    /// one does). Nothing is allocated unless it fails.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let envelope = super::scan::scan(bytes)?;
        let doc = RawDocument::from_bytes(bytes).map_err(|e| DecodeError::Bson(e.to_string()))?;
        Ok(RawEventRef {
            doc,
            event_type: envelope.event_type,
            id: envelope.id,
            timestamp: envelope.timestamp,
        })
    }

    /// The encoded document.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.doc.as_bytes()
    }

    /// The document, for raw BSON access.
    pub fn document(&self) -> &'a RawDocument {
        self.doc
    }

    /// The event type.
    pub fn event_type(&self) -> &'a str {
        self.event_type
    }

    /// The unique id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// When the event happened.
    pub fn timestamp(&self) -> DateTime {
        self.timestamp
    }

    /// The severity, when present and in range.
    pub fn severity(&self) -> Option<Severity> {
        match super::lookup::get(self.doc, fields::SEVERITY)? {
            RawBsonRef::Int32(v) => Severity::from_code(i64::from(v)),
            RawBsonRef::Int64(v) => Severity::from_code(v),
            _ => None,
        }
    }

    /// The tenant, when present.
    pub fn tenant(&self) -> Option<&'a str> {
        match super::lookup::get(self.doc, fields::TENANT)? {
            RawBsonRef::String(tenant) => Some(tenant),
            _ => None,
        }
    }

    /// The body document (empty documents have no body field).
    pub fn body(&self) -> Option<&'a RawDocument> {
        match super::lookup::get(self.doc, fields::BODY)? {
            RawBsonRef::Document(body) => Some(body),
            _ => None,
        }
    }

    /// A value by dotted path from the document root (`tenant`,
    /// `body.instance.flavor`, `body.tags.0`), without decoding anything else.
    pub fn get(&self, path: &str) -> Option<RawBsonRef<'a>> {
        super::lookup::path(self.doc, path)
    }

    /// Deserializes the body into a typed payload, borrowing strings from the
    /// received bytes where the target type allows it.
    pub fn payload<T: Deserialize<'a>>(&self) -> Result<T> {
        let body = self.body().map(RawDocument::as_bytes).unwrap_or(EMPTY_DOC);
        Ok(bson::deserialize_from_slice(body)?)
    }

    /// Copies the bytes into an owned [`RawEvent`], without validating again.
    pub fn to_raw_event(&self) -> RawEvent {
        let bytes = self.doc.as_bytes().to_vec();
        let start = self.event_type.as_ptr() as usize - self.doc.as_bytes().as_ptr() as usize;
        RawEvent {
            bytes,
            type_range: start..start + self.event_type.len(),
            id: self.id,
            timestamp: self.timestamp,
        }
    }

    /// Decodes the whole document into an [`Event`].
    pub fn to_event(&self) -> Result<Event> {
        let doc = bson::Document::try_from(self.doc)
            .map_err(|e| Error::Decode(DecodeError::Bson(e.to_string())))?;
        Event::from_document(doc)
    }
}

const EMPTY_DOC: &[u8] = &[5, 0, 0, 0, 0];

fn validated_document(bytes: &[u8]) -> &RawDocument {
    match RawDocument::from_bytes(bytes) {
        Ok(doc) => doc,
        Err(_) => unreachable!("RawEvent holds bytes validated at construction"),
    }
}

/// An owned, validated event document as received: the bytes are kept as they
/// arrived and can be forwarded or stored without re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    bytes: Vec<u8>,
    type_range: std::ops::Range<usize>,
    id: ObjectId,
    timestamp: DateTime,
}

impl RawEvent {
    /// Validates and takes ownership of an encoded event (see
    /// [`RawEventRef::from_bytes`] for what is checked).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        let view = RawEventRef::from_bytes(&bytes)?;
        let start = view.event_type.as_ptr() as usize - bytes.as_ptr() as usize;
        let type_range = start..start + view.event_type.len();
        let (id, timestamp) = (view.id, view.timestamp);
        Ok(RawEvent {
            bytes,
            type_range,
            id,
            timestamp,
        })
    }

    /// Bytes the event writer produced: valid by construction, so not
    /// checked again.
    pub(super) fn from_written(
        bytes: Vec<u8>,
        type_range: std::ops::Range<usize>,
        id: ObjectId,
        timestamp: DateTime,
    ) -> Self {
        debug_assert!(RawEventRef::from_bytes(&bytes).is_ok());
        RawEvent {
            bytes,
            type_range,
            id,
            timestamp,
        }
    }

    /// Encodes an [`Event`] (an error when it cannot be encoded, see
    /// [`Event::encode_into`]).
    pub fn from_event(event: &Event) -> Result<Self> {
        let mut bytes = Vec::with_capacity(256);
        event.encode_into(&mut bytes)?;
        Ok(RawEvent::from_bytes(bytes)?)
    }

    /// The borrowed view, for field access. Costs no validation: the bytes were
    /// validated when this value was made.
    pub fn view(&self) -> RawEventRef<'_> {
        RawEventRef {
            doc: validated_document(&self.bytes),
            event_type: self.event_type(),
            id: self.id,
            timestamp: self.timestamp,
        }
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.type_range.clone()]).unwrap_or_default()
    }

    /// The unique id.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// When the event happened.
    pub fn timestamp(&self) -> DateTime {
        self.timestamp
    }

    /// A value by dotted path; see [`RawEventRef::get`].
    pub fn get(&self, path: &str) -> Option<RawBsonRef<'_>> {
        self.view().get(path)
    }

    /// The encoded document.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded document, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decodes the whole document into an [`Event`].
    pub fn to_event(&self) -> Result<Event> {
        self.view().to_event()
    }
}
