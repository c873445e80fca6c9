//! The sample inputs, found inside the repository wherever it is cloned.

use std::path::{Path, PathBuf};

/// The workspace's root directory (the one holding the virtual
/// `Cargo.toml`), found from this crate's own place in it.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The directory of the sample inputs and their expected parses:
/// `eventstorm-source/tests/data` (see its README for where each file comes
/// from).
pub fn data_dir() -> PathBuf {
    workspace_root().join("eventstorm-source/tests/data")
}

/// The path of the sample file `rel` (relative to [`data_dir`], e.g.
/// `nginx/access.log`).
///
/// # Panics
///
/// When there is no such file.
#[track_caller]
pub fn fixture(rel: &str) -> PathBuf {
    let path = data_dir().join(rel);
    assert!(
        path.is_file(),
        "no sample file {} (expected under {})",
        path.display(),
        data_dir().display()
    );
    path
}

/// The text of the sample file `rel` (see [`fixture`]).
///
/// # Panics
///
/// When the file is missing or not UTF-8.
#[track_caller]
pub fn read_fixture(rel: &str) -> String {
    let path = fixture(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
