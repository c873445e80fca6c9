//! nginx access logs: the predefined `combined` format or any `log_format`.
//!
//! A format string is compiled once into literal segments and variables; a
//! line is then matched by hand-written scanning (no regex, one pass). A
//! variable's value ends where the next literal starts (the first occurrence;
//! when that literal ends the format, the value runs to the literal at the end of
//! the line, so a user agent may contain quotes).
//!
//! Event type: `nginx.access` (configurable). Envelope: `ts` from `$time_local`,
//! `$time_iso8601` or `$msec` (else the parse time); `logger` = `nginx`;
//! `severity` from `$status` (5xx → error, 4xx → warning, else informational);
//! `hostname` from `$hostname`, `pid` from `$pid` when logged.
//!
//! Body: one field per variable, named like the variable without `$`; a value
//! `-` means absent and the field is omitted. In string fields (`$request` and
//! the last column of the table below) the escapes nginx writes for text are
//! decoded: `\xHH` of `escape=default` (`\x22` is `"`, `\x5C` is `\`,
//! `\xC3\xA9` is `é`) and `\"`, `\\`, `\u00HH` of `escape=json`. Escapes of
//! control characters and of bytes that are not UTF-8 stay as written
//! (readable, and no control character reaches a log viewer). An escaped `\"`
//! does not end a quoted value.
//!
//! | variable | field(s) | BSON type |
//! |---|---|---|
//! | `$request` | `request` (as logged, escapes decoded), and when it has the shape `METHOD URI [HTTP/x]`: `method`, `uri`, `protocol` | string |
//! | `$time_local` | `time_local` (as logged) and the envelope `ts` (UTC) | string |
//! | `$time_iso8601` | `time_iso8601` (as logged) and `ts` | string |
//! | `$msec` | `msec` and `ts` | double |
//! | `$status`, `$body_bytes_sent`, `$bytes_sent`, `$request_length`, `$connection`, `$connection_requests`, `$remote_port`, `$server_port`, `$content_length`, `$pid` | same name | int64 (a non-integer is an error) |
//! | `$request_time`, `$gzip_ratio` | same name | double (a non-number is an error) |
//! | `$upstream_*_time` | same name | double, or the string as logged when it lists several upstreams (`0.1, 0.2`) |
//! | `$upstream_status`, `$upstream_bytes_*`, `$upstream_response_length` | same name | int64, or the string as logged for lists |
//! | anything else (`$remote_addr`, `$remote_user`, `$http_referer`, `$http_user_agent`, ...) | same name | string |

use std::borrow::Cow;

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Document};
use eventstorm_core::event::{BodyWriter, EventHead, fields};
use eventstorm_core::{Event, Severity};

use super::error::{ConfigError, ParseError};
use super::nginx_escape::unescape;
use super::nginx_format::{Kind, Segment, compile};
use super::time::{Civil, digits, expect_byte, month_from_abbrev, rfc3339};
use super::{Parser, parse_by_writing};

/// nginx's predefined `combined` log format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// The default event type of nginx access events.
pub const DEFAULT_TYPE: &str = "nginx.access";

/// A compiled nginx `log_format`: parses access-log lines in that format.
///
/// ```
/// use eventstorm_source::parse::{NginxParser, Parser};
/// let parser = NginxParser::new(
///     r#"$remote_addr [$time_local] "$request" $status $request_time"#,
/// ).unwrap();
/// let event = parser
///     .parse(r#"10.0.0.1 [01/Mar/2026:10:00:00 +0100] "GET /a HTTP/1.1" 200 0.004"#)
///     .unwrap();
/// assert_eq!(event.event_type(), "nginx.access");
/// assert_eq!(event.body().get_str("uri").unwrap(), "/a");
/// assert_eq!(event.body().get_f64("request_time").unwrap(), 0.004);
/// assert_eq!(event.timestamp().timestamp_millis(), 1_772_355_600_000);
/// ```
#[derive(Debug, Clone)]
pub struct NginxParser {
    segments: Vec<Segment>,
    event_type: String,
    /// Empty documents with room for a line's body fields and for the event's
    /// envelope, cloned per line (see [`with_room`]).
    body_room: Document,
    envelope_room: Document,
    /// No two variables (nor `$request`'s `method`, `uri`, `protocol`) give
    /// a field of the same name: the fields are then written straight into
    /// the event's bytes, in the order of the format.
    unique_fields: bool,
}

/// An empty document with room for `n` fields without growing. bson's
/// `Document` has no capacity API, but a cleared map keeps its capacity and a
/// clone keeps the cleared map's: cloning one per line spares the map's
/// rehashing and reallocation as fields are inserted (a third of an nginx
/// line's cost was allocation and growth).
fn with_room(n: usize) -> Document {
    let mut doc = Document::new();
    for i in 0..n {
        doc.insert(i.to_string(), Bson::Null);
    }
    doc.clear();
    doc
}

