//! The router's configuration: serde structs with `deny_unknown_fields` and
//! named defaults. `docs/router-config.md` is the reference.

use std::collections::{BTreeMap, HashSet};

use eventstorm_core::Matcher;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::locate;

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
/// assert_eq!(config.outputs[0].hwm, eventstorm_router::OutputConfig::DEFAULT_HWM);
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

/// One input: an XSUB socket that binds and/or connects (`[[inputs]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Name in logs and stats (default `input`; names must be unique).
    pub name: String,
    /// Endpoints to bind: publishers connect here (`tcp://*:5555`, `ipc:///run/events.sock`).
    pub bind: Vec<String>,
    /// Endpoints to connect to: publishers (or routers) that bind.
    pub connect: Vec<String>,
    /// Messages queued per upstream peer ([`Self::DEFAULT_HWM`]).
    pub hwm: i32,
}

impl InputConfig {
    /// Default receive high-water mark.
    pub const DEFAULT_HWM: i32 = 10_000;
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            name: "input".into(),
            bind: Vec::new(),
            connect: Vec::new(),
            hwm: Self::DEFAULT_HWM,
        }
    }
}

/// What an output does when a subscriber's queue is full: `drop` (the
/// default) never waits, an event that finds a full queue is dropped and
/// counted (`dropped_hwm`) and subscribers see it as a sequence gap; `block`
/// waits for room (`ZMQ_XPUB_NODROP` back-pressure): lossless, but a slow
/// subscriber slows the whole router.
pub use eventstorm_core::DeliveryMode;

/// One named output: an XPUB socket that binds and/or connects (`[[outputs]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// The name rules refer to (required, unique).
    pub name: String,
    /// Endpoints to bind: subscribers connect here.
    pub bind: Vec<String>,
    /// Endpoints to connect to: a subscriber or another router's input that binds.
    pub connect: Vec<String>,
    /// Drop (default) or block when a subscriber's queue is full.
    pub mode: DeliveryMode,
    /// Messages queued per subscriber ([`Self::DEFAULT_HWM`]).
    pub hwm: i32,
    /// How long closing waits to deliver queued events ([`Self::DEFAULT_LINGER_MS`]).
    pub linger_ms: u64,
    /// How often, when idle, sequence marks are sent for streams that changed
    /// ([`Self::DEFAULT_MARK_INTERVAL_MS`]; 0: only at close).
    pub mark_interval_ms: u64,
}

impl OutputConfig {
    /// Default send high-water mark.
    pub const DEFAULT_HWM: i32 = 10_000;
    /// Default linger on close, in milliseconds.
    pub const DEFAULT_LINGER_MS: u64 = 2_000;
    /// Default interval between sequence marks, in milliseconds.
    pub const DEFAULT_MARK_INTERVAL_MS: u64 = 1_000;

    /// An output named `name` that binds `endpoint`, with the defaults.
    pub fn bind(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        OutputConfig {
            name: name.into(),
            bind: vec![endpoint.into()],
            ..Default::default()
        }
    }
}

impl InputConfig {
    /// An input named `name` that binds `endpoint`, with the defaults.
    pub fn bind(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        InputConfig {
            name: name.into(),
            bind: vec![endpoint.into()],
            ..Default::default()
        }
    }

    /// An input named `name` that connects to `endpoint`, with the defaults.
    pub fn connect(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        InputConfig {
            name: name.into(),
            connect: vec![endpoint.into()],
            ..Default::default()
        }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            name: String::new(),
            bind: Vec::new(),
            connect: Vec::new(),
            mode: DeliveryMode::Drop,
            hwm: Self::DEFAULT_HWM,
            linger_ms: Self::DEFAULT_LINGER_MS,
            mark_interval_ms: Self::DEFAULT_MARK_INTERVAL_MS,
        }
    }
}

/// One routing rule (`[[rules]]`): events that match go to the outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name in stats (default `rule<N>`, N from 0 in file order).
    #[serde(default)]
    pub name: Option<String>,
    /// Which events: the matcher grammar (`'volume.* where tenant == "acme"'`)
    /// or its table form.
    #[serde(rename = "match")]
    pub matcher: Matcher,
    /// The outputs matching events go to (at least one).
    pub outputs: Vec<String>,
    /// Keep evaluating the rules after this one matched (default false: stop).
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    /// Changes made to the events this rule sends (default: none).
    #[serde(default)]
    pub transform: TransformConfig,
}

impl RuleConfig {
    /// A rule sending what `matcher` matches to `outputs`, stopping there.
    pub fn new<I, S>(matcher: Matcher, outputs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RuleConfig {
            name: None,
            matcher,
            outputs: outputs.into_iter().map(Into::into).collect(),
            continue_: false,
            transform: TransformConfig::default(),
        }
    }
}

/// A rule's light transform (`[rules.transform]`). Fields are dotted paths
/// from the document root (`body.region`, `tenant`); the envelope fields `_id`,
/// `type`, `ts` and `body` cannot be changed. Applied in the order: sample,
/// remove, rename, set, tenant. Only events a transform changes are re-encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransformConfig {
    /// Fields to set (added or replaced), e.g. `{ "body.region" = "eu-1" }`.
    pub set: BTreeMap<String, bson::Bson>,
    /// Fields to remove, e.g. `["body.password"]`.
    pub remove: Vec<String>,
    /// Fields to rename, old path to new path, e.g. `{ "body.host" = "body.hostname" }`.
    pub rename: BTreeMap<String, String>,
    /// Sets the `tenant` envelope field.
    pub tenant: Option<String>,
    /// Sends 1 event in `sample` (default 1: all); the others are counted as
    /// `sampled_out`.
    pub sample: u64,
}

