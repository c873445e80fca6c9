//! RFC 3164 (BSD) syslog: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG`.
//!
//! The day may be space-padded (`Mar  1`) or not; an RFC 3339 timestamp in
//! place of the BSD one is accepted too (rsyslog's high-precision format). The
//! BSD timestamp has no year: see [`YearPolicy`] (default: the current UTC
//! year). When the token after the timestamp ends with `:` it is taken as the
//! tag of a line without a hostname. The tag may also be `TAG[PID]` without
//! the colon, followed by a space or the end of the line (rsyslog relays tags
//! written without a colon that way: `vm myapp[4321] hello`). When no tag
//! follows the hostname, the whole rest is the message.
//!
//! Event type `syslog.<facility>` (see [`super::syslog`]). Envelope: `severity`
//! from the PRI; `ts` from the timestamp (local time taken as UTC);
//! `hostname`; `logger` from TAG; `pid` from PID when it is a number.
//!
//! | body field | from | BSON type |
//! |---|---|---|
//! | `facility` | PRI / 8 | int32 |
//! | `tag` | TAG | string |
//! | `procid` | PID, as written in the brackets | string |
//! | `message` | MSG | string |

use bson::{DateTime, Document};
use eventstorm_core::Event;

use super::Parser;
use super::error::ParseError;
use super::syslog::{YearPolicy, parse_pri};
use super::time::{Civil, digits, expect_byte, month_from_abbrev, rfc3339};

/// Parses RFC 3164 (BSD) syslog lines.
///
/// ```
/// use eventstorm_source::parse::{Parser, Syslog3164Parser, YearPolicy};
/// let parser = Syslog3164Parser::new(YearPolicy::Fixed(2026));
/// let event = parser.parse("<38>Mar  1 09:00:02 host1 sshd[1234]: Accepted").unwrap();
/// assert_eq!(event.event_type(), "syslog.auth");
/// assert_eq!(event.hostname(), Some("host1"));
/// assert_eq!(event.pid(), Some(1234));
/// assert_eq!(event.body().get_str("tag").unwrap(), "sshd");
/// assert_eq!(event.timestamp().try_to_rfc3339_string().unwrap(), "2026-03-01T09:00:02Z");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Syslog3164Parser {
    year: YearPolicy,
}

impl Syslog3164Parser {
    /// A parser that dates year-less timestamps by `year`.
    pub fn new(year: YearPolicy) -> Self {
        Syslog3164Parser { year }
    }
}

/// The header of a BSD syslog line after the PRI.
#[derive(Debug)]
pub(crate) struct BsdHeader<'a> {
    pub(crate) ts: DateTime,
    pub(crate) hostname: Option<&'a str>,
    pub(crate) tag: Option<&'a str>,
    pub(crate) procid: Option<&'a str>,
    /// Byte offset of the message.
    pub(crate) msg_start: usize,
}

/// Parses `Mmm dd hh:mm:ss` (or RFC 3339) at `*pos`.
fn timestamp(line: &str, pos: &mut usize, year: YearPolicy) -> Result<DateTime, ParseError> {
    let bytes = line.as_bytes();
    if bytes
        .get(*pos..*pos + 5)
        .is_some_and(|b| b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-')
    {
        return rfc3339(line, pos, false, true);
    }
    let start = *pos;
    let month = bytes
        .get(*pos..*pos + 3)
        .and_then(month_from_abbrev)
        .ok_or_else(|| {
            ParseError::expected(line, *pos, "a month name (Jan-Dec) starting the timestamp")
        })?;
    *pos += 3;
    expect_byte(line, pos, b' ', "after the month")?;
    if bytes.get(*pos) == Some(&b' ') {
        *pos += 1;
    }
    let day = if bytes.get(*pos + 1).is_some_and(u8::is_ascii_digit) {
        digits(line, pos, 2, "day")?
    } else {
        digits(line, pos, 1, "day")?
    };
    expect_byte(line, pos, b' ', "after the day")?;
    let hour = digits(line, pos, 2, "hour")?;
    expect_byte(line, pos, b':', "after the hour")?;
    let minute = digits(line, pos, 2, "minute")?;
    expect_byte(line, pos, b':', "after the minute")?;
    let second = digits(line, pos, 2, "second")?;
    let millis = super::time::fraction_millis(line, pos)?;
    year.resolve(|year| {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millis,
            offset_minutes: 0,
        }
        .to_datetime(line, start)
    })
}

