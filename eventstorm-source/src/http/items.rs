//! `POST /v1/events` bodies to events: a JSON object, a JSON array of
//! objects, or NDJSON (one object per line), by Content-Type or, without one,
//! by sniffing.

use eventstorm_core::event::{fields, validate_type};
use eventstorm_core::{Event, RawEvent, Severity};
use serde_json::{Map, Value};

use super::scan::scan;
use crate::parse::event_time::event_time_of_json;
use crate::parse::json::to_document;

/// One bad item: its 0-based index among the items (blank NDJSON lines do
/// not count), or none when the whole body is bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemError {
    pub(crate) index: Option<usize>,
    pub(crate) error: String,
}

/// The events of a body and the errors of its bad items.
pub(crate) type Parsed = (Vec<(usize, Event)>, Vec<ItemError>);

/// The events of a body, encoded and let through, and the errors of its
/// bad (or refused) items.
pub(crate) type Written = (Vec<RawEvent>, Vec<ItemError>);

/// Lets an event of a type (claiming a tenant) through, with the tenant to
/// stamp on it, or says why not.
pub(crate) type Admit<'a> = &'a mut dyn FnMut(&str, Option<&str>) -> Result<Option<String>, String>;

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

/// The JSON items of a body, each as a value or its error, after the depth
/// and integer checks: what every JSON route starts from.
pub(crate) fn json_items(
    text: &str,
    layout: Layout,
    max_depth: usize,
) -> Result<Vec<Result<Value, String>>, String> {
    let layout = match layout {
        Layout::Sniff => sniff(text, max_depth),
        other => other,
    };
    let mut items = Vec::new();
    match layout {
        Layout::Ndjson | Layout::Sniff => {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let item = match scan(line, max_depth) {
                    Err(e) => Err(e),
                    Ok(bad) if !bad.is_empty() => Err(bad[0].1.clone()),
                    Ok(_) => serde_json::from_str::<Value>(line)
                        .map_err(|e| format!("invalid JSON: {e}")),
                };
                items.push(item);
            }
        }
        Layout::Json => {
            let bad = scan(text, max_depth)?;
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(values)) => items.extend(values.into_iter().map(Ok)),
                Ok(value) => items.push(Ok(value)),
                Err(e) => return Err(format!("invalid JSON: {e}")),
            }
            for (index, error) in bad {
                if let Some(item) = items.get_mut(index) {
                    *item = Err(error);
                }
            }
        }
    }
    if items.is_empty() {
        return Err("no events in the body".to_string());
    }
    Ok(items)
}

/// The events of a `POST /v1/events` body.
pub(crate) fn parse_body(body: &[u8], layout: Layout, max_depth: usize) -> Parsed {
    let Ok(text) = std::str::from_utf8(body) else {
        return whole(
            "the body is not UTF-8 (a compressed body needs Content-Encoding: gzip)".to_string(),
        );
    };
    let items = match json_items(text, layout, max_depth) {
        Ok(items) => items,
        Err(error) => return whole(error),
    };
    if layout == Layout::Json
        && items.len() == 1
        && !matches!(items[0], Ok(Value::Object(_)) | Err(_))
    {
        return whole("expected a JSON object or an array of objects".to_string());
    }
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match item.and_then(to_event) {
            Ok(event) => events.push((index, event)),
            Err(error) => errors.push(ItemError {
                index: Some(index),
                error,
            }),
        }
    }
    (events, errors)
}

/// A whole-body error.
pub(crate) fn whole(error: String) -> Parsed {
    (Vec::new(), vec![ItemError { index: None, error }])
}

/// A body that parses as one JSON value is JSON; anything else is NDJSON.
fn sniff(text: &str, max_depth: usize) -> Layout {
    if scan(text, max_depth).is_ok() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    {
        Layout::Json
    } else {
        Layout::Ndjson
    }
}

