//! Tenant tokens (feature `auth`): which tenant a request or a message
//! speaks for.
//!
//! A [`TokenStore`] is built from a [`TokensConfig`] (tokens listed inline
//! and/or in a file) and answers one question: which tenant does this
//! presented token belong to? HTTP ingest stamps that tenant on the events
//! it accepts, the syslog listener on the messages it parses, and the sink
//! binary's search answers only about that tenant.
//!
//! ```
//! use eventstorm_core::auth::{AuthError, TokenEntry, TokenStore, TokensConfig};
//!
//! let config = TokensConfig {
//!     tokens: vec![
//!         TokenEntry::new("acme", "acme-token-0123456789"),
//!         // Rotated: the old value works until the given time.
//!         TokenEntry::new("globex", "globex-new-0123456789")
//!             .with_previous("globex-old-0123456789", "2999-01-01T00:00:00Z"),
//!     ],
//!     tokens_file: None,
//! };
//! let store = TokenStore::new(&config)?;
//! assert_eq!(store.verify(Some("acme-token-0123456789"))?, "acme");
//! assert_eq!(store.verify(Some("globex-old-0123456789"))?, "globex");
//! assert!(matches!(store.verify(Some("guess")), Err(AuthError::Unknown)));
//! assert!(matches!(store.verify(None), Err(AuthError::Missing)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Constant time.** A presented token is compared with every configured
//! value (current and previous, of every tenant) with `subtle`'s
//! `ConstantTimeEq`, and the loop never stops early: how long a check takes
//! does not tell an attacker how many leading bytes of a guess were right,
//! nor which entry it was compared with. A hand-written loop could be
//! turned back into an early-exit comparison by the optimiser; `subtle` is
//! written to prevent that. The length of the tokens is not hidden (tokens
//! of one deployment usually share a length anyway).

mod config;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bson::DateTime;
use subtle::ConstantTimeEq;

pub use config::{TokenEntry, TokensConfig};

/// How often a `tokens_file` is checked for changes (at most; checks happen
/// when a token is verified).
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// The shortest accepted token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
/// The longest accepted token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 1024;
/// The longest accepted tenant name, in bytes.
pub const MAX_TENANT_BYTES: usize = 256;

/// Why a token was not accepted. A listener answers every case the same way
/// (401); the cases are for its logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token was presented.
    #[error("no token: send `X-Auth-Token: TOKEN` or `Authorization: Bearer TOKEN`")]
    Missing,
    /// The token is not one of the configured ones.
    #[error("the token is not valid")]
    Unknown,
    /// The token is a rotated tenant's previous value, past its
    /// `previous_valid_until`.
    #[error("the token is a previous value of tenant {tenant:?}'s token, no longer accepted")]
    Expired {
        /// The tenant whose previous token it is.
        tenant: String,
    },
}

/// A token configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token setting `{key}`: {message}")]
pub struct TokenConfigError {
    /// The key (`tokens[1].previous_valid_until`, `tokens_file`).
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl TokenConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        TokenConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// One entry, checked.
#[derive(Clone)]
struct Entry {
    tenant: String,
    token: Vec<u8>,
    previous: Option<(Vec<u8>, DateTime)>,
}

/// The tokens of a `tokens_file` and when the file was last looked at.
struct FileState {
    entries: Arc<Vec<Entry>>,
    modified: Option<SystemTime>,
    checked: Instant,
}

/// Verifies presented tokens against a [`TokensConfig`]: see the
/// [module docs](self). Cheap to share behind an `Arc`; `verify` may be
/// called from any thread.
pub struct TokenStore {
    inline: Vec<Entry>,
    file: Option<(PathBuf, Mutex<FileState>)>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("inline", &self.inline.len())
            .field("file", &self.file.as_ref().map(|(path, _)| path))
            .finish()
    }
}

impl TokenStore {
    /// Checks every entry and reads the `tokens_file`, if any. Fails with the
    /// key and what was expected: a token shorter than [`MIN_TOKEN_BYTES`] or
    /// not visible ASCII, an empty tenant, `previous` without
    /// `previous_valid_until` (or the other way round), a time that is not
    /// RFC 3339, a token value shared by two entries, a file that cannot be
    /// read or parsed.
    pub fn new(config: &TokensConfig) -> Result<TokenStore, TokenConfigError> {
        let inline = check_entries(&config.tokens, "tokens")?;
        let file = match &config.tokens_file {
            Some(path) => {
                let (entries, modified) = read_file(path)?;
                check_unique(&inline, &entries, "tokens_file")?;
                let state = FileState {
                    entries: Arc::new(entries),
                    modified,
                    checked: Instant::now(),
                };
                Some((path.clone(), Mutex::new(state)))
            }
            None => None,
        };
        Ok(TokenStore { inline, file })
    }

    /// The tenant of `presented` (a token from a header or a message), now.
    pub fn verify(&self, presented: Option<&str>) -> Result<String, AuthError> {
        self.verify_at(presented, DateTime::now())
    }