/// Reads `TAG[PID]:`, `TAG:` or `TAG[PID]` (then a space or the end) at
/// `pos`; `None` when the text there is not a tag.
fn tag_at(line: &str, pos: usize) -> Option<(&str, Option<&str>, usize)> {
    let bytes = line.as_bytes();
    let len = bytes[pos..]
        .iter()
        .take_while(|&&b| !matches!(b, b'[' | b':' | b' ') && !b.is_ascii_control())
        .count();
    if len == 0 {
        return None;
    }
    let tag = &line[pos..pos + len];
    let mut p = pos + len;
    let mut procid = None;
    if bytes.get(p) == Some(&b'[') {
        let close = line[p..].find(']')? + p;
        procid = Some(&line[p + 1..close]);
        p = close + 1;
    }
    match bytes.get(p) {
        Some(b':') => p += 1,
        // `TAG[PID] MSG`: the colon dropped (as rsyslog relays such tags). The
        // brackets tell a tag from a message's first word.
        Some(b' ') | None if procid.is_some_and(|id| !id.is_empty() && !id.contains(' ')) => {}
        _ => return None,
    }
    if bytes.get(p) == Some(&b' ') {
        p += 1;
    }
    Some((tag, procid, p))
}

/// Parses the BSD header at `pos` (just after the PRI, or the start of a line
/// written without one).
pub(crate) fn bsd_header(
    line: &str,
    mut pos: usize,
    year: YearPolicy,
) -> Result<BsdHeader<'_>, ParseError> {
    let bytes = line.as_bytes();
    let ts = timestamp(line, &mut pos, year)?;
    expect_byte(line, &mut pos, b' ', "after the timestamp")?;
    let host_len = bytes[pos..].iter().take_while(|&&b| b != b' ').count();
    let host = &line[pos..pos + host_len];
    if host.is_empty() {
        return Err(ParseError::expected(line, pos, "the HOSTNAME"));
    }
    if host.ends_with(':') {
        // No hostname: this token is already the tag.
        if let Some((tag, procid, msg_start)) = tag_at(line, pos) {
            return Ok(BsdHeader {
                ts,
                hostname: None,
                tag: Some(tag),
                procid,
                msg_start,
            });
        }
    }
    let after_host = pos + host_len;
    let rest = if bytes.get(after_host) == Some(&b' ') {
        after_host + 1
    } else {
        after_host
    };
    let (tag, procid, msg_start) = match tag_at(line, rest) {
        Some((tag, procid, msg_start)) => (Some(tag), procid, msg_start),
        None => (None, None, rest),
    };
    Ok(BsdHeader {
        ts,
        hostname: Some(host),
        tag,
        procid,
        msg_start,
    })
}

impl Parser for Syslog3164Parser {
    fn name(&self) -> &str {
        "syslog3164"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut pos = 0;
        let pri = parse_pri(line, &mut pos)?;
        let header = bsd_header(line, pos, self.year)?;
        let mut builder = Event::builder(pri.event_type())
            .severity(pri.severity)
            .timestamp(header.ts);
        if let Some(hostname) = header.hostname {
            builder = builder.hostname(hostname);
        }
        if let Some(tag) = header.tag {
            builder = builder.logger(tag);
        }
        if let Some(pid) = header.procid.and_then(|p| p.parse::<i64>().ok()) {
            builder = builder.pid(pid);
        }
        let mut body = Document::new();
        body.insert("facility", i32::from(pri.facility));
        if let Some(tag) = header.tag {
            body.insert("tag", tag);
        }
        if let Some(procid) = header.procid {
            body.insert("procid", procid);
        }
        body.insert("message", &line[header.msg_start..]);
        Ok(builder.fields(body).build())
    }
}
