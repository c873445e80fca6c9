//! Log parsers: pure functions from one line to an [`Event`]
//! or a clear error.
//!
//! Every parser implements [`Parser`]; [`parser_by_name`] builds one from its
//! name and a [`ParserConfig`]. A rejected line gives a [`ParseError`] saying
//! what is wrong, at which column, and what was expected; no input makes a
//! parser panic. Trailing `\n` / `\r\n` are ignored by the line-format parsers.
//!
//! | name | parser | event type | fields |
//! |---|---|---|---|
//! | `nginx` | [`NginxParser`] | `nginx.access` | [`nginx`] |
//! | `postfix` | [`PostfixParser`] | `postfix.<process>` | [`postfix`] |
//! | `syslog` | [`SyslogParser`] (RFC 5424 or 3164, detected per line) | `syslog.<facility>` | [`syslog`] |
//! | `syslog5424` | [`Syslog5424Parser`] | `syslog.<facility>` | [`syslog5424`] |
//! | `syslog3164` | [`Syslog3164Parser`] | `syslog.<facility>` | [`syslog3164`] |
//! | `json` | [`JsonParser`] | the `type` field | [`json`] |
//! | `openstack` | [`OpenStackParser`] | `event_type` | [`openstack`] |
//!
//! ```
//! use eventstorm_source::parse::{parser_by_name, ParserConfig};
//!
//! let config: ParserConfig = serde_json::from_str(
//!     r#"{"log_format": "$remote_addr \"$request\" $status"}"#,
//! ).unwrap();
//! let parser = parser_by_name("nginx", &config).unwrap();
//! let event = parser.parse(r#"10.1.2.3 "GET / HTTP/1.1" 503"#).unwrap();
//! assert_eq!(event.body().get_i64("status").unwrap(), 503);
//! assert_eq!(event.severity().code(), 3);
//!
//! let err = parser.parse(r#"10.1.2.3 "GET / HTTP/1.1" abc"#).unwrap_err();
//! assert_eq!(err.to_string(), "column 27: expected an integer for $status, found 'a'");
//! ```

pub mod error;
pub(crate) mod event_time;
pub mod json;
pub(crate) mod json_bson;
pub mod nginx;
mod nginx_escape;
mod nginx_format;
pub mod openstack;
pub mod postfix;
pub mod syslog;
pub mod syslog3164;
pub mod syslog5424;
mod time;

use std::borrow::Cow;

use eventstorm_core::Event;
use eventstorm_core::event::{BodyWriter, EventHead, finish_event};
use serde::Deserialize;

pub use error::{ConfigError, ParseError};
pub use json::{JsonParser, MAX_JSON_DEPTH};
pub use nginx::NginxParser;
pub use openstack::OpenStackParser;
pub use postfix::PostfixParser;
pub use syslog::{SyslogParser, YearPolicy, facility_name};
pub use syslog3164::Syslog3164Parser;
pub use syslog5424::Syslog5424Parser;

/// A parser: turns one line into an event, or says why it cannot.
///
/// Object-safe, so parsers can be chosen at run time (`Box<dyn Parser>`), and
/// `Send + Sync`, so one parser can serve many threads.
pub trait Parser: Send + Sync + std::fmt::Debug {
    /// The parser's name, as given to [`parser_by_name`].
    fn name(&self) -> &str;

    /// Parses one line (a trailing newline is allowed).
    fn parse(&self, line: &str) -> Result<Event, ParseError>;

    /// Parses one line into `body` (cleared first) and returns the
    /// envelope: the event without a [`bson::Document`] in between, for
    /// [`finish_event`] to encode. The caller may add fields to the body
    /// (and a tenant to the envelope) before that. The event is the one
    /// [`parse`](Self::parse) returns.
    ///
    /// The default goes through [`parse`](Self::parse); the parsers of hot
    /// paths (`syslog`, `syslog5424`, `nginx`) write the bytes directly.
    fn parse_into<'a>(
        &'a self,
        line: &'a str,
        body: &mut BodyWriter,
    ) -> Result<EventHead<'a>, ParseError> {
        let event = self.parse(line)?;
        Ok(head_and_body(&event, body))
    }
}

/// The envelope of `event`, its body written into `body` (cleared first).
pub(crate) fn head_and_body(event: &Event, body: &mut BodyWriter) -> EventHead<'static> {
    body.clear();
    for (key, value) in event.body() {
        body.value(key, value);
    }
    let owned = |s: Option<&str>| s.map(|s| Cow::Owned(s.to_owned()));
    EventHead {
        event_type: Cow::Owned(event.event_type().to_owned()),
        id: Some(event.id()),
        timestamp: Some(event.timestamp()),
        severity: event.severity(),
        logger: owned(event.logger()),
        hostname: owned(event.hostname()),
        pid: event.pid(),
        tenant: owned(event.tenant()),
    }
}

