//! Where the CLI keeps its own files, and how: every file is written whole (temporary file + rename, so a
//! crash never leaves half a token) and readable by its owner only (0600), in a directory only the owner
//! can list (0700).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, io_err};

fn project() -> Result<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "onboarding")
        .ok_or_else(|| Error::Input("no home directory: set HOME".into()))
}

/// What the person configured, nothing secret (it may live in a dotfiles repository):
/// `$XDG_CONFIG_HOME/onboarding` on Linux, the platform's equivalent elsewhere.
pub fn path(name: &str) -> Result<PathBuf> {
    Ok(project()?.config_dir().join(name))
}

/// What the CLI keeps between runs and a person never edits (sign-in tokens, the file key, a key without
/// a keyring): `$XDG_STATE_HOME/onboarding` on Linux; macOS and Windows have no state directory, and
/// their local data directory takes it.
pub fn state_path(name: &str) -> Result<PathBuf> {
    let project = project()?;
    Ok(project
        .state_dir()
        .unwrap_or_else(|| project.data_local_dir())
        .join(name))
}

/// What can be made again (sessions) and the locks around making it: `$XDG_CACHE_HOME/onboarding`.
pub fn cache_path(name: &str) -> Result<PathBuf> {
    Ok(project()?.cache_dir().join(name))
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
    let Some(bytes) = read_bytes(path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// `None` when the file does not exist.
pub fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
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

/// Holds an exclusive lock on the file at `path` (made if absent) until the returned file is dropped: the
/// operating system's advisory lock (`flock` on Unix, `LockFileEx` on Windows), released by the kernel
/// even when a process dies holding it, so a crash never leaves a stale lock.
pub fn lock(path: &Path) -> Result<fs::File> {
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.lock().map_err(io_err(path))?;
    Ok(file)
}
