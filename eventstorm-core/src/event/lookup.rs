//! Field lookup in a document that was validated whole when it arrived
//! ([`RawEventRef::from_bytes`](super::RawEventRef::from_bytes)): a walk
//! over the element headers that compares key bytes and skips values by
//! their lengths, with none of the per-element checks (UTF-8 of every key,
//! bounds of every value) that `bson`'s `RawDocument::get` repeats.
//!
//! It never trusts the bytes to be valid: every read is bounds-checked and
//! anything unexpected ends the walk with `None` rather than a panic. Only
//! the value found is turned into a [`RawBsonRef`]; the types that walk
//! cannot build cheaply (arrays, binaries, regular expressions, code,
//! symbols, pointers, `undefined`, min/max keys) are read by `bson` instead.

use bson::raw::{RawBsonRef, RawDocument};
use bson::{DateTime, Decimal128, Timestamp, oid::ObjectId};

/// The little-endian `i32` length at `at`, as a `usize` (`None` when out of
/// bounds or negative).
#[inline]
fn len_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    usize::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
}

/// The offset just past the NUL of the C string at `at`: eight bytes at a
/// time (keys are short, but a byte loop costs a branch per byte).
#[inline]
fn cstring_end(bytes: &[u8], at: usize) -> Option<usize> {
    const LOW_BITS: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut i = at;
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        let word = u64::from_le_bytes(word);
        // The lowest byte flagged is the first zero byte.
        let zero = word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize + 1);
        }
        i += 8;
    }
    let nul = bytes.get(i..)?.iter().position(|&b| b == 0)?;
    Some(i + nul + 1)
}

/// Where the value of an element of type `kind` starting at `at` ends.
#[inline(always)]
fn value_end(bytes: &[u8], kind: u8, at: usize) -> Option<usize> {
    let end = match kind {
        0x01 | 0x09 | 0x11 | 0x12 => at + 8,
        0x02 | 0x0D | 0x0E => at.checked_add(4)?.checked_add(len_at(bytes, at)?)?,
        0x03 | 0x04 | 0x0F => at.checked_add(len_at(bytes, at)?)?,
        0x05 => at.checked_add(5)?.checked_add(len_at(bytes, at)?)?,
        0x06 | 0x0A | 0x7F | 0xFF => at,
        0x07 => at + 12,
        0x08 => at + 1,
        0x0B => cstring_end(bytes, cstring_end(bytes, at)?)?,
        0x0C => at
            .checked_add(4)?
            .checked_add(len_at(bytes, at)?)?
            .checked_add(12)?,
        0x10 => at + 4,
        0x13 => at + 16,
        _ => return None,
    };
    (end <= bytes.len()).then_some(end)
}

/// One element found: its type, and where its value starts and ends.
#[derive(Debug, Clone, Copy)]
struct Found {
    kind: u8,
    at: usize,
    end: usize,
}

/// Walks `doc`'s elements until `stop` says which one is wanted (it is given
/// the element's position and key bytes).
#[inline(always)]
fn find(doc: &[u8], mut stop: impl FnMut(usize, &[u8]) -> bool) -> Option<Found> {
    // The terminator is the last byte: elements lie before it.
    let last = doc.len().checked_sub(1)?;
    let mut at = 4;
    let mut index = 0;
    while at < last {
        let kind = doc[at];
        let key_end = cstring_end(doc, at + 1)?;
        let end = value_end(doc, kind, key_end)?;
        if stop(index, &doc[at + 1..key_end - 1]) {
            return Some(Found {
                kind,
                at: key_end,
                end,
            });
        }
        at = end;
        index += 1;
    }
    None
}

/// Eight bytes at `at` (the caller's `Found` says they are there).
fn eight(bytes: &[u8], at: usize) -> Option<[u8; 8]> {
    bytes.get(at..at + 8)?.try_into().ok()
}

