//! The configuration file of the `eventstorm-source` binary: several sources
//! in one process, each publishing through a publisher of its own.
//!
//! ```
//! use eventstorm_source::sources_config::SourcesConfig;
//!
//! let config = SourcesConfig::from_toml(r#"
//!     stats_interval_secs = 30
//!
//!     [publisher]
//!     connect = ["tcp://127.0.0.1:5555"]
//!
//!     [[tail]]
//!     path = "/var/log/nginx/access.log"
//!     parser = "nginx"
//!     state_file = "/var/lib/eventstorm/nginx.state"
//!
//!     [[syslog]]
//!     udp = "127.0.0.1:5514"
//!
//!     [[zmq]]
//!     connect = ["tcp://127.0.0.1:5560"]
//!     parser = "syslog"
//! "#, "sources.toml")?;
//! assert_eq!(config.tail.len(), 1);
//! assert_eq!(config.syslog[0].parser, "syslog");
//! assert_eq!(config.zmq[0].socket.endpoint.connect, ["tcp://127.0.0.1:5560"]);
//!
//! // Unknown keys are errors that name the file, the line and the key.
//! let err = SourcesConfig::from_toml("[publisher]\nconect = []\n", "sources.toml").unwrap_err();
//! assert!(err.to_string().starts_with("sources.toml:2:1: `publisher.conect`: unknown field `conect`"), "{err}");
//! # Ok::<(), eventstorm_source::Error>(())
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use eventstorm_core::config as core_config;

use crate::config::PublisherConfig;
use crate::error::{Error, Result};
use crate::http::HttpSourceConfig;
use crate::parse::{ParserConfig, parser_by_name};
use crate::syslog_listener::SyslogConfig;
use crate::tail::TailConfig;
use crate::validate::in_range;
use crate::zmq_source::ZmqSourceConfig;

/// Every source of one `eventstorm-source` process.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// How each source's publisher connects or binds (each source opens its
    /// own socket with these settings; with several sources, bind only
    /// endpoints with a `*` port, or connect to a router).
    pub publisher: PublisherConfig,
    /// Seconds between two stats lines in the log
    /// ([`Self::DEFAULT_STATS_INTERVAL_SECS`]; 0 disables them; at most
    /// [`Self::MAX_STATS_INTERVAL_SECS`]).
    #[serde(default = "default_stats_interval")]
    pub stats_interval_secs: u64,
    /// Where each source's counters are also published, as one
    /// `_eventstorm.stats` event per source every `stats_interval_secs`
    /// (component: the source's name), through a socket of their own that
    /// connects to these endpoints (default: none). Point it at a
    /// dashboard's stats endpoint or at a router input marked `trusted`: an
    /// untrusted input refuses reserved types.
    #[serde(default)]
    pub stats_connect: Vec<String>,
    /// File tails (`[[tail]]` tables).
    #[serde(default)]
    pub tail: Vec<TailConfig>,
    /// Syslog listeners (`[[syslog]]` tables).
    #[serde(default)]
    pub syslog: Vec<SyslogConfig>,
    /// HTTP ingest endpoints (`[[http]]` tables).
    #[serde(default)]
    pub http: Vec<HttpSourceConfig>,
    /// Subscribers to foreign ZeroMQ publishers (`[[zmq]]` tables).
    #[serde(default)]
    pub zmq: Vec<ZmqSourceConfig>,
}

fn default_stats_interval() -> u64 {
    SourcesConfig::DEFAULT_STATS_INTERVAL_SECS
}

impl SourcesConfig {
    /// Default interval between stats lines, in seconds.
    pub const DEFAULT_STATS_INTERVAL_SECS: u64 = 10;
    /// Largest `stats_interval_secs` (one day).
    pub const MAX_STATS_INTERVAL_SECS: u64 = 86_400;

    /// Reads and checks a TOML file, `${VAR}` and `${VAR:-default}`
    /// expanded first (see [`eventstorm_core::config::expand_env`]).
    pub fn load(path: &Path) -> Result<SourcesConfig> {
        let origin = path.display().to_string();
        let text = core_config::read_expanded(path)?;
        let config: SourcesConfig = core_config::parse_expanded(&text, &origin)?;
        config.validate(&origin)?;
        Ok(config)
    }

