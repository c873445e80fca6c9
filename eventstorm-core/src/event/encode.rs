//! A direct BSON encoder for events: writes the bytes of a document into a
//! caller's buffer without the intermediate buffer `Document::to_writer`
//! allocates, and encodes an event from its parts without first building an
//! [`Event`](super::Event) (what [`Client::emit`] does for every call).
//!
//! The bytes are exactly those `bson` writes (tests compare them); value
//! types this encoder does not handle itself (regexes, binaries, decimals,
//! ...) are written by `bson`.
//!
//! [`Client::emit`]: https://docs.rs/eventstorm-source

use bson::oid::ObjectId;
use bson::{Bson, Document};

use super::{MAX_DEPTH, Severity, fields};
use crate::error::Result;

/// The envelope of an event to encode with [`encode_event`].
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The event type (the caller checks it with [`validate_type`](super::validate_type)).
    pub event_type: &'a str,
    /// The severity.
    pub severity: Severity,
    /// The logger or source name.
    pub logger: Option<&'a str>,
    /// The host name.
    pub hostname: Option<&'a str>,
    /// The process id.
    pub pid: Option<i64>,
    /// The tenant.
    pub tenant: Option<&'a str>,
}

/// Appends the event made of `envelope` and `body`, with a fresh id and the
/// current time, to `buf`: the same bytes as building it with
/// [`Event::builder`](super::Event::builder) and
/// [`encode_into`](super::Event::encode_into), at a fraction of the cost.
///
/// ```
/// use eventstorm_core::event::{Envelope, encode_event};
/// use eventstorm_core::{RawEventRef, Severity};
///
/// let mut buf = Vec::new();
/// let envelope = Envelope {
///     event_type: "order.placed", severity: Severity::Notice,
///     logger: Some("shop"), hostname: None, pid: None, tenant: None,
/// };
/// encode_event(&mut buf, &envelope, &bson::doc! { "order_id": 7 })?;
/// let raw = RawEventRef::from_bytes(&buf)?;
/// assert_eq!(raw.get("body.order_id").and_then(|v| v.as_i32()), Some(7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_event(buf: &mut Vec<u8>, envelope: &Envelope<'_>, body: &Document) -> Result<()> {
    let start = write_envelope(buf, envelope);
    write_nested(buf, body, 2)?;
    close(buf, start);
    Ok(())
}

/// A BSON document checked to be a valid event body: what a receiver
/// accepts as the `body` of an event (its framing and every nested element
/// readable, nested at most [`MAX_DEPTH`] levels counting the event as level
/// 1). Made by [`CheckedBody::new`] only, so bytes a program received from
/// outside (another language, a file) are checked once and then copied into
/// events as they are, with [`encode_event_checked`].
///
/// ```
/// use eventstorm_core::event::CheckedBody;
///
/// let mut bytes = Vec::new();
/// bson::doc! { "order_id": 7 }.to_writer(&mut bytes)?;
/// assert!(CheckedBody::new(&bytes).is_ok());
/// assert!(CheckedBody::new(&bytes[..bytes.len() - 1]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CheckedBody<'a>(&'a [u8]);

impl<'a> CheckedBody<'a> {
    /// Checks `bytes` as one BSON document to be an event's body. The error
    /// says what is wrong and at which byte (and element).
    pub fn new(bytes: &'a [u8]) -> std::result::Result<Self, crate::DecodeError> {
        let terminator = super::validate::frame(bytes)?;
        super::validate::walk(bytes, 0, terminator, 2, None)?;
        Ok(CheckedBody(bytes))
    }