impl TransformConfig {
    /// Whether this transform changes nothing and keeps every event.
    pub fn is_identity(&self) -> bool {
        self.set.is_empty()
            && self.remove.is_empty()
            && self.rename.is_empty()
            && self.tenant.is_none()
            && self.sample <= 1
    }
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            set: BTreeMap::new(),
            remove: Vec::new(),
            rename: BTreeMap::new(),
            tenant: None,
            sample: 1,
        }
    }
}

/// Envelope fields a transform may not touch.
const PROTECTED: [&str; 4] = ["_id", "type", "ts", "body"];

impl RouterConfig {
    /// Reads and validates a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Self::from_toml_str(&text, &file)
    }

    /// Parses and validates TOML text; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, ConfigError> {
        let config: RouterConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| locate::key_at(text, o));
            let mut err = ConfigError {
                file: file.to_string(),
                line: None,
                column: None,
                key,
                message: e.message().trim_end().to_string(),
            };
            if let Some(offset) = offset {
                err = err.at_offset(text, offset);
            }
            err
        })?;
        config.validate().map_err(|mut err| {
            err.file = file.to_string();
            if let Some(offset) = err.key.as_deref().and_then(|k| locate::offset_of(text, k)) {
                err = err.at_offset(text, offset);
            }
            err
        })?;
        Ok(config)
    }

    /// Checks what serde cannot: at least one input and output, unique names,
    /// rules naming known outputs, transforms on changeable fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.inputs.is_empty() {
            return Err(ConfigError::new(
                "inputs",
                "at least one [[inputs]] is needed",
            ));
        }
        if self.outputs.is_empty() {
            return Err(ConfigError::new(
                "outputs",
                "at least one [[outputs]] is needed",
            ));
        }
        let mut names = HashSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            check_endpoints(&format!("inputs[{i}]"), &input.bind, &input.connect)?;
            if !names.insert(input.name.as_str()) {
                return Err(ConfigError::new(
                    format!("inputs[{i}].name"),
                    format!("input name `{}` is used twice", input.name),
                ));
            }
        }
        let mut outputs = HashSet::new();
        for (i, output) in self.outputs.iter().enumerate() {
            if output.name.is_empty() {
                return Err(ConfigError::new(format!("outputs[{i}]"), "missing `name`"));
            }
            check_endpoints(&format!("outputs[{i}]"), &output.bind, &output.connect)?;
            if !outputs.insert(output.name.as_str()) {
                return Err(ConfigError::new(
                    format!("outputs[{i}].name"),
                    format!("output name `{}` is used twice", output.name),
                ));
            }
        }
        let known = |key: String, name: &str| -> Result<(), ConfigError> {
            if outputs.contains(name) {
                Ok(())
            } else {
                let mut list: Vec<&str> = outputs.iter().copied().collect();
                list.sort_unstable();
                Err(ConfigError::new(
                    key,
                    format!("unknown output `{name}`: expected one of {list:?}"),
                ))
            }
        };
        if let Some(name) = &self.router.default_output {
            known("router.default_output".into(), name)?;
        }
        for (j, name) in self.router.stats_outputs.iter().enumerate() {
            known(format!("router.stats_outputs[{j}]"), name)?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.outputs.is_empty() {
                return Err(ConfigError::new(
                    format!("rules[{i}].outputs"),
                    "a rule needs at least one output",
                ));
            }
            for (j, name) in rule.outputs.iter().enumerate() {
                known(format!("rules[{i}].outputs[{j}]"), name)?;
            }
            check_transform(i, &rule.transform)?;
        }
        Ok(())
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

fn check_endpoints(key: &str, bind: &[String], connect: &[String]) -> Result<(), ConfigError> {
    if bind.is_empty() && connect.is_empty() {
        return Err(ConfigError::new(
            key,
            "no endpoint: give at least one `bind` or `connect` endpoint",
        ));
    }
    for (what, list) in [("bind", bind), ("connect", connect)] {
        for (j, endpoint) in list.iter().enumerate() {
            let ok = [
                "tcp://",
                "ipc://",
                "inproc://",
                "pgm://",
                "epgm://",
                "ws://",
                "tipc://",
            ]
            .iter()
            .any(|scheme| endpoint.starts_with(scheme) && endpoint.len() > scheme.len());
            if !ok {
                return Err(ConfigError::new(
                    format!("{key}.{what}[{j}]"),
                    format!(
                        "`{endpoint}` is not an endpoint: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_transform(i: usize, t: &TransformConfig) -> Result<(), ConfigError> {
    let check = |key: String, path: &str| -> Result<(), ConfigError> {
        let valid = !path.is_empty() && path.split('.').all(|s| !s.is_empty());
        if !valid {
            return Err(ConfigError::new(
                key,
                format!("`{path}` is not a field path such as `body.region` or `tenant`"),
            ));
        }
        if PROTECTED.contains(&path) {
            return Err(ConfigError::new(
                key,
                format!(
                    "`{path}` is an envelope field a transform cannot change (protected: {PROTECTED:?})"
                ),
            ));
        }
        Ok(())
    };
    for path in t.set.keys() {
        check(format!("rules[{i}].transform.set"), path)?;
    }
    for (j, path) in t.remove.iter().enumerate() {
        check(format!("rules[{i}].transform.remove[{j}]"), path)?;
    }
    for (from, to) in &t.rename {
        check(format!("rules[{i}].transform.rename"), from)?;
        check(format!("rules[{i}].transform.rename"), to)?;
    }
    if t.sample == 0 {
        return Err(ConfigError::new(
            format!("rules[{i}].transform.sample"),
            "sample must be 1 or more (1 in N events is sent)",
        ));
    }
    Ok(())
}
