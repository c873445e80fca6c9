//! [`StreamsConfig`]: where the engine keeps its state, its limits, its
//! actions and the definitions it starts with.

use std::collections::BTreeMap;
use std::path::PathBuf;

use eventstorm_core::transport::PublishConfig;
use serde::{Deserialize, Serialize};

use super::definition::DefinitionSpec;

/// The stream engine's settings (`[sinks.streams]` in the sink binary's
/// file). Every limit has a named default.
///
/// ```
/// use eventstorm_sink::streams::{StoreConfig, StreamsConfig};
///
/// let config: StreamsConfig = toml::from_str(r#"
///     [store]
///     type = "redb"
///     path = "/var/lib/eventstorm/streams.redb"
///
///     [actions.notify]
///     type = "webhook"
///     url = "http://127.0.0.1:9000/hooks/streams"
///
///     [[definitions]]
///     name = "instance-create"
///     select = ["compute.instance.create.*"]
///     group_by = ["body.instance_id"]
///     expiration = "first + 10m"
///     fire_criteria = [{ match = "compute.instance.create.end" }]
///     fire_actions = ["notify"]
/// "#)?;
/// assert!(matches!(config.store, StoreConfig::Redb { .. }));
/// config.validate().map_err(|(key, message)| format!("{key}: {message}"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// Where definitions and active streams are kept (`[sinks.streams.store]`;
    /// default: in memory, lost at exit).
    pub store: StoreConfig,
    /// Longest time a change waits before it is committed to the store
    /// ([`Self::DEFAULT_COMMIT_INTERVAL_MS`], 1 to 60 000). Changes are also
    /// committed before any action runs.
    pub commit_interval_ms: u64,
    /// Changes (events, streams, definitions) that trigger a commit before
    /// the interval ([`Self::DEFAULT_COMMIT_MAX_CHANGES`], 1 to 10 000 000).
    pub commit_max_changes: usize,
    /// Definitions kept ([`Self::DEFAULT_MAX_DEFINITIONS`], 1 to 100 000).
    pub max_definitions: usize,
    /// Active streams per definition; a new stream beyond it evicts the
    /// stream idle the longest (counted in `streams_evicted`, logged)
    /// ([`Self::DEFAULT_MAX_STREAMS_PER_DEFINITION`], 1 to 10 000 000).
    pub max_streams_per_definition: usize,
    /// Events kept per stream; later ones still count (criteria, `count`)
    /// but are not kept (`events_not_kept`)
    /// ([`Self::DEFAULT_MAX_EVENTS_PER_STREAM`], 1 to 1 000 000).
    pub max_events_per_stream: usize,
    /// Bytes of kept events the engine holds in memory, every stream
    /// together: each kept event costs its length plus
    /// [`Self::KEPT_EVENT_OVERHEAD`]. An event that would go beyond it still
    /// counts (criteria, `count`) but is not kept (`events_not_kept_memory`)
    /// ([`Self::DEFAULT_MAX_KEPT_BYTES`], 1 to 2^50).
    pub max_kept_bytes: u64,
    /// Events a stream's action carries (the first ones kept)
    /// ([`Self::DEFAULT_MAX_ACTION_EVENTS`], 0 to `max_events_per_stream`).
    pub max_action_events: usize,
    /// Event ids remembered to ignore duplicates: at least this many of the
    /// most recent ones and at most twice as many, for every definition
    /// together ([`Self::DEFAULT_DEDUPE_WINDOW`], 0 (off)
    /// to 10 000 000).
    pub dedupe_window: usize,
    /// Largest definition accepted over the API, in bytes of JSON
    /// ([`Self::DEFAULT_MAX_DEFINITION_BYTES`], 256 to 1 MiB).
    pub max_definition_bytes: usize,
    /// Deepest nesting of a definition's JSON (objects and arrays)
    /// ([`Self::DEFAULT_MAX_JSON_DEPTH`], 2 to 64).
    pub max_json_depth: usize,
    /// Longest group-by value, all fields together, in bytes; an event with
    /// a longer one joins no stream (`group_by_too_long`)
    /// ([`Self::DEFAULT_MAX_GROUP_BYTES`], 16 to 65 536).
    pub max_group_bytes: usize,
    /// Batches of events waiting for the engine thread
    /// ([`Self::DEFAULT_QUEUE_BATCHES`], 1 to 65 536); the sink waits when
    /// it is full, and the sink runtime's `when_full` decides.
    pub queue_batches: usize,
    /// The bus endpoint `publish` actions send to (`[sinks.streams.publish]`:
    /// `connect`, `bind`, `hwm`, `mode`, ... as a source's `[publisher]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishConfig>,
    /// Named actions the definitions refer to (`[sinks.streams.actions.NAME]`).
    pub actions: BTreeMap<String, ActionConfig>,
    /// Definitions installed at start (`[[sinks.streams.definitions]]`): each
    /// replaces a stored definition of the same tenant and name, keeping its
    /// id and streams.
    pub definitions: Vec<DefinitionSpec>,
}