    /// Parses and checks TOML text, `${VAR}` expanded first; `origin` (a
    /// file name) goes into errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<SourcesConfig> {
        let config: SourcesConfig = core_config::parse_toml(text, origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    /// The number of sources.
    pub fn len(&self) -> usize {
        self.tail.len() + self.syslog.len() + self.http.len() + self.zmq.len()
    }

    /// Whether no source is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks what the file format alone cannot: at least one source, an
    /// endpoint, unique names, known parsers, and every numeric setting in
    /// its range. Errors
    /// name `origin`, the key (`syslog[0].max_connections`) and what was
    /// expected. [`from_toml`](Self::from_toml) and [`load`](Self::load)
    /// call it; call it again after changing a loaded config.
    ///
    /// ```
    /// use eventstorm_source::sources_config::SourcesConfig;
    ///
    /// let err = SourcesConfig::from_toml(r#"
    ///     [publisher]
    ///     connect = ["tcp://127.0.0.1:5555"]
    ///     [[tail]]
    ///     path = "/var/log/app.log"
    ///     parser = "json"
    ///     poll_interval_ms = 0
    /// "#, "sources.toml").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid configuration at `sources.toml: tail[0].poll_interval_ms`: expected 1 to 600000, got 0"
    /// );
    /// ```
    pub fn validate(&self, origin: &str) -> Result<()> {
        if self.is_empty() {
            return Err(Error::config(
                origin,
                "no source: expected at least one [[tail]], [[syslog]], [[http]] or [[zmq]] table",
            ));
        }
        if self.publisher.endpoint.bind.is_empty() && self.publisher.endpoint.connect.is_empty() {
            return Err(Error::config(
                format!("{origin}: publisher"),
                "expected `connect` (a router's frontend) or `bind` endpoints",
            ));
        }
        self.publisher
            .validate("publisher")
            .map_err(|e| publisher_error(origin, e))?;
        if self.len() > 1
            && self
                .publisher
                .endpoint
                .bind
                .iter()
                .any(|e| !e.ends_with(":*"))
        {
            return Err(Error::config(
                format!("{origin}: publisher.bind"),
                "each source binds its own socket: with several sources, bind `tcp://HOST:*` or connect to a router",
            ));
        }
        in_range(
            "stats_interval_secs",
            self.stats_interval_secs,
            0,
            Self::MAX_STATS_INTERVAL_SECS,
        )
        .map_err(|e| within(origin, "", e))?;
        for (i, tail) in self.tail.iter().enumerate() {
            tail.validate()
                .and_then(|()| check_parser(&tail.parser, &tail.parser_options))
                .map_err(|e| within(origin, &format!("tail[{i}]."), e))?;
        }
        for (i, syslog) in self.syslog.iter().enumerate() {
            syslog
                .validate()
                .and_then(|()| check_parser(&syslog.parser, &syslog.parser_options))
                .map_err(|e| within(origin, &format!("syslog[{i}]."), e))?;
        }
        for (i, http) in self.http.iter().enumerate() {
            http.validate()
                .map_err(|e| within(origin, &format!("http[{i}]."), e))?;
        }
        for (i, zmq) in self.zmq.iter().enumerate() {
            zmq.validate()
                .and_then(|()| check_parser(&zmq.parser, &zmq.parser_options))
                .map_err(|e| within(origin, &format!("zmq[{i}]."), e))?;
        }
        let mut names = BTreeSet::new();
        let all = self
            .tail
            .iter()
            .map(TailConfig::source_name)
            .chain(self.syslog.iter().map(|s| s.name.clone()))
            .chain(self.http.iter().map(|h| h.name.clone()))
            .chain(self.zmq.iter().map(|z| z.name.clone()));
        for name in all {
            if !names.insert(name.clone()) {
                return Err(Error::config(
                    format!("{origin}: name"),
                    format!("two sources are named {name:?}: give each a unique `name`"),
                ));
            }
        }
        Ok(())
    }
}

/// Builds the parser once, so that an unknown parser or a bad
/// `log_format` is found by `--check` too.
fn check_parser(name: &str, options: &ParserConfig) -> Result<()> {
    parser_by_name(name, options)
        .map(drop)
        .map_err(|e| Error::config("parser", e.to_string()))
}

/// A publisher setting the transport refused, as a configuration error at
/// `origin: publisher.KEY` (`tcp://127.0.0.1:99999` is an error, not a
/// random port).
fn publisher_error(origin: &str, e: eventstorm_core::transport::TransportError) -> Error {
    use eventstorm_core::transport::TransportError;
    match e {
        TransportError::InvalidEndpoint {
            action,
            endpoint,
            reason,
            ..
        } => Error::config(
            format!("{origin}: publisher.{action}"),
            format!("`{endpoint}` is not a valid {action} endpoint: {reason}"),
        ),
        TransportError::Setting { key, message, .. } => {
            Error::config(format!("{origin}: publisher.{key}"), message)
        }
        other => Error::Transport(other),
    }
}

/// A configuration error at `key` moved to `origin: {table}key`.
fn within(origin: &str, table: &str, e: Error) -> Error {
    match e {
        Error::Config { key, message } => Error::config(format!("{origin}: {table}{key}"), message),
        other => other,
    }
}
