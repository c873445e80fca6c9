//! JSON lines: one JSON object per line.
//!
//! Event type: the string in the configured type field (default `type`), or the
//! configured default type when the field is missing; with neither, the line is
//! rejected. The type must be a valid event type (ASCII letters, digits and
//! `. _ - : /`). Envelope: `ts` from the timestamp field (default `ts`, as in
//! HTTP ingest): an RFC 3339 string, `YYYY-MM-DD hh:mm:ss[.f]` taken as UTC, or
//! a number of seconds, milliseconds, microseconds or nanoseconds since the
//! epoch told apart by magnitude, within 1970-01-01 to 2200-01-01 (the rule is
//! in `docs/sources.md`); without the field, the parse time. `logger` = `json`.
//!
//! Body: every other member of the object, in the order of the line,
//! converted to BSON:
//!
//! | JSON | BSON |
//! |---|---|
//! | integer fitting in 32 bits | int32 |
//! | other integer fitting in 64 bits (signed) | int64 |
//! | integer beyond that | rejected (never silently a double) |
//! | other number | double |
//! | string, bool, null | string, bool, null |
//! | object, array | document, array, at most [`MAX_JSON_DEPTH`] levels deep |
//!
//! Lines that are not JSON, or are JSON but not an object, are rejected; so are
//! keys containing a NUL character (BSON cannot hold them) and objects or
//! arrays nested deeper than [`MAX_JSON_DEPTH`] levels (the line's object
//! counts as one).

use bson::{Bson, Document};
use eventstorm_core::Event;
use serde_json::{Map, Value};

use super::Parser;
use super::error::ParseError;
use super::event_time::event_time_of_bson;
pub use super::json_bson::MAX_JSON_DEPTH;
use super::json_bson::to_bson_value;

/// The default name of the field holding the event type.
pub const DEFAULT_TYPE_FIELD: &str = "type";

/// The default name of the field holding the event time (HTTP ingest's `ts`).
pub const DEFAULT_TIMESTAMP_FIELD: &str = "ts";

/// Parses JSON lines.
///
/// ```
/// use eventstorm_source::parse::{JsonParser, Parser};
/// let parser = JsonParser::new().with_default_type("app.log");
/// let event = parser.parse(r#"{"type": "user.login", "user": "ann", "n": 3}"#).unwrap();
/// assert_eq!(event.event_type(), "user.login");
/// assert_eq!(event.body().get_i32("n").unwrap(), 3);
/// assert!(event.body().get("type").is_none());
/// let timed = parser.parse(r#"{"ts": 1714564800500, "order_id": 42, "total": 99.5}"#).unwrap();
/// assert_eq!(timed.timestamp().timestamp_millis(), 1_714_564_800_500);
/// assert_eq!(timed.body().keys().collect::<Vec<_>>(), ["order_id", "total"]);
/// let other = parser.parse(r#"{"msg": "hi"}"#).unwrap();
/// assert_eq!(other.event_type(), "app.log");
/// ```
#[derive(Debug, Clone)]
pub struct JsonParser {
    type_field: String,
    default_type: Option<String>,
    timestamp_field: String,
}

impl Default for JsonParser {
    fn default() -> Self {
        JsonParser::new()
    }
}

impl JsonParser {
    /// A parser taking the type from the `type` field and the event time from
    /// the `ts` field, with no default type.
    pub fn new() -> Self {
        JsonParser {
            type_field: DEFAULT_TYPE_FIELD.to_string(),
            default_type: None,
            timestamp_field: DEFAULT_TIMESTAMP_FIELD.to_string(),
        }
    }

    /// Takes the event type from this field instead of `type`.
    pub fn with_type_field(mut self, field: impl Into<String>) -> Self {
        self.type_field = field.into();
        self
    }

    /// Uses this type for objects without the type field.
    pub fn with_default_type(mut self, event_type: impl Into<String>) -> Self {
        self.default_type = Some(event_type.into());
        self
    }

    /// Takes the event time from this field instead of `ts` (the field is
    /// removed from the body either way).
    pub fn with_timestamp_field(mut self, field: impl Into<String>) -> Self {
        self.timestamp_field = field.into();
        self
    }
}

/// Parses `line` as JSON, with errors at their column.
pub(crate) fn parse_value(line: &str) -> Result<Value, ParseError> {
    serde_json::from_str(line).map_err(|e| {
        let text = e.to_string();
        let message = text
            .rfind(" at line ")
            .map_or(text.as_str(), |p| &text[..p]);
        let at = line.len().min(e.column().saturating_sub(1));
        ParseError::invalid(line, at, format!("invalid JSON: {message}"))
    })
}

/// Parses `line` as a JSON object.
pub(crate) fn parse_object(line: &str) -> Result<Map<String, Value>, ParseError> {
    match parse_value(line)? {
        Value::Object(map) => Ok(map),
        other => {
            let at = line.len() - line.trim_start().len();
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err(ParseError::expected(
                line,
                at,
                format!("a JSON object (not {kind})"),
            ))
        }
    }
}

