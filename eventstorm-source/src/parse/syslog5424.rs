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

use std::borrow::Cow;

use bson::{Bson, Document};
use eventstorm_core::Event;
use eventstorm_core::event::{BodyWriter, EventHead};

use super::error::ParseError;
use super::syslog::parse_pri;
use super::time::rfc3339;
use super::{Parser, parse_by_writing};

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

/// The most SD-ELEMENTs, and PARAMs per element, written without a
/// `Document` (more, or a repeated SD-ID or PARAM-NAME, take the slower path
/// that merges them).
const FAST_SD_IDS: usize = 8;
const FAST_SD_PARAMS: usize = 16;

/// Reads a PARAM-VALUE after its opening quote, through the closing quote,
/// without copying it: the value's span and whether it holds escapes.
fn param_value_span(line: &str, pos: &mut usize) -> Result<(usize, usize, bool), ParseError> {
    let bytes = line.as_bytes();
    let start = *pos;
    let mut escapes = false;
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
                *pos += 1;
                return Ok((start, *pos - 1, escapes));
            }
            Some(b'\\') if matches!(bytes.get(*pos + 1), Some(b'"' | b'\\' | b']')) => {
                escapes = true;
                *pos += 2;
            }
            Some(_) => *pos += 1,
        }
    }
}

/// Writes STRUCTURED-DATA (not nil) at `*pos` as the `structured_data`
/// document of `body`, straight from the line. Returns `false`, with
/// nothing written and `*pos` unchanged, when an SD-ID or a PARAM-NAME
/// repeats (or there are very many): [`structured_data`] merges those.
fn write_structured_data(
    line: &str,
    pos: &mut usize,
    body: &mut BodyWriter,
) -> Result<bool, ParseError> {
    let bytes = line.as_bytes();
    let mark = body.mark();
    let mut at = *pos;
    let mut ids = [""; FAST_SD_IDS];
    let mut n_ids = 0;
    body.open_document("structured_data");
    while bytes.get(at) == Some(&b'[') {
        at += 1;
        let id = sd_name(line, &mut at, "SD-ID")?;
        if n_ids == FAST_SD_IDS || ids[..n_ids].contains(&id) {
            body.rewind(mark);
            return Ok(false);
        }
        ids[n_ids] = id;
        n_ids += 1;
        body.open_document(id);
        let mut names = [""; FAST_SD_PARAMS];
        let mut n_names = 0;
        loop {
            match bytes.get(at) {
                Some(b']') => {
                    at += 1;
                    break;
                }
                Some(b' ') => at += 1,
                _ => {
                    return Err(ParseError::expected(
                        line,
                        at,
                        "' ' or ']' in an SD-ELEMENT",
                    ));
                }
            }
            let name = sd_name(line, &mut at, "PARAM-NAME")?;
            if bytes.get(at) != Some(&b'=') {
                return Err(ParseError::expected(line, at, "'=' after the PARAM-NAME"));
            }
            if bytes.get(at + 1) != Some(&b'"') {
                return Err(ParseError::expected(
                    line,
                    at + 1,
                    "'\"' opening the PARAM-VALUE",
                ));
            }
            at += 2;
            let value_at = at;
            let (start, end, escapes) = param_value_span(line, &mut at)?;
            if n_names == FAST_SD_PARAMS || names[..n_names].contains(&name) {
                body.rewind(mark);
                return Ok(false);
            }
            names[n_names] = name;
            n_names += 1;
            if escapes {
                let mut p = value_at;
                body.str(name, &param_value(line, &mut p)?);
            } else {
                body.str(name, &line[start..end]);
            }
        }
        body.close_document();
    }
    body.close_document();
    *pos = at;
    Ok(true)
}

impl Parser for Syslog5424Parser {
    fn name(&self) -> &str {
        "syslog5424"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        parse_by_writing(self, line)
    }

    fn parse_into<'a>(
        &'a self,
        line: &'a str,
        body: &mut BodyWriter,
    ) -> Result<EventHead<'a>, ParseError> {
        body.clear();
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
        body.i32("facility", i32::from(pri.facility));
        body.i32("version", version);
        if let Some(app_name) = app_name {
            body.str("app_name", app_name);
        }
        if let Some(procid) = procid {
            body.str("procid", procid);
        }
        if let Some(msgid) = msgid {
            body.str("msgid", msgid);
        }
        match bytes.get(pos) {
            Some(b'-') => pos += 1,
            Some(b'[') => {
                if !write_structured_data(line, &mut pos, body)? {
                    let sd = structured_data(line, &mut pos)?;
                    body.value("structured_data", &Bson::Document(sd));
                }
            }
            _ => {
                return Err(ParseError::expected(
                    line,
                    pos,
                    "'[' or '-' starting the STRUCTURED-DATA",
                ));
            }
        }
        match bytes.get(pos) {
            None => {}
            Some(b' ') => {
                let msg = &line[pos + 1..];
                body.str("message", msg.strip_prefix('\u{feff}').unwrap_or(msg));
            }
            Some(_) => {
                return Err(ParseError::expected(
                    line,
                    pos,
                    "' ' before the MSG, or end of line",
                ));
            }
        }
        let mut head = EventHead::new(pri.event_type());
        head.severity = pri.severity;
        head.timestamp = ts;
        head.hostname = hostname.map(Cow::Borrowed);
        head.logger = app_name.map(Cow::Borrowed);
        head.pid = procid.and_then(|p| p.parse::<i64>().ok());
        Ok(head)
    }
}
