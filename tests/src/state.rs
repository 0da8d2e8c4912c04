//! A per-machine directory for the helpers' shared files (containers.conf,
//! the image lock), and the file lock itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `<temp dir>/aftertrace-test`, created on first use.
///
/// Every test process must agree on this path (it holds the lock that
/// serializes image builds), so it is derived from the environment alone.
pub(crate) fn state_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("aftertrace-test");
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    // The path is predictable and usually in a world-writable /tmp: refuse one
    // that another user made (or a symlink), since root writes config there.
    let meta =
        fs::symlink_metadata(&dir).with_context(|| format!("inspecting {}", dir.display()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != euid {
        bail!(
            "{} is not a directory owned by uid {euid}; remove it and retry",
            dir.display()
        );
    }
    Ok(dir)
}

/// Writes `contents` to `path` unless it already holds exactly that, via a
/// temporary file and a rename so that concurrent readers (other test
/// processes starting podman) never see a half-written file.
pub(crate) fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|current| current == contents) {
        return Ok(());
    }
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming a temporary file to {}", path.display()))?;
    Ok(())
}

/// An exclusive `flock` on a file, held until dropped.
///
/// `flock` locks belong to the open file description, so this serializes
/// threads of one process (each opens the file anew) as well as processes.
pub(crate) struct FileLock {
    // Closing the file releases the lock.
    _file: File,
}

impl FileLock {
    /// Blocks until the lock on `path` (created if missing) is held.
    pub(crate) fn exclusive(path: &Path) -> Result<FileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        loop {
            // SAFETY: the descriptor is valid for the lifetime of `file`.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}
