//! Errors of the parsers: what is wrong with a line, at which column, and what
//! was expected; and errors of building a parser from its configuration.

use std::fmt;

/// Why a line could not be parsed.
///
/// Every error names the 1-based column (counted in characters, not bytes) where
/// the problem was found, and says what was expected there:
///
/// ```
/// use eventstorm_source::parse::{Parser, parser_by_name, ParserConfig};
/// let nginx = parser_by_name("nginx", &ParserConfig::default()).unwrap();
/// let err = nginx.parse("1.2.3.4 - - x").unwrap_err();
/// assert_eq!(err.column(), 13);
/// assert_eq!(
///     err.to_string(),
///     "column 13: expected '[' before $time_local, found 'x'"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Something other than what the format requires was found.
    #[error("column {column}: expected {expected}, found {found}")]
    Unexpected {
        /// 1-based character column.
        column: usize,
        /// What the format requires there.
        expected: String,
        /// What was found: a quoted character, or `end of line`.
        found: String,
    },
    /// A token has the right shape but an invalid value (a month named `Foo`,
    /// a priority above 191, a day 31 in April, ...).
    #[error("column {column}: {message}")]
    Invalid {
        /// 1-based character column.
        column: usize,
        /// What is wrong, and what was expected.
        message: String,
    },
}

impl ParseError {
    /// The 1-based character column where the problem was found.
    pub fn column(&self) -> usize {
        match self {
            ParseError::Unexpected { column, .. } | ParseError::Invalid { column, .. } => *column,
        }
    }

    /// An [`ParseError::Unexpected`] at byte offset `at` of `line`.
    pub(crate) fn expected(line: &str, at: usize, expected: impl fmt::Display) -> Self {
        ParseError::Unexpected {
            column: column_of(line, at),
            expected: expected.to_string(),
            found: found_at(line, at),
        }
    }

    /// An [`ParseError::Invalid`] at byte offset `at` of `line`.
    pub(crate) fn invalid(line: &str, at: usize, message: impl fmt::Display) -> Self {
        ParseError::Invalid {
            column: column_of(line, at),
            message: message.to_string(),
        }
    }
}

/// The 1-based character column of byte offset `at` (which need not be a
/// character boundary; offsets past the end give the column after the last
/// character).
pub(crate) fn column_of(line: &str, at: usize) -> usize {
    let bytes = line.as_bytes();
    let end = at.min(bytes.len());
    bytes[..end].iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1
}

/// Describes what is at byte offset `at`: `'x'`, or `end of line`.
fn found_at(line: &str, at: usize) -> String {
    let mut start = at.min(line.len());
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    match line[start..].chars().next() {
        Some(c) => format!("{c:?}"),
        None => "end of line".to_string(),
    }
}

/// Why a parser could not be built from its name and configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No parser has this name.
    #[error(
        "unknown parser {0:?}: expected one of nginx, postfix, syslog, syslog5424, syslog3164, json, openstack"
    )]
    UnknownParser(String),
    /// An nginx `log_format` string cannot be compiled.
    #[error("log_format column {column}: {message}")]
    LogFormat {
        /// 1-based character column in the format string.
        column: usize,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// Another option has an invalid value.
    #[error("option `{option}`: {message}")]
    Option {
        /// The option's name.
        option: &'static str,
        /// What is wrong, and what was expected.
        message: String,
    },
}