impl NginxParser {
    /// The parser of the predefined `combined` format.
    pub fn combined() -> NginxParser {
        match NginxParser::new(COMBINED) {
            Ok(parser) => parser,
            Err(e) => unreachable!("the combined format compiles: {e}"),
        }
    }

    /// Compiles a `log_format` string. It may be given bare, or as in
    /// `nginx.conf`: one or more quoted strings (`'...' '...'`) that are joined.
    /// `combined` names the predefined format. Variables are `$name` or
    /// `${name}`; two variables must be separated by some literal text.
    pub fn new(format: &str) -> Result<NginxParser, ConfigError> {
        let trimmed = format.trim();
        if trimmed == "combined" {
            return NginxParser::new(COMBINED);
        }
        let segments = compile(format)?;
        let fields = segments
            .iter()
            .map(|s| match s {
                // `request` plus `method`, `uri`, `protocol`.
                Segment::Var {
                    kind: Kind::Request,
                    ..
                } => 4,
                Segment::Var { .. } => 1,
                Segment::Literal(_) => 0,
            })
            .sum();
        let mut names: Vec<&str> = Vec::new();
        for segment in &segments {
            if let Segment::Var { name, kind } = segment {
                names.push(name);
                if *kind == Kind::Request {
                    names.extend(["method", "uri", "protocol"]);
                }
            }
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        let unique_fields = names.len() == count;
        Ok(NginxParser {
            unique_fields,
            segments,
            event_type: DEFAULT_TYPE.to_string(),
            body_room: with_room(fields),
            // _id, type, ts, severity, logger, hostname, pid, body.
            envelope_room: with_room(8),
        })
    }

    /// Uses this event type instead of `nginx.access`.
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = event_type.into();
        self
    }
}

/// The first occurrence of `lit` in `line` at or after `from`.
fn find_literal(line: &str, from: usize, lit: &str) -> Option<usize> {
    let hay = line.as_bytes();
    let needle = lit.as_bytes();
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let off = hay[i..hay.len() - needle.len() + 1]
            .iter()
            .position(|&b| b == first)?;
        i += off;
        if &hay[i..i + needle.len()] == needle && !escaped(hay, from, i) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether the byte at `at` is escaped: preceded (after `from`) by an odd
/// number of backslashes, as a `\"` that nginx's `escape=json` writes inside a
/// quoted value.
fn escaped(hay: &[u8], from: usize, at: usize) -> bool {
    hay[from..at]
        .iter()
        .rev()
        .take_while(|&&b| b == b'\\')
        .count()
        % 2
        == 1
}

/// The error for a literal that is not where it should be: points at the first
/// character that differs from the best partial match after `from`.
fn literal_error(line: &str, from: usize, lit: &str, context: &str) -> ParseError {
    let hay = line.as_bytes();
    let needle = lit.as_bytes();
    let matched_at = |p: usize| {
        hay[p..]
            .iter()
            .zip(needle)
            .take_while(|(a, b)| a == b)
            .count()
    };
    let (best_pos, best_len) =
        (from..=hay.len())
            .map(|p| (p, matched_at(p)))
            .fold(
                (from, 0),
                |best, cur| if cur.1 > best.1 { cur } else { best },
            );
    // Nothing of the literal anywhere: it is missing at the end of the line.
    let best_pos = if best_len == 0 { hay.len() } else { best_pos };
    let wanted = lit[best_len.min(lit.len())..].chars().next().unwrap_or(' ');
    ParseError::expected(line, best_pos + best_len, format!("{wanted:?} {context}"))
}

fn parse_int(line: &str, at: usize, value: &str, name: &str) -> Result<i64, ParseError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::expected(
            line,
            at,
            format!("an integer for ${name}"),
        ));
    }
    let n = digits
        .bytes()
        .fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
    Ok(if value.starts_with('-') { -n } else { n })
}

fn parse_float(value: &str) -> Option<f64> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'e' | b'E' | b'+'))
        && value.bytes().any(|b| b.is_ascii_digit());
    if ok { value.parse().ok() } else { None }
}

