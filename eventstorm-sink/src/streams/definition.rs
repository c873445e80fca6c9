//! Stream definitions: their JSON (and TOML) form, checked field by field so
//! that an error names the field's path and what was expected.

use std::fmt;

use eventstorm_core::Matcher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::config::StreamsConfig;

/// A field of a definition that is wrong: its path (`fire_criteria[0].count`)
/// and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: a dotted path with `[i]` indexes (`""` for the whole body).
    pub path: String,
    /// What was expected, and what was found.
    pub expected: String,
}

impl FieldError {
    pub(crate) fn new(path: impl Into<String>, expected: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            expected: expected.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.expected)
        } else {
            write!(f, "`{}`: {}", self.path, self.expected)
        }
    }
}

/// Where a stream's expiry is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireFrom {
    /// The arrival of the stream's first event.
    First,
    /// The arrival of its latest event.
    Last,
}

/// `first + 10m`, `last + 2h`: when a stream that has not fired expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiration {
    /// From the first or the last event.
    pub from: ExpireFrom,
    /// How long after it, in milliseconds.
    pub after_ms: u64,
}

impl Expiration {
    /// Parses `first + 10m` / `last + 1h30m` (a leading `$` is accepted,
    /// as Winchester wrote it).
    pub fn parse(text: &str) -> Result<Expiration, String> {
        let expected = || {
            format!(
                "expected `first + DURATION` or `last + DURATION` (`first + 10m`, \
                 `last + 2h`), found {text:?}"
            )
        };
        let (base, duration) = text.split_once('+').ok_or_else(expected)?;
        let base = base.trim().trim_start_matches('$').to_ascii_lowercase();
        let from = match base.as_str() {
            "first" => ExpireFrom::First,
            "last" => ExpireFrom::Last,
            _ => return Err(expected()),
        };
        let after_ms = parse_duration(duration.trim())?;
        if after_ms == 0 {
            return Err(format!("expected a duration above zero, found {text:?}"));
        }
        Ok(Expiration { from, after_ms })
    }
}

impl fmt::Display for Expiration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.from {
            ExpireFrom::First => "first",
            ExpireFrom::Last => "last",
        };
        write!(f, "{base} + {}", format_duration(self.after_ms))
    }
}

/// The longest duration accepted: one year.
const MAX_DURATION_MS: u64 = 366 * 86_400_000;

/// `500ms`, `30s`, `10m`, `2h`, `1d`, or several (`1h30m`), in milliseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let expected = || {
        format!(
            "expected a duration such as `500ms`, `30s`, `10m`, `2h`, `1d` or `1h30m`, found {text:?}"
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(expected());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(expected());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| expected())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(expected()),
        };
        rest = rest[unit_len..].trim_start();
        total = n
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= MAX_DURATION_MS)
            .ok_or_else(|| format!("expected at most 366d, found {text:?}"))?;
    }
    Ok(total)
}

/// The shortest text for a duration (`90s` → `1m30s`).
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut left = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

/// One fire criterion: events matching `matcher`, at least `count` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// Which events count.
    pub matcher: Matcher,
    /// How many are needed (1 or more).
    pub count: u64,
}

/// A stream definition as written by its author: see `docs/streams.md`.
///
/// In JSON (the API) and TOML (`[[sinks.streams.definitions]]`):
///
/// ```
/// use eventstorm_sink::streams::DefinitionSpec;
///
/// let def = DefinitionSpec::from_json(&serde_json::json!({
///     "name": "instance-create",
///     "select": ["compute.instance.create.*"],
///     "group_by": ["body.instance_id"],
///     "expiration": "first + 10m",
///     "fire_criteria": [{"match": "compute.instance.create.end", "count": 1}],
///     "fire_actions": ["notify"],
/// }))?;
/// assert_eq!(def.expiration.to_string(), "first + 10m");
///
/// let err = DefinitionSpec::from_json(&serde_json::json!({
///     "name": "x", "select": ["a.*"], "expiration": "first + 10m",
///     "fire_criteria": [{"match": "a.end", "count": 0}],
/// })).unwrap_err();
/// assert_eq!(err.path, "fire_criteria[0].count");
/// # Ok::<(), eventstorm_sink::streams::FieldError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionSpec {
    /// Unique within its tenant: 1 to 128 letters, digits, `_`, `-`, `.`.
    pub name: String,
    /// Free text (at most 1024 characters).
    pub description: String,
    /// When set, the definition sees only this tenant's events.
    pub tenant: Option<String>,
    /// An event joins when any matches (1 to 32).
    pub select: Vec<Matcher>,
    /// Field paths whose values make a stream (0 to 8); an event lacking
    /// one joins no stream of this definition.
    pub group_by: Vec<String>,
    /// When a stream that did not fire expires.
    pub expiration: Expiration,
    /// All must hold for the stream to fire (1 to 16).
    pub fire_criteria: Vec<Criterion>,
    /// Quiet time after the criteria hold before firing, in milliseconds:
    /// each new event pushes it back (default 0).
    pub fire_delay_ms: u64,
    /// Actions run when a stream fires.
    pub fire_actions: Vec<String>,
    /// Actions run when a stream expires.
    pub expire_actions: Vec<String>,
    /// When false, streams fire and expire without running actions.
    pub actions_enabled: bool,
}

