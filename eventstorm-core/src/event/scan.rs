//! A single pass over the top-level elements of an event document that checks
//! their framing and picks out the envelope fields, without building anything.
//!
//! This is the check every received event goes through at every hop, so it is
//! written by hand: it reads each element's type byte and key and skips its
//! value by the length the BSON specification gives its type. Nested documents
//! are checked only for their length prefix and terminator; reading into them
//! later goes through `bson`'s raw API, which reports malformed data as errors.

use bson::DateTime;
use bson::oid::ObjectId;

use super::fields;
use crate::error::DecodeError;

/// The envelope fields a receiver needs, borrowed from the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub(crate) event_type: &'a str,
    pub(crate) id: ObjectId,
    pub(crate) timestamp: DateTime,
}

fn bson_error(at: usize, problem: impl std::fmt::Display) -> DecodeError {
    DecodeError::Bson(format!("at byte {at}: {problem}"))
}

/// What is wrong at a byte offset: small and `Copy`, so that the hot path
/// passes a few words around, and the error message is only built when
/// something is actually wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    LengthPastEnd,
    NegativeLength(i32),
    EmptyString,
    UnterminatedString,
    UnterminatedCString,
    BadEmbeddedDocument(usize),
    BadBoolean,
    ShortCodeWithScope(usize),
    UnknownType(u8),
    ValuePastEnd,
}

impl Fault {
    fn at(self, at: usize) -> DecodeError {
        match self {
            Fault::LengthPastEnd => bson_error(at, "length prefix runs past the document"),
            Fault::NegativeLength(len) => bson_error(at, format!("negative length {len}")),
            Fault::EmptyString => bson_error(at, "string length 0 (must count its NUL)"),
            Fault::UnterminatedString => {
                bson_error(at, "string is not NUL-terminated within the document")
            }
            Fault::UnterminatedCString => bson_error(at, "unterminated C string"),
            Fault::BadEmbeddedDocument(len) => bson_error(
                at,
                format!("embedded document of length {len} is malformed"),
            ),
            Fault::BadBoolean => bson_error(at, "boolean is neither 0 nor 1"),
            Fault::ShortCodeWithScope(len) => {
                bson_error(at, format!("code with scope of length {len} is too short"))
            }
            Fault::UnknownType(kind) => {
                bson_error(at, format!("unknown element type 0x{kind:02x}"))
            }
            Fault::ValuePastEnd => bson_error(at, "value runs past the document"),
        }
    }
}

/// A fault and where it is.
type Faulty<T> = Result<T, (usize, Fault)>;

#[inline]
fn read_len(bytes: &[u8], at: usize, end: usize) -> Faulty<usize> {
    let raw = bytes
        .get(at..at + 4)
        .filter(|_| at + 4 <= end)
        .ok_or((at, Fault::LengthPastEnd))?;
    let len = i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
    usize::try_from(len).map_err(|_| (at, Fault::NegativeLength(len)))
}

#[inline]
fn string_end(bytes: &[u8], at: usize, end: usize) -> Faulty<usize> {
    let len = read_len(bytes, at, end)?;
    if len == 0 {
        return Err((at, Fault::EmptyString));
    }
    let stop = at + 4 + len;
    if stop > end || bytes[stop - 1] != 0 {
        return Err((at, Fault::UnterminatedString));
    }
    Ok(stop)
}

fn cstring_end(bytes: &[u8], at: usize, end: usize) -> Faulty<usize> {
    bytes
        .get(at..end)
        .and_then(|rest| rest.iter().position(|&b| b == 0))
        .map(|i| at + i + 1)
        .ok_or((at, Fault::UnterminatedCString))
}

#[inline]
fn value_end(bytes: &[u8], kind: u8, at: usize, end: usize) -> Faulty<usize> {
    let stop = match kind {
        0x01 | 0x09 | 0x11 | 0x12 => at + 8,
        0x02 | 0x0D | 0x0E => string_end(bytes, at, end)?,
        0x03 | 0x04 => {
            let len = read_len(bytes, at, end)?;
            if len < 5 || at + len > end || bytes[at + len - 1] != 0 {
                return Err((at, Fault::BadEmbeddedDocument(len)));
            }
            at + len
        }
        0x05 => at + 5 + read_len(bytes, at, end)?,
        0x06 | 0x0A | 0x7F | 0xFF => at,
        0x07 => at + 12,
        0x08 => {
            if at >= end || !matches!(bytes.get(at), Some(0 | 1)) {
                return Err((at, Fault::BadBoolean));
            }
            at + 1
        }
        0x0B => cstring_end(bytes, cstring_end(bytes, at, end)?, end)?,
        0x0C => string_end(bytes, at, end)? + 12,
        0x0F => {
            let len = read_len(bytes, at, end)?;
            if len < 14 {
                return Err((at, Fault::ShortCodeWithScope(len)));
            }
            at + len
        }
        0x10 => at + 4,
        0x13 => at + 16,
        other => return Err((at - 1, Fault::UnknownType(other))),
    };
    if stop > end {
        return Err((at, Fault::ValuePastEnd));
    }
    Ok(stop)
}

