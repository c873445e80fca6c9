//! Postfix mail logs (the syslog lines postfix writes to `maillog`).
//!
//! Line shape: `Mmm dd hh:mm:ss HOST postfix/PROCESS[PID]: [QUEUEID: ]TEXT`,
//! with an optional `<PRI>` in front and an RFC 3339 timestamp accepted in place
//! of the BSD one (year: see [`YearPolicy`]). The tag must be
//! `<syslog_name>/<process>` with a syslog name starting with `postfix`
//! (`postfix/smtp`, `postfix-out/smtpd`, `postfix/submission/smtpd`); other
//! lines are rejected.
//!
//! Event type: `postfix.<process>` (`postfix.smtp`, `postfix.lmtp`,
//! `postfix.qmgr`, `postfix.smtpd`, `postfix.cleanup`, ...). Envelope: `ts`,
//! `hostname`, `logger` (the whole tag, e.g. `postfix/smtp`), `pid`;
//! `severity` warning/error/critical/emergency for `warning:`/`error:`/`fatal:`/`panic:`
//! texts, else informational.
//!
//! | body field | when | BSON type |
//! |---|---|---|
//! | `process` | always: the tag's last component (`smtp`) | string |
//! | `syslog_name` | always: the tag before it (`postfix`) | string |
//! | `queue_id` | the text starts with a queue id (absent for `NOQUEUE`) | string |
//! | `message` | always: the text after the queue id | string |
//! | `action` | `removed`, `expired`, `connect`, `disconnect`, `lost_connection`, `timeout`, and for `reject:`/`warning:`/`hold:`/`discard:`/... the keyword | string |
//! | `client` | `connect from C`, `disconnect from C`, `reject: CMD from C: ...` | string |
//! | `command`, `reply_code`, `reply_dsn`, `reason` | `reject: RCPT from C: 554 5.7.1 <x>: reason; ...` | string, int64, string, string |
//! | any `key=value` | `to`, `orig_to`, `from`, `relay`, `delay`, `delays`, `dsn`, `status`, `size`, `nrcpt`, `client`, `message_id` (from `message-id`), `proto`, `helo`, ... (`<...>` stripped; `-` in keys becomes `_`) | `delay` double; `size`, `nrcpt`, `conn_use` and other all-digit values int64; else string |
//! | `detail` | the parenthesised text after the last value: `status=sent (250 Ok)`, `nrcpt=3 (queue active)` | string |

use bson::{Bson, Document};
use eventstorm_core::{Event, Severity};

use super::Parser;
use super::error::ParseError;
use super::syslog::{YearPolicy, parse_pri};
use super::syslog3164::bsd_header;

/// Parses postfix log lines.
///
/// ```
/// use eventstorm_source::parse::{Parser, PostfixParser, YearPolicy};
/// let line = "Mar  1 09:00:28 mx1 postfix/qmgr[35451]: 0BBE4229CF: from=<a@example.org>, size=1051617, nrcpt=3 (queue active)";
/// let event = PostfixParser::new(YearPolicy::Fixed(2026)).parse(line).unwrap();
/// assert_eq!(event.event_type(), "postfix.qmgr");
/// assert_eq!(event.body().get_str("from").unwrap(), "a@example.org");
/// assert_eq!(event.body().get_i64("size").unwrap(), 1_051_617);
/// assert_eq!(event.body().get_str("detail").unwrap(), "queue active");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PostfixParser {
    year: YearPolicy,
}

impl PostfixParser {
    /// A parser that dates year-less timestamps by `year`.
    pub fn new(year: YearPolicy) -> Self {
        PostfixParser { year }
    }
}

/// Whether `token` looks like a postfix queue id: short (uppercase hex) or long
/// (no vowels, with a digit) form, at least 5 alphanumerics.
fn is_queue_id(token: &str) -> bool {
    token.len() >= 5
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
        && (token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
            || (token.bytes().any(|b| b.is_ascii_digit())
                && !token.bytes().any(|b| b"aeiouAEIOU".contains(&b))))
}

fn field_value(key: &str, value: &str) -> Bson {
    let value = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value);
    if key == "delay"
        && let Ok(d) = value.parse::<f64>()
    {
        return Bson::Double(d);
    }
    if !value.is_empty()
        && value.len() <= 18
        && value.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = value.parse::<i64>()
    {
        return Bson::Int64(n);
    }
    Bson::String(value.to_string())
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The key of `key=` at the start of `text`.
fn key_at(text: &str) -> Option<&str> {
    let len = text.bytes().take_while(|&b| is_key_byte(b)).count();
    (len > 0 && text.as_bytes().get(len) == Some(&b'=')).then(|| &text[..len])
}

/// Parses `k=v, k=v (detail)` (or space-separated with `sep` = " ") into `body`.
/// Returns false, storing nothing, when `text` does not start with `key=`.
fn key_values(text: &str, sep: &str, body: &mut Document) -> bool {
    if key_at(text).is_none() {
        return false;
    }
    let mut rest = text;
    while let Some(key) = key_at(rest) {
        let after = &rest[key.len() + 1..];
        let end = if after.starts_with('<') {
            after.find('>').map_or(after.len(), |e| e + 1)
        } else {
            let stop = after.find(sep).unwrap_or(after.len());
            after.find(" (").map_or(stop, |p| p.min(stop))
        };
        let name = key.replace('-', "_");
        body.insert(name.as_str(), field_value(&name, &after[..end]));
        rest = &after[end..];
        match rest.strip_prefix(sep) {
            Some(next) if key_at(next).is_some() => rest = next,
            _ => break,
        }
    }
    let rest = rest.trim_start();
    if let Some(detail) = rest.strip_prefix('(') {
        body.insert("detail", detail.strip_suffix(')').unwrap_or(detail));
    }
    true
}

