//! RFC 5424 syslog:
//! `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]`.
//!
//! Event type `syslog.<facility>` (see [`super::syslog`]). Envelope: `severity`
//! from the PRI; `ts` from TIMESTAMP converted to UTC (fractions truncated to
//! milliseconds; the parse time when TIMESTAMP is `-`); `hostname` from HOSTNAME;
//! `logger` from APP-NAME; `pid` from PROCID when it is a number.
//!
//! | body field | from | BSON type |
//! |---|---|---|
//! | `facility` | PRI / 8 | int32 |
//! | `version` | VERSION | int32 |
//! | `app_name` | APP-NAME | string |
//! | `procid` | PROCID | string |
//! | `msgid` | MSGID | string |
//! | `structured_data` | STRUCTURED-DATA: `{sd_id: {param: value}}`, escapes `\"` `\\` `\]` undone; a repeated param becomes an array | document |
//! | `message` | MSG, a leading UTF-8 BOM removed | string |
//!
//! A `-` (nil) value omits the field (and its envelope counterpart).

use bson::{Bson, Document};
use eventstorm_core::Event;

use super::Parser;
use super::error::ParseError;
use super::syslog::parse_pri;
use super::time::rfc3339;

/// Parses RFC 5424 syslog lines.
///
/// ```
/// use eventstorm_source::parse::{Parser, Syslog5424Parser};
/// let line = r#"<165>1 2026-03-01T10:00:00.5+01:00 web1 app 42 ID7 [x@1 a="q\"uote"] hi"#;
/// let event = Syslog5424Parser.parse(line).unwrap();
/// assert_eq!(event.event_type(), "syslog.local4");
/// assert_eq!(event.pid(), Some(42));
/// assert_eq!(event.get("body.structured_data.x@1.a").unwrap().as_str(), Some("q\"uote"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Syslog5424Parser;

/// Whether `b` may appear in a header field (PRINTUSASCII).
fn is_print(b: u8) -> bool {
    (33..=126).contains(&b)
}

/// Reads a header field (1+ printable ASCII characters) and the space after
/// it; `None` for the nil value `-`.
fn header_field<'a>(
    line: &'a str,
    pos: &mut usize,
    what: &str,
) -> Result<Option<&'a str>, ParseError> {
    let bytes = line.as_bytes();
    let start = *pos;
    while bytes.get(*pos).is_some_and(|&b| is_print(b)) {
        *pos += 1;
    }
    if *pos == start {
        return Err(ParseError::expected(
            line,
            *pos,
            format!("the {what} (or '-')"),
        ));
    }
    let value = &line[start..*pos];
    if bytes.get(*pos) != Some(&b' ') {
        return Err(ParseError::expected(
            line,
            *pos,
            format!("' ' after the {what}"),
        ));
    }
    *pos += 1;
    Ok((value != "-").then_some(value))
}

/// Reads an SD-NAME (SD-ID or PARAM-NAME): 1-32 printable ASCII except `= ] "` and space.
fn sd_name<'a>(line: &'a str, pos: &mut usize, what: &str) -> Result<&'a str, ParseError> {
    let bytes = line.as_bytes();
    let start = *pos;
    while bytes
        .get(*pos)
        .is_some_and(|&b| is_print(b) && !matches!(b, b'=' | b']' | b'"'))
    {
        *pos += 1;
    }
    if *pos == start {
        return Err(ParseError::expected(line, *pos, format!("a {what}")));
    }
    Ok(&line[start..*pos])
}

/// Reads a PARAM-VALUE after its opening quote, through the closing quote.
fn param_value(line: &str, pos: &mut usize) -> Result<String, ParseError> {
    let bytes = line.as_bytes();
    let mut value = String::new();
    let mut chunk = *pos;
    loop {
        match bytes.get(*pos) {
            None => {
                return Err(ParseError::expected(
                    line,
                    *pos,
                    "'\"' closing the PARAM-VALUE",
                ));
            }
            Some(b'"') => {
                value.push_str(&line[chunk..*pos]);
                *pos += 1;
                return Ok(value);
            }
            Some(b'\\') if matches!(bytes.get(*pos + 1), Some(b'"' | b'\\' | b']')) => {
                value.push_str(&line[chunk..*pos]);
                chunk = *pos + 1;
                *pos += 2;
            }
            Some(_) => *pos += 1,
        }
    }
}