/// One item: an object with `type`, optional envelope fields, the rest body
/// (in the order sent; a field named `body` is one of them, `body.body`).
fn to_event(item: Value) -> Result<Event, String> {
    let Value::Object(mut map) = item else {
        return Err("expected a JSON object".to_string());
    };
    let event_type = match map.shift_remove(fields::TYPE) {
        Some(Value::String(t)) => t,
        Some(_) => return Err("`type` must be a string".to_string()),
        None => return Err("missing `type`".to_string()),
    };
    validate_type(&event_type).map_err(|e| e.to_string())?;
    let mut builder = Event::builder(event_type);
    if let Some(value) = map.shift_remove(fields::SEVERITY) {
        builder = builder.severity(severity(&value)?);
    }
    if let Some(value) = map.shift_remove(fields::TIMESTAMP) {
        // The one rule of every JSON input (`parse::event_time`).
        let ts = event_time_of_json(&value).map_err(|m| format!("`ts`: {m}"))?;
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
    if let Some(value) = map.shift_remove(fields::PID) {
        builder = builder.pid(value.as_i64().ok_or("`pid` must be an integer")?);
    }
    let body = to_document(map)?;
    Ok(builder.fields(body).build())
}

fn string_field(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.shift_remove(key) {
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

    const DEPTH: usize = 64;

    #[test]
    fn objects_arrays_and_ndjson() {
        let (events, errors) = parse_body(
            br#"{"type":"a.b","severity":"warning","x":1}"#,
            Layout::Sniff,
            DEPTH,
        );
        assert!(errors.is_empty());
        assert_eq!(events[0].1.severity(), Severity::Warning);
        assert_eq!(events[0].1.body().get_i32("x").ok(), Some(1));

        let (events, errors) = parse_body(
            br#"[{"type":"a"},{"type":"bad type"},{"nope":1}]"#,
            Layout::Json,
            DEPTH,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(
            errors.iter().map(|e| e.index).collect::<Vec<_>>(),
            [Some(1), Some(2)]
        );

        let body = b"{\"type\":\"a\",\"ts\":\"2026-03-01T09:00:00Z\",\"tenant\":\"t1\"}\n\n{oops\n";
        let (events, errors) = parse_body(body, Layout::Sniff, DEPTH);
        assert_eq!(events[0].1.tenant(), Some("t1"));
        assert_eq!(errors[0].index, Some(1));
        assert!(
            errors[0].error.starts_with("invalid JSON"),
            "{}",
            errors[0].error
        );
    }

    #[test]
    fn body_keeps_the_order_sent() {
        let body = br#"{"z": 1, "type": "order.placed", "order_id": 42, "tenant": "t", "total": 99.5, "a": {"y": 1, "b": 2}}"#;
        let (events, errors) = parse_body(body, Layout::Json, DEPTH);
        assert!(errors.is_empty(), "{errors:?}");
        let keys: Vec<&str> = events[0].1.body().keys().map(String::as_str).collect();
        assert_eq!(keys, ["z", "order_id", "total", "a"]);
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(parse_body(b"", Layout::Sniff, DEPTH).1[0].index, None);
        assert_eq!(parse_body(b"[1", Layout::Json, DEPTH).1[0].index, None);
        assert!(
            parse_body(b"\xff", Layout::Ndjson, DEPTH).1[0]
                .error
                .starts_with("the body is not UTF-8")
        );
        let (_, errors) = parse_body(br#"{"type":"a","severity":9}"#, Layout::Json, DEPTH);
        assert!(errors[0].error.contains("severity"));
        let (events, errors) = parse_body(
            br#"[{"type":"a","n":123456789012345678901},{"type":"b"}]"#,
            Layout::Json,
            DEPTH,
        );
        assert_eq!((events.len(), errors[0].index), (1, Some(0)));
        assert!(errors[0].error.contains("64 bits"), "{}", errors[0].error);
    }
}
