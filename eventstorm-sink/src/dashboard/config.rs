//! [`DashboardConfig`]: the window, the series caps and where the page is
//! served.

use serde::{Deserialize, Serialize};

/// How a [`DashboardSink`](super::DashboardSink) aggregates and where its
/// routes are mounted (`[sinks.dashboard]` in the sink binary's file).
///
/// Memory does not depend on the number of events: it is about
/// `(max_series + 1) × window_secs × 8` bytes for each of the type and
/// tenant dimensions, `9 × window_secs × 8` for severities, and a few KiB
/// per component. [`validate`](Self::validate) keeps `max_series ×
/// window_secs` at most [`Self::MAX_CELLS`] (32 MiB per dimension).
///
/// ```
/// use eventstorm_sink::dashboard::DashboardConfig;
///
/// let config: DashboardConfig = toml::from_str(r#"
///     window_secs = 300
///     type_depth = 1
///     top = 5
/// "#)?;
/// assert_eq!(config.max_series, DashboardConfig::DEFAULT_MAX_SERIES);
/// config.validate().map_err(|(key, message)| format!("{key}: {message}"))?;
///
/// let wrong: DashboardConfig = toml::from_str("top = 0")?;
/// assert_eq!(wrong.validate().unwrap_err().0, "top");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Where the page and its API are mounted on the HTTP listener: `/`
    /// serves `/`, `/api/series`, `/api/stream`; `/ops/` serves `/ops/`,
    /// `/ops/api/series`, ... (default `/`; starts and ends with `/`).
    pub mount: String,
    /// The sliding window the graphs show, in seconds
    /// ([`Self::DEFAULT_WINDOW_SECS`], 60 to 86 400).
    pub window_secs: u64,
    /// How many dot-separated segments of the event type name a series:
    /// with 2, `compute.instance.create.end` counts as `compute.instance`
    /// ([`Self::DEFAULT_TYPE_DEPTH`], 1 to 8).
    pub type_depth: usize,
    /// Series drawn per graph, the busiest over the window; the others are
    /// drawn together as `other` ([`Self::DEFAULT_TOP`], 1 to 50).
    pub top: usize,
    /// Series kept per dimension (type prefix, tenant): the events of a new
    /// name beyond this are counted in `other` until a series has been
    /// silent for a whole window and its place is freed
    /// ([`Self::DEFAULT_MAX_SERIES`], 1 to 1000).
    pub max_series: usize,
    /// Components (from `_eventstorm.stats` events) kept; beyond this, a
    /// new one replaces the longest-silent stale one, or is counted in
    /// `components_refused` ([`Self::DEFAULT_MAX_COMPONENTS`], 1 to 4096).
    pub max_components: usize,
    /// A component that has sent no stats event for this long is shown as
    /// stale ([`Self::DEFAULT_STALE_AFTER_SECS`], 1 to 86 400; make it a
    /// few times the components' stats interval).
    pub stale_after_secs: u64,
    /// Browsers following `/api/stream` at once; more are answered 503
    /// ([`Self::DEFAULT_MAX_STREAM_CLIENTS`], 1 to 1024).
    pub max_stream_clients: usize,
}

impl DashboardConfig {
    /// Default window: 15 minutes.
    pub const DEFAULT_WINDOW_SECS: u64 = 900;
    /// Default type depth: `service.action`.
    pub const DEFAULT_TYPE_DEPTH: usize = 2;
    /// Default series drawn per graph.
    pub const DEFAULT_TOP: usize = 10;
    /// Default series kept per dimension.
    pub const DEFAULT_MAX_SERIES: usize = 100;
    /// Default component cap.
    pub const DEFAULT_MAX_COMPONENTS: usize = 256;
    /// Default staleness: 30 s (three default stats intervals).
    pub const DEFAULT_STALE_AFTER_SECS: u64 = 30;
    /// Default cap on stream clients.
    pub const DEFAULT_MAX_STREAM_CLIENTS: usize = 64;
    /// Largest `max_series × window_secs`: 4 Mi one-second cells (32 MiB)
    /// per dimension.
    pub const MAX_CELLS: u64 = 4 << 20;

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
        let m = &self.mount;
        if !m.starts_with('/') || !m.ends_with('/') || m.len() > 128 {
            return Err((
                "mount".into(),
                format!(
                    "expected a path that starts and ends with `/` (`/` or `/ops/`), found {m:?}"
                ),
            ));
        }
        if m[1..].split('/').rev().skip(1).any(|s| {
            s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }) {
            return Err((
                "mount".into(),
                format!("{m:?}: expected segments of letters, digits, `_`, `-` and `.`"),
            ));
        }
        range("window_secs", self.window_secs, 60, 86_400)?;
        range("type_depth", self.type_depth as u64, 1, 8)?;
        range("top", self.top as u64, 1, 50)?;
        range("max_series", self.max_series as u64, 1, 1000)?;
        range("max_components", self.max_components as u64, 1, 4096)?;
        range("stale_after_secs", self.stale_after_secs, 1, 86_400)?;
        range(
            "max_stream_clients",
            self.max_stream_clients as u64,
            1,
            1024,
        )?;
        let cells = self.max_series as u64 * self.window_secs;
        if cells > Self::MAX_CELLS {
            return Err((
                "max_series".into(),
                format!(
                    "max_series × window_secs is {cells}, over {}: fewer series or a shorter window",
                    Self::MAX_CELLS
                ),
            ));
        }
        Ok(())
    }
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            mount: "/".into(),
            window_secs: Self::DEFAULT_WINDOW_SECS,
            type_depth: Self::DEFAULT_TYPE_DEPTH,
            top: Self::DEFAULT_TOP,
            max_series: Self::DEFAULT_MAX_SERIES,
            max_components: Self::DEFAULT_MAX_COMPONENTS,
            stale_after_secs: Self::DEFAULT_STALE_AFTER_SECS,
            max_stream_clients: Self::DEFAULT_MAX_STREAM_CLIENTS,
        }
    }
}
