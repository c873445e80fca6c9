//! JSON lines: one JSON object per line.
//!
//! Event type: the string in the configured type field (default `type`), or the
//! configured default type when the field is missing; with neither, the line is
//! rejected. The type must be a valid event type (ASCII letters, digits and
//! `. _ - : /`). Envelope: `ts` from the optional timestamp field (an RFC 3339
//! string, `YYYY-MM-DD hh:mm:ss[.f]` taken as UTC, or a number of seconds since
//! the epoch), else the parse time; `logger` = `json`.
//!
//! Body: every other member of the object, converted to BSON:
//!
//! | JSON | BSON |
//! |---|---|
//! | integer fitting in 32 bits | int32 |
//! | other integer fitting in 64 bits | int64 |
//! | other number | double |
//! | string, bool, null | string, bool, null |
//! | object, array | document, array (recursively) |
//!
//! Lines that are not JSON, or are JSON but not an object, are rejected; so are
//! keys containing a NUL character (BSON cannot hold them).

use bson::{Bson, DateTime, Document};
use eventstorm_core::Event;
use serde_json::{Map, Value};

use super::Parser;
use super::error::ParseError;
use super::time::rfc3339;

/// The default name of the field holding the event type.
pub const DEFAULT_TYPE_FIELD: &str = "type";

/// Parses JSON lines.
///
/// ```
/// use eventstorm_source::parse::{JsonParser, Parser};
/// let parser = JsonParser::new().with_default_type("app.log");
/// let event = parser.parse(r#"{"type": "user.login", "user": "ann", "n": 3}"#).unwrap();
/// assert_eq!(event.event_type(), "user.login");
/// assert_eq!(event.body().get_i32("n").unwrap(), 3);
/// assert!(event.body().get("type").is_none());
/// let other = parser.parse(r#"{"msg": "hi"}"#).unwrap();
/// assert_eq!(other.event_type(), "app.log");
/// ```
#[derive(Debug, Clone)]
pub struct JsonParser {
    type_field: String,
    default_type: Option<String>,
    timestamp_field: Option<String>,
}

impl Default for JsonParser {
    fn default() -> Self {
        JsonParser::new()
    }
}

impl JsonParser {
    /// A parser taking the type from the `type` field, with no default type and
    /// no timestamp field.
    pub fn new() -> Self {
        JsonParser {
            type_field: DEFAULT_TYPE_FIELD.to_string(),
            default_type: None,
            timestamp_field: None,
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

    /// Takes the event timestamp from this field (removed from the body).
    pub fn with_timestamp_field(mut self, field: impl Into<String>) -> Self {
        self.timestamp_field = Some(field.into());
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

/// Converts a JSON value to BSON (see the module docs). Fails on keys with NUL.
pub(crate) fn to_bson(value: Value) -> Result<Bson, String> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i32::try_from(i).map_or(Bson::Int64(i), Bson::Int32),
            None => Bson::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Bson::String(s),
        Value::Array(items) => {
            Bson::Array(items.into_iter().map(to_bson).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Bson::Document(to_document(map)?),
    })
}

/// Converts a JSON object to a BSON document. Fails on keys with NUL.
pub(crate) fn to_document(map: Map<String, Value>) -> Result<Document, String> {
    let mut doc = Document::new();
    for (key, value) in map {
        if key.contains('\0') {
            return Err(format!(
                "key {key:?} contains a NUL character, which BSON cannot hold"
            ));
        }
        doc.insert(key, to_bson(value)?);
    }
    Ok(doc)
}

/// The column to blame for a conversion error: the first escaped NUL, if any.
pub(crate) fn conversion_error(line: &str, message: String) -> ParseError {
    let at = line.find("\\u0000").unwrap_or(0);
    ParseError::invalid(line, at, message)
}

/// A timestamp from a JSON value: RFC 3339 (or with a space and no offset,
/// taken as UTC) or seconds since the epoch.
pub(crate) fn timestamp(value: &Value) -> Option<DateTime> {
    match value {
        Value::String(s) => {
            let mut pos = 0;
            let ts = rfc3339(s, &mut pos, true, true).ok()?;
            (pos == s.len()).then_some(ts)
        }
        Value::Number(n) => {
            let secs = n.as_f64()?;
            (secs.is_finite() && secs.abs() < 1e14)
                .then(|| DateTime::from_millis((secs * 1000.0).round() as i64))
        }
        _ => None,
    }
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
        let mut map = parse_object(line)?;
        let event_type = match map.remove(&self.type_field) {
            Some(Value::String(t)) => t,
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
        if let Some(field) = &self.timestamp_field
            && let Some(value) = map.remove(field)
        {
            let ts = timestamp(&value).ok_or_else(|| {
                    ParseError::invalid(
                        line,
                        key_offset(line, field),
                        format!("the timestamp field {field:?}: expected an RFC 3339 string or seconds since the epoch"),
                    )
                })?;
            builder = builder.timestamp(ts);
        }
        let body = to_document(map).map_err(|m| conversion_error(line, m))?;
        Ok(builder.fields(body).build())
    }
}
