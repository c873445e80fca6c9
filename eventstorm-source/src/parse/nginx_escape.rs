//! Undoing the escapes nginx writes into logged variable values (see
//! [`super::nginx`]).
//!
//! nginx escapes every variable in an access log. With the default
//! `escape=default`, `"`, `\` and bytes below 0x20 or from 0x7F are written as
//! `\xHH` (so a UTF-8 `é` becomes `\xC3\xA9`). With `escape=json`, `"` and `\`
//! become `\"` and `\\`, control characters `\n`, `\r`, `\t`, `\b`, `\f` or
//! `\u00HH`.
//!
//! An escape that stands for text is decoded: `"`, `\`, printable ASCII, and
//! `\xHH` runs that form a UTF-8 character that is not a control character.
//! Escapes of control characters and of bytes that are not UTF-8 stay as nginx
//! wrote them, so they stay readable and no control character (a newline, an
//! ANSI escape) reaches a log viewer: a TLS handshake sent to a plain-HTTP port
//! stays `\x16\x03\x01...`. A backslash starting anything else is kept too.

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The `n` hex digits at `bytes[at..]` as a number.
fn hex_at(bytes: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = bytes.get(at..at + n)?;
    digits
        .iter()
        .try_fold(0u32, |v, &b| Some(v * 16 + u32::from(hex(b)?)))
}

/// The byte of a `\xHH` escape at `bytes[at..]`.
fn byte_escape(bytes: &[u8], at: usize) -> Option<u8> {
    if bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'x') {
        hex_at(bytes, at + 2, 2).and_then(|v| u8::try_from(v).ok())
    } else {
        None
    }
}

/// The character written by the `\xHH` escapes at `bytes[at..]` and how many
/// bytes of `bytes` they span, when they form a UTF-8 character that is not a
/// control character.
fn utf8_escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let lead = byte_escape(bytes, at)?;
    let len = match lead {
        0x20..=0x7E => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let mut buf = [lead, 0, 0, 0];
    for (k, slot) in buf.iter_mut().enumerate().take(len).skip(1) {
        *slot = byte_escape(bytes, at + 4 * k)?;
    }
    let c = std::str::from_utf8(&buf[..len]).ok()?.chars().next()?;
    (!c.is_control()).then_some((c, 4 * len))
}

/// `value` with nginx's escapes of text decoded (see the module docs);
/// borrowed when it has no backslash.
pub(crate) fn unescape(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    let Some(first) = bytes.iter().position(|&b| b == b'\\') else {
        return Cow::Borrowed(value);
    };
    let mut out = String::with_capacity(bytes.len());
    out.push_str(&value[..first]);
    let mut i = first;
    while i < bytes.len() {
        let Some(next) = bytes[i..].iter().position(|&b| b == b'\\') else {
            out.push_str(&value[i..]);
            break;
        };
        out.push_str(&value[i..i + next]);
        i += next;
        let decoded = match bytes.get(i + 1) {
            Some(b'x') => utf8_escape(bytes, i),
            Some(b'u') => hex_at(bytes, i + 2, 4)
                .and_then(char::from_u32)
                .filter(|c| !c.is_control())
                .map(|c| (c, 6)),
            Some(b'"') => Some(('"', 2)),
            Some(b'\\') => Some(('\\', 2)),
            _ => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push(c);
                i += len;
            }
            None => {
                // Kept as written: the backslash, then the rest as plain text.
                out.push('\\');
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn text_is_decoded_and_control_bytes_are_kept() {
        assert_eq!(unescape("plain"), "plain");
        assert_eq!(unescape(r"a\x22b\x5Cc"), "a\"b\\c");
        assert_eq!(
            unescape(r"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "café € 😀"
        );
        assert_eq!(unescape(r#"say \"hi\" \\ \u00e9"#), "say \"hi\" \\ é");
        for kept in [
            r"\x16\x03\x01\x00\xA5\x01",
            r"tab\x09 del\x7F c1\xC2\x85",
            r"\xC3 lone lead, \xA9 lone continuation, \xE2\x82 cut short",
            r"\n\r\t\b\f\u0001 json controls",
            r"odd \q \x2 \u12 \",
        ] {
            assert_eq!(unescape(kept), kept);
        }
    }
}
