//! [`TokensConfig`]: the tokens of each tenant, inline or in a file.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// The tokens a listener accepts, each bound to one tenant: listed inline
/// (`tokens`), read from a file (`tokens_file`), or both.
///
/// With neither, the listener asks for no token ([`is_enabled`](Self::is_enabled)
/// is false). The file is TOML with the same `[[tokens]]` tables; it is read
/// at start (a missing or wrong file fails the start) and read again when it
/// changes, so tokens can be added, rotated and revoked without a restart.
///
/// ```
/// use eventstorm_core::auth::TokensConfig;
///
/// let config: TokensConfig = toml::from_str(r#"
///     [[tokens]]
///     tenant = "acme"
///     token = "acme-0123456789abcdef"
///     previous = "acme-old-0123456789ab"
///     previous_valid_until = "2026-03-01T00:00:00Z"
/// "#)?;
/// assert!(config.is_enabled());
/// assert_eq!(config.tokens[0].tenant, "acme");
/// // Debug output never shows a token.
/// assert!(!format!("{config:?}").contains("0123456789"));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Tokens listed in the configuration (`[[tokens]]`).
    pub tokens: Vec<TokenEntry>,
    /// A TOML file of `[[tokens]]` tables, re-read when it changes (checked
    /// at most once per [`RELOAD_CHECK`](super::RELOAD_CHECK)).
    pub tokens_file: Option<PathBuf>,
}

impl TokensConfig {
    /// Whether any token is configured: then a request or message without a
    /// valid token is refused.
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.tokens_file.is_some()
    }

    /// One inline token for `tenant` (handy in programs and tests).
    pub fn single(tenant: impl Into<String>, token: impl Into<String>) -> Self {
        TokensConfig {
            tokens: vec![TokenEntry::new(tenant, token)],
            tokens_file: None,
        }
    }
}

/// One tenant's token, and during a rotation its previous value with the
/// time until which that value is still accepted.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The tenant this token stamps on what it sends (or may read).
    pub tenant: String,
    /// The token: 16 to 1024 visible ASCII characters (a random 32-byte value
    /// in hex or base64 is a good one).
    pub token: String,
    /// The value this token had before its rotation, still accepted until
    /// `previous_valid_until`.
    #[serde(default)]
    pub previous: Option<String>,
    /// RFC 3339 time (`2026-03-01T00:00:00Z`) until which `previous` is
    /// accepted; required with `previous`.
    #[serde(default)]
    pub previous_valid_until: Option<String>,
}

impl TokenEntry {
    /// A token for `tenant`, with no previous value.
    pub fn new(tenant: impl Into<String>, token: impl Into<String>) -> Self {
        TokenEntry {
            tenant: tenant.into(),
            token: token.into(),
            previous: None,
            previous_valid_until: None,
        }
    }

    /// The same token with a previous value accepted until `until` (RFC 3339).
    pub fn with_previous(mut self, previous: impl Into<String>, until: impl Into<String>) -> Self {
        self.previous = Some(previous.into());
        self.previous_valid_until = Some(until.into());
        self
    }
}

/// Tokens are secrets: they never appear in logs.
impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEntry")
            .field("tenant", &self.tenant)
            .field("token", &"<hidden>")
            .field("previous", &self.previous.as_ref().map(|_| "<hidden>"))
            .field("previous_valid_until", &self.previous_valid_until)
            .finish()
    }
}

/// The contents of a `tokens_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TokensFile {
    pub(super) tokens: Vec<TokenEntry>,
}
