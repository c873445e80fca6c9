//! The checks serde cannot make: at least one input and output, unique
//! names, well-formed endpoints and socket settings, rules naming known
//! outputs, transforms on changeable fields with values of the envelope's
//! types.

use std::collections::HashSet;

use eventstorm_core::transport::TransportError;

use super::{RouterConfig, TransformConfig};
use eventstorm_core::config::ConfigError;

/// Envelope fields a transform may not touch.
const PROTECTED: [&str; 4] = ["_id", "type", "ts", "body"];

impl RouterConfig {
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
            check_socket(&format!("inputs[{i}]"), input.socket.validate(&input.name))?;
            let keys = input.socket.endpoint.security.has_allow_list();
            if input.tenant_from_key.is_some() && !keys {
                return Err(ConfigError::new(
                    format!("inputs[{i}].tenant_from_key"),
                    "needs `security.curve_allow_list` (and `security.curve_secret_key`): \
                     the tenant comes from the allow-list entry of the key that sent the event",
                ));
            }
            if input.trusted && keys {
                return Err(ConfigError::new(
                    format!("inputs[{i}].trusted"),
                    "must stay false on an input with `security.curve_allow_list`: trust then \
                     comes from the keys (set `trusted = true` on their allow-list entries)",
                ));
            }
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
            check_socket(
                &format!("outputs[{i}]"),
                output.socket.validate(&output.name),
            )?;
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
}

/// Maps a socket's own check to a configuration error at its key.
fn check_socket(key: &str, checked: Result<(), TransportError>) -> Result<(), ConfigError> {
    checked.map_err(|e| eventstorm_core::config::socket_error(key, e))
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
    for (path, value) in &t.set {
        check(format!("rules[{i}].transform.set"), path)?;
        if let Some(Err(message)) = envelope_value(path, value) {
            return Err(ConfigError::new(
                format!("rules[{i}].transform.set"),
                format!("`{path}` = {value}: {message}"),
            ));
        }
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

/// What an envelope field set by a transform must hold, and the value to
/// write (`severity` names become their numbers, integers the envelope's
/// BSON integer types).
fn envelope_value(path: &str, value: &bson::Bson) -> Option<Result<bson::Bson, String>> {
    use bson::Bson;
    let int = |v: &Bson| match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    };
    Some(match path {
        "severity" => match (value, int(value)) {
            (_, Some(n)) if eventstorm_core::Severity::from_code(n).is_some() => {
                Ok(Bson::Int32(i32::try_from(n).unwrap_or(6)))
            }
            (Bson::String(name), _) => name
                .parse::<eventstorm_core::Severity>()
                .map(|s| Bson::Int32(i32::from(s.code())))
                .map_err(|_| format!("`{name}` is not a severity")),
            _ => Err(String::new()),
        }
        .map_err(|m| {
            format!("{m}{}expected a syslog severity: 0 (emergency) to 7 (debug), or its name such as \"warning\"", if m.is_empty() { "" } else { ": " })
        }),
        "pid" => int(value)
            .map(Bson::Int64)
            .ok_or_else(|| "expected an integer process id".to_string()),
        "tenant" | "logger" | "hostname" => match value {
            Bson::String(_) => Ok(value.clone()),
            _ => Err("expected a string".to_string()),
        },
        _ => return None,
    })
}

/// The value a transform writes for `path`: envelope fields in the
/// envelope's types (checked by [`RouterConfig::validate`]), other fields
/// as configured.
pub(crate) fn normalize_set(path: &str, value: &bson::Bson) -> bson::Bson {
    match envelope_value(path, value) {
        Some(Ok(v)) => v,
        _ => value.clone(),
    }
}
