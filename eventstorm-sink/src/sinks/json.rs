//! Events as JSON (MongoDB relaxed extended JSON).
//!
//! [`write_json_line`] renders straight from the event's bytes: no
//! `bson::Document`, no `serde_json::Value`, nothing allocated per typical
//! event. It writes exactly what [`to_json`] gives (tests compare them); a
//! document that names a key twice, or holds a value of a rare type
//! (binary, regex, decimal, ...), is rendered through [`to_json`]'s
//! conversion, which decides those cases.

use bson::raw::{RawBsonRef, RawDocument};
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

/// Appends the event as one line of JSON to `out` (ending in `\n`): what
/// [`to_json`] gives, written from the raw bytes without decoding them (the
/// JSON-lines file sink's renderer, for sinks of your own). Nothing is
/// allocated but `out`'s growth, except for a document of more than 16 keys
/// (a set finds a repeated key) or a value of a rare type (converted by
/// `bson`).
///
/// ```
/// use eventstorm_core::{Event, RawEvent};
/// use eventstorm_sink::sinks::{to_json, write_json_line};
///
/// let event = RawEvent::from_event(&Event::builder("app.login").build()).unwrap();
/// let mut line = Vec::new();
/// write_json_line(&mut line, &event);
/// let parsed: serde_json::Value = serde_json::from_slice(&line).unwrap();
/// assert_eq!(parsed, to_json(&event));
/// ```
pub fn write_json_line(out: &mut Vec<u8>, event: &RawEvent) {
    let start = out.len();
    if write_document(out, event.as_bytes()).is_err() {
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
const KEYS_ON_STACK: usize = 16;

/// One of 64 bits for a key, from its length and its first and last bytes:
/// a key whose bit is not yet set in a document cannot repeat an earlier
/// one, so only keys whose bit is taken are compared with the others.
#[inline]
fn key_bit(key: &[u8]) -> u64 {
    let (first, last) = match key {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    let mix = (key.len() as u32)
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add(u32::from(first).wrapping_mul(0x85EB_CA6B))
        .wrapping_add(u32::from(last));
    1 << (mix >> 26)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `at` as a little-endian word, when there are eight.
#[inline]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// Where the NUL that ends the key starting at `from` is, eight bytes at a
/// time (the lowest byte the zero-byte test flags is always a true zero).
#[inline]
fn key_end(doc: &[u8], from: usize) -> Result<usize, Malformed> {
    let mut i = from;
    while let Some(word) = word_at(doc, i) {
        let zero = word.wrapping_sub(ONES) & !word & HIGHS;
        if zero != 0 {
            return Ok(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    doc.get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == 0))
        .map(|n| i + n)
        .ok_or(Malformed)
}

/// Reads `N` bytes at `at`.
fn take<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], Malformed> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .ok_or(Malformed)
}

/// A length-prefixed part (string, document, array) at `at`: its bytes
/// after the 4-byte length for a string (without the trailing NUL), the
/// whole document for a document.
fn sized(bytes: &[u8], at: usize) -> Result<usize, Malformed> {
    let len = i32::from_le_bytes(take(bytes, at)?);
    usize::try_from(len).map_err(|_| Malformed)
}

/// Writes the document `doc` (its bytes, length prefix to terminator) as a
/// JSON object, or its elements as a JSON array. The event was validated
/// when it was received (lengths, terminators, types, UTF-8 of keys and
/// strings, depth at most [`eventstorm_core::event::MAX_DEPTH`]), so
/// strings are written as bytes and recursion is bounded; a length that
/// does not fit is still an error, never a panic.
fn write_elements(out: &mut Vec<u8>, doc: &[u8], array: bool) -> Result<(), Malformed> {
    let start = out.len();
    let mut keys: [&[u8]; KEYS_ON_STACK] = [&[]; KEYS_ON_STACK];
    let mut more: Option<std::collections::HashSet<&[u8]>> = None;
    let mut bits = 0u64;
    out.push(if array { b'[' } else { b'{' });
    let mut pos = 4;
    let mut i = 0;
    loop {
        let element_type = *doc.get(pos).ok_or(Malformed)?;
        if element_type == 0 {
            break;
        }
        let key_end = key_end(doc, pos + 1)?;
        let key = doc.get(pos + 1..key_end).ok_or(Malformed)?;
        let at = key_end + 1;
        if !array {
            let repeated = if i < KEYS_ON_STACK {
                let bit = key_bit(key);
                let seen = bits & bit != 0 && keys[..i].contains(&key);
                bits |= bit;
                keys[i] = key;
                seen
            } else {
                let set = more.get_or_insert_with(|| keys.iter().copied().collect());
                !set.insert(key)
            };
            if repeated {
                // JSON objects keep one value per key: the last, in the
                // first one's place, as the conversion does.
                return converted_document(out, start, doc);
            }
        }
        if i > 0 {
            out.push(b',');
        }
        if !array {
            write_escaped(out, key);
            out.push(b':');
        }
        pos = match element_type {
            0x01 => {
                let v = f64::from_le_bytes(take(doc, at)?);
                if v.is_finite() {
                    let _ = serde_json::to_writer(&mut *out, &v);
                } else {
                    write_converted(out, RawBsonRef::Double(v))?;
                }
                at + 8
            }
            0x02 => {
                let len = sized(doc, at)?;
                let text = doc
                    .get(at + 4..at + 4 + len.saturating_sub(1))
                    .ok_or(Malformed)?;
                write_escaped(out, text);
                at + 4 + len
            }
            0x03 | 0x04 => {
                let len = sized(doc, at)?;
                let sub = doc.get(at..at + len).ok_or(Malformed)?;
                write_elements(out, sub, element_type == 0x04)?;
                at + len
            }
            0x07 => {
                let id: [u8; 12] = take(doc, at)?;
                let mut text = *b"{\"$oid\":\"000000000000000000000000\"}";
                for (k, byte) in id.into_iter().enumerate() {
                    text[9 + 2 * k] = HEX[usize::from(byte >> 4)];
                    text[10 + 2 * k] = HEX[usize::from(byte & 15)];
                }
                out.extend_from_slice(&text);
                at + 12
            }
            0x08 => {
                let [v] = take::<1>(doc, at)?;
                out.extend_from_slice(if v != 0 { b"true" } else { b"false" });
                at + 1
            }
            0x09 => {
                let dt = DateTime::from_millis(i64::from_le_bytes(take(doc, at)?));
                if !write_date(out, dt) {
                    write_converted(out, RawBsonRef::DateTime(dt))?;
                }
                at + 8
            }
            0x0A => {
                out.extend_from_slice(b"null");
                at
            }
            0x10 => {
                let _ = serde_json::to_writer(&mut *out, &i32::from_le_bytes(take(doc, at)?));
                at + 4
            }
            0x12 => {
                let _ = serde_json::to_writer(&mut *out, &i64::from_le_bytes(take(doc, at)?));
                at + 8
            }
            // Rare types (binary, regex, decimal, timestamps, code, ...):
            // the whole document through bson's conversion.
            _ if array => return converted_array(out, start, doc),
            _ => return converted_document(out, start, doc),
        };
        i += 1;
    }
    out.push(if array { b']' } else { b'}' });
    Ok(())
}

/// Replaces what was written of `doc` since `start` by bson's conversion.
fn converted_document(out: &mut Vec<u8>, start: usize, doc: &[u8]) -> Result<(), Malformed> {
    out.truncate(start);
    let doc = RawDocument::from_bytes(doc).map_err(|_| Malformed)?;
    write_converted(out, RawBsonRef::Document(doc))
}

/// [`converted_document`] for an array.
fn converted_array(out: &mut Vec<u8>, start: usize, doc: &[u8]) -> Result<(), Malformed> {
    out.truncate(start);
    let doc = RawDocument::from_bytes(doc).map_err(|_| Malformed)?;
    let Ok(Bson::Document(items)) = Bson::try_from(RawBsonRef::Document(doc)) else {
        return Err(Malformed);
    };
    let array = Bson::Array(items.into_iter().map(|(_, v)| v).collect());
    let _ = serde_json::to_writer(&mut *out, &array.into_relaxed_extjson());
    Ok(())
}

fn write_document(out: &mut Vec<u8>, doc: &[u8]) -> Result<(), Malformed> {
    write_elements(out, doc, false)
}

/// How serde_json escapes each byte: 0 (as is), a short escape letter, or
/// `u` (`\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes UTF-8 `text` as a JSON string, escaped as serde_json escapes.
/// Most text needs no escape at all: checked eight bytes at a time, it is
/// copied at once.
fn write_escaped(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    match first_escape_word(text) {
        None => out.extend_from_slice(text),
        Some(from) => write_escapes(out, text, from),
    }
    out.push(b'"');
}

/// Where the first eight bytes that hold a byte to escape start (every
/// whole word, then the last eight bytes, overlapping); `None` when no byte
/// needs an escape.
fn first_escape_word(text: &[u8]) -> Option<usize> {
    let Some(last) = text.len().checked_sub(8) else {
        return text
            .iter()
            .any(|&b| ESCAPE[usize::from(b)] != 0)
            .then_some(0);
    };
    (0..last)
        .step_by(8)
        .chain([last])
        .find(|&at| word_at(text, at).is_some_and(needs_escape))
}

/// The body of [`write_escaped`] for text with escapes, none before `from`:
/// runs copied between them.
fn write_escapes(out: &mut Vec<u8>, text: &[u8], from: usize) {
    let mut run = 0;
    let mut i = from;
    while i < text.len() {
        if word_at(text, i).is_some_and(|word| !needs_escape(word)) {
            i += 8;
            continue;
        }
        let b = text[i];
        let escape = ESCAPE[usize::from(b)];
        if escape != 0 {
            out.extend_from_slice(&text[run..i]);
            run = i + 1;
            out.push(b'\\');
            out.push(escape);
            if escape == b'u' {
                out.extend_from_slice(b"00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
        }
        i += 1;
    }
    out.extend_from_slice(&text[run..]);
}

/// Whether any of the eight bytes of `word` is one JSON escapes: a control
/// character (below 0x20), `"` or `\\`. Exact for the word as a whole (the
/// classic "has a byte less than n" and "has a zero byte" tests; bytes with
/// the high bit set never match).
#[inline]
fn needs_escape(word: u64) -> bool {
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = word ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote & HIGHS;
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash & HIGHS;
    control | quote | backslash != 0
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
    // Filled in place and copied at once.
    let mut text = *b"{\"$date\":\"0000-00-00T00:00:00.000Z\"}";
    let mut two = |at: usize, n: i64| {
        text[at] = b'0' + (n / 10) as u8;
        text[at + 1] = b'0' + (n % 10) as u8;
    };
    two(10, year / 100);
    two(12, year % 100);
    two(15, month);
    two(18, day);
    two(21, secs / 3600);
    two(24, secs / 60 % 60);
    two(27, secs % 60);
    // The fraction without trailing zeros, none for whole seconds.
    let fraction = if ms == 0 {
        0
    } else if ms % 100 == 0 {
        2
    } else if ms % 10 == 0 {
        3
    } else {
        4
    };
    text[30] = b'0' + (ms / 100) as u8;
    text[31] = b'0' + (ms / 10 % 10) as u8;
    text[32] = b'0' + (ms % 10) as u8;
    out.extend_from_slice(&text[..29 + fraction]);
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
        lines(&RawEvent::from_event(event).expect("raw"))
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them_at_every_offset() {
        // Every ASCII byte, and a multi-byte character, at every position of
        // a string longer than two words, so that each lands in a checked
        // word, across a word boundary and in the tail.
        let mut specials: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        specials.push("é✓".into());
        for special in &specials {
            for at in 0..20 {
                let mut text = "a".repeat(20);
                text.insert_str(at, special);
                let mut ours = Vec::new();
                write_escaped(&mut ours, text.as_bytes());
                let theirs = serde_json::to_string(&text).expect("json");
                assert_eq!(String::from_utf8(ours).expect("utf-8"), theirs, "{text:?}");
            }
        }
        for word in [0u64, u64::MAX, 0x2020_2020_2020_2020, 0x7f7f_7f7f_7f7f_7f7f] {
            let bytes = word.to_le_bytes();
            let expected = bytes.iter().any(|&b| ESCAPE[usize::from(b)] != 0);
            assert_eq!(needs_escape(word), expected, "{word:#x}");
        }
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
                "rare_in_array": [1, Binary { subtype: BinarySubtype::Generic, bytes: vec![9] }],
                "deep": { "x": [{ "ts": bson::Timestamp { time: 1, increment: 2 } }, "y"] },
            })
            .build();
        let (ours, theirs) = both(&event);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn strings_escaped_as_serde_json_escapes_them() {
        let all: String = (0u8..128).map(char::from).chain("é✓😀".chars()).collect();
        let mut ours = Vec::new();
        write_escaped(&mut ours, all.as_bytes());
        assert_eq!(
            String::from_utf8(ours).expect("utf-8"),
            serde_json::to_string(&all).expect("json")
        );
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

    /// An event whose body holds `pairs` in order, repeated keys included
    /// (written by hand: a `Document` cannot hold them).
    fn event_with_body(pairs: &[(&str, i32)]) -> RawEvent {
        let mut bytes = Vec::new();
        let mut body = Vec::new();
        body.extend_from_slice(&[0; 4]);
        for (k, v) in pairs {
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
        RawEvent::from_bytes(bytes).expect("valid")
    }

    /// Our line and the conversion's, for the same event.
    fn lines(raw: &RawEvent) -> (String, String) {
        let mut ours = Vec::new();
        write_json_line(&mut ours, raw);
        let mut theirs = serde_json::to_vec(&to_json(raw)).expect("json");
        theirs.push(b'\n');
        (
            String::from_utf8(ours).expect("utf-8"),
            String::from_utf8(theirs).expect("utf-8"),
        )
    }

    #[test]
    fn a_repeated_key_is_found_wherever_it_is_and_however_many_keys_there_are() {
        // Up to 40 distinct keys (past the 16 kept on the stack), many of
        // one length and of shared first and last bytes (so that the filter
        // says "maybe" for distinct keys too), then a repeat of each earlier
        // key in turn, or none.
        for n in [1usize, 2, 15, 16, 17, 31, 32, 33, 40] {
            let names: Vec<String> = (0..n).map(|i| format!("k{i:02}x")).collect();
            for repeat in (0..n).map(Some).chain([None]) {
                let mut pairs: Vec<(&str, i32)> = names
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.as_str(), i as i32))
                    .collect();
                if let Some(r) = repeat {
                    pairs.push((names[r].as_str(), -1));
                }
                let (ours, theirs) = lines(&event_with_body(&pairs));
                assert_eq!(ours, theirs, "{n} keys, repeat {repeat:?}");
                if let Some(r) = repeat {
                    let key = format!("\"{}\":-1", names[r]);
                    assert!(ours.contains(&key), "{ours}");
                }
            }
        }
    }

    #[test]
    fn repeated_keys_keep_the_last_value_in_the_first_place() {
        // {"a": 1, "b": 2, "a": 3}
        let (ours, theirs) = lines(&event_with_body(&[("a", 1), ("b", 2), ("a", 3)]));
        assert!(ours.contains(r#""body":{"a":3,"b":2}"#), "{ours}");
        assert_eq!(ours, theirs);
    }
}
