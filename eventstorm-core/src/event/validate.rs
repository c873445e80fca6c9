//! The structural check of a BSON document: every element of every nested
//! document and array (lengths, terminators, element types, UTF-8 of strings
//! and keys, nesting depth), in one pass, without allocating and without
//! recursion.
//!
//! What passes here is what `bson` can read back: a validated document
//! converts to a [`bson::Document`] without error (a property test checks
//! it), and no reader recurses deeper than [`MAX_DEPTH`] into it.

use super::MAX_DEPTH;
use crate::error::DecodeError;

/// What is wrong with one element: small and `Copy`, so that the hot path
/// passes a few words around; the message is only built when something is
/// actually wrong.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fault {
    LengthPastEnd,
    NegativeLength(i32),
    EmptyString,
    UnterminatedString,
    UnterminatedCString,
    NotUtf8,
    UnterminatedKey,
    KeyNotUtf8,
    BadEmbeddedDocument(usize),
    BadBoolean,
    BadOldBinary,
    BadCodeWithScope(usize),
    UnknownType(u8),
    ValuePastEnd,
}

impl Fault {
    fn describe(self) -> String {
        match self {
            Fault::LengthPastEnd => "length prefix runs past its document".into(),
            Fault::NegativeLength(len) => format!("negative length {len}"),
            Fault::EmptyString => "string length 0 (must count its NUL)".into(),
            Fault::UnterminatedString => "string is not NUL-terminated within its document".into(),
            Fault::UnterminatedCString => "unterminated C string".into(),
            Fault::NotUtf8 => "string is not UTF-8".into(),
            Fault::UnterminatedKey => "unterminated key".into(),
            Fault::KeyNotUtf8 => "key is not UTF-8".into(),
            Fault::BadEmbeddedDocument(len) => {
                format!("embedded document of length {len} is malformed")
            }
            Fault::BadBoolean => "boolean is neither 0 nor 1".into(),
            Fault::BadOldBinary => "binary of subtype 0x02 has a wrong inner length".into(),
            Fault::BadCodeWithScope(len) => {
                format!("code with scope of length {len} is malformed")
            }
            Fault::UnknownType(kind) => format!("unknown element type 0x{kind:02x}"),
            Fault::ValuePastEnd => "value runs past its document".into(),
        }
    }
}

/// Where a value of an element ends, or the nested document to check next.
#[derive(Debug, Clone, Copy)]
pub(super) enum Next {
    /// A value checked whole: the next element starts here.
    Skip(usize),
    /// A document, an array or the scope of a code with scope, framed (its
    /// length is at least 5, it lies within its parent, it ends with NUL):
    /// its first element starts at `.0 + 4`, its terminator is at `.1`, and
    /// the element that holds it ends with that terminator.
    Enter(usize, usize),
}

#[inline]
fn read_len(bytes: &[u8], at: usize, end: usize) -> Result<usize, Fault> {
    if at + 4 > end {
        return Err(Fault::LengthPastEnd);
    }
    let len = i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    usize::try_from(len).map_err(|_| Fault::NegativeLength(len))
}

/// Every byte's high bit, for the word-at-a-time checks below.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
/// One in every byte, for finding a zero byte in a word.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;

/// Eight bytes at `at` as a little-endian word (the caller checked that they
/// lie within the slice).
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Whether every byte is ASCII, eight at a time: the strings events are made
/// of are short (a type, a host name, a message), so this beats both a byte
/// loop and `str::from_utf8` for them; anything with a high bit goes to
/// `from_utf8`.
#[inline]
fn ascii(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        return bytes.iter().fold(0u8, |acc, &b| acc | b) < 0x80;
    }
    let mut high = 0u64;
    let mut at = 0;
    while at + 8 <= len {
        high |= word_at(bytes, at);
        at += 8;
    }
    // The last (possibly overlapping) word covers what the loop left.
    high |= word_at(bytes, len - 8);
    high & HIGH_BITS == 0
}