/// The keys of a definition.
const KEYS: [&str; 11] = [
    "name",
    "description",
    "tenant",
    "select",
    "group_by",
    "expiration",
    "fire_criteria",
    "fire_delay",
    "fire_actions",
    "expire_actions",
    "actions_enabled",
];

impl DefinitionSpec {
    /// Reads a definition from JSON, checking every field.
    pub fn from_json(value: &Value) -> Result<DefinitionSpec, FieldError> {
        let obj = value
            .as_object()
            .ok_or_else(|| FieldError::new("", "expected a JSON object"))?;
        check_keys(obj, "")?;
        let spec = DefinitionSpec {
            name: name(obj.get("name"), "name")?,
            description: opt_string(obj.get("description"), "description", 1024)?
                .unwrap_or_default(),
            tenant: match obj.get("tenant") {
                None | Some(Value::Null) => None,
                Some(v) => Some(tenant(v)?),
            },
            select: select(obj.get("select"))?,
            group_by: group_by(obj.get("group_by"))?,
            expiration: match obj.get("expiration") {
                Some(Value::String(s)) => {
                    Expiration::parse(s).map_err(|m| FieldError::new("expiration", m))?
                }
                _ => {
                    return Err(FieldError::new(
                        "expiration",
                        "expected a string such as `first + 10m` or `last + 2h`",
                    ));
                }
            },
            fire_criteria: criteria(obj.get("fire_criteria"))?,
            fire_delay_ms: match obj.get("fire_delay") {
                None | Some(Value::Null) => 0,
                Some(Value::String(s)) => {
                    parse_duration(s).map_err(|m| FieldError::new("fire_delay", m))?
                }
                Some(_) => {
                    return Err(FieldError::new(
                        "fire_delay",
                        "expected a duration string such as `30s`",
                    ));
                }
            },
            fire_actions: action_names(obj.get("fire_actions"), "fire_actions")?,
            expire_actions: action_names(obj.get("expire_actions"), "expire_actions")?,
            actions_enabled: match obj.get("actions_enabled") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(FieldError::new("actions_enabled", "expected true or false"));
                }
            },
        };
        Ok(spec)
    }

    /// The definition as JSON (the form [`from_json`](Self::from_json)
    /// reads).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "tenant": self.tenant,
            "select": self.select.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "group_by": self.group_by,
            "expiration": self.expiration.to_string(),
            "fire_criteria": self.fire_criteria.iter().map(|c| json!({
                "match": c.matcher.to_string(),
                "count": c.count,
            })).collect::<Vec<_>>(),
            "fire_delay": format_duration(self.fire_delay_ms),
            "fire_actions": self.fire_actions,
            "expire_actions": self.expire_actions,
            "actions_enabled": self.actions_enabled,
        })
    }

    /// Checks what depends on the engine's configuration: the actions
    /// named exist.
    pub fn check(&self, config: &StreamsConfig) -> Result<(), FieldError> {
        for (key, names) in [
            ("fire_actions", &self.fire_actions),
            ("expire_actions", &self.expire_actions),
        ] {
            for (i, name) in names.iter().enumerate() {
                if !config.actions.contains_key(name) {
                    let known: Vec<&str> = config.actions.keys().map(String::as_str).collect();
                    return Err(FieldError::new(
                        format!("{key}[{i}]"),
                        format!(
                            "expected the name of a configured action ({}), found {name:?}",
                            if known.is_empty() {
                                "none is configured".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies a JSON merge patch (the fields given replace the current
    /// ones; `name` and `tenant` cannot change) and checks the result.
    pub fn patched(&self, patch: &Value) -> Result<DefinitionSpec, FieldError> {
        let obj = patch
            .as_object()
            .ok_or_else(|| FieldError::new("", "expected a JSON object"))?;
        check_keys(obj, "")?;
        for key in ["name", "tenant"] {
            if let Some(v) = obj.get(key)
                && *v != self.to_json()[key]
            {
                return Err(FieldError::new(
                    key,
                    format!("`{key}` cannot change: create a new definition instead"),
                ));
            }
        }
        let mut merged = self.to_json();
        if let Some(target) = merged.as_object_mut() {
            for (k, v) in obj {
                target.insert(k.clone(), v.clone());
            }
        }
        DefinitionSpec::from_json(&merged)
    }
}

impl Serialize for DefinitionSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Through a JSON value, so that TOML and JSON are checked by one reader.
impl<'de> Deserialize<'de> for DefinitionSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DefinitionSpec::from_json(&value).map_err(serde::de::Error::custom)
    }
}

fn check_keys(obj: &Map<String, Value>, prefix: &str) -> Result<(), FieldError> {
    if let Some(key) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(FieldError::new(
            format!("{prefix}{key}"),
            format!("unknown field: expected one of {}", KEYS.join(", ")),
        ));
    }
    Ok(())
}

fn plain(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn name(value: Option<&Value>, path: &str) -> Result<String, FieldError> {
    match value {
        Some(Value::String(s)) if plain(s, 128) => Ok(s.clone()),
        _ => Err(FieldError::new(
            path,
            "expected a name of 1 to 128 letters, digits, `_`, `-` and `.`",
        )),
    }
}

fn tenant(value: &Value) -> Result<String, FieldError> {
    match value {
        Value::String(s) if !s.is_empty() && s.len() <= 256 => Ok(s.clone()),
        _ => Err(FieldError::new(
            "tenant",
            "expected a tenant name of 1 to 256 bytes, or null",
        )),
    }
}

fn opt_string(value: Option<&Value>, path: &str, max: usize) -> Result<Option<String>, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(_) => Err(FieldError::new(
            path,
            format!("expected a string of at most {max} characters"),
        )),
    }
}

fn array<'a>(
    value: Option<&'a Value>,
    path: &str,
    min: usize,
    max: usize,
    what: &str,
) -> Result<&'a [Value], FieldError> {
    let empty: &[Value] = &[];
    let items = match value {
        None | Some(Value::Null) if min == 0 => empty,
        Some(Value::Array(items)) => items.as_slice(),
        _ => {
            return Err(FieldError::new(
                path,
                format!("expected a list of {min} to {max} {what}"),
            ));
        }
    };
    if items.len() < min || items.len() > max {
        return Err(FieldError::new(
            path,
            format!(
                "expected a list of {min} to {max} {what}, found {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

/// The longest matcher text.
const MAX_MATCHER_LEN: usize = 4096;

fn matcher(value: &Value, path: &str) -> Result<Matcher, FieldError> {
    match value {
        Value::String(s) if s.len() > MAX_MATCHER_LEN => Err(FieldError::new(
            path,
            format!("expected a matcher of at most {MAX_MATCHER_LEN} bytes"),
        )),
        Value::String(s) => Matcher::parse(s).map_err(|e| {
            FieldError::new(
                path,
                format!(
                    "expected a matcher (docs/matchers.md): at column {}, expected {}, found {}",
                    e.column(),
                    e.expected(),
                    e.found()
                ),
            )
        }),
        Value::Object(_) => Matcher::deserialize(value).map_err(|e| {
            FieldError::new(path, format!("expected a matcher (docs/matchers.md): {e}"))
        }),
        _ => Err(FieldError::new(
            path,
            "expected a matcher: a string such as `compute.instance.*` or a table",
        )),
    }
}

fn select(value: Option<&Value>) -> Result<Vec<Matcher>, FieldError> {
    array(value, "select", 1, 32, "matchers")?
        .iter()
        .enumerate()
        .map(|(i, v)| matcher(v, &format!("select[{i}]")))
        .collect()
}

/// A field path: `body.instance_id`, `tenant`, `body.tags.0`.
fn field_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$'))
        })
}

fn group_by(value: Option<&Value>) -> Result<Vec<String>, FieldError> {
    let items = array(value, "group_by", 0, 8, "field paths")?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let path = format!("group_by[{i}]");
        match v {
            Value::String(s) if field_path(s) => {
                if out.contains(s) {
                    return Err(FieldError::new(path, format!("`{s}` is listed twice")));
                }
                out.push(s.clone());
            }
            _ => {
                return Err(FieldError::new(
                    path,
                    "expected a field path such as `body.instance_id` or `tenant`",
                ));
            }
        }
    }
    Ok(out)
}

fn criteria(value: Option<&Value>) -> Result<Vec<Criterion>, FieldError> {
    let items = array(value, "fire_criteria", 1, 16, "criteria")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let path = format!("fire_criteria[{i}]");
        let Some(obj) = v.as_object() else {
            return Err(FieldError::new(
                path,
                "expected a table: {\"match\": \"compute.instance.create.end\", \"count\": 1}",
            ));
        };
        if let Some(key) = obj.keys().find(|k| *k != "match" && *k != "count") {
            return Err(FieldError::new(
                format!("{path}.{key}"),
                "unknown field: expected `match` and `count`",
            ));
        }
        let m = match obj.get("match") {
            Some(m) => matcher(m, &format!("{path}.match"))?,
            None => {
                return Err(FieldError::new(
                    format!("{path}.match"),
                    "expected a matcher",
                ));
            }
        };
        let count = match obj.get("count") {
            None => 1,
            Some(c) => match c.as_u64() {
                Some(n @ 1..=1_000_000) => n,
                _ => {
                    return Err(FieldError::new(
                        format!("{path}.count"),
                        format!("expected a whole number from 1 to 1000000, found {c}"),
                    ));
                }
            },
        };
        out.push(Criterion { matcher: m, count });
    }
    Ok(out)
}

fn action_names(value: Option<&Value>, path: &str) -> Result<Vec<String>, FieldError> {
    let items = array(value, path, 0, 8, "action names")?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| name(Some(v), &format!("{path}[{i}]")))
        .collect()
}

/// Checks the nesting depth of JSON text before it is parsed: objects and
/// arrays at most `max` deep (strings are skipped).
pub(crate) fn json_depth_within(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "name": "d", "select": ["a.*"], "expiration": "last + 1h",
            "fire_criteria": [{"match": "a.end"}],
        })
    }

    fn error_of(change: impl FnOnce(&mut Map<String, Value>)) -> FieldError {
        let mut v = base();
        change(v.as_object_mut().expect("object"));
        DefinitionSpec::from_json(&v).expect_err("invalid")
    }

    #[test]
    fn durations_and_expirations_read_and_print_back() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("367d").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
        let e = Expiration::parse("$last + 90s").expect("parse");
        assert_eq!(e.to_string(), "last + 1m30s");
        assert!(Expiration::parse("middle + 1m").is_err());
        assert!(Expiration::parse("first + 0s").is_err());
    }

    #[test]
    fn each_wrong_field_is_named_with_what_was_expected() {
        let cases: Vec<(FieldError, &str)> = vec![
            (error_of(|o| drop(o.remove("name"))), "name"),
            (
                error_of(|o| drop(o.insert("nmae".into(), json!(1)))),
                "nmae",
            ),
            (
                error_of(|o| drop(o.insert("select".into(), json!(["a.* where x >> 1"])))),
                "select[0]",
            ),
            (
                error_of(|o| drop(o.insert("group_by".into(), json!(["body..x"])))),
                "group_by[0]",
            ),
            (
                error_of(|o| drop(o.insert("expiration".into(), json!("soon")))),
                "expiration",
            ),
            (
                error_of(|o| {
                    drop(o.insert("fire_criteria".into(), json!([{"match": "a", "count": -1}])))
                }),
                "fire_criteria[0].count",
            ),
            (
                error_of(|o| drop(o.insert("fire_criteria".into(), json!([{"count": 2}])))),
                "fire_criteria[0].match",
            ),
            (
                error_of(|o| drop(o.insert("fire_delay".into(), json!(5)))),
                "fire_delay",
            ),
            (
                error_of(|o| drop(o.insert("fire_actions".into(), json!(["a b"])))),
                "fire_actions[0]",
            ),
        ];
        for (err, path) in cases {
            assert_eq!(err.path, path, "{err}");
            assert!(err.expected.starts_with("expected") || err.expected.contains("expected"));
        }
    }

    #[test]
    fn json_round_trips_and_patches_keep_name_and_tenant() {
        let spec = DefinitionSpec::from_json(&base()).expect("valid");
        let again = DefinitionSpec::from_json(&spec.to_json()).expect("round trip");
        assert_eq!(spec, again);
        let patched = spec
            .patched(&json!({"expiration": "first + 5m"}))
            .expect("patch");
        assert_eq!(patched.expiration.after_ms, 300_000);
        assert_eq!(
            spec.patched(&json!({"name": "other"})).unwrap_err().path,
            "name"
        );
    }

    #[test]
    fn depth_is_checked_before_parsing() {
        assert!(json_depth_within(br#"{"a": [1, {"b": "[[[["}]}"#, 3));
        assert!(!json_depth_within(b"[[[[1]]]]", 3));
    }
}
