//! Writing an event's BSON bytes field by field, without a
//! [`bson::Document`] in between: what the log parsers do for every line.
//!
//! A [`BodyWriter`] holds the body being written (a buffer reused from one
//! event to the next); [`EventHead`] holds the envelope; [`finish_event`]
//! puts them together into a [`RawEvent`], the bytes a publisher sends. The
//! envelope is separate so that it can be completed after the body (a
//! parser learns the time or the host name in the middle of a line; the
//! caller may add a tenant) and the body stays open until then (the caller
//! may append fields, e.g. the sender's address).

use std::borrow::Cow;

use bson::oid::ObjectId;
use bson::{Bson, DateTime};

use super::{MAX_DEPTH, RawEvent, Severity, fields, validate_type};
use crate::error::{Error, Result};

/// The envelope of an event written with a [`BodyWriter`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventHead<'a> {
    /// The event type (checked by [`finish_event`]).
    pub event_type: Cow<'a, str>,
    /// The id (`None`: a new one).
    pub id: Option<ObjectId>,
    /// When the event happened (`None`: now).
    pub timestamp: Option<DateTime>,
    /// The severity.
    pub severity: Severity,
    /// The logger or source name.
    pub logger: Option<Cow<'a, str>>,
    /// The host name.
    pub hostname: Option<Cow<'a, str>>,
    /// The process id.
    pub pid: Option<i64>,
    /// The tenant.
    pub tenant: Option<Cow<'a, str>>,
}

impl<'a> EventHead<'a> {
    /// A head of this type, severity `Informational` (as
    /// [`Event::builder`](super::Event::builder)), nothing else set.
    pub fn new(event_type: impl Into<Cow<'a, str>>) -> Self {
        EventHead {
            event_type: event_type.into(),
            id: None,
            timestamp: None,
            severity: Severity::default(),
            logger: None,
            hostname: None,
            pid: None,
            tenant: None,
        }
    }
}

/// The body of an event being written: BSON bytes appended field by field
/// into a buffer that is reused from one event to the next.
///
/// Keys with a NUL byte and nesting deeper than [`MAX_DEPTH`] cannot be
/// encoded: the writer remembers the first such error and [`finish_event`]
/// returns it.
///
/// ```
/// use eventstorm_core::event::{BodyWriter, EventHead, finish_event};
/// use eventstorm_core::Severity;
///
/// let mut body = BodyWriter::new();
/// body.str("method", "GET");
/// body.i64("status", 503);
/// body.open_document("headers");
/// body.str("host", "example.net");
/// body.close_document();
/// let mut head = EventHead::new("nginx.access");
/// head.severity = Severity::Error;
/// let event = finish_event(&head, &mut body)?;
/// assert_eq!(event.get("body.status").and_then(|v| v.as_i64()), Some(503));
/// assert_eq!(event.get("body.headers.host").and_then(|v| v.as_str()), Some("example.net"));
/// # Ok::<(), eventstorm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BodyWriter {
    buf: Vec<u8>,
    /// Where each open document starts (the body's is first).
    open: Vec<usize>,
    error: Option<String>,
}

impl Default for BodyWriter {
    fn default() -> Self {
        BodyWriter::new()
    }
}

impl BodyWriter {
    /// An empty body.
    pub fn new() -> Self {
        let mut writer = BodyWriter {
            buf: Vec::with_capacity(512),
            open: Vec::with_capacity(4),
            error: None,
        };
        writer.clear();
        writer
    }