    /// The document's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// [`encode_event`] with a body that is already BSON: its bytes are copied
/// into the event without being decoded.
pub fn encode_event_checked(buf: &mut Vec<u8>, envelope: &Envelope<'_>, body: CheckedBody<'_>) {
    let start = write_envelope(buf, envelope);
    buf.extend_from_slice(body.0);
    close(buf, start);
}

/// A fresh event id and the current time (milliseconds since the epoch) from
/// one reading of the clock: `ObjectId::new` and `DateTime::now` read it once
/// each, a tenth of what encoding a typical event costs.
///
/// The id has `ObjectId`'s layout: the seconds of that reading, five random
/// bytes drawn once per process (not `bson`'s, so that ids made here and by
/// `ObjectId::new` never collide) and a counter that starts at a random value.
pub(crate) fn id_and_now() -> (ObjectId, i64) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Random bits from the standard library's randomly keyed hasher.
    fn random() -> u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    }
    static PROCESS: LazyLock<[u8; 5]> = LazyLock::new(|| {
        let bytes = random().to_le_bytes();
        [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]]
    });
    static COUNTER: LazyLock<AtomicU32> =
        LazyLock::new(|| AtomicU32::new(random() as u32 & 0x00ff_ffff));

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let millis = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    let id = ObjectId::from_parts(
        u32::try_from(now.as_secs()).unwrap_or(u32::MAX),
        *PROCESS,
        [count[1], count[2], count[3]],
    );
    (id, millis)
}

/// Opens the event document and writes its envelope up to the `body` key;
/// returns where the document starts, for [`close`].
fn write_envelope(buf: &mut Vec<u8>, envelope: &Envelope<'_>) -> usize {
    let start = open(buf);
    let (id, millis) = id_and_now();
    key(buf, 0x07, fields::ID);
    buf.extend_from_slice(&id.bytes());
    string(buf, fields::TYPE, envelope.event_type);
    key(buf, 0x09, fields::TIMESTAMP);
    buf.extend_from_slice(&millis.to_le_bytes());
    key(buf, 0x10, fields::SEVERITY);
    buf.extend_from_slice(&i32::from(envelope.severity.code()).to_le_bytes());
    if let Some(logger) = envelope.logger {
        string(buf, fields::LOGGER, logger);
    }
    if let Some(hostname) = envelope.hostname {
        string(buf, fields::HOSTNAME, hostname);
    }
    if let Some(pid) = envelope.pid {
        key(buf, 0x12, fields::PID);
        buf.extend_from_slice(&pid.to_le_bytes());
    }
    if let Some(tenant) = envelope.tenant {
        string(buf, fields::TENANT, tenant);
    }
    key(buf, 0x03, fields::BODY);
    start
}

/// Appends `doc`'s BSON bytes to `buf` (what `doc.to_writer(buf)` writes).
///
/// A document that nests documents and arrays deeper than [`MAX_DEPTH`]
/// levels (`doc` itself is level 1) is an error, as receivers refuse it; `buf`
/// then holds a partial document after its original contents.
pub fn write_document(buf: &mut Vec<u8>, doc: &Document) -> Result<()> {
    write_nested(buf, doc, 1)
}

/// Writes `doc`, which sits at nesting `depth` (the event document is 1).
fn write_nested(buf: &mut Vec<u8>, doc: &Document, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let start = open(buf);
    for (k, v) in doc {
        write_element(buf, k, v, depth)?;
    }
    close(buf, start);
    Ok(())
}

#[cold]
pub(super) fn too_deep() -> crate::Error {
    crate::Error::InvalidEvent(format!(
        "documents and arrays nest more than {MAX_DEPTH} levels deep (the event itself is \
         level 1): receivers refuse such an event, so it is not encoded; flatten its body"
    ))
}

fn open(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    start
}

