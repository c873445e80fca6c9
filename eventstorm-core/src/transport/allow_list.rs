//! The allow-list of CURVE client keys a server socket accepts: each key
//! with the name it is known by, its tenant and whether it is trusted.
//!
//! ```toml
//! [[clients]]
//! key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"  # the client's public key (its NAME.pub)
//! name = "acme-web-1"     # the user id receivers see (default: the key)
//! tenant = "acme"         # the tenant its events belong to (default: none)
//! trusted = false         # may it send Eventstorm's own `_eventstorm.*` events (default: false)
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::curve::{decode_z85_key, z85};
use super::error::{Result, TransportError};

/// Largest allow-list file read, in bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most clients in one allow-list.
pub(crate) const MAX_CLIENTS: usize = 100_000;
/// Longest name or tenant, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 255;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    clients: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    key: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    trusted: bool,
}

/// One client the allow-list accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Client {
    /// The user id receivers see (`User-Id`).
    pub(crate) name: String,
    /// The tenant its events belong to.
    pub(crate) tenant: Option<String>,
    /// Whether it may send Eventstorm's own `_eventstorm.*` events.
    pub(crate) trusted: bool,
}

/// What identifies one version of the file: a change to any of these is a
/// change of the file (a rewrite, or a replacement by rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    /// The file's stamp now; `None` when it cannot be read.
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        })
    }
}

/// A parsed allow-list.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowList {
    clients: HashMap<[u8; 32], Client>,
}

impl AllowList {
    /// Reads and checks the file; returns the list and the stamp of the
    /// version read.
    pub(crate) fn read(path: &Path) -> Result<(AllowList, Option<Stamp>)> {
        let stamp = Stamp::of(path);
        let error = |reason: String| TransportError::AllowList {
            path: PathBuf::from(path),
            reason,
        };
        let len = std::fs::metadata(path)
            .map_err(|e| error(format!("cannot read it: {e}")))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(error(format!(
                "is {len} bytes, more than the {MAX_FILE_BYTES} an allow-list may have"
            )));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| error(format!("cannot read it: {e}")))?;
        let list = Self::parse(&text).map_err(error)?;
        Ok((list, stamp))
    }

    /// Parses the text of an allow-list; the error says which entry and why.
    pub(crate) fn parse(text: &str) -> std::result::Result<AllowList, String> {
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            format!(
                "{}{} (expected [[clients]] tables with `key`, and optionally `name`, `tenant`, `trusted`)",
                line.map(|l| format!("line {l}: ")).unwrap_or_default(),
                e.message()
            )
        })?;
        if file.clients.len() > MAX_CLIENTS {
            return Err(format!(
                "{} clients, more than the {MAX_CLIENTS} an allow-list may have",
                file.clients.len()
            ));
        }
        let mut clients = HashMap::with_capacity(file.clients.len());
        for (i, entry) in file.clients.into_iter().enumerate() {
            let at = format!("clients[{i}]");
            let key = decode_z85_key(entry.key.trim()).ok_or_else(|| {
                format!("{at}: `key` is not a Z85 CURVE public key (40 characters, as in a NAME.pub file)")
            })?;
            let name = entry.name.unwrap_or_else(|| z85(&key));
            check_text(&at, "name", &name)?;
            if let Some(tenant) = &entry.tenant {
                check_text(&at, "tenant", tenant)?;
            }
            let client = Client {
                name,
                tenant: entry.tenant,
                trusted: entry.trusted,
            };
            if let Some(earlier) = clients.insert(key, client) {
                return Err(format!(
                    "{at}: the key is listed twice (also as `{}`); list each key once",
                    earlier.name
                ));
            }
        }
        Ok(AllowList { clients })
    }

    /// The client with this public key, if the list accepts it.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Client> {
        let key: &[u8; 32] = key.try_into().ok()?;
        self.clients.get(key)
    }

    /// How many clients the list accepts.
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }
}

fn check_text(at: &str, key: &str, value: &str) -> std::result::Result<(), String> {
    if value.is_empty() || value.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{at}: `{key}` must be 1 to {MAX_NAME_BYTES} bytes long"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{at}: `{key}` must not hold control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::AllowList;

    const KEY: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

    #[test]
    fn entries_are_checked() {
        let list = AllowList::parse(&format!(
            "[[clients]]\nkey = \"{KEY}\"\ntenant = \"acme\"\ntrusted = true\n"
        ))
        .expect("valid");
        assert_eq!(list.len(), 1);
        let key = zmq::z85_decode(KEY).expect("z85");
        let client = list.get(&key).expect("listed");
        assert_eq!(client.name, KEY);
        assert_eq!(client.tenant.as_deref(), Some("acme"));
        assert!(client.trusted);

        for (bad, expected) in [
            ("[[clients]]\nkey = \"short\"\n".to_string(), "not a Z85"),
            (
                format!("[[clients]]\nkey = \"{KEY}\"\n[[clients]]\nkey = \"{KEY}\"\n"),
                "listed twice",
            ),
            (
                format!("[[clients]]\nkey = \"{KEY}\"\ntenant = \"\"\n"),
                "1 to 255",
            ),
            (
                format!("[[clients]]\nkey = \"{KEY}\"\nrole = 1\n"),
                "unknown field",
            ),
        ] {
            let err = AllowList::parse(&bad).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        assert_eq!(AllowList::parse("").expect("empty").len(), 0);
    }
}
