//! `POST /v1/events/{parser}` bodies: each item goes through one of the file
//! parsers ([`crate::parse`]), exactly as a line of a tailed file would.
//!
//! For the JSON parsers (`json`, `openstack`) the body is one JSON value (an
//! object: one item; an array: one item per element, so a pretty-printed
//! notification works) or NDJSON. An oslo.messaging 2.0 envelope's
//! `oslo.message` string is held to the same depth and integer checks as the
//! body. For the line parsers (`nginx`, `syslog`, ...) each non-blank line is
//! an item.

use eventstorm_core::event::{BodyWriter, finish_event};
use serde_json::Value;

use super::items::{Admit, ItemError, Layout, Written, json_items};
use super::scan::scan;
use crate::parse::Parser;

/// The parsers whose items are JSON.
const JSON_PARSERS: [&str; 2] = ["json", "openstack"];

/// The events of a body parsed with `parser` (straight into their bytes,
/// see [`Parser::parse_into`]), each let through by `admit`.
pub(crate) fn parse_with(
    parser: &dyn Parser,
    body: &[u8],
    layout: Layout,
    max_depth: usize,
    admit: Admit<'_>,
) -> Written {
    let whole = |error| (Vec::new(), super::items::whole(error).1);
    let Ok(text) = std::str::from_utf8(body) else {
        return whole(
            "the body is not UTF-8 (a compressed body needs Content-Encoding: gzip)".to_string(),
        );
    };
    let lines: Vec<Result<String, String>> = if JSON_PARSERS.contains(&parser.name()) {
        match json_items(text, layout, max_depth) {
            Ok(items) => items
                .into_iter()
                .map(|item| item.and_then(|value| json_line(&value, max_depth)))
                .collect(),
            Err(error) => return whole(error),
        }
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Ok(l.to_string()))
            .collect()
    };
    if lines.is_empty() {
        return whole("no events in the body".to_string());
    }
    let mut events = Vec::with_capacity(lines.len());
    let mut errors = Vec::new();
    let mut writer = BodyWriter::new();
    for (index, line) in lines.into_iter().enumerate() {
        let written = line.and_then(|line| {
            let mut head = parser
                .parse_into(&line, &mut writer)
                .map_err(|e| e.to_string())?;
            if let Some(tenant) = admit(&head.event_type, head.tenant.as_deref())? {
                head.tenant = Some(tenant.into());
            }
            finish_event(&head, &mut writer).map_err(|e| format!("cannot encode the event: {e}"))
        });
        match written {
            Ok(event) => events.push(event),
            Err(error) => errors.push(ItemError {
                index: Some(index),
                error,
            }),
        }
    }
    (events, errors)
}

/// One JSON item as the single line a JSON parser takes (field order kept),
/// after checking an oslo envelope's inner message.
fn json_line(value: &Value, max_depth: usize) -> Result<String, String> {
    if let Some(Value::String(inner)) = value.get("oslo.message") {
        let bad = scan(inner, max_depth).map_err(|e| format!("`oslo.message`: {e}"))?;
        if let Some((_, error)) = bad.into_iter().next() {
            return Err(format!("`oslo.message`: {error}"));
        }
    }
    serde_json::to_string(value).map_err(|e| format!("cannot re-encode the item: {e}"))
}