    /// Empties the body (keeping the buffer) to write another event.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 4]);
        self.open.clear();
        self.open.push(0);
        self.error = None;
    }

    /// Bytes written so far, for [`rewind`](Self::rewind).
    pub fn mark(&self) -> BodyMark {
        BodyMark {
            len: self.buf.len(),
            open: self.open.len(),
        }
    }

    /// Removes what was written since `mark` (and closes documents opened
    /// since then).
    pub fn rewind(&mut self, mark: BodyMark) {
        self.buf.truncate(mark.len);
        self.open.truncate(mark.open);
    }

    /// The nesting level of the document being written (the event is 1,
    /// its body 2).
    fn depth(&self) -> usize {
        self.open.len() + 1
    }

    fn key(&mut self, element_type: u8, key: &str) {
        // Keys are short: a plain loop beats a call to memchr here.
        if key.bytes().any(|b| b == 0) {
            self.fail(format!(
                "the key {key:?} has a NUL byte, which BSON keys cannot hold"
            ));
        }
        self.buf.push(element_type);
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(0);
    }

    #[cold]
    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(message);
        }
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(0x02, key);
        let len = i32::try_from(value.len() + 1).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.buf.push(0);
    }

    /// An int32 field.
    pub fn i32(&mut self, key: &str, value: i32) {
        self.key(0x10, key);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// An int64 field.
    pub fn i64(&mut self, key: &str, value: i64) {
        self.key(0x12, key);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A double field.
    pub fn f64(&mut self, key: &str, value: f64) {
        self.key(0x01, key);
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(0x08, key);
        self.buf.push(u8::from(value));
    }

    /// A null field.
    pub fn null(&mut self, key: &str) {
        self.key(0x0A, key);
    }

    /// A UTC datetime field.
    pub fn datetime(&mut self, key: &str, value: DateTime) {
        self.key(0x09, key);
        self.buf
            .extend_from_slice(&value.timestamp_millis().to_le_bytes());
    }

    /// Any value (documents and arrays included), as `bson` encodes it.
    pub fn value(&mut self, key: &str, value: &Bson) {
        let depth = self.depth();
        if let Err(e) = super::encode::write_element(&mut self.buf, key, value, depth) {
            self.fail(e.to_string());
        }
    }

    /// Opens a document field: the fields written next go into it, until
    /// [`close_document`](Self::close_document).
    pub fn open_document(&mut self, key: &str) {
        if self.depth() + 1 > MAX_DEPTH {
            self.fail(super::encode::too_deep().to_string());
        }
        self.key(0x03, key);
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0; 4]);
    }

    /// Closes the document opened last (the body itself stays open until
    /// [`finish_event`]).
    pub fn close_document(&mut self) {
        if self.open.len() > 1
            && let Some(start) = self.open.pop()
        {
            close(&mut self.buf, start);
        }
    }
}

/// Where a field written in a [`BodyWriter`] lies.
struct Found {
    /// Its first byte (the element type).
    start: usize,
    /// Its value's first byte.
    value: usize,
    /// Its element type.
    kind: u8,
    /// The byte after it.
    end: usize,
    /// The length prefixes of the documents it sits in (the body's aside).
    parents: Vec<usize>,
}

impl BodyWriter {
    /// The field at `path` (keys from the body down), if every document
    /// on the way is closed and well formed.
    fn find(&self, path: &[&str]) -> Option<Found> {
        use super::validate::{Next, key_end, value};
        // Only the body may be open: an open document has no length yet.
        if self.open.len() != 1 || path.is_empty() {
            return None;
        }
        let bytes = &self.buf;
        let (mut at, mut end) = (4, bytes.len());
        let mut parents = Vec::new();
        let mut depth = 0;
        while at < end {
            let kind = bytes[at];
            let key_stop = key_end(bytes, at + 1, end).ok()?;
            let next = value(bytes, kind, key_stop, end).ok()?;
            let stop = match next {
                Next::Skip(stop) => stop,
                Next::Enter(_, terminator) => terminator + 1,
            };
            if &bytes[at + 1..key_stop - 1] == path[depth].as_bytes() {
                if depth + 1 == path.len() {
                    return Some(Found {
                        start: at,
                        value: key_stop,
                        kind,
                        end: stop,
                        parents,
                    });
                }
                if kind != 0x03 {
                    return None;
                }
                parents.push(key_stop);
                depth += 1;
                (at, end) = (key_stop + 4, stop - 1);
                continue;
            }
            at = stop;
        }
        None
    }

    /// The document at `path` (keys from the body down) among the fields
    /// written so far, without copying it. `None` when there is none, when
    /// the field is not a document, or while a document other than the
    /// body is still open.
    ///
    /// ```
    /// use eventstorm_core::event::BodyWriter;
    ///
    /// let mut body = BodyWriter::new();
    /// body.open_document("sd");
    /// body.open_document("auth");
    /// body.str("token", "s3cret");
    /// body.close_document();
    /// body.close_document();
    /// let auth = body.get_document(&["sd", "auth"]).expect("written");
    /// assert_eq!(auth.get_str("token").ok(), Some("s3cret"));
    /// ```
    pub fn get_document(&self, path: &[&str]) -> Option<&bson::RawDocument> {
        let found = self.find(path)?;
        if found.kind != 0x03 {
            return None;
        }
        bson::RawDocument::from_bytes(&self.buf[found.value..found.end]).ok()
    }