fn close(buf: &mut Vec<u8>, start: usize) {
    buf.push(0);
    // Documents larger than i32::MAX cannot be sent; bson would fail later.
    let len = i32::try_from(buf.len() - start).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn key(buf: &mut Vec<u8>, element_type: u8, key: &str) {
    buf.push(element_type);
    buf.extend_from_slice(key.as_bytes());
    buf.push(0);
}

fn string(buf: &mut Vec<u8>, k: &str, value: &str) {
    key(buf, 0x02, k);
    let len = i32::try_from(value.len() + 1).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(value.as_bytes());
    buf.push(0);
}

/// Writes one element of a document at nesting `depth`.
pub(super) fn write_element(buf: &mut Vec<u8>, k: &str, value: &Bson, depth: usize) -> Result<()> {
    // Keys are short: a plain loop beats a call to memchr here.
    if k.bytes().any(|b| b == 0) {
        // `bson` reports the key; the value does not matter (and is not
        // walked).
        return fallback(buf, k, &Bson::Null);
    }
    match value {
        Bson::Double(v) => {
            key(buf, 0x01, k);
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Bson::String(s) => string(buf, k, s),
        Bson::Document(doc) => {
            key(buf, 0x03, k);
            write_nested(buf, doc, depth + 1)?;
        }
        Bson::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(too_deep());
            }
            key(buf, 0x04, k);
            let start = open(buf);
            let mut index = String::new();
            for (i, item) in items.iter().enumerate() {
                index.clear();
                std::fmt::Write::write_fmt(&mut index, format_args!("{i}"))
                    .map_err(|e| crate::Error::InvalidEvent(e.to_string()))?;
                write_element(buf, &index, item, depth + 1)?;
            }
            close(buf, start);
        }
        Bson::JavaScriptCodeWithScope(code) => {
            // Written here rather than by `bson`, so that the scope's depth
            // is bounded like any other document's.
            key(buf, 0x0F, k);
            let start = open(buf);
            let len = i32::try_from(code.code.len() + 1).unwrap_or(i32::MAX);
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(code.code.as_bytes());
            buf.push(0);
            write_nested(buf, &code.scope, depth + 1)?;
            let total = i32::try_from(buf.len() - start).unwrap_or(i32::MAX);
            buf[start..start + 4].copy_from_slice(&total.to_le_bytes());
        }
        Bson::Boolean(v) => {
            key(buf, 0x08, k);
            buf.push(u8::from(*v));
        }
        Bson::Null => key(buf, 0x0A, k),
        Bson::Int32(v) => {
            key(buf, 0x10, k);
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Bson::Int64(v) => {
            key(buf, 0x12, k);
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Bson::DateTime(v) => {
            key(buf, 0x09, k);
            buf.extend_from_slice(&v.timestamp_millis().to_le_bytes());
        }
        Bson::ObjectId(v) => {
            key(buf, 0x07, k);
            buf.extend_from_slice(&v.bytes());
        }
        other => fallback(buf, k, other)?,
    }
    Ok(())
}

/// Lets `bson` write the element (and report its errors, e.g. a key with a
/// NUL byte). Only for values that hold no document (a key with a NUL is an
/// error whatever the value).
fn fallback(buf: &mut Vec<u8>, k: &str, value: &Bson) -> Result<()> {
    let mut one = Document::new();
    one.insert(k, value.clone());
    let mut bytes = Vec::new();
    one.to_writer(&mut bytes)?;
    // Strip the length prefix and the terminating NUL: one element remains.
    buf.extend_from_slice(&bytes[4..bytes.len() - 1]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, DateTime, doc, spec::BinarySubtype};

    #[test]
    fn ids_are_unique_and_agree_with_the_timestamp() {
        let before = DateTime::now().timestamp_millis();
        let made: Vec<(ObjectId, i64)> = (0..10_000).map(|_| id_and_now()).collect();
        let after = DateTime::now().timestamp_millis();
        let ids: std::collections::HashSet<ObjectId> = made.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), made.len());
        for (id, millis) in &made {
            assert!((before..=after).contains(millis));
            // The id's seconds are the timestamp's.
            assert_eq!(id.timestamp().timestamp_millis() / 1000, millis / 1000);
        }
        // Not bson's process bytes: ids made both ways never collide.
        assert_ne!(made[0].0.bytes()[4..9], ObjectId::new().bytes()[4..9]);
    }

    fn both(doc: &Document) -> (Vec<u8>, Vec<u8>) {
        let mut ours = vec![9, 9];
        write_document(&mut ours, doc).expect("ours");
        let mut theirs = vec![9, 9];
        doc.to_writer(&mut theirs).expect("bson");
        (ours, theirs)
    }

    #[test]
    fn same_bytes_as_bson_for_every_kind_of_value() {
        let doc = doc! {
            "d": 1.5, "s": "héllo", "n": Bson::Null, "t": true, "f": false,
            "i": -7, "l": 1i64 << 40, "dt": DateTime::from_millis(1_700_000_000_123),
            "oid": ObjectId::new(),
            "nested": { "a": [1, "x", { "b": [] }, [2.5]], "e": {} },
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "ts": bson::Timestamp { time: 5, increment: 6 },
            "": "empty key",
        };
        let (ours, theirs) = both(&doc);
        assert_eq!(ours, theirs);
        assert_eq!(both(&Document::new()).0, both(&Document::new()).1);
    }

    #[test]
    fn a_nul_in_a_key_is_an_error_as_with_bson() {
        let mut buf = Vec::new();
        assert!(write_document(&mut buf, &doc! { "a\0b": 1 }).is_err());
    }

    fn bytes_of(doc: &Document) -> Vec<u8> {
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes).expect("bytes");
        bytes
    }

    #[test]
    fn a_checked_body_encodes_as_the_document_does() {
        let body = doc! { "instance_id": "i-1", "nested": { "tags": ["a", 1, 2.5] } };
        let bytes = bytes_of(&body);
        let envelope = Envelope {
            event_type: "t",
            severity: Severity::Notice,
            logger: Some("l"),
            hostname: None,
            pid: Some(1),
            tenant: None,
        };
        let (mut from_doc, mut from_bytes) = (Vec::new(), Vec::new());
        encode_event(&mut from_doc, &envelope, &body).expect("encode");
        encode_event_checked(
            &mut from_bytes,
            &envelope,
            CheckedBody::new(&bytes).expect("valid"),
        );
        let decoded = super::super::Event::from_bytes(&from_bytes).expect("decode");
        assert_eq!(decoded.body(), &body);
        assert_eq!(from_doc.len(), from_bytes.len());

        let mut truncated = bytes.clone();
        truncated.pop();
        assert!(CheckedBody::new(&truncated).is_err());
        // Too deep: the body is level 2, so 99 more levels is one too many.
        let mut deep = doc! { "x": 1 };
        for _ in 0..MAX_DEPTH - 1 {
            deep = doc! { "d": deep };
        }
        let deep_bytes = bytes_of(&deep);
        let err = CheckedBody::new(&deep_bytes).expect_err("too deep");
        assert!(err.to_string().contains("deep"), "{err}");
        let mut ok = doc! { "x": 1 };
        for _ in 0..MAX_DEPTH - 2 {
            ok = doc! { "d": ok };
        }
        assert!(CheckedBody::new(&bytes_of(&ok)).is_ok());
    }

    #[test]
    fn encode_event_equals_the_builder() {
        let body = doc! { "instance_id": "i-1", "memory_mb": 2048, "tags": ["a", "b"] };
        let envelope = Envelope {
            event_type: "compute.instance.create.end",
            severity: Severity::Warning,
            logger: Some("nova"),
            hostname: Some("h1"),
            pid: Some(42),
            tenant: Some("acme"),
        };
        let mut buf = Vec::new();
        encode_event(&mut buf, &envelope, &body).expect("encode");
        let decoded = super::super::Event::from_bytes(&buf).expect("decode");
        let rebuilt = super::super::Event::builder(envelope.event_type)
            .id(decoded.id())
            .timestamp(decoded.timestamp())
            .severity(Severity::Warning)
            .logger("nova")
            .hostname("h1")
            .pid(42)
            .tenant("acme")
            .fields(body)
            .build();
        assert_eq!(rebuilt.to_bytes(), buf);
        assert_eq!(decoded, rebuilt);
    }
}