impl StreamsConfig {
    /// Default commit interval: 100 ms.
    pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 100;
    /// Default changes per commit.
    pub const DEFAULT_COMMIT_MAX_CHANGES: usize = 50_000;
    /// Default number of definitions.
    pub const DEFAULT_MAX_DEFINITIONS: usize = 1_000;
    /// Default active streams per definition.
    pub const DEFAULT_MAX_STREAMS_PER_DEFINITION: usize = 100_000;
    /// Default events kept per stream.
    pub const DEFAULT_MAX_EVENTS_PER_STREAM: usize = 1_000;
    /// Default budget of kept events in memory: 256 MiB.
    pub const DEFAULT_MAX_KEPT_BYTES: u64 = 256 << 20;
    /// Bytes a kept event costs in `max_kept_bytes` beyond its own length:
    /// its entry in the stream's list (the number of the store segment
    /// holding it, and the pointer and length of its bytes).
    pub const KEPT_EVENT_OVERHEAD: u64 = 24;
    /// Default events per action.
    pub const DEFAULT_MAX_ACTION_EVENTS: usize = 100;
    /// Default dedupe window.
    pub const DEFAULT_DEDUPE_WINDOW: usize = 100_000;
    /// Default definition size: 64 KiB.
    pub const DEFAULT_MAX_DEFINITION_BYTES: usize = 64 << 10;
    /// Default JSON depth.
    pub const DEFAULT_MAX_JSON_DEPTH: usize = 16;
    /// Default group-by bytes.
    pub const DEFAULT_MAX_GROUP_BYTES: usize = 1024;
    /// Default queue.
    pub const DEFAULT_QUEUE_BATCHES: usize = 64;

    /// Checks every setting, the actions and the definitions; the error is
    /// the key (relative to `[sinks.streams]`) and what was expected.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let range = |key: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err((
                    key.to_string(),
                    format!("expected {low} to {high}, found {value}"),
                ))
            }
        };
        range("commit_interval_ms", self.commit_interval_ms, 1, 60_000)?;
        range(
            "commit_max_changes",
            self.commit_max_changes as u64,
            1,
            10_000_000,
        )?;
        range("max_definitions", self.max_definitions as u64, 1, 100_000)?;
        range(
            "max_streams_per_definition",
            self.max_streams_per_definition as u64,
            1,
            10_000_000,
        )?;
        range(
            "max_events_per_stream",
            self.max_events_per_stream as u64,
            1,
            1_000_000,
        )?;
        range("max_kept_bytes", self.max_kept_bytes, 1, 1 << 50)?;
        range(
            "max_action_events",
            self.max_action_events as u64,
            0,
            self.max_events_per_stream as u64,
        )?;
        range("dedupe_window", self.dedupe_window as u64, 0, 10_000_000)?;
        range(
            "max_definition_bytes",
            self.max_definition_bytes as u64,
            256,
            1 << 20,
        )?;
        range("max_json_depth", self.max_json_depth as u64, 2, 64)?;
        range("max_group_bytes", self.max_group_bytes as u64, 16, 65_536)?;
        range("queue_batches", self.queue_batches as u64, 1, 65_536)?;
        self.store.validate()?;
        if let Some(publish) = &self.publish {
            publish
                .validate("streams publisher")
                .map_err(|e| ("publish".to_string(), e.to_string()))?;
        }
        for (name, action) in &self.actions {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            {
                return Err((
                    format!("actions.{name}"),
                    "expected an action name of 1 to 64 letters, digits, `_`, `-` and `.`".into(),
                ));
            }
            action
                .validate()
                .map_err(|(k, m)| (format!("actions.{name}.{k}"), m))?;
            if matches!(action, ActionConfig::Publish(_)) && self.publish.is_none() {
                return Err((
                    format!("actions.{name}"),
                    "a `publish` action needs a `[sinks.streams.publish]` table with the \
                     endpoint to publish to (`connect = [\"tcp://127.0.0.1:5555\"]`)"
                        .into(),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, def) in self.definitions.iter().enumerate() {
            let key = format!("definitions[{i}]");
            def.check(self)
                .map_err(|e| (format!("{key}.{}", e.path), e.expected))?;
            if !names.insert((def.tenant.clone(), def.name.clone())) {
                return Err((
                    format!("{key}.name"),
                    format!("`{}` is defined twice for one tenant", def.name),
                ));
            }
        }
        if self.definitions.len() > self.max_definitions {
            return Err((
                "definitions".into(),
                format!("at most max_definitions ({})", self.max_definitions),
            ));
        }
        Ok(())
    }
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            store: StoreConfig::Memory,
            commit_interval_ms: Self::DEFAULT_COMMIT_INTERVAL_MS,
            commit_max_changes: Self::DEFAULT_COMMIT_MAX_CHANGES,
            max_definitions: Self::DEFAULT_MAX_DEFINITIONS,
            max_streams_per_definition: Self::DEFAULT_MAX_STREAMS_PER_DEFINITION,
            max_events_per_stream: Self::DEFAULT_MAX_EVENTS_PER_STREAM,
            max_kept_bytes: Self::DEFAULT_MAX_KEPT_BYTES,
            max_action_events: Self::DEFAULT_MAX_ACTION_EVENTS,
            dedupe_window: Self::DEFAULT_DEDUPE_WINDOW,
            max_definition_bytes: Self::DEFAULT_MAX_DEFINITION_BYTES,
            max_json_depth: Self::DEFAULT_MAX_JSON_DEPTH,
            max_group_bytes: Self::DEFAULT_MAX_GROUP_BYTES,
            queue_batches: Self::DEFAULT_QUEUE_BATCHES,
            publish: None,
            actions: BTreeMap::new(),
            definitions: Vec::new(),
        }
    }
}

