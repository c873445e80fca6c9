//! Reading the binaries' TOML configuration files, the same way everywhere
//! (feature `config`): `${VAR}` expansion ([`expand_env`]), parsing into a
//! `serde` type, and errors that name the file, the line, the column, the key
//! and what was expected ([`ConfigError`]).
//!
//! ```
//! use eventstorm_core::config::parse_toml;
//!
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     name: String,
//!     hwm: u32,
//! }
//!
//! let settings: Settings = parse_toml("name = \"a\"\nhwm = ${EVENTSTORM_DOC_UNSET:-1000}\n", "a.toml")?;
//! assert_eq!(settings.hwm, 1000);
//!
//! let err = parse_toml::<Settings>("name = \"a\"\nhwn = 1\n", "a.toml").unwrap_err();
//! assert_eq!(err.line, Some(2));
//! assert_eq!(err.key.as_deref(), Some("hwn"));
//! assert!(err.to_string().starts_with("a.toml:2:1: `hwn`: unknown field `hwn`, expected"));
//! # Ok::<(), eventstorm_core::config::ConfigError>(())
//! ```

mod env;
mod error;
mod locate;

use std::path::Path;

use serde::de::DeserializeOwned;

pub use env::{expand_env, expand_with};
pub use error::ConfigError;
pub use locate::{key_at, offset_of};

/// Largest configuration file read (bytes): a configuration is written by
/// hand; anything larger is a mistake, refused before it is read whole.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a configuration file: its text with `${VAR}` expanded. Errors name
/// the file.
pub fn read_expanded(path: &Path) -> Result<String, ConfigError> {
    let file = path.display().to_string();
    let fail = |message: String| ConfigError::whole(message).in_file(file.clone());
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!(
            "the file is {} bytes, more than a configuration may be ({MAX_CONFIG_BYTES})",
            meta.len()
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    let expanded = expand_env(&text).map_err(|e| e.in_file(file.clone()))?;
    Ok(expanded.into_owned())
}

/// Expands `${VAR}` in `text` and parses it as TOML into `T`; `file` names
/// the text in errors.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    let expanded = expand_env(text).map_err(|e| e.in_file(file))?;
    parse_expanded(&expanded, file)
}

/// Parses TOML text whose `${VAR}` are already expanded (from
/// [`read_expanded`]) into `T`; `file` names the text in errors.
pub fn parse_expanded<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        let message = e.message().trim_end();
        let mut err = ConfigError::whole(message).in_file(file);
        err.key = offset.and_then(|o| key_at(text, o));
        // Inside a table deserialized as a whole (a flattened section), the
        // span is the table's: place an unknown field at its own key.
        if let (Some(table), Some((sub, field))) = (err.key.as_deref(), unknown_field(message)) {
            let path = match sub {
                Some(sub) => format!("{table}.{sub}.{field}"),
                None => format!("{table}.{field}"),
            };
            if let Some(at) = offset_of(text, &path)
                && key_at(text, at).as_deref() == Some(path.as_str())
            {
                err.key = Some(path);
                return err.at_offset(text, at);
            }
        }
        // Likewise a value of the wrong type: serde names the value, which
        // finds its key when no other key of the table has it.
        if let (Some(table), Some(unexpected)) = (err.key.as_deref(), invalid_type(message))
            && let Some((path, at)) = locate::key_with_value(text, table, unexpected)
        {
            err.key = Some(path);
            return err.at_offset(text, at);
        }
        match offset {
            Some(offset) => err.at_offset(text, offset),
            None => err,
        }
    })
}

/// What serde's "invalid type: WHAT, expected ..." message says was found.
fn invalid_type(message: &str) -> Option<&str> {
    let rest = message.split_once("invalid type: ")?.1;
    Some(rest.rsplit_once(", expected ")?.0)
}