    /// The tenant of `presented` at time `now` (for a previous value's
    /// expiry).
    pub fn verify_at(&self, presented: Option<&str>, now: DateTime) -> Result<String, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?.trim().as_bytes();
        let from_file = self.file_entries();
        let entries = self
            .inline
            .iter()
            .chain(from_file.iter().flat_map(|e| e.iter()));
        let mut found: Option<&Entry> = None;
        let mut expired: Option<&Entry> = None;
        // Every value is compared, whatever matched before (no early exit).
        for entry in entries {
            if bool::from(entry.token.as_slice().ct_eq(presented)) {
                found = found.or(Some(entry));
            }
            if let Some((previous, until)) = &entry.previous
                && bool::from(previous.as_slice().ct_eq(presented))
            {
                if now < *until {
                    found = found.or(Some(entry));
                } else {
                    expired = expired.or(Some(entry));
                }
            }
        }
        match (found, expired) {
            (Some(entry), _) => Ok(entry.tenant.clone()),
            (None, Some(entry)) => Err(AuthError::Expired {
                tenant: entry.tenant.clone(),
            }),
            (None, None) => Err(AuthError::Unknown),
        }
    }

    /// The file's entries, re-read first when the file changed (checked at
    /// most once per [`RELOAD_CHECK`]). A file that became unreadable or
    /// wrong keeps the last good entries, with a warning.
    fn file_entries(&self) -> Option<Arc<Vec<Entry>>> {
        let (path, state) = self.file.as_ref()?;
        let mut state = match state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified != state.modified {
                match read_file(path).and_then(|(entries, modified)| {
                    check_unique(&self.inline, &entries, "tokens_file")?;
                    Ok((entries, modified))
                }) {
                    Ok((entries, modified)) => {
                        tracing::info!(path = %path.display(), tokens = entries.len(), "tokens file reloaded");
                        state.entries = Arc::new(entries);
                        state.modified = modified;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "tokens file not reloaded, the previous tokens stay in force: {e}");
                        state.modified = modified;
                    }
                }
            }
        }
        Some(Arc::clone(&state.entries))
    }
}

/// Reads and checks a tokens file; also returns its modification time.
fn read_file(path: &Path) -> Result<(Vec<Entry>, Option<SystemTime>), TokenConfigError> {
    let shown = path.display();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(|e| {
        TokenConfigError::new(
            "tokens_file",
            format!("cannot read {shown}: {e} (does it exist and is it readable?)"),
        )
    })?;
    let file: config::TokensFile = toml::from_str(&text).map_err(|e| {
        TokenConfigError::new(
            "tokens_file",
            format!("{shown}: {e} (expected [[tokens]] tables with tenant and token)"),
        )
    })?;
    let entries = check_entries(&file.tokens, &format!("tokens_file {shown}: tokens"))?;
    Ok((entries, modified))
}

fn check_entries(entries: &[TokenEntry], key: &str) -> Result<Vec<Entry>, TokenConfigError> {
    let mut checked = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let at = |field: &str| format!("{key}[{i}].{field}");
        check_tenant(&entry.tenant).map_err(|m| TokenConfigError::new(at("tenant"), m))?;
        check_token(&entry.token).map_err(|m| TokenConfigError::new(at("token"), m))?;
        let previous = match (&entry.previous, &entry.previous_valid_until) {
            (None, None) => None,
            (Some(previous), Some(until)) => {
                check_token(previous).map_err(|m| TokenConfigError::new(at("previous"), m))?;
                if previous == &entry.token {
                    return Err(TokenConfigError::new(
                        at("previous"),
                        "is the same as `token`: a rotation needs a new value",
                    ));
                }
                let until = DateTime::parse_rfc3339_str(until).map_err(|e| {
                    TokenConfigError::new(
                        at("previous_valid_until"),
                        format!(
                            "expected an RFC 3339 time such as 2026-03-01T00:00:00Z, got {until:?}: {e}"
                        ),
                    )
                })?;
                Some((previous.as_bytes().to_vec(), until))
            }
            (Some(_), None) => {
                return Err(TokenConfigError::new(
                    at("previous_valid_until"),
                    "missing: a `previous` token needs the time until which it is accepted",
                ));
            }
            (None, Some(_)) => {
                return Err(TokenConfigError::new(
                    at("previous"),
                    "missing: `previous_valid_until` says until when `previous` is accepted",
                ));
            }
        };
        checked.push(Entry {
            tenant: entry.tenant.clone(),
            token: entry.token.as_bytes().to_vec(),
            previous,
        });
    }
    check_unique(&[], &checked, key)?;
    Ok(checked)
}