/// Where the engine keeps definitions, active streams and their events
/// (`[sinks.streams.store]`, with a `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum StoreConfig {
    /// In memory only: nothing survives the process (tests, trials).
    Memory,
    /// An embedded [redb](https://docs.rs/redb) file: one process.
    Redb {
        /// The database file (created with its directory's permissions).
        path: PathBuf,
    },
    /// MongoDB collections (feature `mongodb`): state several instances can
    /// take over from one another.
    Mongodb {
        /// The connection string (`mongodb://host:27017`).
        uri: String,
        /// The database (default `eventstorm`).
        #[serde(default = "default_database")]
        database: String,
        /// Prefix of the collections (`streams_definitions`, ...; default
        /// `streams_`).
        #[serde(default = "default_prefix")]
        collection_prefix: String,
    },
}

fn default_database() -> String {
    "eventstorm".into()
}

fn default_prefix() -> String {
    "streams_".into()
}

impl StoreConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        match self {
            StoreConfig::Memory => Ok(()),
            StoreConfig::Redb { path } if path.as_os_str().is_empty() => Err((
                "store.path".into(),
                "expected the path of the database file".into(),
            )),
            StoreConfig::Redb { .. } => Ok(()),
            StoreConfig::Mongodb {
                uri,
                database,
                collection_prefix,
            } => {
                if !uri.starts_with("mongodb://") && !uri.starts_with("mongodb+srv://") {
                    return Err((
                        "store.uri".into(),
                        "expected a `mongodb://` connection string".into(),
                    ));
                }
                if database.is_empty() || database.len() > 63 || database.contains(['/', '.', ' '])
                {
                    return Err((
                        "store.database".into(),
                        "expected a database name (1 to 63 characters, no `/`, `.` or space)"
                            .into(),
                    ));
                }
                if collection_prefix.len() > 64 || collection_prefix.contains(['$', '\0']) {
                    return Err((
                        "store.collection_prefix".into(),
                        "expected at most 64 characters, no `$`".into(),
                    ));
                }
                if cfg!(not(feature = "mongodb")) {
                    return Err((
                        "store.type".into(),
                        "this build has no MongoDB support (feature `mongodb`)".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// One named action (`[sinks.streams.actions.NAME]`, with a `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ActionConfig {
    /// An event on the bus, through `[sinks.streams.publish]`.
    Publish(PublishActionConfig),
    /// An HTTP POST of the stream as JSON.
    Webhook(WebhookConfig),
    /// A log line (target `eventstorm_sink::streams`).
    Log(LogActionConfig),
}

impl ActionConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        match self {
            ActionConfig::Publish(p) => {
                for (key, t) in [("fire_type", &p.fire_type), ("expire_type", &p.expire_type)] {
                    eventstorm_core::event::validate_type(t)
                        .map_err(|e| (key.to_string(), e.to_string()))?;
                }
                Ok(())
            }
            ActionConfig::Webhook(w) => w.validate(),
            ActionConfig::Log(_) => Ok(()),
        }
    }
}

/// `type = "publish"`: the event types of fired and expired streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishActionConfig {
    /// Type of the event for a fired stream (default `stream.fire`).
    pub fire_type: String,
    /// Type of the event for an expired stream (default `stream.expire`).
    pub expire_type: String,
}

impl Default for PublishActionConfig {
    fn default() -> Self {
        PublishActionConfig {
            fire_type: "stream.fire".into(),
            expire_type: "stream.expire".into(),
        }
    }
}

/// `type = "log"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogActionConfig {
    /// Log the stream's events too (default false: the summary only).
    pub events: bool,
}