/// Parses `line` as a JSON object straight into a BSON document, in the
/// line's order, within the limits of the module docs.
pub(crate) fn parse_document(line: &str) -> Result<Document, ParseError> {
    let kind = match to_bson_value(line) {
        Ok(Bson::Document(doc)) => return Ok(doc),
        Ok(Bson::Array(_)) => "an array",
        Ok(Bson::String(_)) => "a string",
        Ok(Bson::Boolean(_)) => "a boolean",
        Ok(Bson::Null) => "null",
        Ok(_) => "a number",
        Err(e) => return Err(ParseError::invalid(line, e.offset, e.message)),
    };
    let at = line.len() - line.trim_start().len();
    Err(ParseError::expected(
        line,
        at,
        format!("a JSON object (not {kind})"),
    ))
}

/// Converts one JSON object (the whole `text`) to a BSON document, member
/// order kept, within the limits of the module docs: at most
/// [`MAX_JSON_DEPTH`] levels of objects and arrays, integers within 64 bits,
/// no NUL in keys. The error names the column and what was expected.
///
/// ```
/// use eventstorm_source::parse::json::json_to_document;
///
/// let doc = json_to_document(r#"{"order_id": 42, "items": [{"sku": "a"}]}"#)?;
/// assert_eq!(doc.get_i32("order_id")?, 42);
/// let err = json_to_document("[1, 2]").unwrap_err();
/// assert_eq!(err.to_string(), "column 1: expected a JSON object (not an array), found '['");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn json_to_document(text: &str) -> Result<Document, ParseError> {
    parse_document(text)
}

/// Converts a JSON value to BSON (see the module docs). Fails on keys with NUL
/// and on nesting deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn to_bson(value: Value) -> Result<Bson, String> {
    to_bson_at(value, 0)
}

/// [`to_bson`] of a value inside `depth` levels of objects and arrays.
fn to_bson_at(value: Value, depth: usize) -> Result<Bson, String> {
    if matches!(value, Value::Array(_) | Value::Object(_)) && depth >= MAX_JSON_DEPTH {
        return Err(format!(
            "objects and arrays nested deeper than {MAX_JSON_DEPTH} levels"
        ));
    }
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => Bson::Array(
            items
                .into_iter()
                .map(|item| to_bson_at(item, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Bson::Document(to_document_at(map, depth + 1)?),
    })
}

/// Converts a JSON object to a BSON document, keeping the map's order. Fails
/// on keys with NUL and on nesting deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn to_document(map: Map<String, Value>) -> Result<Document, String> {
    to_document_at(map, 1)
}

/// [`to_document`] of an object at nesting level `depth` (1: outermost).
fn to_document_at(map: Map<String, Value>, depth: usize) -> Result<Document, String> {
    let mut doc = Document::new();
    for (key, value) in map {
        if key.contains('\0') {
            return Err(format!(
                "key {key:?} contains a NUL character, which BSON cannot hold"
            ));
        }
        doc.insert(key, to_bson_at(value, depth)?);
    }
    Ok(doc)
}

/// The column to blame for a conversion error: the first escaped NUL, if any.
pub(crate) fn conversion_error(line: &str, message: String) -> ParseError {
    let at = line.find("\\u0000").unwrap_or(0);
    ParseError::invalid(line, at, message)
}

/// Finds `"key"` in the raw line, for error columns.
pub(crate) fn key_offset(line: &str, key: &str) -> usize {
    line.find(&format!("\"{key}\"")).unwrap_or(0)
}

impl Parser for JsonParser {
    fn name(&self) -> &str {
        "json"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        let mut map = parse_document(line)?;
        let event_type = match map.remove(&self.type_field) {
            Some(Bson::String(t)) => t,
            None => match &self.default_type {
                Some(t) => t.clone(),
                None => {
                    return Err(ParseError::invalid(
                        line,
                        0,
                        format!(
                            "missing the type field {:?} (and no default type is configured)",
                            self.type_field
                        ),
                    ));
                }
            },
            Some(_) => {
                return Err(ParseError::invalid(
                    line,
                    key_offset(line, &self.type_field),
                    format!("the type field {:?} must be a string", self.type_field),
                ));
            }
        };
        if let Err(e) = eventstorm_core::event::validate_type(&event_type) {
            return Err(ParseError::invalid(
                line,
                key_offset(line, &self.type_field),
                e,
            ));
        }
        let mut builder = Event::builder(event_type).logger("json");
        if let Some(value) = map.remove(&self.timestamp_field) {
            let field = &self.timestamp_field;
            let ts = event_time_of_bson(&value).map_err(|m| {
                ParseError::invalid(
                    line,
                    key_offset(line, field),
                    format!("the timestamp field {field:?}: {m}"),
                )
            })?;
            builder = builder.timestamp(ts);
        }
        Ok(builder.fields(map).build())
    }
}