    /// Removes the field at `path` (keys from the body down) from what was
    /// written so far, e.g. a secret the event must not carry on. Returns
    /// whether it was there; like [`get_document`](Self::get_document) it
    /// finds nothing while a document other than the body is still open.
    ///
    /// ```
    /// use eventstorm_core::event::BodyWriter;
    ///
    /// let mut body = BodyWriter::new();
    /// body.open_document("sd");
    /// body.str("token", "s3cret");
    /// body.str("kept", "x");
    /// body.close_document();
    /// assert!(body.remove(&["sd", "token"]));
    /// assert!(!body.remove(&["sd", "token"]));
    /// let sd = body.get_document(&["sd"]).expect("written");
    /// assert_eq!(sd.iter().count(), 1);
    /// ```
    pub fn remove(&mut self, path: &[&str]) -> bool {
        let Some(found) = self.find(path) else {
            return false;
        };
        let removed = found.end - found.start;
        self.buf.drain(found.start..found.end);
        for at in found.parents {
            let mut len = [0; 4];
            len.copy_from_slice(&self.buf[at..at + 4]);
            let len = i32::from_le_bytes(len) - i32::try_from(removed).unwrap_or(i32::MAX);
            self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        true
    }
}

/// A position in a [`BodyWriter`], from [`BodyWriter::mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyMark {
    len: usize,
    open: usize,
}

