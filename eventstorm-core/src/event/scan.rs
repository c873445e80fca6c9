//! The check every received event goes through at every hop: one pass over
//! the document that validates its whole structure (see [`validate`]) and
//! picks out the envelope fields on the way, without building anything.
//!
//! The top-level elements are read here, because the envelope is among them;
//! each nested document or array is handed to [`validate::walk`], which checks
//! everything inside it and refuses nesting deeper than [`MAX_DEPTH`].
//!
//! [`validate`]: super::validate
//! [`MAX_DEPTH`]: super::MAX_DEPTH

use bson::DateTime;
use bson::oid::ObjectId;

use super::fields;
use super::validate::{self, Next};
use crate::error::DecodeError;

/// The envelope fields a receiver needs, borrowed from the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub(crate) event_type: &'a str,
    pub(crate) id: ObjectId,
    pub(crate) timestamp: DateTime,
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

/// Validates an event document and returns its envelope.
pub(crate) fn scan(bytes: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let end = validate::frame(bytes)?;
    let mut seen = [false; fields::ALL.len()];
    let (mut event_type, mut id, mut timestamp) = (None, None, None);
    let mut at = 4;
    while at < end {
        let kind = bytes[at];
        let key_start = at + 1;
        let value = validate::key_end(bytes, key_start, end)
            .map_err(|f| validate::located(bytes, at, &[], None, f))?;
        let stop = match validate::value(bytes, kind, value, end) {
            Ok(Next::Skip(stop)) => stop,
            Ok(Next::Enter(doc, terminator)) => {
                validate::walk(bytes, doc, terminator, 2, Some(key_start))?;
                terminator + 1
            }
            Err(fault) => return Err(validate::located(bytes, at, &[], Some(key_start), fault)),
        };
        if let Some(i) = envelope_index(&bytes[key_start..value - 1]) {
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
                    // Checked as UTF-8 by `validate::value` already.
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
                // Checked as UTF-8 by `validate::value` already.
                (fields::LOGGER | fields::HOSTNAME | fields::TENANT, 0x02) => {}
                (fields::LOGGER | fields::HOSTNAME | fields::TENANT, other) => {
                    return Err(wrong_type(field, "a string", other));
                }
                (fields::PID, 0x12) => {}
                (fields::PID, other) => {
                    return Err(wrong_type(field, "an int64 (BSON type 0x12)", other));
                }
                _ => {}
            }
        }
        at = stop;
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
