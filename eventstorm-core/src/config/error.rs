//! [`ConfigError`]: what is wrong in a configuration, and where.

use std::fmt;

/// A configuration error: the file, where in it, the key, and what was expected.
///
/// Displays as `FILE:LINE:COLUMN: `KEY`: MESSAGE` (the position is left out
/// when unknown, for configurations built in code).
///
/// ```
/// use eventstorm_core::config::ConfigError;
///
/// let err = ConfigError::new("inputs[0].hwm", "expected a number from 1 to 10000000")
///     .in_file("router.toml")
///     .at_offset("[router]\nname = \"r\"\n", 9);
/// assert_eq!(
///     err.to_string(),
///     "router.toml:2:1: `inputs[0].hwm`: expected a number from 1 to 10000000"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file the configuration came from (`<config>` when built in code).
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column, when known.
    pub column: Option<usize>,
    /// The key (dotted path such as `rules[2].outputs`), when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error at `key` with no position.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: Some(key.into()),
            ..ConfigError::whole(message)
        }
    }

    /// An error about the configuration as a whole (no key, no position).
    pub fn whole(message: impl Into<String>) -> Self {
        ConfigError {
            file: "<config>".into(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }

    /// Names the file the configuration came from.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = file.into();
        self
    }

    /// Prefixes the key with `prefix` (`sink[2]` + `batch_max_events` →
    /// `sink[2].batch_max_events`), for a section validated on its own.
    pub fn under(mut self, prefix: &str) -> Self {
        self.key = Some(match self.key.take() {
            Some(key) if !key.is_empty() => format!("{prefix}.{key}"),
            _ => prefix.to_string(),
        });
        self
    }

    /// Sets the line and column from a byte offset into `source`.
    pub fn at_offset(mut self, source: &str, offset: usize) -> Self {
        let before = source.get(..offset).unwrap_or(source);
        self.line = Some(before.matches('\n').count() + 1);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        self.column = Some(before[line_start..].chars().count() + 1);
        self
    }

    /// Sets the line and column from the key, when `source` (the TOML text
    /// the configuration was parsed from) holds it or an enclosing key.
    pub fn located_in(self, source: &str) -> Self {
        match self
            .key
            .as_deref()
            .and_then(|k| super::locate::offset_of(source, k))
        {
            Some(offset) => self.at_offset(source, offset),
            None => self,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}
