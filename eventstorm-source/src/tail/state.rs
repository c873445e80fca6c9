//! The saved position of a tail: which file (device and inode, plus a
//! fingerprint of its first bytes against inode reuse) and the offset after the
//! last committed line. Written atomically (a temporary file, then a rename).

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bytes at the start of a file that make its fingerprint.
pub(crate) const FINGERPRINT_LEN: u64 = 256;

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileId {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    #[cfg(unix)]
    pub(crate) fn of(meta: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Without inodes, every file looks the same: rotation by rename is then
    /// seen only through the fingerprint.
    #[cfg(not(unix))]
    pub(crate) fn of(_meta: &Metadata) -> FileId {
        FileId { dev: 0, ino: 0 }
    }
}

/// A hash of the first `len` bytes of a file (`len` at most
/// [`FINGERPRINT_LEN`]): tells a truncated or replaced file from the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    pub(crate) len: u64,
    pub(crate) hash: u64,
}

impl Fingerprint {
    /// The fingerprint of the first `min(size, FINGERPRINT_LEN)` bytes of `file`.
    pub(crate) fn read(file: &mut File, size: u64) -> io::Result<Fingerprint> {
        Fingerprint::read_len(file, size.min(FINGERPRINT_LEN))
    }

    /// The fingerprint of exactly the first `len` bytes (fewer if the file is
    /// shorter, which then cannot match a longer fingerprint).
    pub(crate) fn read_len(file: &mut File, len: u64) -> io::Result<Fingerprint> {
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let here = file.stream_position()?;
        file.seek(SeekFrom::Start(0))?;
        let result = Read::by_ref(file).take(len).read_to_end(&mut bytes);
        file.seek(SeekFrom::Start(here))?;
        result?;
        Ok(Fingerprint {
            len: bytes.len() as u64,
            hash: fnv1a(&bytes),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint was made of.
    pub(crate) fn matches(&self, file: &mut File) -> io::Result<bool> {
        if self.len == 0 {
            return Ok(true);
        }
        Ok(Fingerprint::read_len(file, self.len)? == *self)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What the state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedPosition {
    /// The file.
    pub(crate) file: FileId,
    /// Its fingerprint when the position was saved.
    pub(crate) fingerprint: Fingerprint,
    /// The offset after the last committed line.
    pub(crate) offset: u64,
}

/// Reads a state file: `Ok(None)` when it does not exist.
pub(crate) fn load(path: &Path) -> io::Result<Option<SavedPosition>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes a state file atomically: `path.tmp`, synced, renamed over `path`.
pub(crate) fn save(path: &Path, position: &SavedPosition) -> io::Result<()> {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    let bytes = serde_json::to_vec(position).map_err(io::Error::other)?;
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_data()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Looks in `path`'s directory for the file with identity `id` (a rotated file,
/// e.g. `access.log.1`), for a restart after a rotation.
pub(crate) fn find_rotated(path: &Path, id: FileId) -> Option<PathBuf> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| {
            entry
                .path()
                .metadata()
                .is_ok_and(|meta| meta.is_file() && FileId::of(&meta) == id)
        })
        .map(|entry| entry.path())
}
