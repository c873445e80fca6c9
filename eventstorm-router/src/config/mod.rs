//! The router's configuration: serde structs with `deny_unknown_fields` and
//! named defaults. `docs/router-config.md` is the reference.

//!
//! Split by part: the sockets (`sockets`), the rules and transforms
//! (`rules`), and the checks serde cannot make (`validate`).

mod rules;
mod sockets;
mod validate;

use serde::{Deserialize, Serialize};

use eventstorm_core::config::ConfigError;

pub use rules::{RuleConfig, TransformConfig};
pub use sockets::{DeliveryMode, InputConfig, OutputConfig, TenantBinding};
pub(crate) use validate::normalize_set;

/// A whole router: settings, inputs, outputs and rules.
///
/// ```
/// use eventstorm_router::RouterConfig;
///
/// let config = RouterConfig::from_toml_str(r#"
///     [[inputs]]
///     name = "apps"
///     bind = ["tcp://127.0.0.1:5555"]
///
///     [[outputs]]
///     name = "all"
///     bind = ["tcp://127.0.0.1:5556"]
///
///     [[rules]]
///     match = "volume.*"
///     outputs = ["all"]
/// "#, "router.toml")?;
/// assert_eq!(config.outputs[0].socket.endpoint.hwm, eventstorm_router::OutputConfig::DEFAULT_HWM);
/// # Ok::<(), eventstorm_router::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// Router-wide settings.
    #[serde(default)]
    pub router: RouterSettings,
    /// Where events come from (at least one).
    #[serde(default)]
    pub inputs: Vec<InputConfig>,
    /// Where events go (at least one), by name.
    #[serde(default)]
    pub outputs: Vec<OutputConfig>,
    /// The ordered routing rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// Router-wide settings (the `[router]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSettings {
    /// The router's name in logs and stats events (default `router`).
    pub name: String,
    /// The output that receives events no rule matched; when unset they are
    /// dropped and counted as `unmatched`.
    pub default_output: Option<String>,
    /// How often a stats line is logged ([`Self::DEFAULT_STATS_INTERVAL_MS`]; 0: never).
    pub stats_interval_ms: u64,
    /// Outputs on which the stats are also published, as events of type
    /// [`crate::STATS_TYPE`], at every stats interval (default: none).
    pub stats_outputs: Vec<String>,
    /// Send the subscriptions again to every upstream peer when an input
    /// connects or accepts a connection (default true). libzmq 4.3.4's XSUB
    /// does this by itself; this keeps working if it did not.
    pub resubscribe_on_connect: bool,
}

impl RouterSettings {
    /// Default interval between stats lines, in milliseconds.
    pub const DEFAULT_STATS_INTERVAL_MS: u64 = 10_000;
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            name: "router".into(),
            default_output: None,
            stats_interval_ms: Self::DEFAULT_STATS_INTERVAL_MS,
            stats_outputs: Vec::new(),
            resubscribe_on_connect: true,
        }
    }
}

impl RouterConfig {
    /// Reads and validates a TOML file (`${VAR}` expanded first, see
    /// [`eventstorm_core::config::expand_env`]).
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = eventstorm_core::config::read_expanded(path)?;
        Self::from_expanded(&text, &path.display().to_string())
    }

    /// Parses and validates TOML text (`${VAR}` expanded first); `file`
    /// names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, ConfigError> {
        let expanded = eventstorm_core::config::expand_env(text).map_err(|e| e.in_file(file))?;
        Self::from_expanded(&expanded, file)
    }

    fn from_expanded(text: &str, file: &str) -> Result<Self, ConfigError> {
        let config: RouterConfig = eventstorm_core::config::parse_expanded(text, file)?;
        config
            .validate()
            .map_err(|err| err.in_file(file).located_in(text))?;
        Ok(config)
    }

    /// The rule names, defaulted to `rule<N>`.
    pub fn rule_names(&self) -> Vec<String> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| r.name.clone().unwrap_or_else(|| format!("rule{i}")))
            .collect()
    }
}
