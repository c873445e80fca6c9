//! CURVE key files: creating key pairs, reading them back, and the check
//! that the linked libzmq has CURVE at all.
//!
//! A key pair is two files: `NAME.key` (the secret key file, mode 0600,
//! holding both keys) and `NAME.pub` (the public key alone, to hand to
//! peers and to put on allow-lists). Both are small TOML files with the
//! keys in Z85, ZeroMQ's text encoding of 32-byte keys (40 characters):
//!
//! ```toml
//! # NAME.key
//! public = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//! secret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{Result, TransportError};

/// Largest key file read, in bytes: a key file is a few lines.
const MAX_KEY_FILE: u64 = 4096;

/// Whether the linked libzmq supports CURVE (`zmq_has("curve")`).
pub fn curve_available() -> bool {
    zmq::has("curve").unwrap_or(false)
}

/// Fails with a message that says how to build with CURVE when the linked
/// libzmq has none. `socket` names what needed it.
pub(crate) fn require_curve(socket: &str) -> Result<()> {
    if curve_available() {
        Ok(())
    } else {
        Err(TransportError::CurveUnavailable {
            socket: socket.to_string(),
        })
    }
}

/// A CURVE key pair: a public key to hand out and a secret key to keep.
///
/// ```no_run
/// use eventstorm_core::transport::KeyPair;
///
/// // Needs a libzmq with CURVE (docs/security.md).
/// let pair = KeyPair::generate()?;
/// let (secret_file, public_file) = pair.write(std::path::Path::new("keys/router"))?;
/// let read = KeyPair::read(&secret_file)?;
/// assert_eq!(read.public_z85(), pair.public_z85());
/// # let _ = public_file;
/// # Ok::<(), eventstorm_core::transport::TransportError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    public: [u8; 32],
    secret: [u8; 32],
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret key.
        f.debug_struct("KeyPair")
            .field("public", &self.public_z85())
            .finish_non_exhaustive()
    }
}

/// The keys of a key file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    public: String,
    #[serde(default)]
    secret: Option<String>,
}

impl KeyPair {
    /// A new random key pair (libzmq's `zmq_curve_keypair`; needs CURVE).
    pub fn generate() -> Result<KeyPair> {
        require_curve("key generation")?;
        let pair = zmq::CurveKeyPair::new()
            .map_err(|e| TransportError::socket("generating a CURVE key pair", e))?;
        Ok(KeyPair {
            public: pair.public_key,
            secret: pair.secret_key,
        })
    }

    /// The public key (32 bytes).
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The secret key (32 bytes).
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The public key in Z85 (40 characters), as allow-lists hold it.
    pub fn public_z85(&self) -> String {
        z85(&self.public)
    }

    /// Writes `BASE.key` (both keys, created with mode 0600; an existing
    /// file is never overwritten) and `BASE.pub` (the public key), and
    /// returns their paths. `BASE`'s directory is created if missing.
    pub fn write(&self, base: &Path) -> Result<(PathBuf, PathBuf)> {
        let secret_path = with_suffix(base, "key");
        let public_path = with_suffix(base, "pub");
        if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| key_io(dir, "creating the directory", e))?;
        }
        let name = base.file_name().map_or_else(
            || base.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let secret_text = format!(
            "# Eventstorm CURVE key pair `{name}`: SECRET, keep it readable by its owner only.\n\
             # Its public half is in {name}.pub.\n\
             public = \"{}\"\nsecret = \"{}\"\n",
            self.public_z85(),
            z85(&self.secret)
        );
        let public_text = format!(
            "# Eventstorm CURVE public key `{name}`: hand it to peers and allow-lists.\n\
             public = \"{}\"\n",
            self.public_z85()
        );
        create_new(&secret_path, 0o600, &secret_text)?;
        create_new(&public_path, 0o644, &public_text)?;
        Ok((secret_path, public_path))
    }

    /// Reads a secret key file (`NAME.key`). Refuses a file that others
    /// than its owner may read or write, as ssh does.
    pub fn read(path: &Path) -> Result<KeyPair> {
        check_private(path)?;
        let file = read_key_file(path)?;
        let Some(secret) = file.secret else {
            return Err(key_error(
                path,
                "has no `secret` key: is it a public key file (NAME.pub)? Use NAME.key",
            ));
        };
        let pair = KeyPair {
            public: decode_key(path, "public", &file.public)?,
            secret: decode_key(path, "secret", &secret)?,
        };
        Ok(pair)
    }
}

/// Reads a public key file (`NAME.pub`, or the `public` key of a `NAME.key`).
pub fn read_public_key(path: &Path) -> Result<[u8; 32]> {
    let file = read_key_file(path)?;
    decode_key(path, "public", &file.public)
}

/// Decodes a Z85 key (40 characters) into its 32 bytes; `None` when it is
/// not one.
pub fn decode_z85_key(text: &str) -> Option<[u8; 32]> {
    if text.len() != 40 {
        return None;
    }
    zmq::z85_decode(text).ok()?.try_into().ok()
}

/// Encodes a 32-byte key in Z85.
pub(crate) fn z85(key: &[u8; 32]) -> String {
    // 32 bytes is a multiple of 4: encoding cannot fail.
    zmq::z85_encode(key).unwrap_or_default()
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn create_new(path: &Path, mode: u32, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            key_io(
                path,
                "creating (an existing key file is never overwritten)",
                e,
            )
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_io(path, "writing", e))
}

fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| key_io(path, "reading", e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(key_error(
            path,
            &format!(
                "is a secret key that others may read or write (mode {mode:04o}): \
                 `chmod 600 {}`, and replace the key if others may have read it",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn read_key_file(path: &Path) -> Result<KeyFile> {
    let meta = std::fs::metadata(path).map_err(|e| key_io(path, "reading", e))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(key_error(
            path,
            &format!(
                "is {} bytes: not a key file (at most {MAX_KEY_FILE})",
                meta.len()
            ),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| key_io(path, "reading", e))?;
    toml::from_str(&text).map_err(|e| {
        key_error(
            path,
            &format!(
                "is not a key file (expected `public = \"Z85\"` and, in a secret key file, \
                 `secret = \"Z85\"`): {}",
                e.message()
            ),
        )
    })
}

fn decode_key(path: &Path, key: &str, text: &str) -> Result<[u8; 32]> {
    decode_z85_key(text).ok_or_else(|| {
        key_error(
            path,
            &format!("`{key}` is not a Z85 CURVE key (40 characters of ZeroMQ's Z85 alphabet)"),
        )
    })
}

fn key_error(path: &Path, reason: &str) -> TransportError {
    TransportError::KeyFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn key_io(path: &Path, action: &str, e: std::io::Error) -> TransportError {
    key_error(path, &format!("{action}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_keys_are_40_characters() {
        assert!(decode_z85_key("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").is_some());
        assert!(decode_z85_key("short").is_none());
    }

    #[test]
    fn secret_key_files_readable_by_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile_dir();
        let pair = KeyPair {
            public: [1; 32],
            secret: [2; 32],
        };
        let (secret, public) = pair.write(&dir.join("a")).expect("written");
        assert_eq!(KeyPair::read(&secret).expect("read"), pair);
        assert_eq!(read_public_key(&public).expect("read"), pair.public);
        let err = KeyPair::read(&public).unwrap_err().to_string();
        assert!(err.contains("mode") || err.contains("no `secret`"), "{err}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = KeyPair::read(&secret).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        // Never overwritten.
        let err = pair.write(&dir.join("a")).unwrap_err().to_string();
        assert!(err.contains("never overwritten"), "{err}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "eventstorm-keys-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
