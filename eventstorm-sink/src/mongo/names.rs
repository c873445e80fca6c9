//! Collection names from event values: the escaping that keeps the
//! tenant/type → collection mapping injective, and the checks every expanded
//! name passes before anything is sent to the server.
//!
//! # Escaping
//!
//! A placeholder value (a tenant, a type prefix) is written as is when it is
//! made of ASCII letters, digits, `_` and `-`; every other byte of its UTF-8
//! form becomes `%` and two upper-case hex digits (`acme/eu` → `acme%2Feu`,
//! `acme.eu` → `acme%2Eeu`, `ü` → `%C3%BC`, `%` → `%25`), and the empty value
//! is written `%`. Distinct values give distinct names: the escaped form
//! decodes back to the value, and never contains `.`, `$` or NUL.

use std::fmt::Write as _;

/// MongoDB's longest namespace (`database.collection`), in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 255;

/// Whether `c` is kept as is in an escaped value.
pub(crate) fn is_plain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Whether `c` can appear in an escaped value.
pub(crate) fn in_escaped_alphabet(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '%'
}

/// Appends the escaped form of `value` to `out`.
pub(crate) fn push_escaped(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('%');
        return;
    }
    for &b in value.as_bytes() {
        if is_plain(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The escaped form of `value`.
pub(crate) fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_escaped(&mut out, value);
    out
}

/// The value an escaped form came from, or `None` when `escaped` is not the
/// escaped form of any value: the proof, in the tests, that the escaping is
/// injective.
#[cfg(test)]
fn unescape(escaped: &str) -> Option<String> {
    if escaped == "%" {
        return Some(String::new());
    }
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_plain(b) {
            out.push(b);
            i += 1;
        } else if b == b'%' {
            let hex = escaped.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h))
            {
                return None;
            }
            let byte = u8::from_str_radix(hex, 16).ok()?;
            // Only bytes that must be escaped are: one form per value.
            if is_plain(byte) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

/// Why an expanded collection name cannot be used; the events that map to it
/// are refused.
pub(crate) fn check_collection(database: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the collection name is empty".into());
    }
    if name.starts_with("system.") {
        return Err(format!(
            "collection {name:?} starts with `system.`, which MongoDB reserves"
        ));
    }
    if name.contains(['$', '\0']) {
        return Err(format!("collection {name:?} contains `$` or NUL"));
    }
    let namespace = database.len() + 1 + name.len();
    if namespace > MAX_NAMESPACE_BYTES {
        return Err(format!(
            "namespace {database}.{} is {namespace} bytes, more than MongoDB's {MAX_NAMESPACE_BYTES} \
             (shorten the tenant or type, or the collection template)",
            truncated(name, 40)
        ));
    }
    Ok(())
}

/// At most `max` bytes of `s` (on a character boundary), with `...` when cut.
pub(crate) fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_stay_readable() {
        for plain in ["acme", "acme_eu", "ACME-2", "compute"] {
            assert_eq!(escaped(plain), plain);
        }
    }

    #[test]
    fn escaping_is_injective_and_reversible() {
        let values = [
            "",
            "%",
            "$",
            ".",
            "ü",
            "acme/eu",
            "acme.eu",
            "acme_eu",
            "acme%2Feu",
            "a b",
            "_",
            "%25",
            "\0",
            "system",
            "system.x",
        ];
        let mut seen = std::collections::HashSet::new();
        for value in values {
            let e = escaped(value);
            assert!(
                e.chars().all(in_escaped_alphabet),
                "{value:?} -> {e:?} has a character outside the alphabet"
            );
            assert!(seen.insert(e.clone()), "{value:?} -> {e:?} collides");
            assert_eq!(unescape(&e).as_deref(), Some(value), "{e:?}");
        }
        assert_eq!(escaped("acme/eu"), "acme%2Feu");
        assert_eq!(escaped("ü"), "%C3%BC");
        assert_eq!(escaped(""), "%");
        // Not produced by the escaping: not accepted back.
        assert_eq!(unescape("%41"), None);
        assert_eq!(unescape("%2f"), None);
        assert_eq!(unescape("a.b"), None);
    }

    #[test]
    fn checks_expanded_names() {
        assert!(check_collection("db", "events").is_ok());
        assert!(check_collection("db", "system.views").is_err());
        assert!(check_collection("db", "").is_err());
        let long = "x".repeat(252);
        assert!(check_collection("db", &long).is_ok());
        let err = check_collection("db", &format!("{long}y")).unwrap_err();
        assert!(err.contains("256 bytes"), "{err}");
    }
}
