//! Atomic file writes: a crash or a full disk never leaves a half-written model, history or
//! report where a good one was.
use std::{
    fs,
    sync::atomic::{AtomicU64, Ordering},
    io::Write,
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// A temporary path beside `path`, in the same folder so the final rename is atomic, and unique
/// to this call (process id and a counter), so that concurrent writers of the same file (two
/// threads filling the data cache, say) never share one.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Reads a whole file; a missing one is [`Error::MissingData`] with `fix` as its advice.
pub(crate) fn read(path: &Path, fix: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::MissingData { path: path.to_path_buf(), fix: fix.to_string() },
        _ => Error::io("read", path)(e),
    })
}

/// Creates the parent folder of `path` if needed.
pub(crate) fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).map_err(Error::io("create folder", dir))
        }
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: to a temporary file, flushed to disk, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = fs::File::create(tmp).map_err(Error::io("create", tmp))?;
        f.write_all(bytes).map_err(Error::io("write", tmp))?;
        f.sync_all().map_err(Error::io("write", tmp))
    })
}

/// Lets `write` fill a temporary file, then renames it over `path`; on failure the temporary
/// file is removed and `path` is untouched.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| fs::rename(&tmp, path).map_err(Error::io("replace", path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
