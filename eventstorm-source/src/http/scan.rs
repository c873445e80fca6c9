//! A pass over the raw JSON text before it is parsed: nesting depth (so no
//! decoder or converter ever recurses deeper than the limit) and integer
//! literals beyond 64 bits (which a JSON decoder would silently turn into a
//! lossy double).

/// What the scan found: the bad items, each with its message. The index is
/// the element of a top-level array (0 for anything else).
pub(crate) type BadItems = Vec<(usize, String)>;

/// Scans `text`. Err (the whole body is refused) when it nests deeper than
/// `max_depth`; otherwise the items holding integers that do not fit in a
/// signed 64-bit integer, the largest integer BSON stores.
pub(crate) fn scan(text: &str, max_depth: usize) -> Result<BadItems, String> {
    let bytes = text.as_bytes();
    let mut bad = BadItems::new();
    let mut depth = 0usize;
    let mut top_array = false;
    let mut item = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i + 1),
            b'{' | b'[' => {
                if depth == 0 {
                    top_array = bytes[i] == b'[';
                }
                depth += 1;
                if depth > max_depth {
                    return Err(format!(
                        "the JSON nests deeper than {max_depth} levels at byte {i} (max_depth)"
                    ));
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                if depth == 1 && top_array {
                    item += 1;
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let literal = &text[start..i];
                let integer = !literal.contains(['.', 'e', 'E']);
                if integer && literal.len() > 1 && literal.parse::<i64>().is_err() {
                    let at = if top_array { item } else { 0 };
                    bad.push((
                        at,
                        format!(
                            "the integer {literal} at byte {start} does not fit in 64 bits \
                         (-9223372036854775808 to 9223372036854775807): send it as a string"
                        ),
                    ));
                }
            }
            _ => i += 1,
        }
    }
    Ok(bad)
}

/// The index after the string whose content starts at `i`.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(scan(&deep, 64).unwrap_err().contains("deeper than 64"));
        assert!(scan(&deep, 65).is_ok());
        let quoted = format!(r#"{{"a": "{}"}}"#, "[{\\\"".repeat(1000));
        assert_eq!(scan(&quoted, 2), Ok(vec![]));
    }

    #[test]
    fn big_integers_are_found_per_item() {
        let text = r#"[{"n": 9223372036854775807}, {"s": "99999999999999999999"}, {"n": -9223372036854775809, "f": 1e30, "g": 12345678901234567890.5}]"#;
        let bad = scan(text, 8).expect("shallow");
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].0, 2);
        assert!(bad[0].1.contains("-9223372036854775809"), "{}", bad[0].1);
        assert_eq!(
            scan(r#"{"n": 18446744073709551615}"#, 8).expect("ok")[0].0,
            0
        );
    }
}
