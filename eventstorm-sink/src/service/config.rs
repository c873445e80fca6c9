//! [`SinksConfig`]: the `eventstorm-sink` binary's configuration file.

use std::collections::HashSet;
use std::path::Path;

use eventstorm_core::config::{ConfigError, socket_error};
use eventstorm_core::http::HttpConfig;
use serde::{Deserialize, Serialize};

use crate::dead_letter::DeadLetterConfig;
use crate::runtime::RuntimeConfig;
use crate::sinks::{FileSinkConfig, StdoutFormat};

/// The whole file: the process's own settings and the sinks it runs.
///
/// ```
/// use eventstorm_sink::service::{SinkKind, SinksConfig};
///
/// let config = SinksConfig::from_toml_str(r#"
///     [process]
///     name = "archive-host"
///
///     [[sinks]]
///     name = "archive"
///     type = "file"
///     connect = ["tcp://127.0.0.1:5556"]
///     [sinks.file]
///     path = "/var/lib/eventstorm/events.jsonl"
///
///     [[sinks]]
///     name = "debug"
///     type = "stdout"
///     connect = ["tcp://127.0.0.1:5556"]
///     subscribe = ["log"]
/// "#, "sinks.toml")?;
/// assert_eq!(config.sinks[0].kind, SinkKind::File);
///
/// let text = "[[sinks]]\nname = \"a\"\ntype = \"null\"\nconect = []\n";
/// let err = SinksConfig::from_toml_str(text, "sinks.toml").unwrap_err();
/// assert_eq!((err.line, err.key.as_deref()), (Some(4), Some("sinks[0].conect")));
/// # Ok::<(), eventstorm_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinksConfig {
    /// The process's settings (`[process]`).
    pub process: ProcessConfig,
    /// The process's HTTP listener (`[http]`: `listen`, `max_connections`,
    /// the timeouts of [`HttpConfig`]), on which sinks serve their routes
    /// (a dashboard's page). Default: none, no port is opened; a sink that
    /// serves routes needs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// The sinks, each with its subscriber (`[[sinks]]`).
    pub sinks: Vec<SinkEntry>,
}

/// `[process]`: what the process as a whole does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// The process's name in logs and stats events (default
    /// `eventstorm-sink`); each sink reports as `NAME/SINK`.
    pub name: String,
    /// How often each sink's stats line is logged and its stats event
    /// published ([`Self::DEFAULT_STATS_INTERVAL_MS`]; 0: never).
    pub stats_interval_ms: u64,
    /// Endpoints to which `_eventstorm.stats` events are published (a
    /// router's input, usually): one per sink per interval. Default none.
    pub stats_connect: Vec<String>,
}

impl ProcessConfig {
    /// Default interval between stats lines: 10 s.
    pub const DEFAULT_STATS_INTERVAL_MS: u64 = 10_000;
    /// Smallest non-zero stats interval.
    pub const MIN_STATS_INTERVAL_MS: u64 = 100;
}

impl Default for ProcessConfig {
    fn default() -> Self {
        ProcessConfig {
            name: "eventstorm-sink".into(),
            stats_interval_ms: Self::DEFAULT_STATS_INTERVAL_MS,
            stats_connect: Vec::new(),
        }
    }
}

/// What a sink writes to: the `type` of a `[[sinks]]` entry, and the name
/// of its own settings table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SinkKind {
    /// MongoDB (`[sinks.mongodb]`: [`MongoSinkConfig`](crate::mongo::MongoSinkConfig)).
    Mongodb,
    /// Cassandra/ScyllaDB (`[sinks.cql]`: [`CqlSinkConfig`](crate::cql::CqlSinkConfig)).
    Cql,
    /// A JSON-lines file (`[sinks.file]`: [`FileSinkConfig`]).
    File,
    /// Standard output (`[sinks.stdout]`: [`StdoutSinkConfig`], optional).
    Stdout,
    /// Counts and discards (no settings).
    Null,
    /// A live dashboard served on the `[http]` listener
    /// (`[sinks.dashboard]`, optional:
    /// [`DashboardConfig`](crate::dashboard::DashboardConfig); feature
    /// `dashboard`).
    Dashboard,
    /// The stream engine, its API on the `[http]` listener
    /// (`[sinks.streams]`: [`StreamsConfig`](crate::streams::StreamsConfig);
    /// feature `streams`).
    Streams,
    /// Usage accounting for OpenStack tenants, its API served on the
    /// `[http]` listener (`[sinks.usage]`:
    /// [`UsageConfig`](crate::usage::UsageConfig); feature `usage`).
    Usage,
}