/// `type = "webhook"`: where and how the stream is POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// `http://host:port/path` (plain HTTP; put a local TLS proxy in front
    /// of an `https` receiver).
    pub url: String,
    /// Time for one attempt: connect, send, answer
    /// ([`Self::DEFAULT_TIMEOUT_MS`], 1 to 300 000).
    pub timeout_ms: u64,
    /// Attempts after the first one, for connection errors, timeouts, 429
    /// and 5xx answers ([`Self::DEFAULT_RETRIES`], 0 to 100).
    pub retries: u32,
    /// Wait before the first retry, doubled each time
    /// ([`Self::DEFAULT_BACKOFF_MS`], 1 to 600 000).
    pub backoff_ms: u64,
    /// Longest wait between attempts ([`Self::DEFAULT_MAX_BACKOFF_MS`]).
    pub max_backoff_ms: u64,
    /// Deliveries waiting for this webhook; more are dead-lettered
    /// (`webhook_queue_full`) ([`Self::DEFAULT_QUEUE`], 1 to 1 000 000).
    pub queue: usize,
    /// Extra request headers (`Authorization`, ...).
    pub headers: BTreeMap<String, String>,
}

impl WebhookConfig {
    /// Default attempt timeout: 5 s.
    pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
    /// Default retries.
    pub const DEFAULT_RETRIES: u32 = 3;
    /// Default first back-off: 200 ms.
    pub const DEFAULT_BACKOFF_MS: u64 = 200;
    /// Default longest back-off: 10 s.
    pub const DEFAULT_MAX_BACKOFF_MS: u64 = 10_000;
    /// Default queue.
    pub const DEFAULT_QUEUE: usize = 10_000;

    fn validate(&self) -> Result<(), (String, String)> {
        super::actions::webhook::Target::parse(&self.url).map_err(|m| ("url".to_string(), m))?;
        let range = |key: &str, value: u64, low: u64, high: u64| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err((
                    key.to_string(),
                    format!("expected {low} to {high}, found {value}"),
                ))
            }
        };
        range("timeout_ms", self.timeout_ms, 1, 300_000)?;
        range("retries", u64::from(self.retries), 0, 100)?;
        range("backoff_ms", self.backoff_ms, 1, 600_000)?;
        range(
            "max_backoff_ms",
            self.max_backoff_ms,
            self.backoff_ms,
            600_000,
        )?;
        range("queue", self.queue as u64, 1, 1_000_000)?;
        for (name, value) in &self.headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || hyper::header::HeaderValue::from_str(value).is_err()
            {
                return Err((
                    format!("headers.{name}"),
                    "expected a valid HTTP header name and a visible-ASCII value".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: String::new(),
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            retries: Self::DEFAULT_RETRIES,
            backoff_ms: Self::DEFAULT_BACKOFF_MS,
            max_backoff_ms: Self::DEFAULT_MAX_BACKOFF_MS,
            queue: Self::DEFAULT_QUEUE,
            headers: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_kept_bytes_defaults_to_256_mib_and_refuses_0() {
        let config: StreamsConfig = toml::from_str("").expect("config");
        assert_eq!(config.max_kept_bytes, 256 << 20);
        let config: StreamsConfig = toml::from_str("max_kept_bytes = 0").expect("config");
        let (key, message) = config.validate().expect_err("0 refused");
        assert_eq!(key, "max_kept_bytes");
        assert!(message.contains("found 0"), "{message}");
    }
}
