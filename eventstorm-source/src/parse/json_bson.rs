//! JSON text straight to BSON, with the limits every JSON input shares: the
//! members of an object keep the order of the input, objects and arrays nest
//! at most [`MAX_JSON_DEPTH`] levels, and integers must fit in 64 bits.
//!
//! No intermediate `serde_json::Value` is built: a serde visitor writes each
//! value into its BSON document as the JSON is read, and refuses to go one
//! level deeper than the limit, so no input recurses without bound (serde_json
//! itself stops at 128 levels, a limit this one stays below).

use std::cell::Cell;
use std::fmt;

use bson::{Bson, Document};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// The deepest nesting of JSON objects and arrays accepted, counting the
/// line's (or item's) outermost object as level 1: `{"a": {"b": [1]}}` nests
/// 3 levels. Deeper input is rejected with an error, never recursed into.
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a JSON text could not be converted: what is wrong, and the byte offset
/// where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    /// Byte offset in the text.
    pub(crate) offset: usize,
    /// What is wrong, and what was expected.
    pub(crate) message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Converts one JSON value (the whole `text`, surrounding whitespace allowed)
/// to BSON: objects become documents in input order, integers that fit in 32
/// bits int32, other integers int64, other numbers double. Errors: invalid
/// JSON, nesting deeper than [`MAX_JSON_DEPTH`], an integer outside the int64
/// range, an object key containing NUL.
pub(crate) fn to_bson_value(text: &str) -> Result<Bson, JsonError> {
    let too_big = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = ValueSeed {
        depth: 0,
        too_big: &too_big,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value));
    match result {
        Ok(value) if too_big.get() => match oversized_integer(text) {
            Some((offset, literal)) => Err(JsonError {
                offset,
                message: format!(
                    "integer {literal} does not fit in 64 bits (BSON integers lie from -2^63 to 2^63-1): send it as a string, or as a number with a fraction or exponent to store a double"
                ),
            }),
            None => Ok(value),
        },
        Ok(value) => Ok(value),
        Err(e) => {
            let text_message = e.to_string();
            let message = text_message
                .rfind(" at line ")
                .map_or(text_message.as_str(), |p| &text_message[..p]);
            Err(JsonError {
                offset: byte_offset(text, e.line(), e.column()),
                message: format!("invalid JSON: {message}"),
            })
        }
    }
}

/// The byte offset of serde_json's 1-based line and (byte) column.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// The first integer literal (no fraction, no exponent) of a valid JSON text
/// that does not fit in an `i64`: its byte offset and text.
fn oversized_integer(text: &str) -> Option<(usize, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                let literal = &text[start..i];
                if !literal.contains(['.', 'e', 'E']) && literal.parse::<i64>().is_err() {
                    return Some((start, literal));
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Reads one value at nesting level `depth` (the levels of its enclosing
/// objects and arrays).
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    depth: usize,
    /// Set when a number may be an integer outside the int64 range (serde_json
    /// reads those as u64 or f64); the text is then scanned for it.
    too_big: &'a Cell<bool>,
}

impl ValueSeed<'_> {
    /// The seed of a value one level deeper, or the error when that is too deep.
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(E::custom(format_args!(
                "objects and arrays nested deeper than {MAX_JSON_DEPTH} levels"
            )));
        }
        Ok(ValueSeed {
            depth: self.depth + 1,
            too_big: self.too_big,
        })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Bson;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Bson, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Bson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Bson, E> {
        Ok(Bson::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Bson, E> {
        Ok(i32::try_from(v).map_or(Bson::Int64(v), Bson::Int32))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Bson, E> {
        Ok(match i64::try_from(v) {
            Ok(v) => i32::try_from(v).map_or(Bson::Int64(v), Bson::Int32),
            Err(_) => {
                self.too_big.set(true);
                Bson::Null
            }
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<Bson, E> {
        // 2^63: an integer literal at least this large was read as a float.
        if v.abs() >= 9_223_372_036_854_775_808.0 {
            self.too_big.set(true);
        }
        Ok(Bson::Double(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Bson, E> {
        Ok(Bson::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Bson, E> {
        Ok(Bson::String(v))
    }

    fn visit_unit<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }

    fn visit_none<E>(self) -> Result<Bson, E> {
        Ok(Bson::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bson, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Bson::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bson, A::Error> {
        let inner = self.nested()?;
        let mut doc = Document::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.contains('\0') {
                return Err(de::Error::custom(format_args!(
                    "key {key:?} contains a NUL character, which BSON cannot hold"
                )));
            }
            let value = map.next_value_seed(inner)?;
            doc.insert(key, value);
        }
        Ok(Bson::Document(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_depth_and_integers() {
        let Ok(Bson::Document(doc)) = to_bson_value(r#"{"z": 1, "a": [2, {"m": 3, "b": 4}]}"#)
        else {
            panic!("parses")
        };
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(
            doc.get_array("a")
                .ok()
                .and_then(|a| a[1].as_document())
                .map(|d| d.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["m".to_string(), "b".to_string()])
        );

        let ok = format!(
            "{}1{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(to_bson_value(&ok).is_ok());
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        let err = to_bson_value(&deep).unwrap_err();
        assert!(
            err.message.contains("nested deeper than 64 levels"),
            "{err}"
        );

        assert_eq!(
            to_bson_value("-9223372036854775808").ok(),
            Some(Bson::Int64(i64::MIN))
        );
        for (text, offset) in [
            (r#"{"n": 9223372036854775808}"#, 6),
            (
                r#"{"s": "123456789012345678901234", "n": -99999999999999999999}"#,
                39,
            ),
            ("[18446744073709551616]", 1),
        ] {
            let err = to_bson_value(text).unwrap_err();
            assert_eq!(err.offset, offset, "{text}: {err}");
            assert!(err.message.contains("does not fit in 64 bits"), "{err}");
        }
        assert_eq!(to_bson_value("1e19").ok(), Some(Bson::Double(1e19)));
    }
}