impl SinkKind {
    /// The name used in `type` and as the settings table.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Mongodb => "mongodb",
            SinkKind::Cql => "cql",
            SinkKind::File => "file",
            SinkKind::Stdout => "stdout",
            SinkKind::Null => "null",
            SinkKind::Dashboard => "dashboard",
            SinkKind::Streams => "streams",
            SinkKind::Usage => "usage",
        }
    }
}

/// `[sinks.stdout]`: how the stdout sink prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdoutSinkConfig {
    /// `json_lines` (one JSON object per line, the default) or `pretty`.
    pub format: StdoutFormat,
}

/// One `[[sinks]]` entry: a named sink, its subscriber and runtime settings
/// (flattened: `connect`, `bind`, `subscribe`, `filter`, `hwm`,
/// `batch_max_events`, `batch_max_delay_ms`, `channel_capacity`,
/// `when_full`, ... as in [`RuntimeConfig`]), the settings table of its
/// `type`, and an optional dead-letter file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkEntry {
    /// The sink's name: unique, letters, digits, `_`, `-` and `.`.
    pub name: String,
    /// What it writes to.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// Its subscriber and runtime settings.
    #[serde(flatten)]
    pub runtime: RuntimeConfig,
    /// `[sinks.mongodb]`, for `type = "mongodb"`.
    #[cfg(feature = "mongodb")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<crate::mongo::MongoSinkConfig>,
    /// `[sinks.search]`, on a `type = "mongodb"` sink: serve the per-tenant
    /// search over what it stores on the `[http]` listener
    /// ([`SearchConfig`](crate::search::SearchConfig)).
    #[cfg(feature = "mongodb")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::search::SearchConfig>,
    /// `[sinks.cql]`, for `type = "cql"`.
    #[cfg(feature = "cql")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cql: Option<crate::cql::CqlSinkConfig>,
    /// `[sinks.file]`, for `type = "file"` (required: `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSinkConfig>,
    /// `[sinks.stdout]`, for `type = "stdout"` (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StdoutSinkConfig>,
    /// `[sinks.dashboard]`, for `type = "dashboard"` (optional).
    #[cfg(feature = "dashboard")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<crate::dashboard::DashboardConfig>,
    /// `[sinks.streams]`, for `type = "streams"` (optional).
    #[cfg(feature = "streams")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<crate::streams::StreamsConfig>,
    /// `[sinks.usage]`, for `type = "usage"` (required: `token`).
    #[cfg(feature = "usage")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::UsageConfig>,
    /// `[sinks.dead_letter]`: where the events this sink gives up are kept
    /// (default: they are only counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterConfig>,
}

