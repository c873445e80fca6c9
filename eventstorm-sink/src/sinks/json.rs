//! Events as JSON (MongoDB relaxed extended JSON).
//!
//! [`write_json_line`] renders straight from the event's bytes: no
//! `bson::Document`, no `serde_json::Value`, nothing allocated per event. It
//! writes exactly what [`to_json`] gives (tests compare them); a document
//! that names a key twice, or a value of a rare type (binary, regex,
//! decimal, ...), is rendered through [`to_json`]'s conversion, which
//! decides those cases.

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::{Bson, DateTime};
use eventstorm_core::RawEvent;

/// The event as a JSON value in MongoDB's relaxed extended JSON: plain numbers
/// and strings stay plain; ObjectIds, dates and binary become `{"$oid": ..}`,
/// `{"$date": ..}`, `{"$binary": ..}`, so nothing is lost.
pub fn to_json(event: &RawEvent) -> serde_json::Value {
    match bson::Document::try_from(event.view().document()) {
        Ok(doc) => Bson::Document(doc).into_relaxed_extjson(),
        // A document that passed envelope validation but holds a malformed
        // nested value: say so rather than drop it.
        Err(e) => serde_json::json!({
            "type": event.event_type(),
            "_error": format!("undecodable body: {e}"),
        }),
    }
}

/// Appends the event as one line of JSON to `out`: what [`to_json`] gives,
/// written from the raw bytes.
pub(crate) fn write_json_line(out: &mut Vec<u8>, event: &RawEvent) {
    let start = out.len();
    if write_document(out, event.view().document()).is_err() {
        // Malformed nested bytes: the slow path says what is wrong.
        out.truncate(start);
        // Writing a `serde_json::Value` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &to_json(event));
    }
    out.push(b'\n');
}

/// The bytes could not be read (the caller falls back to [`to_json`]).
#[derive(Debug)]
struct Malformed;

/// Keys remembered per document to find a repeated one without
/// allocating; a document with more keys is checked with a set.
const KEYS_ON_STACK: usize = 32;