fn close(buf: &mut Vec<u8>, start: usize) {
    buf.push(0);
    let len = i32::try_from(buf.len() - start).unwrap_or(i32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn string(buf: &mut Vec<u8>, key: &str, value: &str) {
    buf.push(0x02);
    buf.extend_from_slice(key.as_bytes());
    buf.push(0);
    let len = i32::try_from(value.len() + 1).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(value.as_bytes());
    buf.push(0);
}

/// Closes `body` (and any document left open in it), puts `head` before it
/// and returns the event's bytes: the same bytes as building the event with
/// [`Event::builder`](super::Event::builder) and encoding it. `body` is
/// cleared for the next event, error or not.
///
/// Fails on an invalid event type, a key with a NUL byte or nesting deeper
/// than [`MAX_DEPTH`], as encoding an [`Event`](super::Event) does.
pub fn finish_event(head: &EventHead<'_>, body: &mut BodyWriter) -> Result<RawEvent> {
    let result = finish(head, body);
    body.clear();
    result
}

fn finish(head: &EventHead<'_>, body: &mut BodyWriter) -> Result<RawEvent> {
    if let Some(e) = body.error.take() {
        return Err(Error::InvalidEvent(e));
    }
    validate_type(&head.event_type)?;
    while body.open.len() > 1 {
        body.close_document();
    }
    close(&mut body.buf, 0);
    let optional = |s: &Option<Cow<'_, str>>| s.as_ref().map_or(0, |s| s.len() + 16);
    // The fixed part of the envelope (length, `_id`, the keys and values of
    // `type`, `ts`, `severity` and `pid`, the `body` key, the terminator)
    // is 78 bytes: sized so that the buffer is never grown.
    let mut buf = Vec::with_capacity(
        96 + head.event_type.len()
            + optional(&head.logger)
            + optional(&head.hostname)
            + optional(&head.tenant)
            + body.buf.len(),
    );
    buf.extend_from_slice(&[0; 4]);
    buf.push(0x07);
    buf.extend_from_slice(fields::ID.as_bytes());
    buf.push(0);
    // One clock reading for a new id and a missing timestamp.
    let (id, timestamp) = match (head.id, head.timestamp) {
        (Some(id), Some(timestamp)) => (id, timestamp),
        (id, timestamp) => {
            let (new_id, now) = super::encode::id_and_now();
            (
                id.unwrap_or(new_id),
                timestamp.unwrap_or(DateTime::from_millis(now)),
            )
        }
    };
    buf.extend_from_slice(&id.bytes());
    // type: element byte, "type\0", the length, then the string.
    let type_start = buf.len() + 1 + fields::TYPE.len() + 1 + 4;
    string(&mut buf, fields::TYPE, &head.event_type);
    buf.push(0x09);
    buf.extend_from_slice(fields::TIMESTAMP.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&timestamp.timestamp_millis().to_le_bytes());
    buf.push(0x10);
    buf.extend_from_slice(fields::SEVERITY.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&i32::from(head.severity.code()).to_le_bytes());
    if let Some(logger) = &head.logger {
        string(&mut buf, fields::LOGGER, logger);
    }
    if let Some(hostname) = &head.hostname {
        string(&mut buf, fields::HOSTNAME, hostname);
    }
    if let Some(pid) = head.pid {
        buf.push(0x12);
        buf.extend_from_slice(fields::PID.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&pid.to_le_bytes());
    }
    if let Some(tenant) = &head.tenant {
        string(&mut buf, fields::TENANT, tenant);
    }
    buf.push(0x03);
    buf.extend_from_slice(fields::BODY.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&body.buf);
    close(&mut buf, 0);
    let type_range = type_start..type_start + head.event_type.len();
    Ok(RawEvent::from_written(buf, type_range, id, timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use bson::doc;

    #[test]
    fn the_same_bytes_as_the_builder() {
        let mut body = BodyWriter::new();
        body.i32("facility", 3);
        body.str("message", "héllo");
        body.open_document("sd");
        body.open_document("x@1");
        body.str("a", "b");
        body.close_document();
        body.close_document();
        body.f64("t", 0.5);
        body.bool("ok", true);
        body.null("none");
        body.datetime("at", DateTime::from_millis(5));
        body.value("tags", &Bson::Array(vec!["a".into(), 1.into()]));
        body.i64("n", 1 << 40);
        let head = EventHead {
            event_type: "syslog.daemon".into(),
            id: Some(ObjectId::new()),
            timestamp: Some(DateTime::from_millis(1_700_000_000_000)),
            severity: Severity::Warning,
            logger: Some("app".into()),
            hostname: Some("h".into()),
            pid: Some(42),
            tenant: Some("acme".into()),
        };
        let raw = finish_event(&head, &mut body).expect("finish");
        let built = Event::builder("syslog.daemon")
            .id(head.id.expect("id"))
            .timestamp(DateTime::from_millis(1_700_000_000_000))
            .severity(Severity::Warning)
            .logger("app")
            .hostname("h")
            .pid(42)
            .tenant("acme")
            .fields(doc! {
                "facility": 3, "message": "héllo", "sd": { "x@1": { "a": "b" } },
                "t": 0.5, "ok": true, "none": null, "at": DateTime::from_millis(5),
                "tags": ["a", 1], "n": 1i64 << 40,
            })
            .build();
        assert_eq!(raw.as_bytes(), built.to_bytes());
        assert_eq!(raw.event_type(), "syslog.daemon");
        assert_eq!(raw.id(), built.id());
        // What a receiver checks holds.
        assert!(RawEvent::from_bytes(raw.as_bytes().to_vec()).is_ok());
        // The body was cleared for the next event.
        let next = finish_event(&EventHead::new("a"), &mut body).expect("empty");
        assert_eq!(next.to_event().expect("decode").body(), &doc! {});
    }

    #[test]
    fn fields_are_found_and_removed_in_place() {
        let mut body = BodyWriter::new();
        body.i32("facility", 3);
        body.open_document("structured_data");
        body.open_document("auth");
        body.str("tenant", "acme");
        body.str("token", "s3cret");
        body.close_document();
        body.open_document("x@1");
        body.value("a", &Bson::Array(vec!["b".into(), "c".into()]));
        body.close_document();
        body.close_document();
        // Not found while a document is open.
        body.open_document("open");
        assert!(body.get_document(&["structured_data"]).is_none());
        assert!(!body.remove(&["structured_data", "auth"]));
        body.close_document();
        let auth = body
            .get_document(&["structured_data", "auth"])
            .expect("auth");
        assert_eq!(auth.get_str("token").ok(), Some("s3cret"));
        assert!(body.get_document(&["facility"]).is_none());
        assert!(body.get_document(&["facility", "x"]).is_none());
        assert!(body.get_document(&["structured_data", "none"]).is_none());
        assert!(body.remove(&["structured_data", "auth"]));
        body.str("message", "m");
        let raw = finish_event(&EventHead::new("t"), &mut body).expect("ok");
        let event = raw.to_event().expect("decode");
        assert_eq!(
            event.body(),
            &doc! {
                "facility": 3,
                "structured_data": { "x@1": { "a": ["b", "c"] } },
                "open": {},
                "message": "m",
            }
        );
        // The last field of the body, and a whole document.
        body.str("a", "x");
        body.open_document("sd");
        body.close_document();
        assert!(body.remove(&["sd"]));
        assert!(body.remove(&["a"]));
        let raw = finish_event(&EventHead::new("t"), &mut body).expect("ok");
        assert_eq!(raw.to_event().expect("decode").body(), &doc! {});
    }

    #[test]
    fn bad_keys_types_and_depth_are_errors() {
        let mut body = BodyWriter::new();
        body.str("a\0b", "x");
        assert!(finish_event(&EventHead::new("t"), &mut body).is_err());
        assert!(finish_event(&EventHead::new("bad type"), &mut body).is_err());
        for _ in 0..MAX_DEPTH {
            body.open_document("d");
        }
        let err = finish_event(&EventHead::new("t"), &mut body).expect_err("too deep");
        assert!(err.to_string().contains("deep"), "{err}");
        // Documents left open are closed; a rewind forgets what followed.
        body.open_document("d");
        let mark = body.mark();
        body.str("gone", "x");
        body.open_document("e");
        body.rewind(mark);
        body.str("kept", "y");
        let raw = finish_event(&EventHead::new("t"), &mut body).expect("ok");
        assert_eq!(raw.get("body.d.kept").and_then(|v| v.as_str()), Some("y"));
        assert!(raw.get("body.d.gone").is_none());
    }
}