/// By hand rather than derived: serde cannot flatten [`RuntimeConfig`]
/// (itself flattening the socket's settings) with unknown keys denied. The
/// entry's own keys are taken out, and every other key must be a runtime or
/// socket setting.
impl<'de> Deserialize<'de> for SinkEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        fn take<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            table: &mut toml::Table,
            key: &str,
        ) -> Result<Option<T>, E> {
            table
                .remove(key)
                .map(|v| {
                    T::deserialize(v).map_err(|e| E::custom(format!("`{key}`: {}", e.message())))
                })
                .transpose()
        }
        let mut table = toml::Table::deserialize(deserializer)?;
        let name = take(&mut table, "name")?.ok_or_else(|| D::Error::missing_field("name"))?;
        let kind = take(&mut table, "type")?.ok_or_else(|| D::Error::missing_field("type"))?;
        #[cfg(feature = "mongodb")]
        let mongodb = take(&mut table, "mongodb")?;
        #[cfg(feature = "mongodb")]
        let search = take(&mut table, "search")?;
        #[cfg(feature = "cql")]
        let cql = take(&mut table, "cql")?;
        let file = take(&mut table, "file")?;
        let stdout = take(&mut table, "stdout")?;
        #[cfg(feature = "dashboard")]
        let dashboard = take(&mut table, "dashboard")?;
        #[cfg(feature = "streams")]
        let streams = take(&mut table, "streams")?;
        #[cfg(feature = "usage")]
        let usage = take(&mut table, "usage")?;
        let dead_letter = take(&mut table, "dead_letter")?;
        let runtime = RuntimeConfig::deserialize(toml::Value::Table(table))
            .map_err(|e| D::Error::custom(e.message()))?;
        Ok(SinkEntry {
            name,
            kind,
            runtime,
            #[cfg(feature = "mongodb")]
            mongodb,
            #[cfg(feature = "mongodb")]
            search,
            #[cfg(feature = "cql")]
            cql,
            file,
            stdout,
            #[cfg(feature = "dashboard")]
            dashboard,
            #[cfg(feature = "streams")]
            streams,
            #[cfg(feature = "usage")]
            usage,
            dead_letter,
        })
    }
}

impl SinkEntry {
    /// The settings tables present, by kind.
    fn tables(&self) -> Vec<SinkKind> {
        let mut present = Vec::new();
        #[cfg(feature = "mongodb")]
        if self.mongodb.is_some() {
            present.push(SinkKind::Mongodb);
        }
        #[cfg(feature = "cql")]
        if self.cql.is_some() {
            present.push(SinkKind::Cql);
        }
        if self.file.is_some() {
            present.push(SinkKind::File);
        }
        if self.stdout.is_some() {
            present.push(SinkKind::Stdout);
        }
        #[cfg(feature = "dashboard")]
        if self.dashboard.is_some() {
            present.push(SinkKind::Dashboard);
        }
        #[cfg(feature = "streams")]
        if self.streams.is_some() {
            present.push(SinkKind::Streams);
        }
        #[cfg(feature = "usage")]
        if self.usage.is_some() {
            present.push(SinkKind::Usage);
        }
        present
    }
}

impl SinksConfig {
    /// Reads a file (`${VAR}` expanded first), parses and checks it.
    pub fn from_file(path: &Path) -> Result<SinksConfig, ConfigError> {
        let (config, text): (SinksConfig, String) = eventstorm_core::config::load_toml(path)?;
        let file = path.display().to_string();
        config
            .validate()
            .map_err(|e| e.in_file(file).located_in(&text))?;
        Ok(config)
    }