/// Parses STRUCTURED-DATA (not nil) at `*pos`.
fn structured_data(line: &str, pos: &mut usize) -> Result<Document, ParseError> {
    let bytes = line.as_bytes();
    let mut sd = Document::new();
    while bytes.get(*pos) == Some(&b'[') {
        *pos += 1;
        let id = sd_name(line, pos, "SD-ID")?.to_string();
        let mut params = match sd.remove(&id) {
            Some(Bson::Document(params)) => params,
            _ => Document::new(),
        };
        loop {
            match bytes.get(*pos) {
                Some(b']') => {
                    *pos += 1;
                    break;
                }
                Some(b' ') => *pos += 1,
                _ => {
                    return Err(ParseError::expected(
                        line,
                        *pos,
                        "' ' or ']' in an SD-ELEMENT",
                    ));
                }
            }
            let name = sd_name(line, pos, "PARAM-NAME")?;
            if bytes.get(*pos) != Some(&b'=') {
                return Err(ParseError::expected(line, *pos, "'=' after the PARAM-NAME"));
            }
            if bytes.get(*pos + 1) != Some(&b'"') {
                return Err(ParseError::expected(
                    line,
                    *pos + 1,
                    "'\"' opening the PARAM-VALUE",
                ));
            }
            *pos += 2;
            let value = param_value(line, pos)?;
            match params.get_mut(name) {
                Some(Bson::Array(values)) => values.push(value.into()),
                Some(existing) => {
                    let first = std::mem::replace(existing, Bson::Null);
                    *existing = Bson::Array(vec![first, value.into()]);
                }
                None => {
                    params.insert(name, value);
                }
            }
        }
        sd.insert(id, params);
    }
    Ok(sd)
}

impl Parser for Syslog5424Parser {
    fn name(&self) -> &str {
        "syslog5424"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let bytes = line.as_bytes();
        let mut pos = 0;
        let pri = parse_pri(line, &mut pos)?;
        let version_start = pos;
        let mut version = 0i32;
        while let Some(b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
            if pos - version_start == 3 {
                return Err(ParseError::expected(
                    line,
                    pos,
                    "' ' after the VERSION (1-3 digits)",
                ));
            }
            version = version * 10 + i32::from(b - b'0');
            pos += 1;
        }
        if pos == version_start || version == 0 {
            return Err(ParseError::expected(
                line,
                version_start,
                "the VERSION (a number 1-999)",
            ));
        }
        if bytes.get(pos) != Some(&b' ') {
            return Err(ParseError::expected(line, pos, "' ' after the VERSION"));
        }
        pos += 1;
        let ts = if bytes.get(pos) == Some(&b'-') {
            pos += 1;
            None
        } else {
            Some(rfc3339(line, &mut pos, false, false)?)
        };
        if bytes.get(pos) != Some(&b' ') {
            return Err(ParseError::expected(line, pos, "' ' after the TIMESTAMP"));
        }
        pos += 1;
        let hostname = header_field(line, &mut pos, "HOSTNAME")?;
        let app_name = header_field(line, &mut pos, "APP-NAME")?;
        let procid = header_field(line, &mut pos, "PROCID")?;
        let msgid = header_field(line, &mut pos, "MSGID")?;
        let sd = match bytes.get(pos) {
            Some(b'-') => {
                pos += 1;
                None
            }
            Some(b'[') => Some(structured_data(line, &mut pos)?),
            _ => {
                return Err(ParseError::expected(
                    line,
                    pos,
                    "'[' or '-' starting the STRUCTURED-DATA",
                ));
            }
        };
        let message = match bytes.get(pos) {
            None => None,
            Some(b' ') => {
                let msg = &line[pos + 1..];
                Some(msg.strip_prefix('\u{feff}').unwrap_or(msg))
            }
            Some(_) => {
                return Err(ParseError::expected(
                    line,
                    pos,
                    "' ' before the MSG, or end of line",
                ));
            }
        };

        let mut builder = Event::builder(pri.event_type()).severity(pri.severity);
        if let Some(ts) = ts {
            builder = builder.timestamp(ts);
        }
        if let Some(hostname) = hostname {
            builder = builder.hostname(hostname);
        }
        if let Some(app_name) = app_name {
            builder = builder.logger(app_name);
        }
        if let Some(pid) = procid.and_then(|p| p.parse::<i64>().ok()) {
            builder = builder.pid(pid);
        }
        let mut body = Document::new();
        body.insert("facility", i32::from(pri.facility));
        body.insert("version", version);
        if let Some(app_name) = app_name {
            body.insert("app_name", app_name);
        }
        if let Some(procid) = procid {
            body.insert("procid", procid);
        }
        if let Some(msgid) = msgid {
            body.insert("msgid", msgid);
        }
        if let Some(sd) = sd {
            body.insert("structured_data", sd);
        }
        if let Some(message) = message {
            body.insert("message", message);
        }
        Ok(builder.fields(body).build())
    }
}