/// The value `found` in `doc`, built from its bytes where that is cheap;
/// otherwise read by `bson` (`slow`).
fn value<'a>(
    doc: &'a RawDocument,
    found: Found,
    slow: impl FnOnce() -> Option<RawBsonRef<'a>>,
) -> Option<RawBsonRef<'a>> {
    let bytes = doc.as_bytes();
    let Found { kind, at, end } = found;
    Some(match kind {
        0x01 => RawBsonRef::Double(f64::from_le_bytes(eight(bytes, at)?)),
        0x02 => {
            RawBsonRef::String(std::str::from_utf8(bytes.get(at + 4..end.checked_sub(1)?)?).ok()?)
        }
        0x03 => RawBsonRef::Document(RawDocument::from_bytes(&bytes[at..end]).ok()?),
        0x07 => RawBsonRef::ObjectId(ObjectId::from_bytes(bytes.get(at..end)?.try_into().ok()?)),
        0x08 => RawBsonRef::Boolean(*bytes.get(at)? != 0),
        0x09 => RawBsonRef::DateTime(DateTime::from_millis(i64::from_le_bytes(eight(bytes, at)?))),
        0x0A => RawBsonRef::Null,
        0x10 => RawBsonRef::Int32(i32::from_le_bytes(bytes.get(at..end)?.try_into().ok()?)),
        0x11 => {
            let v = u64::from_le_bytes(eight(bytes, at)?);
            // The increment is the low word, the seconds the high one.
            RawBsonRef::Timestamp(Timestamp {
                time: (v >> 32) as u32,
                increment: v as u32,
            })
        }
        0x12 => RawBsonRef::Int64(i64::from_le_bytes(eight(bytes, at)?)),
        0x13 => {
            RawBsonRef::Decimal128(Decimal128::from_bytes(bytes.get(at..end)?.try_into().ok()?))
        }
        _ => return slow(),
    })
}

/// The value of `key` in `doc` (the first element with that key, as
/// `RawDocument::get` finds it).
pub(super) fn get<'a>(doc: &'a RawDocument, key: &str) -> Option<RawBsonRef<'a>> {
    let found = find(doc.as_bytes(), |_, k| k == key.as_bytes())?;
    value(doc, found, || doc.get(key).ok()?)
}

/// The value at position `index` of an array's document (as
/// `RawArray::get` reads it: by position, whatever the keys say).
fn nth(array: &bson::RawArray, index: usize) -> Option<RawBsonRef<'_>> {
    let doc = RawDocument::from_bytes(array.as_bytes()).ok()?;
    let found = find(doc.as_bytes(), |i, _| i == index)?;
    value(doc, found, || array.get(index).ok()?)
}