/// `event` encoded with the event writer (the bytes
/// [`Event::encode_into`] gives), for a caller that holds an [`Event`] and
/// queues encoded events.
pub(crate) fn write_event(
    event: &Event,
    body: &mut BodyWriter,
) -> eventstorm_core::Result<eventstorm_core::RawEvent> {
    body.clear();
    for (key, value) in event.body() {
        body.value(key, value);
    }
    let head = EventHead {
        event_type: Cow::Borrowed(event.event_type()),
        id: Some(event.id()),
        timestamp: Some(event.timestamp()),
        severity: event.severity(),
        logger: event.logger().map(Cow::Borrowed),
        hostname: event.hostname().map(Cow::Borrowed),
        pid: event.pid(),
        tenant: event.tenant().map(Cow::Borrowed),
    };
    finish_event(&head, body)
}

/// [`Parser::parse`] for parsers that implement [`Parser::parse_into`]:
/// the written bytes, decoded.
pub(crate) fn parse_by_writing(parser: &dyn Parser, line: &str) -> Result<Event, ParseError> {
    let mut body = BodyWriter::new();
    let head = parser.parse_into(line, &mut body)?;
    finish_event(&head, &mut body)
        .and_then(|raw| raw.to_event())
        .map_err(|e| ParseError::invalid(line, 0, e))
}

/// Options of the parsers, e.g. from a TOML or JSON configuration file. Each
/// option applies to the parsers named in its documentation and is ignored by
/// the others; unknown options are rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParserConfig {
    /// `nginx`: the `log_format` string (default: `combined`).
    pub log_format: Option<String>,
    /// `nginx`: the event type (default `nginx.access`).
    pub event_type: Option<String>,
    /// `json`: the field holding the event type (default `type`).
    pub type_field: Option<String>,
    /// `json`: the type of objects without the type field (default: none, such
    /// objects are rejected).
    pub default_type: Option<String>,
    /// `json`: the field holding the event time (default `ts`, as in HTTP
    /// ingest; see [`json`] for the accepted values).
    pub timestamp_field: Option<String>,
    /// `syslog`, `syslog3164`, `postfix`: the year of the year-less BSD
    /// timestamps (default: the current year, see [`YearPolicy::Current`]).
    pub year: Option<i32>,
}

fn checked_type(option: &'static str, event_type: &str) -> Result<(), ConfigError> {
    eventstorm_core::event::validate_type(event_type).map_err(|e| ConfigError::Option {
        option,
        message: e.to_string(),
    })
}

/// Builds the parser called `name` (see the [module docs](self) for the names).
///
/// ```
/// use eventstorm_source::parse::{parser_by_name, ParserConfig};
/// let syslog = parser_by_name("syslog", &ParserConfig::default()).unwrap();
/// assert_eq!(syslog.name(), "syslog");
/// assert!(parser_by_name("apache", &ParserConfig::default()).is_err());
/// ```
pub fn parser_by_name(name: &str, config: &ParserConfig) -> Result<Box<dyn Parser>, ConfigError> {
    let year = config.year.map_or(YearPolicy::Current, YearPolicy::Fixed);
    Ok(match name {
        "nginx" => {
            let mut parser =
                NginxParser::new(config.log_format.as_deref().unwrap_or(nginx::COMBINED))?;
            if let Some(event_type) = &config.event_type {
                checked_type("event_type", event_type)?;
                parser = parser.with_event_type(event_type.as_str());
            }
            Box::new(parser)
        }
        "postfix" => Box::new(PostfixParser::new(year)),
        "syslog" => Box::new(SyslogParser::new(year)),
        "syslog5424" => Box::new(Syslog5424Parser),
        "syslog3164" => Box::new(Syslog3164Parser::new(year)),
        "json" => {
            let mut parser = JsonParser::new();
            if let Some(field) = &config.type_field {
                parser = parser.with_type_field(field.as_str());
            }
            if let Some(default_type) = &config.default_type {
                checked_type("default_type", default_type)?;
                parser = parser.with_default_type(default_type.as_str());
            }
            if let Some(field) = &config.timestamp_field {
                parser = parser.with_timestamp_field(field.as_str());
            }
            Box::new(parser)
        }
        "openstack" => Box::new(OpenStackParser),
        other => return Err(ConfigError::UnknownParser(other.to_string())),
    })
}