/// Writes `doc` as a JSON object. Recursion is bounded by the event's
/// validated depth ([`eventstorm_core::event::MAX_DEPTH`]).
fn write_document(out: &mut Vec<u8>, doc: &RawDocument) -> Result<(), Malformed> {
    let start = out.len();
    let mut keys = [""; KEYS_ON_STACK];
    let mut more: Option<std::collections::HashSet<&str>> = None;
    out.push(b'{');
    for (i, element) in doc.iter().enumerate() {
        let (key, value) = element.map_err(|_| Malformed)?;
        let key = key.as_str();
        let repeated = if i < KEYS_ON_STACK {
            let seen = keys[..i].contains(&key);
            keys[i] = key;
            seen
        } else {
            let set = more.get_or_insert_with(|| keys.iter().copied().collect());
            !set.insert(key)
        };
        if repeated {
            // JSON objects keep one value per key: the last, in the
            // first one's place, as the conversion does.
            out.truncate(start);
            return write_converted(out, RawBsonRef::Document(doc));
        }
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_array(out: &mut Vec<u8>, array: &RawArray) -> Result<(), Malformed> {
    out.push(b'[');
    for (i, value) in array.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(out, value.map_err(|_| Malformed)?)?;
    }
    out.push(b']');
    Ok(())
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping, into the buffer.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_value(out: &mut Vec<u8>, value: RawBsonRef<'_>) -> Result<(), Malformed> {
    match value {
        RawBsonRef::String(s) => write_str(out, s),
        RawBsonRef::Int32(v) => {
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        RawBsonRef::Int64(v) => {
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        RawBsonRef::Double(v) if v.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, &v);
        }
        RawBsonRef::Boolean(v) => out.extend_from_slice(if v { b"true" } else { b"false" }),
        RawBsonRef::Null => out.extend_from_slice(b"null"),
        RawBsonRef::Document(doc) => write_document(out, doc)?,
        RawBsonRef::Array(array) => write_array(out, array)?,
        RawBsonRef::ObjectId(id) => {
            out.extend_from_slice(b"{\"$oid\":\"");
            for byte in id.bytes() {
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 15)]);
            }
            out.extend_from_slice(b"\"}");
        }
        RawBsonRef::DateTime(dt) if write_date(out, dt) => {}
        other => write_converted(out, other)?,
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A value through `bson`'s own conversion (rare types, repeated keys).
fn write_converted(out: &mut Vec<u8>, value: RawBsonRef<'_>) -> Result<(), Malformed> {
    let value = Bson::try_from(value).map_err(|_| Malformed)?;
    let _ = serde_json::to_writer(&mut *out, &value.into_relaxed_extjson());
    Ok(())
}

/// `{"$date":"2026-03-01T09:00:02.792Z"}` for dates from 1970 to 9999,
/// as `bson` formats them (RFC 3339, UTC, fractions without trailing
/// zeros); false for others (written by the conversion).
fn write_date(out: &mut Vec<u8>, dt: DateTime) -> bool {
    let millis = dt.timestamp_millis();
    // 10000-01-01T00:00:00Z
    if !(0..253_402_300_800_000).contains(&millis) {
        return false;
    }
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let ms = ms_of_day % 1000;
    out.extend_from_slice(b"{\"$date\":\"");
    let two = |n: i64, out: &mut Vec<u8>| {
        out.push(b'0' + (n / 10) as u8);
        out.push(b'0' + (n % 10) as u8);
    };
    two(year / 100, out);
    two(year % 100, out);
    out.push(b'-');
    two(month, out);
    out.push(b'-');
    two(day, out);
    out.push(b'T');
    two(secs / 3600, out);
    out.push(b':');
    two(secs / 60 % 60, out);
    out.push(b':');
    two(secs % 60, out);
    if ms != 0 {
        out.push(b'.');
        let digits = [ms / 100, ms / 10 % 10, ms % 10];
        let len = if ms % 100 == 0 {
            1
        } else if ms % 10 == 0 {
            2
        } else {
            3
        };
        for d in &digits[..len] {
            out.push(b'0' + *d as u8);
        }
    }
    out.extend_from_slice(b"Z\"}");
    true
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::{Binary, doc, spec::BinarySubtype};
    use eventstorm_core::Event;

    fn both(event: &Event) -> (String, String) {
        let raw = RawEvent::from_event(event).expect("raw");
        let mut ours = Vec::new();
        write_json_line(&mut ours, &raw);
        let mut theirs = serde_json::to_vec(&to_json(&raw)).expect("json");
        theirs.push(b'\n');
        (
            String::from_utf8(ours).expect("utf-8"),
            String::from_utf8(theirs).expect("utf-8"),
        )
    }

    #[test]
    fn the_same_text_as_the_conversion() {
        let event = Event::builder("a.b")
            .tenant("t")
            .pid(7)
            .fields(doc! {
                "s": "q\"uote \\ \n\t\u{1} é ✓", "i": -5, "l": i64::MIN, "d": 0.1, "whole": 3.0,
                "neg0": -0.0, "big": 1e300, "nan": f64::NAN, "inf": f64::NEG_INFINITY,
                "t": true, "f": false, "n": null, "oid": ObjectId::new(),
                "nested": { "a": [1, "x", { "b": [] }, [2.5]], "e": {} },
                "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
                "ts": bson::Timestamp { time: 5, increment: 6 },
                "re": bson::Regex {
                    pattern: bson::raw::CString::try_from("a+".to_owned()).expect("cstring"),
                    options: bson::raw::CString::try_from("xi".to_owned()).expect("cstring"),
                },
                "old": DateTime::from_millis(-1), "far": DateTime::from_millis(253_402_300_800_000),
                "last": DateTime::from_millis(253_402_300_799_999),
                "": "empty key",
            })
            .build();
        let (ours, theirs) = both(&event);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn dates_as_bson_formats_them() {
        let mut millis: i64 = 0;
        while millis < 253_402_300_800_000 {
            for ms in [0, 5, 10, 50, 100, 120, 123, 500, 999] {
                let dt = DateTime::from_millis(millis - millis % 1000 + ms);
                let mut ours = Vec::new();
                assert!(write_date(&mut ours, dt));
                let theirs =
                    serde_json::to_vec(&Bson::DateTime(dt).into_relaxed_extjson()).expect("json");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                );
            }
            millis += 86_400_000 * 37 + 3_723_000;
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value_in_the_first_place() {
        let mut bytes = Vec::new();
        let mut body = Vec::new();
        // {"a": 1, "b": 2, "a": 3} written by hand: a Document cannot hold it.
        body.extend_from_slice(&[0; 4]);
        for (k, v) in [("a", 1i32), ("b", 2), ("a", 3)] {
            body.push(0x10);
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.push(0);
        let len = body.len() as i32;
        body[..4].copy_from_slice(&len.to_le_bytes());
        Event::builder("t")
            .build()
            .encode_into(&mut bytes)
            .expect("encode");
        // Replace the empty body (the last 5 bytes before the terminator).
        bytes.truncate(bytes.len() - 6);
        bytes.extend_from_slice(&body);
        bytes.push(0);
        let len = bytes.len() as i32;
        bytes[..4].copy_from_slice(&len.to_le_bytes());
        let raw = RawEvent::from_bytes(bytes).expect("valid");
        let mut ours = Vec::new();
        write_json_line(&mut ours, &raw);
        let text = String::from_utf8(ours).expect("utf-8");
        assert!(text.contains(r#""body":{"a":3,"b":2}"#), "{text}");
        let mut theirs = serde_json::to_vec(&to_json(&raw)).expect("json");
        theirs.push(b'\n');
        assert_eq!(text, String::from_utf8(theirs).expect("utf-8"));
    }
}