#[inline]
fn utf8(bytes: &[u8]) -> Result<(), Fault> {
    if ascii(bytes) || std::str::from_utf8(bytes).is_ok() {
        Ok(())
    } else {
        Err(Fault::NotUtf8)
    }
}

/// A length-prefixed, NUL-terminated UTF-8 string at `at`; returns its end.
#[inline]
fn string_end(bytes: &[u8], at: usize, end: usize) -> Result<usize, Fault> {
    let len = read_len(bytes, at, end)?;
    if len == 0 {
        return Err(Fault::EmptyString);
    }
    let stop = at + 4 + len;
    if stop > end || bytes[stop - 1] != 0 {
        return Err(Fault::UnterminatedString);
    }
    utf8(&bytes[at + 4..stop - 1])?;
    Ok(stop)
}

/// A NUL-terminated UTF-8 string at `at`; returns the offset after its NUL.
fn cstring_end(bytes: &[u8], at: usize, end: usize) -> Result<usize, Fault> {
    let text = bytes.get(at..end).ok_or(Fault::UnterminatedCString)?;
    let len = text
        .iter()
        .position(|&b| b == 0)
        .ok_or(Fault::UnterminatedCString)?;
    utf8(&text[..len])?;
    Ok(at + len + 1)
}

/// A key at `at`, before `end`; returns the offset after its NUL.
#[inline(always)]
pub(super) fn key_end(bytes: &[u8], at: usize, end: usize) -> Result<usize, Fault> {
    // Eight bytes at a time while they lie within the document: find the
    // NUL and notice any non-ASCII byte before it.
    let mut i = at;
    let mut high = 0u64;
    let nul = loop {
        if i + 8 > end {
            // The last few bytes of the document, one at a time.
            loop {
                if i >= end {
                    return Err(Fault::UnterminatedKey);
                }
                let b = bytes[i];
                if b == 0 {
                    break;
                }
                high |= u64::from(b);
                i += 1;
            }
            break i;
        }
        let word = word_at(bytes, i);
        // The lowest byte flagged here is the first zero byte (a borrow only
        // ever flags bytes above a real zero).
        let zero = word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS;
        if zero != 0 {
            let before = (zero.trailing_zeros() / 8) as usize;
            if before > 0 {
                high |= word & (u64::MAX >> (64 - 8 * before));
            }
            break i + before;
        }
        high |= word;
        i += 8;
    };
    if high & HIGH_BITS != 0 && std::str::from_utf8(&bytes[at..nul]).is_err() {
        return Err(Fault::KeyNotUtf8);
    }
    Ok(nul + 1)
}

/// A document framed at `at` within `..end`: returns its terminator's offset.
#[inline]
fn document_at(bytes: &[u8], at: usize, end: usize) -> Result<usize, Fault> {
    let len = read_len(bytes, at, end)?;
    if len < 5 || at + len > end || bytes[at + len - 1] != 0 {
        return Err(Fault::BadEmbeddedDocument(len));
    }
    Ok(at + len - 1)
}