/// `01/Mar/2026:09:00:02 +0000`, which must span `line[at..end]`.
fn parse_time_local(line: &str, at: usize, end: usize) -> Result<DateTime, ParseError> {
    let mut pos = at;
    let day = digits(line, &mut pos, 2, "day")?;
    expect_byte(line, &mut pos, b'/', "after the day")?;
    let month = line
        .as_bytes()
        .get(pos..pos + 3)
        .and_then(month_from_abbrev)
        .ok_or_else(|| ParseError::expected(line, pos, "a month name (Jan-Dec)"))?;
    pos += 3;
    expect_byte(line, &mut pos, b'/', "after the month")?;
    let year = digits(line, &mut pos, 4, "year")?;
    expect_byte(line, &mut pos, b':', "after the year")?;
    let hour = digits(line, &mut pos, 2, "hour")?;
    expect_byte(line, &mut pos, b':', "after the hour")?;
    let minute = digits(line, &mut pos, 2, "minute")?;
    expect_byte(line, &mut pos, b':', "after the minute")?;
    let second = digits(line, &mut pos, 2, "second")?;
    expect_byte(line, &mut pos, b' ', "before the time zone offset")?;
    let sign = match line.as_bytes().get(pos) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => {
            return Err(ParseError::expected(
                line,
                pos,
                "'+' or '-' of the time zone offset",
            ));
        }
    };
    pos += 1;
    let oh = digits(line, &mut pos, 2, "offset hours")?;
    let om = digits(line, &mut pos, 2, "offset minutes")?;
    let civil = Civil {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        millis: 0,
        offset_minutes: sign * i64::from(oh * 60 + om),
    };
    if pos != end {
        return Err(ParseError::expected(line, pos, "the end of $time_local"));
    }
    civil.to_datetime(line, at)
}

/// Where a line's body fields go: a `Document` (formats that name a field
/// twice: the last value wins, in the first one's place) or straight into
/// the event's bytes.
trait Fields {
    fn str(&mut self, key: &str, value: &str);
    fn i64(&mut self, key: &str, value: i64);
    fn f64(&mut self, key: &str, value: f64);
}

impl Fields for Document {
    fn str(&mut self, key: &str, value: &str) {
        self.insert(key, value);
    }
    fn i64(&mut self, key: &str, value: i64) {
        self.insert(key, value);
    }
    fn f64(&mut self, key: &str, value: f64) {
        self.insert(key, value);
    }
}

impl Fields for BodyWriter {
    fn str(&mut self, key: &str, value: &str) {
        BodyWriter::str(self, key, value);
    }
    fn i64(&mut self, key: &str, value: i64) {
        BodyWriter::i64(self, key, value);
    }
    fn f64(&mut self, key: &str, value: f64) {
        BodyWriter::f64(self, key, value);
    }
}

/// What a line gives the envelope.
struct Scanned<'a> {
    ts: Option<DateTime>,
    severity: Severity,
    hostname: Option<&'a str>,
    pid: Option<i64>,
}

impl Parser for NginxParser {
    fn name(&self) -> &str {
        "nginx"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        if self.unique_fields {
            return parse_by_writing(self, line);
        }
        let mut body = self.body_room.clone();
        let scanned = self.scan(line, &mut body)?;
        // The envelope is written directly (as `EventBuilder::build` would)
        // so that the body's fields are not inserted twice.
        let mut doc = self.envelope_room.clone();
        doc.insert(fields::ID, ObjectId::new());
        doc.insert(fields::TYPE, self.event_type.as_str());
        doc.insert(fields::TIMESTAMP, scanned.ts.unwrap_or_else(DateTime::now));
        doc.insert(fields::SEVERITY, i32::from(scanned.severity.code()));
        doc.insert(fields::LOGGER, "nginx");
        if let Some(hostname) = scanned.hostname {
            doc.insert(fields::HOSTNAME, hostname);
        }
        if let Some(pid) = scanned.pid {
            doc.insert(fields::PID, pid);
        }
        doc.insert(fields::BODY, body);
        Event::from_document(doc).map_err(|e| ParseError::invalid(line, 0, e))
    }

    fn parse_into<'a>(
        &'a self,
        line: &'a str,
        body: &mut BodyWriter,
    ) -> Result<EventHead<'a>, ParseError> {
        if !self.unique_fields {
            let event = self.parse(line)?;
            return Ok(super::head_and_body(&event, body));
        }
        body.clear();
        let scanned = self.scan(line, body)?;
        let mut head = EventHead::new(self.event_type.as_str());
        head.timestamp = scanned.ts;
        head.severity = scanned.severity;
        head.logger = Some(Cow::Borrowed("nginx"));
        head.hostname = scanned.hostname.map(Cow::Borrowed);
        head.pid = scanned.pid;
        Ok(head)
    }
}

