//! Where the CLI keeps its own files, and how: every file is written whole (temporary file + rename, so a
//! crash never leaves half a token) and readable by its owner only (0600), in a directory only the owner
//! can list (0700).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, io_err};

/// The CLI's directory: `$XDG_CONFIG_HOME/onboarding` on Linux, the platform's equivalent elsewhere.
pub fn dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "onboarding")
        .map(|d| d.config_dir().to_path_buf())
        .ok_or_else(|| Error::Input("no home directory: set HOME".into()))
}

pub fn path(name: &str) -> Result<PathBuf> {
    Ok(dir()?.join(name))
}

/// Writes `bytes` to `path` with mode 0600, replacing it atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .ok_or_else(|| Error::Input(format!("{} has no directory", path.display())))?;
    create_private_dir(parent)?;
    // tempfile creates the file 0600 on Unix before any byte is written.
    let mut tmp = tempfile::NamedTempFile::new_in(parent).map_err(io_err(parent))?;
    tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    tmp.persist(path).map_err(|e| Error::File {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_err(dir))
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_private(path, &bytes)
}

/// `None` when the file does not exist; an error when it exists and cannot be read or parsed.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Removes a file; a file that is already gone is not an error. Returns whether something was removed.
pub fn remove(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Holds an exclusive lock on the file `name` (made if absent) until the returned file is dropped: the
/// operating system's advisory lock (`flock` on Unix, `LockFileEx` on Windows), released by the kernel
/// even when a process dies holding it, so a crash never leaves a stale lock.
pub fn lock(name: &str) -> Result<fs::File> {
    let path = path(name)?;
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    file.lock().map_err(io_err(&path))?;
    Ok(file)
}