    /// Parses and checks TOML text (`${VAR}` expanded first); `file` names
    /// it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<SinksConfig, ConfigError> {
        let expanded = eventstorm_core::config::expand_env(text).map_err(|e| e.in_file(file))?;
        let config: SinksConfig = eventstorm_core::config::parse_expanded(&expanded, file)?;
        config
            .validate()
            .map_err(|e| e.in_file(file).located_in(&expanded))?;
        Ok(config)
    }

    /// Checks what serde cannot: at least one sink, unique names, the
    /// settings table matching each `type`, sockets and limits in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.process;
        if p.name.is_empty() {
            return Err(ConfigError::new("process.name", "must not be empty"));
        }
        if p.stats_interval_ms != 0 && p.stats_interval_ms < ProcessConfig::MIN_STATS_INTERVAL_MS {
            return Err(ConfigError::new(
                "process.stats_interval_ms",
                format!(
                    "expected 0 (never) or at least {}",
                    ProcessConfig::MIN_STATS_INTERVAL_MS
                ),
            ));
        }
        if !p.stats_connect.is_empty() {
            stats_publisher(&p.stats_connect)
                .validate("stats publisher")
                .map_err(|e| socket_error("process", e))
                .map_err(|mut e| {
                    if e.key.as_deref() == Some("process.connect") {
                        e.key = Some("process.stats_connect".into());
                    }
                    e
                })?;
        }
        if self.sinks.is_empty() {
            return Err(ConfigError::new(
                "sinks",
                "at least one [[sinks]] is needed",
            ));
        }
        let mut names = HashSet::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let key = format!("sinks[{i}]");
            check_name(&sink.name).map_err(|m| ConfigError::new(format!("{key}.name"), m))?;
            if !names.insert(sink.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{key}.name"),
                    format!("sink name `{}` is used twice", sink.name),
                ));
            }
            check_entry(&key, sink)?;
        }
        self.check_http()
    }

    /// The `[http]` listener: valid, and there when a sink serves routes;
    /// no two sinks mounted at one path.
    fn check_http(&self) -> Result<(), ConfigError> {
        if let Some(http) = &self.http {
            http.validate().map_err(|e| match e {
                eventstorm_core::http::HttpError::Config { key, message } => {
                    ConfigError::new(format!("http.{key}"), message)
                }
                other => ConfigError::new("http", other.to_string()),
            })?;
        }
        let mut mounts: Vec<(String, &str)> = Vec::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let Some(mount) = sink.mount() else { continue };
            let key = format!("sinks[{i}]");
            if self.http.is_none() {
                return Err(ConfigError::new(
                    format!("{key}.type"),
                    format!(
                        "a `{}` sink serves `{mount}` on the process's HTTP listener: \
                         add an `[http]` table with `listen = \"127.0.0.1:8080\"`",
                        sink.kind.as_str()
                    ),
                ));
            }
            if let Some((_, other)) = mounts.iter().find(|(m, _)| *m == mount) {
                return Err(ConfigError::new(
                    format!("{key}.{}.mount", sink.kind.as_str()),
                    format!(
                        "`{mount}` is already where sink `{other}` serves its routes: \
                         give each its own `mount` (\"/ops/\")"
                    ),
                ));
            }
            mounts.push((mount, &sink.name));
        }
        Ok(())
    }
}

impl SinkEntry {
    /// Where this sink serves routes on the `[http]` listener, if it does.
    fn mount(&self) -> Option<String> {
        match self.kind {
            #[cfg(feature = "dashboard")]
            SinkKind::Dashboard => Some(self.dashboard.clone().unwrap_or_default().mount),
            #[cfg(feature = "mongodb")]
            SinkKind::Mongodb if self.search.is_some() => {
                Some(crate::search::SEARCH_PATH.to_owned())
            }
            #[cfg(feature = "streams")]
            SinkKind::Streams => Some("/v1/stream-definitions".into()),
            #[cfg(feature = "usage")]
            SinkKind::Usage => Some(self.usage.clone().unwrap_or_default().mount),
            _ => None,
        }
    }
}

/// The publisher of the stats events: connects to `endpoints`, drop mode.
pub(crate) fn stats_publisher(endpoints: &[String]) -> eventstorm_core::transport::PublishConfig {
    let mut config = eventstorm_core::transport::PublishConfig::default();
    config.endpoint.connect = endpoints.to_vec();
    config
}

/// Names go into logs, stats and file names: keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("expected 1 to 64 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(format!(
            "`{name}`: expected letters, digits, `_`, `-` and `.` only"
        ));
    }
    Ok(())
}