/// Checks the value of an element of type `kind` starting at `at`, inside a
/// document whose terminator is at `end`.
#[inline]
pub(super) fn value(bytes: &[u8], kind: u8, at: usize, end: usize) -> Result<Next, Fault> {
    let stop = match kind {
        0x01 | 0x09 | 0x11 | 0x12 => at + 8,
        0x02 | 0x0D | 0x0E => string_end(bytes, at, end)?,
        0x03 | 0x04 => return Ok(Next::Enter(at, document_at(bytes, at, end)?)),
        0x05 => {
            let len = read_len(bytes, at, end)?;
            if at + 5 + len > end {
                return Err(Fault::ValuePastEnd);
            }
            // The old binary subtype repeats the length inside the data.
            if bytes[at + 4] == 0x02 && (len < 4 || read_len(bytes, at + 5, end)? + 4 != len) {
                return Err(Fault::BadOldBinary);
            }
            at + 5 + len
        }
        0x06 | 0x0A | 0x7F | 0xFF => at,
        0x07 => at + 12,
        0x08 => {
            if at >= end || bytes[at] > 1 {
                return Err(Fault::BadBoolean);
            }
            at + 1
        }
        0x0B => cstring_end(bytes, cstring_end(bytes, at, end)?, end)?,
        0x0C => string_end(bytes, at, end)? + 12,
        0x0F => {
            // int32 total length, string code, scope document: exactly.
            let len = read_len(bytes, at, end)?;
            let stop = at + len;
            if len < 14 || stop > end {
                return Err(Fault::BadCodeWithScope(len));
            }
            let scope = string_end(bytes, at + 4, stop)?;
            let scope_end = document_at(bytes, scope, stop)
                .ok()
                .filter(|&terminator| terminator + 1 == stop)
                .ok_or(Fault::BadCodeWithScope(len))?;
            return Ok(Next::Enter(scope, scope_end));
        }
        0x10 => at + 4,
        0x13 => at + 16,
        other => return Err(Fault::UnknownType(other)),
    };
    if stop > end {
        return Err(Fault::ValuePastEnd);
    }
    Ok(Next::Skip(stop))
}

/// A fault found while walking: the element's offset, the key offsets of the
/// documents it sits in, and its own key's offset when it was read.
#[cold]
#[inline(never)]
pub(super) fn located(
    bytes: &[u8],
    at: usize,
    keys: &[u32],
    key: Option<usize>,
    fault: Fault,
) -> DecodeError {
    DecodeError::Bson(format!(
        "{}: {}",
        describe(bytes, at, keys, key),
        fault.describe()
    ))
}

#[cold]
#[inline(never)]
fn too_deep(bytes: &[u8], at: usize, keys: &[u32], key: usize) -> DecodeError {
    DecodeError::TooDeep {
        limit: MAX_DEPTH,
        at,
        path: path(bytes, keys, Some(key)),
    }
}

/// "element `body.tags.3` at byte 312", or "byte 312" without a key.
pub(super) fn describe(bytes: &[u8], at: usize, keys: &[u32], key: Option<usize>) -> String {
    let path = path(bytes, keys, key);
    if path.is_empty() {
        format!("at byte {at}")
    } else {
        format!("element `{path}` at byte {at}")
    }
}

/// The dotted path of the keys at these offsets (lossy: the key may be the
/// bad part).
pub(super) fn path(bytes: &[u8], keys: &[u32], key: Option<usize>) -> String {
    let mut out = String::new();
    for at in keys.iter().map(|&at| at as usize).chain(key) {
        let rest = bytes.get(at..).unwrap_or_default();
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(&rest[..len]));
    }
    out
}

/// An offset into a framed document, which is shorter than `i32::MAX` bytes.
#[inline]
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Checks every element of the framed document that starts at `start` and
/// whose terminator is at `terminator`, and everything nested in it. The
/// document is at nesting `depth` (the event document is 1) and is the value
/// of the element whose key starts at `key` (`None` for the top level).
pub(super) fn walk(
    bytes: &[u8],
    start: usize,
    terminator: usize,
    depth: usize,
    key: Option<usize>,
) -> Result<(), DecodeError> {
    // The open documents: their terminators and the keys that hold them. A
    // fixed array, no allocation: the depth is bounded anyway. Offsets fit
    // in 32 bits (a document's length is an i32), which halves what is
    // zeroed per call.
    let mut ends = [0u32; MAX_DEPTH];
    let mut keys = [0u32; MAX_DEPTH];
    let base = usize::from(key.is_some());
    if let Some(key) = key {
        keys[0] = offset(key);
    }
    ends[0] = offset(terminator);
    // `open` documents are open; `ends[open - 1]` is the innermost.
    let mut open = 1;
    let mut at = start + 4;
    loop {
        let end = ends[open - 1] as usize;
        if at == end {
            open -= 1;
            if open == 0 {
                return Ok(());
            }
            at += 1;
            continue;
        }
        let held = &keys[..open - 1 + base];
        let kind = bytes[at];
        let key_at = at + 1;
        let value_at =
            key_end(bytes, key_at, end).map_err(|f| located(bytes, at, held, None, f))?;
        match value(bytes, kind, value_at, end) {
            Ok(Next::Skip(stop)) => at = stop,
            Ok(Next::Enter(doc, doc_end)) => {
                if depth + open > MAX_DEPTH {
                    return Err(too_deep(bytes, at, held, key_at));
                }
                ends[open] = offset(doc_end);
                keys[open - 1 + base] = offset(key_at);
                open += 1;
                at = doc + 4;
            }
            Err(fault) => return Err(located(bytes, at, held, Some(key_at), fault)),
        }
    }
}