impl NginxParser {
    /// Matches `line` against the format, writing the body's fields into
    /// `body`; returns what goes into the envelope.
    fn scan<'a, F: Fields>(&self, line: &'a str, body: &mut F) -> Result<Scanned<'a>, ParseError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut scanned = Scanned {
            ts: None,
            severity: Severity::Informational,
            hostname: None,
            pid: None,
        };
        let mut pos = 0;
        let n = self.segments.len();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(lit) => {
                    if line.as_bytes()[pos..].starts_with(lit.as_bytes()) {
                        pos += lit.len();
                    } else {
                        let context = match self.segments.get(i + 1) {
                            Some(Segment::Var { name, .. }) => format!("before ${name}"),
                            _ => "at the end of the line".to_string(),
                        };
                        return Err(literal_error(line, pos, lit, &context));
                    }
                }
                Segment::Var { name, kind } => {
                    let end = match self.segments.get(i + 1) {
                        None => line.len(),
                        Some(Segment::Literal(lit)) if i + 2 == n => {
                            if line.len() >= pos + lit.len() && line.ends_with(&**lit) {
                                line.len() - lit.len()
                            } else {
                                return Err(literal_error(
                                    line,
                                    pos,
                                    lit,
                                    "at the end of the line",
                                ));
                            }
                        }
                        Some(Segment::Literal(lit)) => {
                            find_literal(line, pos, lit).ok_or_else(|| {
                                let context = match self.segments.get(i + 2) {
                                    Some(Segment::Var { name: next, .. }) => {
                                        format!("before ${next}")
                                    }
                                    _ => format!("after ${name}"),
                                };
                                literal_error(line, pos, lit, &context)
                            })?
                        }
                        Some(Segment::Var { .. }) => unreachable!("variables are never adjacent"),
                    };
                    let value = &line[pos..end];
                    if value != "-" {
                        let pid = store(line, pos, value, name, *kind, body, &mut scanned.ts)?;
                        match &**name {
                            "status" => {
                                scanned.severity = match value.as_bytes().first() {
                                    Some(b'5') => Severity::Error,
                                    Some(b'4') => Severity::Warning,
                                    _ => Severity::Informational,
                                };
                            }
                            "hostname" => scanned.hostname = Some(value),
                            "pid" => scanned.pid = pid,
                            _ => {}
                        }
                    }
                    pos = end;
                }
            }
        }
        if pos != line.len() {
            return Err(ParseError::expected(line, pos, "end of line"));
        }
        Ok(scanned)
    }
}

/// Writes the field of one variable; returns its value when it is an int64
/// (for `$pid`).
fn store<F: Fields>(
    line: &str,
    at: usize,
    value: &str,
    name: &str,
    kind: Kind,
    body: &mut F,
    ts: &mut Option<DateTime>,
) -> Result<Option<i64>, ParseError> {
    match kind {
        Kind::Str => body.str(name, &unescape(value)),
        Kind::Int => {
            let n = parse_int(line, at, value, name)?;
            body.i64(name, n);
            return Ok(Some(n));
        }
        Kind::Float => body.f64(
            name,
            parse_float(value)
                .ok_or_else(|| ParseError::expected(line, at, format!("a number for ${name}")))?,
        ),
        Kind::IntOrStr => match parse_int(line, at, value, name) {
            Ok(n) => {
                body.i64(name, n);
                return Ok(Some(n));
            }
            Err(_) => body.str(name, value),
        },
        Kind::FloatOrStr => match parse_float(value) {
            Some(v) => body.f64(name, v),
            None => body.str(name, value),
        },
        Kind::Request => {
            let request = unescape(value);
            split_request(&request, body);
            body.str(name, &request);
        }
        Kind::TimeLocal => {
            *ts = Some(parse_time_local(line, at, at + value.len())?);
            body.str(name, value);
        }
        Kind::TimeIso8601 => {
            let mut p = at;
            *ts = Some(rfc3339(line, &mut p, false, false)?);
            if p != at + value.len() {
                return Err(ParseError::expected(line, p, "the end of $time_iso8601"));
            }
            body.str(name, value);
        }
        Kind::Msec => {
            let secs = parse_float(value)
                .filter(|s| s.is_finite() && s.abs() < 1e14)
                .ok_or_else(|| {
                    ParseError::expected(line, at, "seconds since the epoch for $msec")
                })?;
            *ts = Some(DateTime::from_millis((secs * 1000.0).round() as i64));
            body.f64(name, secs);
        }
    }
    Ok(None)
}

/// Splits `GET /path HTTP/1.1` into `method`, `uri` and `protocol` when the
/// request has that shape (the method all uppercase letters; the protocol, when
/// present, starting with `HTTP/`).
fn split_request<F: Fields>(request: &str, body: &mut F) {
    let Some((method, rest)) = request.split_once(' ') else {
        return;
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    {
        return;
    }
    let (uri, protocol) = match rest.rsplit_once(' ') {
        Some((uri, protocol)) if protocol.starts_with("HTTP/") => (uri, Some(protocol)),
        _ => (rest, None),
    };
    if uri.is_empty() {
        return;
    }
    body.str("method", method);
    body.str("uri", uri);
    if let Some(protocol) = protocol {
        body.str("protocol", protocol);
    }
}