/// The value at a dotted path (`body.instance.flavor`, `body.tags.0`)
/// from `doc`.
pub(super) fn path<'a>(doc: &'a RawDocument, path: &str) -> Option<RawBsonRef<'a>> {
    // Split by hand: `str::split` costs more than the walk for short paths.
    let (first, mut rest) = match path.find('.') {
        Some(dot) => (&path[..dot], Some(&path[dot + 1..])),
        None => (path, None),
    };
    let mut current = get(doc, first)?;
    while let Some(left) = rest {
        let segment = match left.find('.') {
            Some(dot) => {
                rest = Some(&left[dot + 1..]);
                &left[..dot]
            }
            None => {
                rest = None;
                left
            }
        };
        current = match current {
            RawBsonRef::Document(doc) => get(doc, segment)?,
            RawBsonRef::Array(array) => nth(array, segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, Bson, JavaScriptCodeWithScope, Regex, doc, spec::BinarySubtype};

    /// Every way to read: this walk and `bson`'s, which must agree.
    fn both<'a>(
        doc: &'a RawDocument,
        path: &str,
    ) -> (Option<RawBsonRef<'a>>, Option<RawBsonRef<'a>>) {
        let mut segments = path.split('.');
        let mut slow = doc.get(segments.next().unwrap_or_default()).ok().flatten();
        for segment in segments {
            slow = match slow {
                Some(RawBsonRef::Document(d)) => d.get(segment).ok().flatten(),
                Some(RawBsonRef::Array(a)) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i).ok().flatten()),
                _ => None,
            };
        }
        (super::path(doc, path), slow)
    }

    #[test]
    fn every_type_reads_as_bson_reads_it() {
        let source = doc! {
            "double": 1.5,
            "string": "héllo",
            "empty": "",
            "doc": { "inner": { "deep": 7_i64 } },
            "array": [1, "two", { "three": 3 }],
            "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "undefined": Bson::Undefined,
            "oid": ObjectId::new(),
            "yes": true,
            "no": false,
            "date": DateTime::from_millis(1_700_000_000_123),
            "null": Bson::Null,
            "regex": Regex { pattern: "^a".try_into().expect("pattern"), options: "i".try_into().expect("options") },
            "code": Bson::JavaScriptCode("f()".into()),
            "scoped": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code: "g()".into(),
                scope: doc! { "x": 1 },
            }),
            "symbol": Bson::Symbol("sym".into()),
            "int32": -5_i32,
            "ts": Timestamp { time: 1_700_000_000, increment: 9 },
            "int64": i64::MIN,
            "dec": Decimal128::from_bytes([7; 16]),
            "max": Bson::MaxKey,
            "min": Bson::MinKey,
            "last": "end",
        };
        let mut bytes = Vec::new();
        source.to_writer(&mut bytes).expect("encode");
        let doc = RawDocument::from_bytes(&bytes).expect("doc");
        let mut paths: Vec<String> = source.keys().cloned().collect();
        paths.extend(
            [
                "doc.inner",
                "doc.inner.deep",
                "doc.missing",
                "doc.inner.deep.x",
                "array.0",
                "array.1",
                "array.2.three",
                "array.3",
                "array.x",
                "string.x",
                "missing",
                "",
                "doc.",
                ".doc",
            ]
            .map(String::from),
        );
        for path in &paths {
            let (fast, slow) = both(doc, path);
            assert_eq!(fast, slow, "{path}");
        }
        assert_eq!(
            super::path(doc, "doc.inner.deep"),
            Some(RawBsonRef::Int64(7))
        );
    }

    #[test]
    fn the_first_of_two_equal_keys_wins_as_in_bson() {
        // Two `a` elements, as a hand-written document may carry.
        let bytes: Vec<u8> = [
            &[19, 0, 0, 0][..],
            &[0x10, b'a', 0, 1, 0, 0, 0],
            &[0x10, b'a', 0, 2, 0, 0, 0],
            &[0],
        ]
        .concat();
        let doc = RawDocument::from_bytes(&bytes).expect("doc");
        assert_eq!(get(doc, "a"), Some(RawBsonRef::Int32(1)));
        assert_eq!(get(doc, "a"), doc.get("a").expect("bson"));
    }

    #[test]
    fn broken_bytes_read_as_nothing_and_never_panic() {
        let mut bytes = Vec::new();
        doc! { "a": "text", "b": { "c": 1 }, "d": [1, 2] }
            .to_writer(&mut bytes)
            .expect("encode");
        // Every single-byte corruption and every truncation (with its length
        // header fixed up): some read, some do not, none panics.
        for at in 0..bytes.len() {
            for value in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
                let mut broken = bytes.clone();
                broken[at] = value;
                if let Ok(doc) = RawDocument::from_bytes(&broken) {
                    for p in ["a", "b.c", "d.1", "zz"] {
                        let _ = path(doc, p);
                    }
                }
            }
        }
        for len in 5..bytes.len() {
            let mut cut = bytes[..len].to_vec();
            cut[..4].copy_from_slice(&(len as i32).to_le_bytes());
            *cut.last_mut().expect("a byte") = 0;
            if let Ok(doc) = RawDocument::from_bytes(&cut) {
                for p in ["a", "b.c", "d.1", "zz"] {
                    let _ = path(doc, p);
                }
            }
        }
    }
}
