//! `~/.aws/config`, merged line by line: the sections this CLI owns are replaced or appended, and every
//! other byte of the file (other profiles, comments, blank lines) stays as it was. A copy of the file as it
//! was is kept beside it before anything is written (Leapp #260: a clobbered file is the worst outcome).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result, io_err};
use crate::store;

/// One `[header]` and its `key = value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub header: String,
    pub entries: Vec<(String, String)>,
}

impl Section {
    pub fn profile(name: &str, entries: Vec<(String, String)>) -> Section {
        Section {
            header: format!("profile {name}"),
            entries,
        }
    }

    fn render(&self) -> String {
        let mut text = format!("[{}]\n", self.header);
        for (key, value) in &self.entries {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text
    }
}

/// The file the AWS CLI and SDKs read: `AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn path() -> Result<PathBuf> {
    if let Some(file) = std::env::var_os("AWS_CONFIG_FILE") {
        return Ok(PathBuf::from(file));
    }
    directories::BaseDirs::new()
        .map(|d| d.home_dir().join(".aws").join("config"))
        .ok_or_else(|| Error::Input("no home directory: set HOME".into()))
}

/// The header of a line, normalized the way the AWS CLI reads it (`[ profile  x ]` is `profile x`).
fn header_of(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `existing` with each of `ours` in place of the section of the same name, or appended.
pub fn merge(existing: &str, ours: &[Section]) -> String {
    let mut out = String::with_capacity(existing.len() + 512);
    let mut written = vec![false; ours.len()];
    // Inside one of our sections, its old entries are dropped until the next header.
    let mut skipping = false;
    for line in existing.split_inclusive('\n') {
        if let Some(header) = header_of(line) {
            skipping = false;
            if let Some(i) = ours.iter().position(|s| s.header == header) {
                if !written[i] {
                    out.push_str(&ours[i].render());
                    written[i] = true;
                }
                skipping = true;
                continue;
            }
        }
        // Blank lines are layout between sections, kept so a second merge changes nothing.
        if !skipping || line.trim().is_empty() {
            out.push_str(line);
        }
    }
    for (section, done) in ours.iter().zip(written) {
        if !done {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
            }
            out.push_str(&section.render());
        }
    }
    out
}

/// Merges `ours` into the file at `path`; returns the backup's path when there was a file to back up.
/// A symlinked config (a dotfiles repository) is written through to its target, with the backup beside
/// the target: replacing the link with a plain file would cut it off from the repository.
pub fn write(path: &Path, ours: &[Section]) -> Result<Option<PathBuf>> {
    let resolved = match std::fs::canonicalize(path) {
        Ok(target) => target,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(io_err(path)(e)),
    };
    let path = resolved.as_path();
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err(path)(e)),
    };
    let merged = merge(existing.as_deref().unwrap_or(""), ours);
    if existing.as_deref() == Some(merged.as_str()) {
        return Ok(None);
    }
    let backup = match &existing {
        Some(text) => {
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".onboarding-backup-{stamp}"));
            let backup = PathBuf::from(name);
            store::write_private(&backup, text.as_bytes())?;
            Some(backup)
        }
        None => None,
    };
    store::write_private(path, merged.as_bytes())?;
    Ok(backup)
}
