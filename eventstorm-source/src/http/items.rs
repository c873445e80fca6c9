//! Request bodies to events: a JSON object, a JSON array of objects, or NDJSON
//! (one object per line), by Content-Type or, without one, by sniffing.

use eventstorm_core::event::{fields, validate_type};
use eventstorm_core::{Event, Severity};
use serde_json::{Map, Value};

use crate::parse::json::{timestamp, to_document};

/// One bad item: its 0-based index among the items (blank NDJSON lines do
/// not count), or none when the whole body is bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemError {
    pub(crate) index: Option<usize>,
    pub(crate) error: String,
}

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `application/json`: one object or an array of objects.
    Json,
    /// `application/x-ndjson`: one object per line.
    Ndjson,
    /// No (known) Content-Type: sniffed.
    Sniff,
}

impl Layout {
    /// The layout a Content-Type names.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Layout {
        let Some(value) = content_type else {
            return Layout::Sniff;
        };
        let mime = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => Layout::Json,
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => Layout::Ndjson,
            _ => Layout::Sniff,
        }
    }
}

/// The events of a body, and the errors of its bad items.
pub(crate) fn parse_body(body: &[u8], layout: Layout) -> (Vec<Event>, Vec<ItemError>) {
    let Ok(text) = std::str::from_utf8(body) else {
        return whole("the body is not UTF-8".to_string());
    };
    let layout = match layout {
        Layout::Sniff => sniff(text),
        other => other,
    };
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut push = |index: usize, item: Result<Event, String>| match item {
        Ok(event) => events.push(event),
        Err(error) => errors.push(ItemError {
            index: Some(index),
            error,
        }),
    };
    match layout {
        Layout::Ndjson | Layout::Sniff => {
            for (index, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
                let item = serde_json::from_str::<Value>(line)
                    .map_err(|e| format!("invalid JSON: {e}"))
                    .and_then(to_event);
                push(index, item);
            }
        }
        Layout::Json => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => {
                for (index, item) in items.into_iter().enumerate() {
                    push(index, to_event(item));
                }
            }
            Ok(item @ Value::Object(_)) => push(0, to_event(item)),
            Ok(_) => return whole("expected a JSON object or an array of objects".to_string()),
            Err(e) => return whole(format!("invalid JSON: {e}")),
        },
    }
    if events.is_empty() && errors.is_empty() {
        return whole("no events in the body".to_string());
    }
    (events, errors)
}

fn whole(error: String) -> (Vec<Event>, Vec<ItemError>) {
    (Vec::new(), vec![ItemError { index: None, error }])
}

/// A body that parses as one JSON value is JSON; anything else is NDJSON.
fn sniff(text: &str) -> Layout {
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        Layout::Json
    } else {
        Layout::Ndjson
    }
}

/// One item: an object with `type`, optional envelope fields, the rest body.
fn to_event(item: Value) -> Result<Event, String> {
    let Value::Object(mut map) = item else {
        return Err("expected a JSON object".to_string());
    };
    let event_type = match map.remove(fields::TYPE) {
        Some(Value::String(t)) => t,
        Some(_) => return Err("`type` must be a string".to_string()),
        None => return Err("missing `type`".to_string()),
    };
    validate_type(&event_type).map_err(|e| e.to_string())?;
    let mut builder = Event::builder(event_type);
    if let Some(value) = map.remove(fields::SEVERITY) {
        builder = builder.severity(severity(&value)?);
    }
    if let Some(value) = map.remove(fields::TIMESTAMP) {
        let ts = timestamp(&value)
            .ok_or("`ts` must be an RFC 3339 date-time (or seconds since the epoch)")?;
        builder = builder.timestamp(ts);
    }
    if let Some(tenant) = string_field(&mut map, fields::TENANT)? {
        builder = builder.tenant(tenant);
    }
    if let Some(logger) = string_field(&mut map, fields::LOGGER)? {
        builder = builder.logger(logger);
    }
    if let Some(hostname) = string_field(&mut map, fields::HOSTNAME)? {
        builder = builder.hostname(hostname);
    }
    if let Some(value) = map.remove(fields::PID) {
        builder = builder.pid(value.as_i64().ok_or("`pid` must be an integer")?);
    }
    let body = to_document(map)?;
    Ok(builder.fields(body).build())
}

fn string_field(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

fn severity(value: &Value) -> Result<Severity, String> {
    let parsed = match value {
        Value::Number(n) => n.as_i64().and_then(Severity::from_code),
        Value::String(s) => s.parse::<Severity>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        format!("`severity` must be 0-7 or a syslog severity name (emerg ... debug), got {value}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_arrays_and_ndjson() {
        let (events, errors) = parse_body(
            br#"{"type":"a.b","severity":"warning","x":1}"#,
            Layout::Sniff,
        );
        assert!(errors.is_empty());
        assert_eq!(events[0].severity(), Severity::Warning);
        assert_eq!(events[0].body().get_i32("x").ok(), Some(1));

        let (events, errors) = parse_body(
            br#"[{"type":"a"},{"type":"bad type"},{"nope":1}]"#,
            Layout::Json,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(
            errors.iter().map(|e| e.index).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );

        let body = b"{\"type\":\"a\",\"ts\":\"2026-03-01T09:00:00Z\",\"tenant\":\"t1\"}\n\n{oops\n";
        let (events, errors) = parse_body(body, Layout::Sniff);
        assert_eq!(events[0].tenant(), Some("t1"));
        assert_eq!(errors[0].index, Some(1));
        assert!(
            errors[0].error.starts_with("invalid JSON"),
            "{}",
            errors[0].error
        );
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(parse_body(b"", Layout::Sniff).1[0].index, None);
        assert_eq!(parse_body(b"[1", Layout::Json).1[0].index, None);
        assert_eq!(
            parse_body(b"\xff", Layout::Ndjson).1[0].error,
            "the body is not UTF-8"
        );
        let (_, errors) = parse_body(br#"{"type":"a","severity":9}"#, Layout::Json);
        assert!(errors[0].error.contains("severity"));
    }
}