/// The configuration error for a socket's settings that the transport
/// layer refused (`TransportError` from `ReceiveConfig::validate` or
/// `PublishConfig::validate`), at the socket's key (`inputs[0]`,
/// `sinks[2]`): the setting's own key is appended.
#[cfg(feature = "transport")]
pub fn socket_error(key: &str, error: crate::transport::TransportError) -> ConfigError {
    use crate::transport::TransportError;
    match error {
        TransportError::NoEndpoint { .. } => ConfigError::new(
            key,
            "no endpoint: give at least one `bind` or `connect` endpoint",
        ),
        TransportError::InvalidEndpoint {
            action,
            endpoint,
            reason,
            ..
        } => ConfigError::new(
            format!("{key}.{action}"),
            format!("`{endpoint}` is not a valid {action} endpoint: {reason}"),
        ),
        TransportError::Setting {
            key: setting,
            message,
            ..
        } => ConfigError::new(format!("{key}.{setting}"), message),
        other => ConfigError::new(key, other.to_string()),
    }
}

/// The field named by serde's "unknown field `NAME`" message, and the
/// sub-table it is in when the message starts with "`TABLE`: ".
fn unknown_field(message: &str) -> Option<(Option<&str>, &str)> {
    let (before, rest) = message.split_once("unknown field `")?;
    let field = rest.split('`').next()?;
    let sub = before
        .strip_prefix('`')
        .and_then(|b| b.strip_suffix("`: "))
        .filter(|s| !s.contains('`'));
    Some((sub, field))
}

/// Reads, expands and parses a configuration file into `T`; returns the
/// expanded text too, so that errors found later (validation) can be placed
/// with [`ConfigError::located_in`].
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let text = read_expanded(path)?;
    let value = parse_expanded(&text, &path.display().to_string())?;
    Ok((value, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        for text in [
            format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000)),
            format!("a = {}", "{ b = ".repeat(100_000)),
            "[a.".repeat(50_000),
        ] {
            let err = parse_toml::<toml::Table>(&text, "deep.toml").unwrap_err();
            assert_eq!(err.file, "deep.toml");
        }
    }

    #[test]
    fn validation_errors_are_placed_at_their_key() {
        let text = "[router]\nname = \"r\"\n\n[[inputs]]\nname = \"a\"\nhwm = 0\n";
        let err = ConfigError::new("inputs[0].hwm", "must be at least 1")
            .in_file("r.toml")
            .located_in(text);
        assert_eq!((err.line, err.column), (Some(6), Some(7)));
        assert_eq!(
            err.to_string(),
            "r.toml:6:7: `inputs[0].hwm`: must be at least 1"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Socket {
        name: String,
        #[serde(flatten)]
        endpoint: Endpoint,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Endpoint {
        #[serde(default)]
        hwm: i32,
        #[serde(default)]
        linger_ms: u64,
        #[serde(default)]
        bind: Vec<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct File {
        inputs: Vec<Socket>,
    }

    #[test]
    fn a_wrong_typed_key_of_a_flattened_table_is_placed_at_its_key() {
        for (value, key, column) in [
            ("hwm = \"lots\"", "inputs[1].hwm", 7),
            ("linger_ms = true", "inputs[1].linger_ms", 13),
            ("hwm = 1.5", "inputs[1].hwm", 7),
            ("bind = 5", "inputs[1].bind", 8),
        ] {
            let text = format!("[[inputs]]\nname = \"a\"\n\n[[inputs]]\nname = \"b\"\n{value}\n");
            let err = parse_toml::<File>(&text, "r.toml").unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{err}");
            assert_eq!((err.line, err.column), (Some(6), Some(column)), "{err}");
            assert!(err.message.contains("expected"), "{err}");
        }
        // Two keys with the value that is wrong for one of them: which one
        // cannot be told, and the error stays at the table.
        let text = "[[inputs]]\nname = \"5\"\nhwm = \"5\"\n";
        let err = parse_toml::<File>(text, "r.toml").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("inputs[0]"), "{err}");
    }

    #[test]
    fn refuses_a_file_too_large_to_be_a_configuration() {
        let dir = std::env::temp_dir().join(format!("eventstorm-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.toml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let err = read_expanded(&path).unwrap_err();
        assert!(err.message.contains("more than"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