/// No token value (current or previous) may belong to two entries: it would
/// speak for two tenants.
fn check_unique(inline: &[Entry], more: &[Entry], key: &str) -> Result<(), TokenConfigError> {
    let mut seen: Vec<(&[u8], &str)> = Vec::new();
    for entry in inline.iter().chain(more) {
        let values = std::iter::once(entry.token.as_slice())
            .chain(entry.previous.as_ref().map(|(p, _)| p.as_slice()));
        for value in values {
            if let Some((_, tenant)) = seen.iter().find(|(v, _)| *v == value) {
                return Err(TokenConfigError::new(
                    key,
                    format!(
                        "a token of tenant {:?} is also a token of tenant {tenant:?} (or listed twice): \
                         each token value must be unique",
                        entry.tenant
                    ),
                ));
            }
            seen.push((value, &entry.tenant));
        }
    }
    Ok(())
}

/// A tenant name: 1 to [`MAX_TENANT_BYTES`] bytes, no control characters.
pub fn check_tenant(tenant: &str) -> Result<(), String> {
    if tenant.is_empty() || tenant.len() > MAX_TENANT_BYTES {
        return Err(format!(
            "expected a tenant of 1 to {MAX_TENANT_BYTES} bytes, got {} bytes",
            tenant.len()
        ));
    }
    if tenant.chars().any(char::is_control) {
        return Err(format!(
            "expected a tenant without control characters, got {tenant:?}"
        ));
    }
    Ok(())
}

fn check_token(token: &str) -> Result<(), String> {
    if !(MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&token.len()) {
        return Err(format!(
            "expected {MIN_TOKEN_BYTES} to {MAX_TOKEN_BYTES} characters, got {} \
             (use a random value, e.g. `openssl rand -hex 32`)",
            token.len()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "expected visible ASCII characters only (no spaces or control characters), \
             as an HTTP header carries"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "token-of-acme-0001";
    const B: &str = "token-of-globex-01";

    fn store(entries: Vec<TokenEntry>) -> Result<TokenStore, TokenConfigError> {
        TokenStore::new(&TokensConfig {
            tokens: entries,
            tokens_file: None,
        })
    }

    #[test]
    fn previous_values_expire() -> Result<(), TokenConfigError> {
        let store = store(vec![
            TokenEntry::new("acme", A).with_previous(B, "2026-03-01T00:00:00Z"),
        ])?;
        let before = DateTime::parse_rfc3339_str("2026-02-28T23:59:59Z").expect("time");
        let after = DateTime::parse_rfc3339_str("2026-03-01T00:00:00Z").expect("time");
        assert_eq!(store.verify_at(Some(B), before).as_deref(), Ok("acme"));
        assert_eq!(
            store.verify_at(Some(B), after),
            Err(AuthError::Expired {
                tenant: "acme".into()
            })
        );
        assert_eq!(store.verify_at(Some(A), after).as_deref(), Ok("acme"));
        assert_eq!(
            store.verify_at(Some("token-of-acme-0002"), before),
            Err(AuthError::Unknown)
        );
        Ok(())
    }

    #[test]
    fn bad_entries_name_their_key() {
        let cases = [
            (TokenEntry::new("acme", "short"), "tokens[0].token"),
            (TokenEntry::new("", A), "tokens[0].tenant"),
            (
                TokenEntry::new("acme", "with space 0123456789"),
                "tokens[0].token",
            ),
            (
                TokenEntry::new("acme", A).with_previous(B, "tomorrow"),
                "tokens[0].previous_valid_until",
            ),
            (
                TokenEntry::new("acme", A).with_previous(A, "2026-03-01T00:00:00Z"),
                "tokens[0].previous",
            ),
        ];
        for (entry, key) in cases {
            let err = store(vec![entry]).expect_err(key);
            assert_eq!(err.key, key, "{err}");
        }
        let mut half = TokenEntry::new("acme", A);
        half.previous = Some(B.into());
        assert_eq!(
            store(vec![half]).expect_err("half").key,
            "tokens[0].previous_valid_until"
        );
        let shared = store(vec![
            TokenEntry::new("acme", A),
            TokenEntry::new("globex", A),
        ])
        .expect_err("shared");
        assert!(shared.message.contains("unique"), "{shared}");
    }

    #[test]
    fn tokens_file_is_read_and_reloaded() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("eventstorm-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("tokens.toml");
        std::fs::write(
            &path,
            format!("[[tokens]]\ntenant = \"acme\"\ntoken = \"{A}\"\n"),
        )?;
        let store = TokenStore::new(&TokensConfig {
            tokens: vec![],
            tokens_file: Some(path.clone()),
        })?;
        assert_eq!(store.verify(Some(A)).as_deref(), Ok("acme"));
        std::fs::write(
            &path,
            format!("[[tokens]]\ntenant = \"globex\"\ntoken = \"{B}\"\n"),
        )?;
        // Force the next check (no waiting on the clock): pretend the last
        // check is old and the file's time unknown.
        if let Some((_, state)) = &store.file {
            let mut state = state.lock().map_err(|_| "poisoned")?;
            state.checked = Instant::now()
                .checked_sub(RELOAD_CHECK)
                .ok_or("uptime under 1 s")?;
            state.modified = None;
        }
        assert_eq!(store.verify(Some(B)).as_deref(), Ok("globex"));
        assert_eq!(store.verify(Some(A)), Err(AuthError::Unknown));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
