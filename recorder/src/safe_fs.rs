//! Creating files where an attacker on the node may have planted links: every file the
//! recorder writes (captures, `.partial`, `.sha256`, continuous-mode segments) is created
//! through a directory fd opened without following a link at its last component, with
//! `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`, and moved into place with
//! `renameat2(RENAME_NOREPLACE)`. A name that exists already (a file, a link, anything) is
//! an error naming the path, never followed or replaced: the recorder runs as root, and a
//! followed link would let an unprivileged user overwrite any file or read the capture.

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    io,
    os::{
        fd::{AsFd, OwnedFd},
        unix::fs::DirBuilderExt,
    },
    path::{Path, PathBuf},
};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, RenameFlags};

/// Why a file could not be created safely; the message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{}: exists already (a file or a link); the recorder never follows or replaces an existing name: remove it or choose another path", path.display())]
    Exists { path: PathBuf },
    #[error("{}: is being written by another recorder (it holds the lock); choose another path", path.display())]
    Locked { path: PathBuf },
    #[error("{}: is a symbolic link; the recorder does not follow links to the directory it writes in", path.display())]
    DirIsLink { path: PathBuf },
    #[error("{}: {reason}", path.display())]
    Unsafe { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl CreateError {
    fn io(path: &Path, e: impl Into<io::Error>) -> Self {
        CreateError::Io {
            path: path.to_owned(),
            source: e.into(),
        }
    }
}

/// A directory held open by fd: names inside it are resolved against the fd, so the
/// directory cannot be swapped for a link between a check and a create.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Mode bits that let others than the owner create, delete or rename entries.
const OTHERS_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

impl Dir {
    /// Opens `path` as a directory; its last component must not be a link.
    pub fn open(path: &Path) -> Result<Dir, CreateError> {
        let path = if path.as_os_str().is_empty() {
            Path::new(".")
        } else {
            path
        };
        match rustix::fs::open(
            path,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir {
                fd,
                path: path.to_owned(),
            }),
            // O_NOFOLLOW on a link gives ELOOP (ENOTDIR with O_DIRECTORY on some kernels).
            Err(e) if e == rustix::io::Errno::LOOP || is_link(path) => {
                Err(CreateError::DirIsLink {
                    path: path.to_owned(),
                })
            }
            Err(e) => Err(CreateError::io(path, e)),
        }
    }

    /// Opens `path`, creating it (and missing parents) owner-only (0700) first.
    pub fn create_private(path: &Path) -> Result<Dir, CreateError> {
        match std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
        {
            Ok(()) => {}
            Err(e) => return Err(CreateError::io(path, e)),
        }
        Dir::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory's mode bits and owner.
    pub fn mode_and_owner(&self) -> Result<(u32, u32), CreateError> {
        let st = rustix::fs::fstat(&self.fd).map_err(|e| CreateError::io(&self.path, e))?;
        Ok((st.st_mode, st.st_uid))
    }

    /// Whether users other than the owner can add, remove or rename entries (group- or
    /// world-writable), and whether the sticky bit stops them removing others' entries.
    pub fn writable_by_others(&self) -> Result<Option<bool>, CreateError> {
        let (mode, _) = self.mode_and_owner()?;
        Ok((mode & OTHERS_WRITE != 0).then_some(mode & STICKY != 0))
    }

    fn join(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Creates `name` exclusively, owner-only (0600), never following a link; an existing
    /// entry of that name is `Exists` (or `Locked` when another recorder holds it). The
    /// file is locked (flock, exclusive) for as long as it is open, so that a second
    /// recorder pointed at it can say who has it.
    pub fn create_file(&self, name: &OsStr) -> Result<File, CreateError> {
        let path = self.join(name);
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDWR,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| {
            if e == rustix::io::Errno::EXIST {
                self.exists_error(name)
            } else {
                CreateError::io(&path, e)
            }
        })?;
        // Nobody else can hold a lock on a file this call just created: this only marks it.
        rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| CreateError::io(&path, e))?;
        Ok(File::from(fd))
    }

    /// An anonymous file in this directory (O_TMPFILE), 0600, linked in later with
    /// [`Dir::link_anonymous`]; `None` where the filesystem has no O_TMPFILE.
    pub fn create_anonymous(&self) -> Result<Option<File>, CreateError> {
        match rustix::fs::openat(
            &self.fd,
            ".",
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(e)
                if e == rustix::io::Errno::OPNOTSUPP
                    || e == rustix::io::Errno::ISDIR
                    || e == rustix::io::Errno::INVAL =>
            {
                Ok(None)
            }
            Err(e) => Err(CreateError::io(&self.path, e)),
        }
    }

    /// Gives an anonymous file the name `name` here; an existing entry (a planted link
    /// included) is `Exists`: linkat never replaces or follows its destination.
    pub fn link_anonymous(&self, file: &File, name: &OsStr) -> Result<(), CreateError> {
        let path = self.join(name);
        rustix::fs::linkat(file.as_fd(), "", &self.fd, name, AtFlags::EMPTY_PATH)
            .or_else(|e| {
                // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc/self/fd works without it.
                if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::PERM {
                    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
                    rustix::fs::linkat(
                        rustix::fs::CWD,
                        proc.as_str(),
                        &self.fd,
                        name,
                        AtFlags::SYMLINK_FOLLOW,
                    )
                } else {
                    Err(e)
                }
            })
            .map_err(|e| {
                if e == rustix::io::Errno::EXIST {
                    self.exists_error(name)
                } else {
                    CreateError::io(&path, e)
                }
            })
    }

    /// Renames `from` to `to` inside this directory, refusing to replace anything at `to`.
    pub fn rename_noreplace(&self, from: &OsStr, to: &OsStr) -> Result<(), CreateError> {
        rustix::fs::renameat_with(&self.fd, from, &self.fd, to, RenameFlags::NOREPLACE).map_err(
            |e| {
                if e == rustix::io::Errno::EXIST {
                    self.exists_error(to)
                } else {
                    CreateError::io(&self.join(from), e)
                }
            },
        )
    }

    /// Removes the entry `name` (a link itself, never its target).
    pub fn remove(&self, name: &OsStr) -> Result<(), CreateError> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())
            .map_err(|e| CreateError::io(&self.join(name), e))
    }

    /// Whether an entry `name` exists (links are not followed).
    pub fn contains(&self, name: &OsStr) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    /// `Locked` when `name` is a regular file another process holds the lock on, else
    /// `Exists`.
    fn exists_error(&self, name: &OsStr) -> CreateError {
        let path = self.join(name);
        let locked = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .ok()
        .filter(|fd| {
            rustix::fs::fstat(fd).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            })
        })
        .is_some_and(|fd| {
            rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared)
                == Err(rustix::io::Errno::WOULDBLOCK)
        });
        if locked {
            CreateError::Locked { path }
        } else {
            CreateError::Exists { path }
        }
    }
}

