//! Syslog: what RFC 5424 and RFC 3164 share, and the auto-detecting parser.
//!
//! Event type: `syslog.<facility>`, the facility's keyword from the PRI
//! (`syslog.kern`, `syslog.user`, `syslog.mail`, `syslog.daemon`, `syslog.auth`,
//! `syslog.syslog`, `syslog.lpr`, `syslog.news`, `syslog.uucp`, `syslog.cron`,
//! `syslog.authpriv`, `syslog.ftp`, `syslog.ntp`, `syslog.security`,
//! `syslog.console`, `syslog.clock`, `syslog.local0` ... `syslog.local7`), so a
//! subscription to `syslog.` receives them all. The severity from the PRI goes
//! into the envelope `severity`; the facility code into the body `facility`.
//!
//! [`SyslogParser`] looks at what follows the PRI: a version number and a space
//! mean RFC 5424 ([`Syslog5424Parser`]), anything else RFC 3164
//! ([`Syslog3164Parser`]); see those for the fields.

use bson::DateTime;
use eventstorm_core::event::{BodyWriter, EventHead};
use eventstorm_core::{Event, Severity};

use super::error::ParseError;
use super::{Parser, Syslog3164Parser, Syslog5424Parser};

/// Facility keywords by code (0-23).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "security", "console", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// The keyword of a facility code (0-23), e.g. `local0` for 16.
pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITIES.get(usize::from(code)).copied()
}

/// The event types of syslog events, indexed by facility code.
const TYPES: [&str; 24] = [
    "syslog.kern",
    "syslog.user",
    "syslog.mail",
    "syslog.daemon",
    "syslog.auth",
    "syslog.syslog",
    "syslog.lpr",
    "syslog.news",
    "syslog.uucp",
    "syslog.cron",
    "syslog.authpriv",
    "syslog.ftp",
    "syslog.ntp",
    "syslog.security",
    "syslog.console",
    "syslog.clock",
    "syslog.local0",
    "syslog.local1",
    "syslog.local2",
    "syslog.local3",
    "syslog.local4",
    "syslog.local5",
    "syslog.local6",
    "syslog.local7",
];

/// A decoded PRI: facility and severity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pri {
    pub(crate) facility: u8,
    pub(crate) severity: Severity,
}

impl Pri {
    /// The event type for this facility.
    pub(crate) fn event_type(self) -> &'static str {
        TYPES
            .get(usize::from(self.facility))
            .copied()
            .unwrap_or("syslog")
    }
}

/// Parses `<PRI>` at `*pos`: 1-3 digits, value 0-191.
pub(crate) fn parse_pri(line: &str, pos: &mut usize) -> Result<Pri, ParseError> {
    let bytes = line.as_bytes();
    let start = *pos;
    if bytes.get(*pos) != Some(&b'<') {
        return Err(ParseError::expected(line, *pos, "'<' starting the PRI"));
    }
    *pos += 1;
    let mut value = 0u32;
    let digits_start = *pos;
    while let Some(b) = bytes.get(*pos).filter(|b| b.is_ascii_digit()) {
        if *pos - digits_start == 3 {
            return Err(ParseError::expected(
                line,
                *pos,
                "'>' after at most 3 digits of PRI",
            ));
        }
        value = value * 10 + u32::from(b - b'0');
        *pos += 1;
    }
    if *pos == digits_start {
        return Err(ParseError::expected(line, *pos, "a digit of the PRI"));
    }
    if bytes.get(*pos) != Some(&b'>') {
        return Err(ParseError::expected(line, *pos, "'>' ending the PRI"));
    }
    *pos += 1;
    let (Ok(facility), Some(severity)) = (
        u8::try_from(value / 8),
        Severity::from_code(i64::from(value % 8)),
    ) else {
        return Err(ParseError::invalid(line, start, "invalid PRI"));
    };
    if value > 191 {
        return Err(ParseError::invalid(
            line,
            start + 1,
            format!(
                "PRI {value} is out of range: expected 0-191 (facility 0-23 * 8 + severity 0-7)"
            ),
        ));
    }
    Ok(Pri { facility, severity })
}

/// How RFC 3164 timestamps (which have no year) get their year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YearPolicy {
    /// The current year (UTC); a date more than 7 days in the future is taken
    /// to be from last year (a December line read in January).
    #[default]
    Current,
    /// Always this year (reproducible tests, replays of old logs).
    Fixed(i32),
}

impl YearPolicy {
    /// The UTC instant of a year-less date, given a function that builds it for
    /// a year.
    pub(crate) fn resolve(
        self,
        build: impl Fn(i64) -> Result<DateTime, ParseError>,
    ) -> Result<DateTime, ParseError> {
        match self {
            YearPolicy::Fixed(year) => build(i64::from(year)),
            YearPolicy::Current => {
                let now = DateTime::now().timestamp_millis();
                let year = super::time::year_of(now);
                match build(year) {
                    Ok(ts) if ts.timestamp_millis() > now + 7 * 86_400_000 => build(year - 1),
                    // Feb 29 in a common year: last year may not be leap either.
                    Err(e) => build(year - 1).map_err(|_| e),
                    ok => ok,
                }
            }
        }
    }
}

/// Parses syslog lines of either RFC, telling them apart by what follows the
/// PRI.
///
/// ```
/// use eventstorm_source::parse::{Parser, SyslogParser};
/// let parser = SyslogParser::default();
/// let a = parser.parse("<34>1 2026-03-01T09:00:00Z host app - - - hello").unwrap();
/// let b = parser.parse("<34>Mar  1 09:00:00 host app: hello").unwrap();
/// assert_eq!(a.event_type(), "syslog.auth");
/// assert_eq!(b.body().get_str("message").unwrap(), "hello");
/// ```
#[derive(Debug, Clone, Default)]
pub struct SyslogParser {
    rfc5424: Syslog5424Parser,
    rfc3164: Syslog3164Parser,
}

impl SyslogParser {
    /// An auto-detecting parser whose RFC 3164 side uses this year policy.
    pub fn new(year: YearPolicy) -> Self {
        SyslogParser {
            rfc5424: Syslog5424Parser,
            rfc3164: Syslog3164Parser::new(year),
        }
    }
}

impl Parser for SyslogParser {
    fn name(&self) -> &str {
        "syslog"
    }

    fn parse(&self, line: &str) -> Result<Event, ParseError> {
        if self.is_5424(line)? {
            self.rfc5424.parse(line)
        } else {
            self.rfc3164.parse(line)
        }
    }

    fn parse_into<'a>(
        &'a self,
        line: &'a str,
        body: &mut BodyWriter,
    ) -> Result<EventHead<'a>, ParseError> {
        if self.is_5424(line)? {
            self.rfc5424.parse_into(line, body)
        } else {
            self.rfc3164.parse_into(line, body)
        }
    }
}

impl SyslogParser {
    /// Whether `line` is RFC 5424: a version number and a space after the
    /// PRI (a bad PRI is an error either way).
    fn is_5424(&self, line: &str) -> Result<bool, ParseError> {
        let mut pos = 0;
        parse_pri(line, &mut pos)?;
        let bytes = line.as_bytes();
        let version_len = bytes[pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        Ok(version_len > 0 && bytes.get(pos + version_len) == Some(&b' '))
    }
}