fn check_entry(key: &str, sink: &SinkEntry) -> Result<(), ConfigError> {
    let kind = sink.kind;
    #[cfg(feature = "mongodb")]
    if sink.search.is_some() && kind != SinkKind::Mongodb {
        return Err(ConfigError::new(
            format!("{key}.search"),
            format!(
                "a `search` table in a sink of type `{}`: the search serves what a `mongodb` sink stores",
                kind.as_str()
            ),
        ));
    }
    for table in sink.tables() {
        if table != kind {
            return Err(ConfigError::new(
                format!("{key}.{}", table.as_str()),
                format!(
                    "a `{}` table in a sink of type `{}`: expected `[sinks.{}]` or no settings table",
                    table.as_str(),
                    kind.as_str(),
                    kind.as_str()
                ),
            ));
        }
    }
    let r = &sink.runtime;
    r.socket
        .validate(&sink.name)
        .map_err(|e| socket_error(key, e))?;
    if r.subscribe.is_empty() {
        return Err(ConfigError::new(
            format!("{key}.subscribe"),
            "expected at least one type prefix (\"\" for every event)",
        ));
    }
    if r.batch_max_events == 0 || r.batch_max_events > 1_000_000 {
        return Err(ConfigError::new(
            format!("{key}.batch_max_events"),
            "expected a number from 1 to 1000000",
        ));
    }
    if r.batch_max_delay_ms == 0 || r.batch_max_delay_ms > 3_600_000 {
        return Err(ConfigError::new(
            format!("{key}.batch_max_delay_ms"),
            "expected a number of milliseconds from 1 to 3600000",
        ));
    }
    if r.channel_capacity == 0 || r.channel_capacity > 10_000_000 {
        return Err(ConfigError::new(
            format!("{key}.channel_capacity"),
            "expected a number from 1 to 10000000",
        ));
    }
    let setting = |table: &str, (k, message): (String, String)| {
        ConfigError::new(format!("{key}.{table}.{k}"), message)
    };
    match kind {
        #[cfg(feature = "mongodb")]
        SinkKind::Mongodb => {
            let config = sink.mongodb.clone().unwrap_or_default();
            config.validate().map_err(|e| match e {
                crate::mongo::MongoError::Config { key: k, message } => {
                    setting("mongodb", (k, message))
                }
                other => ConfigError::new(format!("{key}.mongodb"), other.to_string()),
            })?;
            if let Some(search) = &sink.search {
                search.validate().map_err(|e| match e {
                    crate::mongo::MongoError::Config { key: k, message } => {
                        setting("search", (k, message))
                    }
                    other => ConfigError::new(format!("{key}.search"), other.to_string()),
                })?;
            }
        }
        #[cfg(feature = "cql")]
        SinkKind::Cql => {
            let config = sink.cql.clone().unwrap_or_default();
            config.validate().map_err(|e| match e {
                crate::cql::CqlError::Config { key: k, message } => setting("cql", (k, message)),
                other => ConfigError::new(format!("{key}.cql"), other.to_string()),
            })?;
        }
        SinkKind::File => match &sink.file {
            Some(file) => file.validate().map_err(|e| setting("file", e))?,
            None => {
                return Err(ConfigError::new(
                    key,
                    "a sink of type `file` needs a `[sinks.file]` table with a `path`",
                ));
            }
        },
        SinkKind::Stdout | SinkKind::Null => {}
        #[cfg(feature = "dashboard")]
        SinkKind::Dashboard => {
            let config = sink.dashboard.clone().unwrap_or_default();
            config.validate().map_err(|e| setting("dashboard", e))?;
        }
        #[cfg(feature = "streams")]
        SinkKind::Streams => {
            let config = sink.streams.clone().unwrap_or_default();
            config.validate().map_err(|e| setting("streams", e))?;
        }
        #[cfg(feature = "usage")]
        SinkKind::Usage => match &sink.usage {
            Some(usage) => usage.validate().map_err(|e| setting("usage", e))?,
            None => {
                return Err(ConfigError::new(
                    key,
                    "a sink of type `usage` needs a `[sinks.usage]` table with `uri` and `token`",
                ));
            }
        },
        #[allow(unreachable_patterns)]
        other => {
            return Err(ConfigError::new(
                format!("{key}.type"),
                format!(
                    "`{}` sinks are not built into this binary (it was built without the `{}` feature)",
                    other.as_str(),
                    other.as_str()
                ),
            ));
        }
    }
    if let Some(dead) = &sink.dead_letter {
        dead.validate().map_err(|e| setting("dead_letter", e))?;
    }
    Ok(())
}