fn envelope_error(field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError::Envelope {
        field,
        problem: problem.into(),
    }
}

/// The index in [`fields::ALL`] of an envelope key. Literal patterns let the
/// compiler compare each candidate inline (by length, then a few integer
/// compares) instead of calling `memcmp` per candidate: this runs for every
/// top-level key of every event received.
#[inline]
fn envelope_index(key: &[u8]) -> Option<usize> {
    let i = match key {
        b"_id" => 0,
        b"type" => 1,
        b"ts" => 2,
        b"severity" => 3,
        b"logger" => 4,
        b"hostname" => 5,
        b"pid" => 6,
        b"tenant" => 7,
        b"body" => 8,
        _ => return None,
    };
    debug_assert_eq!(fields::ALL[i].as_bytes(), key);
    Some(i)
}

fn wrong_type(field: &'static str, expected: &str, kind: u8) -> DecodeError {
    envelope_error(
        field,
        format!("expected {expected}, got BSON type 0x{kind:02x}"),
    )
}

pub(crate) fn scan(bytes: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    if bytes.len() < 5 {
        return Err(bson_error(
            0,
            format!("{} bytes is too short for a document", bytes.len()),
        ));
    }
    let declared = read_len(bytes, 0, bytes.len()).map_err(|(at, f)| f.at(at))?;
    if declared != bytes.len() {
        return Err(bson_error(
            0,
            format!(
                "length prefix says {declared} bytes, the frame has {}",
                bytes.len()
            ),
        ));
    }
    let end = bytes.len() - 1;
    if bytes[end] != 0 {
        return Err(bson_error(end, "document does not end with NUL"));
    }
    let mut seen = [false; fields::ALL.len()];
    let (mut event_type, mut id, mut timestamp) = (None, None, None);
    let mut at = 4;
    while at < end {
        let kind = bytes[at];
        let key_start = at + 1;
        let key_len = bytes[key_start..end]
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bson_error(key_start, "unterminated key"))?;
        let key = &bytes[key_start..key_start + key_len];
        let value = key_start + key_len + 1;
        let stop = value_end(bytes, kind, value, end).map_err(|(at, f)| f.at(at))?;
        if let Some(i) = envelope_index(key) {
            let field = fields::ALL[i];
            if std::mem::replace(&mut seen[i], true) {
                return Err(envelope_error(field, "present more than once"));
            }
            match (field, kind) {
                (fields::ID, 0x07) => {
                    let mut oid = [0u8; 12];
                    oid.copy_from_slice(&bytes[value..value + 12]);
                    id = Some(ObjectId::from_bytes(oid));
                }
                (fields::ID, _) => return Err(envelope_error(field, "expected an ObjectId")),
                (fields::TYPE, 0x02) => {
                    let text = std::str::from_utf8(&bytes[value + 4..stop - 1])
                        .map_err(|e| envelope_error(field, format!("not UTF-8: {e}")))?;
                    event_type = Some(text);
                }
                (fields::TYPE, _) => return Err(envelope_error(field, "expected a string")),
                (fields::TIMESTAMP, 0x09) => {
                    let mut ms = [0u8; 8];
                    ms.copy_from_slice(&bytes[value..value + 8]);
                    timestamp = Some(DateTime::from_millis(i64::from_le_bytes(ms)));
                }
                (fields::TIMESTAMP, _) => {
                    return Err(envelope_error(field, "expected a UTC datetime"));
                }
                (fields::BODY, 0x03) => {}
                (fields::BODY, _) => return Err(envelope_error(field, "expected a document")),
                // Optional fields of the wrong type are refused, not skipped:
                // a router would forward them, and a rule on `tenant` or a
                // sink naming collections after it would read the event as
                // having none.
                (fields::SEVERITY, 0x10) => {
                    let code = i32::from_le_bytes([
                        bytes[value],
                        bytes[value + 1],
                        bytes[value + 2],
                        bytes[value + 3],
                    ]);
                    if !(0..=7).contains(&code) {
                        return Err(envelope_error(
                            field,
                            format!("{code} is not a syslog severity (expected 0 to 7)"),
                        ));
                    }
                }
                (fields::SEVERITY, other) => {
                    return Err(wrong_type(field, "an int32 from 0 to 7", other));
                }
                (fields::LOGGER | fields::HOSTNAME | fields::TENANT, 0x02) => {
                    std::str::from_utf8(&bytes[value + 4..stop - 1])
                        .map_err(|e| envelope_error(field, format!("not UTF-8: {e}")))?;
                }
                (fields::LOGGER | fields::HOSTNAME | fields::TENANT, other) => {
                    return Err(wrong_type(field, "a string", other));
                }
                (fields::PID, 0x12) => {}
                (fields::PID, other) => {
                    return Err(wrong_type(field, "an int64 (BSON type 0x12)", other));
                }
                _ => {}
            }
        } else if std::str::from_utf8(key).is_err() {
            return Err(bson_error(key_start, "key is not UTF-8"));
        }
        at = stop;
    }
    if at != end {
        return Err(bson_error(at, "elements run past the document"));
    }
    let missing = |field| envelope_error(field, "missing");
    let event_type = event_type.ok_or_else(|| missing(fields::TYPE))?;
    super::validate_type(event_type).map_err(|e| envelope_error(fields::TYPE, e.to_string()))?;
    Ok(Envelope {
        event_type,
        id: id.ok_or_else(|| missing(fields::ID))?,
        timestamp: timestamp.ok_or_else(|| missing(fields::TIMESTAMP))?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn envelope_index_finds_exactly_the_envelope_keys() {
        for (i, key) in fields::ALL.iter().enumerate() {
            assert_eq!(envelope_index(key.as_bytes()), Some(i), "{key}");
        }
        for other in [
            "",
            "x",
            "id",
            "_ID",
            "types",
            "bodyx",
            "message",
            "hostnames",
        ] {
            assert_eq!(envelope_index(other.as_bytes()), None, "{other}");
        }
    }

    use bson::spec::BinarySubtype;
    use bson::{Binary, Bson, JavaScriptCodeWithScope, Regex, Timestamp, doc};

    use super::*;

    fn event_with_top_level_extras() -> Vec<u8> {
        let extras = doc! {
            "double": 1.5, "string": "s", "doc": { "a": 1 }, "array": [1, "x"],
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "undefined": Bson::Undefined, "oid": ObjectId::new(), "bool": true,
            "date": DateTime::now(), "null": Bson::Null,
            "regex": Bson::RegularExpression(Regex { pattern: "a+".to_string().try_into().expect("cstr"), options: "i".to_string().try_into().expect("cstr") }),
            "code": Bson::JavaScriptCode("f()".into()),
            "scope": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "g()".into(), scope: doc! { "x": 1 } }),
            "int32": 7i32, "ts2": Timestamp { time: 1, increment: 2 }, "int64": 8i64,
            "min": Bson::MinKey, "max": Bson::MaxKey,
        };
        let mut doc =
            doc! { "_id": ObjectId::new(), "type": "a.b", "ts": DateTime::from_millis(42) };
        doc.extend(extras);
        doc.insert("body", doc! { "k": "v" });
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes).expect("encode");
        bytes
    }

    #[test]
    fn every_top_level_type_is_framed() {
        let bytes = event_with_top_level_extras();
        let envelope = scan(&bytes).expect("valid");
        assert_eq!(envelope.event_type, "a.b");
        assert_eq!(envelope.timestamp.timestamp_millis(), 42);
    }

    #[test]
    fn every_truncation_and_corrupted_length_is_an_error() {
        let bytes = event_with_top_level_extras();
        for cut in 0..bytes.len() {
            let mut short = bytes[..cut].to_vec();
            if short.len() >= 4 {
                let len = (short.len() as i32).to_le_bytes();
                short[..4].copy_from_slice(&len);
            }
            assert!(scan(&short).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.clone();
        bad[0] = bad[0].wrapping_add(1);
        assert!(scan(&bad).is_err());
    }
}