/// `CMD from CLIENT: CODE DSN text; k=v k=v` after `reject: ` and similar.
fn reject(text: &str, body: &mut Document) {
    let Some((command, rest)) = text.split_once(" from ") else {
        return;
    };
    body.insert("command", command);
    let (client, reply) = rest.split_once(": ").unwrap_or((rest, ""));
    body.insert("client", client);
    let (reply, pairs) = match reply.rfind("; ") {
        Some(p) if key_at(&reply[p + 2..]).is_some() => (&reply[..p], &reply[p + 2..]),
        _ => (reply, ""),
    };
    let mut words = reply.splitn(3, ' ');
    let mut reason = reply;
    if let Some(code) = words
        .clone()
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<i64>().ok())
    {
        words.next();
        body.insert("reply_code", code);
        reason = reply.get(4..).unwrap_or("");
        if let Some(dsn) = words.next().filter(|d| {
            d.split('.').count() == 3 && d.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        }) {
            body.insert("reply_dsn", dsn);
            reason = words.next().unwrap_or("");
        }
    }
    body.insert("reason", reason);
    key_values(pairs, " ", body);
}

/// Fills `body` from the text after the queue id. Returns the severity.
fn message(text: &str, body: &mut Document) -> Severity {
    const KEYWORDS: [(&str, Severity); 10] = [
        ("reject", Severity::Informational),
        ("milter-reject", Severity::Informational),
        ("reject_warning", Severity::Informational),
        ("hold", Severity::Informational),
        ("discard", Severity::Informational),
        ("filter", Severity::Informational),
        ("redirect", Severity::Informational),
        ("warning", Severity::Warning),
        ("error", Severity::Error),
        ("fatal", Severity::Critical),
    ];
    if let Some(rest) = text.strip_prefix("panic: ") {
        body.insert("action", "panic");
        body.insert("reason", rest);
        return Severity::Emergency;
    }
    for (keyword, severity) in KEYWORDS {
        if let Some(rest) = text
            .strip_prefix(keyword)
            .and_then(|r| r.strip_prefix(": "))
        {
            body.insert("action", keyword.replace('-', "_"));
            if severity == Severity::Informational {
                reject(rest, body);
            } else if !key_values(rest, ", ", body) {
                body.insert("reason", rest);
            }
            return severity;
        }
    }
    for (prefix, action) in [
        ("connect from ", "connect"),
        ("disconnect from ", "disconnect"),
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            body.insert("action", action);
            let (client, stats) = rest.split_once(' ').unwrap_or((rest, ""));
            body.insert("client", client);
            key_values(stats, " ", body);
            return Severity::Informational;
        }
    }
    for (prefix, action) in [
        ("lost connection after ", "lost_connection"),
        ("timeout after ", "timeout"),
    ] {
        if let Some((command, client)) = text
            .strip_prefix(prefix)
            .and_then(|r| r.split_once(" from "))
        {
            body.insert("action", action);
            body.insert("command", command);
            body.insert("client", client);
            return Severity::Informational;
        }
    }
    match text {
        "removed" => {
            body.insert("action", "removed");
        }
        t if t.starts_with("expired") => {
            body.insert("action", "expired");
        }
        t => {
            key_values(t, ", ", body);
        }
    }
    Severity::Informational
}

impl Parser for PostfixParser {
    fn name(&self) -> &str {
        "postfix"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut pos = 0;
        if line.starts_with('<') {
            parse_pri(line, &mut pos)?;
        }
        let header = bsd_header(line, pos, self.year)?;
        let tag_at = line.len() - line[pos..].trim_start().len();
        let tag = header.tag.ok_or_else(|| {
            ParseError::expected(line, header.msg_start, "a 'postfix/<process>[pid]:' tag")
        })?;
        let (syslog_name, process) = match tag.rsplit_once('/') {
            Some((name, process)) if name.starts_with("postfix") && !process.is_empty() => {
                (name, process)
            }
            _ => {
                let at = line.find(tag).unwrap_or(tag_at);
                return Err(ParseError::invalid(
                    line,
                    at,
                    format!("tag {tag:?} is not a postfix tag: expected 'postfix/<process>'"),
                ));
            }
        };
        let event_type = format!("postfix.{process}");
        if let Err(e) = eventstorm_core::event::validate_type(&event_type) {
            return Err(ParseError::invalid(line, line.find(tag).unwrap_or(0), e));
        }
        let mut text = &line[header.msg_start..];
        let mut body = Document::new();
        body.insert("process", process);
        body.insert("syslog_name", syslog_name);
        if let Some((id, rest)) = text.split_once(": ") {
            if id == "NOQUEUE" {
                text = rest;
            } else if is_queue_id(id) {
                body.insert("queue_id", id);
                text = rest;
            }
        }
        body.insert("message", text);
        let severity = message(text, &mut body);
        let mut builder = Event::builder(event_type)
            .severity(severity)
            .timestamp(header.ts)
            .logger(tag);
        if let Some(hostname) = header.hostname {
            builder = builder.hostname(hostname);
        }
        if let Some(pid) = header.procid.and_then(|p| p.parse::<i64>().ok()) {
            builder = builder.pid(pid);
        }
        Ok(builder.fields(body).build())
    }
}
