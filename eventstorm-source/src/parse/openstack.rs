//! OpenStack notifications (nova, cinder, ... via oslo.messaging).
//!
//! A line is either a bare notification
//! `{"event_type", "payload", "timestamp", "message_id", "publisher_id", "priority", "_context_*"...}`
//! or the same wrapped in the oslo.messaging 2.0 envelope
//! `{"oslo.version": "2.0", "oslo.message": "<the notification as a JSON string>"}`.
//!
//! Event type: `event_type` (required; must be a valid event type). Envelope:
//!
//! | envelope | from |
//! |---|---|
//! | `ts` | `timestamp` (`2026-01-02 03:04:05.123456`, taken as UTC, or RFC 3339, or a number: the event-time rule of `docs/sources.md`); the parse time when absent |
//! | `severity` | `priority`: DEBUG 7, INFO/SAMPLE 6, AUDIT 5, WARN/WARNING 4, ERROR 3, CRITICAL 2 (default 6) |
//! | `tenant` | the payload's `tenant_id` or `project_id`, else `_context_tenant`, `_context_project_id` |
//! | `logger` | `publisher_id` (`compute.host-1`) |
//! | `hostname` | `publisher_id` after its first `.` (`host-1`) |
//!
//! Body: every payload field (converted like [`super::json`]), plus these when
//! the payload does not already have a field of that name:
//!
//! | body field | from | BSON type |
//! |---|---|---|
//! | `message_id` | `message_id` | string |
//! | `publisher_id` | `publisher_id` | string |
//! | `priority` | `priority` | string |
//! | `resource_id` | the payload's `instance_id`, `volume_id`, `snapshot_id`, `image_id`, `network_id`, `port_id` or `resource_id` (first present) | string |
//! | `user_id` | `_context_user_id` | string |
//! | `request_id` | `_context_request_id` | string |
//!
//! A payload that is not an object is kept whole as `payload`. Other context
//! fields (auth tokens, service catalogs) are dropped. A notification with
//! neither a `payload` (absent or null) nor a `message_id` is rejected: it
//! would be an event with nothing in it.

use bson::Document;
use eventstorm_core::{Event, Severity};
use serde_json::{Map, Value};

use super::Parser;
use super::error::ParseError;
use super::event_time::event_time_of_json;
use super::json::{conversion_error, key_offset, parse_object, to_bson, to_document};

/// Parses OpenStack notifications.
///
/// ```
/// use eventstorm_source::parse::{OpenStackParser, Parser};
/// let line = r#"{"event_type": "volume.create.end", "priority": "WARN",
///   "timestamp": "2026-03-01 09:16:18.250000", "message_id": "m-1",
///   "payload": {"volume_id": "v-1", "tenant_id": "t-1", "size": 50}}"#;
/// let event = OpenStackParser.parse(line).unwrap();
/// assert_eq!(event.event_type(), "volume.create.end");
/// assert_eq!(event.tenant(), Some("t-1"));
/// assert_eq!(event.severity().code(), 4);
/// assert_eq!(event.body().get_str("message_id").unwrap(), "m-1");
/// assert_eq!(event.body().get_str("resource_id").unwrap(), "v-1");
/// assert_eq!(event.timestamp().try_to_rfc3339_string().unwrap(), "2026-03-01T09:16:18.25Z");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenStackParser;

const RESOURCE_KEYS: [&str; 7] = [
    "instance_id",
    "volume_id",
    "snapshot_id",
    "image_id",
    "network_id",
    "port_id",
    "resource_id",
];

fn severity(priority: &str) -> Severity {
    match priority.to_ascii_uppercase().as_str() {
        "DEBUG" => Severity::Debug,
        "AUDIT" => Severity::Notice,
        "WARN" | "WARNING" => Severity::Warning,
        "ERROR" => Severity::Error,
        "CRITICAL" => Severity::Critical,
        _ => Severity::Informational,
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Parser for OpenStackParser {
    fn name(&self) -> &str {
        "openstack"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        let outer = parse_object(line)?;
        let mut map = match outer.get("oslo.message") {
            Some(Value::String(inner)) => match serde_json::from_str::<Value>(inner) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(ParseError::invalid(
                        line,
                        key_offset(line, "oslo.message"),
                        "oslo.message: expected a JSON object in the string",
                    ));
                }
                Err(e) => {
                    return Err(ParseError::invalid(
                        line,
                        key_offset(line, "oslo.message"),
                        format!("oslo.message is not valid JSON: {e}"),
                    ));
                }
            },
            Some(_) => {
                return Err(ParseError::invalid(
                    line,
                    key_offset(line, "oslo.message"),
                    "oslo.message: expected a string holding the notification's JSON",
                ));
            }
            None => outer,
        };
        let event_type = match map.get("event_type") {
            Some(Value::String(t)) => t.clone(),
            _ => {
                return Err(ParseError::invalid(
                    line,
                    key_offset(line, "event_type"),
                    "expected the notification's \"event_type\" string",
                ));
            }
        };
        if let Err(e) = eventstorm_core::event::validate_type(&event_type) {
            return Err(ParseError::invalid(line, key_offset(line, "event_type"), e));
        }
        let has_payload = !matches!(map.get("payload"), None | Some(Value::Null));
        if !has_payload && string(&map, "message_id").is_none() {
            return Err(ParseError::invalid(
                line,
                0,
                "expected a \"payload\" or a \"message_id\": a notification with neither carries nothing",
            ));
        }
        let mut builder = Event::builder(event_type);
        if let Some(value) = map.get("timestamp") {
            let ts = event_time_of_json(value).map_err(|m| {
                ParseError::invalid(
                    line,
                    key_offset(line, "timestamp"),
                    format!("timestamp: {m} ('YYYY-MM-DD hh:mm:ss[.ffffff]' is read as UTC)"),
                )
            })?;
            builder = builder.timestamp(ts);
        }
        if let Some(priority) = string(&map, "priority") {
            builder = builder.severity(severity(priority));
        }
        if let Some(publisher) = string(&map, "publisher_id") {
            builder = builder.logger(publisher);
            if let Some((_, host)) = publisher.split_once('.').filter(|(_, h)| !h.is_empty()) {
                builder = builder.hostname(host);
            }
        }
        let mut body = Document::new();
        let payload = map.remove("payload").unwrap_or(Value::Null);
        let tenant = match &payload {
            Value::Object(p) => string(p, "tenant_id").or_else(|| string(p, "project_id")),
            _ => None,
        }
        .or_else(|| string(&map, "_context_tenant"))
        .or_else(|| string(&map, "_context_project_id"))
        .map(str::to_string);
        if let Some(tenant) = tenant {
            builder = builder.tenant(tenant);
        }
        match payload {
            Value::Object(p) => {
                let resource = RESOURCE_KEYS
                    .iter()
                    .find_map(|k| string(&p, k))
                    .map(str::to_string);
                body = to_document(p).map_err(|m| conversion_error(line, m))?;
                if let Some(resource) = resource
                    && !body.contains_key("resource_id")
                {
                    body.insert("resource_id", resource);
                }
            }
            Value::Null => {}
            other => {
                body.insert(
                    "payload",
                    to_bson(other).map_err(|m| conversion_error(line, m))?,
                );
            }
        }
        for (from, to) in [
            ("message_id", "message_id"),
            ("publisher_id", "publisher_id"),
            ("priority", "priority"),
            ("_context_user_id", "user_id"),
            ("_context_request_id", "request_id"),
        ] {
            if let Some(value) = string(&map, from)
                && !body.contains_key(to)
            {
                body.insert(to, value);
            }
        }
        Ok(builder.fields(body).build())
    }
}