/// The daemon's captures directory: created owner-only (0700) when missing. An existing
/// one that is group- or world-writable, or owned by another user, is refused: whoever
/// can write there could plant names the daemon then meets, or remove evidence.
pub fn captures_dir(path: &Path) -> Result<Dir, CreateError> {
    let dir = Dir::create_private(path)?;
    let (mode, owner) = dir.mode_and_owner()?;
    let euid = rustix::process::geteuid().as_raw();
    if mode & OTHERS_WRITE != 0 {
        return Err(CreateError::Unsafe {
            path: path.to_owned(),
            reason: format!(
                "the captures directory is writable by group or others (mode {:o}); run `chmod go-w` on it or choose another",
                mode & 0o7777
            ),
        });
    }
    if owner != euid {
        return Err(CreateError::Unsafe {
            path: path.to_owned(),
            reason: format!(
                "the captures directory is owned by uid {owner}, not by the recorder (uid {euid}); chown it or choose another"
            ),
        });
    }
    Ok(dir)
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// `NAME` + `suffix` as a file name.
pub fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut s = name.to_owned();
    s.push(suffix);
    s
}

/// Splits a file path into its directory (opened safely) and its file name.
pub fn split(path: &Path) -> Result<(Dir, OsString), CreateError> {
    let name = path
        .file_name()
        .ok_or_else(|| {
            CreateError::io(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "names no file"),
            )
        })?
        .to_owned();
    let dir = Dir::open(path.parent().unwrap_or(Path::new(".")))?;
    Ok((dir, name))
}

/// `sha256sum`'s line for the file `name` read through `file`, written exclusively as
/// `NAME.sha256` in `dir`.
pub fn write_sha256(dir: &Dir, name: &OsStr, file: &mut File) -> Result<PathBuf, CreateError> {
    use sha2::{Digest, Sha256};
    use std::io::{Seek, Write};
    let path = dir.join(name);
    let mut hasher = Sha256::new();
    file.seek(io::SeekFrom::Start(0))
        .and_then(|_| io::copy(file, &mut hasher))
        .map_err(|e| CreateError::io(&path, e))?;
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest_name = with_suffix(name, ".sha256");
    let manifest_path = dir.join(&manifest_name);
    let mut m = dir.create_file(&manifest_name)?;
    writeln!(m, "{hex}  {}", name.to_string_lossy())
        .and_then(|_| m.sync_all())
        .map_err(|e| CreateError::io(&manifest_path, e))?;
    Ok(manifest_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_planted_links_and_existing_names() {
        let tmp = tempfile::tempdir().expect("tmp");
        let target = tmp.path().join("target");
        std::fs::write(&target, b"precious").expect("target");
        std::os::unix::fs::symlink(&target, tmp.path().join("cap.partial")).expect("link");
        let dir = Dir::open(tmp.path()).expect("dir");
        let err = dir.create_file(OsStr::new("cap.partial")).unwrap_err();
        assert!(matches!(err, CreateError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("cap.partial"), "{err}");
        assert_eq!(std::fs::read(&target).expect("target"), b"precious");

        // A rename never replaces what is at its destination, a link included.
        let _f = dir.create_file(OsStr::new("new")).expect("create");
        let err = dir
            .rename_noreplace(OsStr::new("new"), OsStr::new("cap.partial"))
            .unwrap_err();
        assert!(matches!(err, CreateError::Exists { .. }), "{err}");
    }

    #[test]
    fn a_file_held_open_is_reported_locked() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = Dir::open(tmp.path()).expect("dir");
        let held = dir.create_file(OsStr::new("cap")).expect("create");
        let err = dir.create_file(OsStr::new("cap")).unwrap_err();
        assert!(matches!(err, CreateError::Locked { .. }), "{err}");
        drop(held);
        let err = dir.create_file(OsStr::new("cap")).unwrap_err();
        assert!(matches!(err, CreateError::Exists { .. }), "{err}");
    }

    #[test]
    fn a_writable_captures_directory_is_refused_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let new = tmp.path().join("a/captures");
        captures_dir(&new).expect("created");
        let mode = std::fs::metadata(&new).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let err = captures_dir(&new).err().expect("refused");
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }

    #[test]
    fn a_linked_directory_is_refused() {
        let tmp = tempfile::tempdir().expect("tmp");
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).expect("dir");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        assert!(matches!(
            Dir::open(&link),
            Err(CreateError::DirIsLink { .. })
        ));
    }
}
