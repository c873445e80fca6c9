//! [`UsageConfig`]: where usage is stored, the version rules' thresholds,
//! the parking limits and the API's token.

use serde::{Deserialize, Serialize};

/// How a [`UsageSink`](super::UsageSink) stores usage and serves its API
/// (`[sinks.usage]` in the sink binary's file).
///
/// ```
/// use eventstorm_sink::usage::UsageConfig;
///
/// let config: UsageConfig = toml::from_str(r#"
///     uri = "mongodb://127.0.0.1:27017"
///     database = "almanach"
///     token = "s3cret-token"
///     metadata_whitelist = ["a_metadata.to_filter"]
/// "#)?;
/// assert_eq!(config.existence_threshold_secs, UsageConfig::DEFAULT_EXISTENCE_THRESHOLD_SECS);
/// config.validate().map_err(|(key, message)| format!("{key}: {message}"))?;
///
/// let wrong: UsageConfig = toml::from_str("token = \"\"")?;
/// assert_eq!(wrong.validate().unwrap_err().0, "token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageConfig {
    /// MongoDB connection string (default `mongodb://127.0.0.1:27017`).
    pub uri: String,
    /// The database holding the collections `entity`, `volume_type`,
    /// `processed` and `parked` ([`Self::DEFAULT_DATABASE`]).
    pub database: String,
    /// The value every API request must carry in `X-Auth-Token`; required,
    /// 8 to 256 visible ASCII characters.
    pub token: String,
    /// Where the API is mounted on the HTTP listener: with `/`, the routes
    /// are `/info`, `/v1/info`, `/project/...`, `/v1/project/...` (default
    /// `/`; starts and ends with `/`).
    pub mount: String,
    /// A volume attached or detached within this many seconds of its
    /// active version's start is updated in place; a volume deleted within
    /// it drops that version ([`Self::DEFAULT_EXISTENCE_THRESHOLD_SECS`],
    /// 0 to 86 400).
    pub existence_threshold_secs: u64,
    /// The instance metadata keys kept (`payload.metadata`); the others
    /// are left out. Default none. At most 64 keys, without `$`.
    pub metadata_whitelist: Vec<String>,
    /// Most events kept parked (waiting for their entity's create);
    /// beyond this, an event that would be parked goes to the dead-letter
    /// file and is counted in `parked_overflow`
    /// ([`Self::DEFAULT_MAX_PARKED`], 1 to 10 000 000).
    pub max_parked: u64,
    /// A parked event is tried again when its entity's create arrives and
    /// every `park_retry_interval_ms` ([`Self::DEFAULT_PARK_RETRY_INTERVAL_MS`],
    /// 100 to 86 400 000).
    pub park_retry_interval_ms: u64,
    /// After this many tries that found no entity, a parked event goes to
    /// the dead-letter file and is counted in `parked_expired`
    /// ([`Self::DEFAULT_PARK_MAX_TRIES`], 1 to 1000): it is kept at least
    /// `park_max_tries × park_retry_interval_ms`.
    pub park_max_tries: u32,
    /// How long a write may wait for an unreachable MongoDB before the
    /// event goes to the dead-letter file as `failed`
    /// ([`Self::DEFAULT_RETRY_TIMEOUT_MS`], 0 to 3 600 000).
    pub retry_timeout_ms: u64,
    /// How long one operation waits for a reachable server
    /// ([`Self::DEFAULT_SERVER_SELECTION_TIMEOUT_MS`]).
    pub server_selection_timeout_ms: u64,
    /// Longest period a list or usage query may span, in days
    /// ([`Self::DEFAULT_MAX_PERIOD_DAYS`], 1 to 36 600).
    pub max_period_days: u64,
    /// Most versions one list query returns; a longer answer is refused
    /// with 400 asking for a shorter period ([`Self::DEFAULT_MAX_RESULTS`],
    /// 1 to 1 000 000).
    pub max_results: u64,
}

