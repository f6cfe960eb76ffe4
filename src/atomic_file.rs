//! Atomic file replacement: a new file is written next to its target and renamed over it when
//! complete, so that a reader sees the old file or the new one, never a part of either.
//!
//! Owns the temporary sibling (in the target's own folder, so the rename stays on one file
//! system), making it durable and readable, and the rename. Used by `hostloc data update` /
//! `data seed` for databases and by `hostloc batch merge` for its output. Must not: decide what
//! goes into the file.

use std::path::Path;

use tempfile::NamedTempFile;

/// A new temporary file in `target`'s folder, its name starting with `prefix`; removed when
/// dropped unless [`publish`] renamed it.
///
/// # Errors
///
/// The I/O error creating it (a missing or read-only folder).
pub fn sibling(target: &Path, prefix: &str) -> std::io::Result<NamedTempFile> {
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .tempfile_in(folder)
}

/// Makes `temporary` durable and readable by everyone (tempfile creates it 0600; a server
/// running as another user must read a database), then renames it to `target`: over an
/// existing file when `replace`, else only when `target` does not exist. `Ok(false)` when it
/// existed and was left alone.
///
/// # Errors
///
/// The I/O error of the sync, the permission change or the rename; `target` is then as it was.
pub fn publish(temporary: NamedTempFile, target: &Path, replace: bool) -> std::io::Result<bool> {
    temporary.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temporary.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    let renamed = if replace {
        temporary.persist(target).map(drop)
    } else {
        temporary.persist_noclobber(target).map(drop)
    };
    match renamed {
        Ok(()) => {}
        Err(error) if !replace && error.error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Ok(false);
        }
        Err(error) => return Err(error.error),
    }
    // The rename is durable once the folder is synced; best effort where that is not possible.
    if let Some(folder) = target.parent()
        && let Ok(folder) = std::fs::File::open(if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        })
    {
        let _ = folder.sync_all();
    }
    Ok(true)
}