/// Checks a whole document: its framing (the length prefix equals the
/// length of `bytes`, it ends with NUL) and [`walk`]s it at depth 1.
pub(crate) fn document(bytes: &[u8]) -> Result<(), DecodeError> {
    let end = frame(bytes)?;
    walk(bytes, 0, end, 1, None)
}

/// Checks the framing of a top-level document; returns its terminator's
/// offset.
pub(super) fn frame(bytes: &[u8]) -> Result<usize, DecodeError> {
    let framing = |problem: String| DecodeError::Bson(format!("at byte 0: {problem}"));
    if bytes.len() < 5 {
        return Err(framing(format!(
            "{} bytes is too short for a document",
            bytes.len()
        )));
    }
    let declared = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if usize::try_from(declared).ok() != Some(bytes.len()) {
        return Err(framing(format!(
            "length prefix says {declared} bytes, the frame has {}",
            bytes.len()
        )));
    }
    let end = bytes.len() - 1;
    if bytes[end] != 0 {
        return Err(DecodeError::Bson(format!(
            "at byte {end}: document does not end with NUL"
        )));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time key scan agrees with a byte loop and `from_utf8`
    /// for every key length around the word size, with the NUL, a stray
    /// high byte or a valid multi-byte character at every position.
    #[test]
    fn key_end_agrees_with_the_obvious_scan() {
        fn obvious(bytes: &[u8], at: usize, end: usize) -> Option<usize> {
            let len = bytes[at..end].iter().position(|&b| b == 0)?;
            std::str::from_utf8(&bytes[at..at + len]).ok()?;
            Some(at + len + 1)
        }
        for len in 0..40 {
            for trailing in 0..10 {
                let mut base = vec![b'k'; len];
                base.push(0);
                base.extend(std::iter::repeat_n(b'v', trailing));
                let end = base.len();
                let mut cases = vec![base.clone()];
                for i in 0..end {
                    for byte in [0u8, 0x80, 0xff, 0xc3] {
                        let mut case = base.clone();
                        case[i] = byte;
                        cases.push(case);
                    }
                    if i + 1 < end {
                        let mut case = base.clone();
                        case[i..i + 2].copy_from_slice("é".as_bytes());
                        cases.push(case);
                    }
                }
                for case in cases {
                    for end in [end, end.saturating_sub(trailing)] {
                        let got = key_end(&case, 0, end).ok();
                        assert_eq!(got, obvious(&case, 0, end), "{case:?} end {end}");
                    }
                }
            }
        }
    }

    /// The word-at-a-time ASCII check agrees with `is_ascii` for every
    /// length around the word size and a high byte at every position.
    #[test]
    fn ascii_agrees_with_is_ascii() {
        for len in 0..40 {
            let base = vec![b'a'; len];
            assert!(ascii(&base));
            for i in 0..len {
                for byte in [0x7f, 0x80, 0xff] {
                    let mut case = base.clone();
                    case[i] = byte;
                    assert_eq!(ascii(&case), case.is_ascii(), "{case:?}");
                }
            }
        }
    }
}