impl UsageConfig {
    /// Default database.
    pub const DEFAULT_DATABASE: &'static str = "almanach";
    /// Default existence threshold: 60 s, as Almanach's.
    pub const DEFAULT_EXISTENCE_THRESHOLD_SECS: u64 = 60;
    /// Default parked events cap.
    pub const DEFAULT_MAX_PARKED: u64 = 100_000;
    /// Default interval between tries of parked events: 25 s, as
    /// Almanach's retry queue.
    pub const DEFAULT_PARK_RETRY_INTERVAL_MS: u64 = 25_000;
    /// Default tries before a parked event is given up: 5, as Almanach's.
    pub const DEFAULT_PARK_MAX_TRIES: u32 = 5;
    /// Default wait for an unreachable server: 30 s.
    pub const DEFAULT_RETRY_TIMEOUT_MS: u64 = 30_000;
    /// Default server selection timeout: 2 s.
    pub const DEFAULT_SERVER_SELECTION_TIMEOUT_MS: u64 = 2_000;
    /// Default longest query period: about 10 years.
    pub const DEFAULT_MAX_PERIOD_DAYS: u64 = 3660;
    /// Default most versions per list answer.
    pub const DEFAULT_MAX_RESULTS: u64 = 100_000;

    /// A configuration for `uri` and `database` with this token, the rest
    /// default.
    pub fn new(
        uri: impl Into<String>,
        database: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        UsageConfig {
            uri: uri.into(),
            database: database.into(),
            token: token.into(),
            ..UsageConfig::default()
        }
    }

    /// Checks every setting; the error is the key and what was expected.
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
        if !self.uri.starts_with("mongodb://") && !self.uri.starts_with("mongodb+srv://") {
            return Err((
                "uri".into(),
                "expected a MongoDB connection string (mongodb://host:port)".into(),
            ));
        }
        let db = &self.database;
        if db.is_empty()
            || db.len() > 63
            || db
                .bytes()
                .any(|b| matches!(b, b'/' | b'\\' | b'.' | b' ' | b'"' | b'$' | 0))
        {
            return Err((
                "database".into(),
                format!("{db:?}: expected 1 to 63 characters without / \\ . \" $ or spaces"),
            ));
        }
        let t = &self.token;
        if t.len() < 8 || t.len() > 256 || !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                "token".into(),
                "expected 8 to 256 visible ASCII characters (the X-Auth-Token API clients send)"
                    .into(),
            ));
        }
        let m = &self.mount;
        if !m.starts_with('/')
            || !m.ends_with('/')
            || m.len() > 128
            || m.contains("//") && m != "/"
            || !m
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'.'))
        {
            return Err((
                "mount".into(),
                format!(
                    "expected a path that starts and ends with `/` (`/` or `/usage/`), found {m:?}"
                ),
            ));
        }
        range(
            "existence_threshold_secs",
            self.existence_threshold_secs,
            0,
            86_400,
        )?;
        if self.metadata_whitelist.len() > 64 {
            return Err((
                "metadata_whitelist".into(),
                "expected at most 64 keys".into(),
            ));
        }
        if let Some(key) = self
            .metadata_whitelist
            .iter()
            .find(|k| k.is_empty() || k.len() > 128 || k.contains('$') || k.contains('\0'))
        {
            return Err((
                "metadata_whitelist".into(),
                format!("{key:?}: expected 1 to 128 characters without `$`"),
            ));
        }
        range("max_parked", self.max_parked, 1, 10_000_000)?;
        range(
            "park_retry_interval_ms",
            self.park_retry_interval_ms,
            100,
            86_400_000,
        )?;
        range("park_max_tries", u64::from(self.park_max_tries), 1, 1000)?;
        range("retry_timeout_ms", self.retry_timeout_ms, 0, 3_600_000)?;
        range(
            "server_selection_timeout_ms",
            self.server_selection_timeout_ms,
            100,
            600_000,
        )?;
        range("max_period_days", self.max_period_days, 1, 36_600)?;
        range("max_results", self.max_results, 1, 1_000_000)?;
        Ok(())
    }
}

impl Default for UsageConfig {
    fn default() -> Self {
        UsageConfig {
            uri: crate::mongo::DEFAULT_URI.into(),
            database: Self::DEFAULT_DATABASE.into(),
            token: String::new(),
            mount: "/".into(),
            existence_threshold_secs: Self::DEFAULT_EXISTENCE_THRESHOLD_SECS,
            metadata_whitelist: Vec::new(),
            max_parked: Self::DEFAULT_MAX_PARKED,
            park_retry_interval_ms: Self::DEFAULT_PARK_RETRY_INTERVAL_MS,
            park_max_tries: Self::DEFAULT_PARK_MAX_TRIES,
            retry_timeout_ms: Self::DEFAULT_RETRY_TIMEOUT_MS,
            server_selection_timeout_ms: Self::DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
            max_period_days: Self::DEFAULT_MAX_PERIOD_DAYS,
            max_results: Self::DEFAULT_MAX_RESULTS,
        }
    }
}
