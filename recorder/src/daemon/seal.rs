//! Sealing a window into a capture file: whole segments of the rolling buffer, their
//! already compressed chunks copied as they are, the state the first segment opened with,
//! the alerts verbatim. Written as NAME.atcap.partial, renamed when complete, then
//! NAME.atcap.sha256 for chain of custody. Then the directory's retention is applied.
//!
//! The .partial appears only once its first bytes are written (an anonymous O_TMPFILE
//! linked in then), so a kill -9 at any moment leaves no file or one that opens.

use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result};
use capture_format::{
    CaptureWriter, ClockPair, ContainerInfo, DropLedger, HostInfo, UsersAndGroups, WriterOptions,
};
use sha2::{Digest, Sha256};

use super::{alerts::slug, buffer::Selection, windows::Window};

/// Everything a seal needs, owned, so it can run on its own thread while the daemon keeps
/// recording.
pub struct SealJob {
    pub dir: PathBuf,
    pub host: HostInfo,
    pub window: Window,
    pub selection: Selection,
    pub containers: Vec<ContainerInfo>,
    pub users: UsersAndGroups,
    /// Realtime of the first alert's receipt, for the file name.
    pub received_realtime_ns: i64,
    /// Test-only: pause after each chunk, to widen the window for kill -9 tests.
    pub slow_per_chunk: Option<Duration>,
    /// Sign the capture with this secret key file (`NAME.atcap.sig`).
    pub signing_key: Option<PathBuf>,
}

/// `<host>-<UTC time without colons>-<slug>.atcap`, numbered on collision.
fn file_name(dir: &Path, host: &str, realtime_ns: i64, summary: &str) -> PathBuf {
    let time = chrono::DateTime::from_timestamp_nanos(realtime_ns).format("%Y%m%dT%H%M%SZ");
    let host = slug(host);
    let base = format!("{host}-{time}-{}", slug(summary));
    let mut n = 1;
    loop {
        let name = if n == 1 {
            format!("{base}.atcap")
        } else {
            format!("{base}-{n}.atcap")
        };
        let path = dir.join(&name);
        let partial = dir.join(format!("{name}.partial"));
        if !path.exists() && !partial.exists() {
            return path;
        }
        n += 1;
    }
}

pub fn seal(job: SealJob) -> Result<PathBuf> {
    std::fs::create_dir_all(&job.dir).with_context(|| format!("creating {}", job.dir.display()))?;
    let summary = job
        .window
        .alerts
        .first()
        .map_or("alert", |a| a.summary.as_str());
    let path = file_name(
        &job.dir,
        &job.host.hostname,
        job.received_realtime_ns,
        summary,
    );
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = Publishing::create(&job.dir, &partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let write = || -> Result<File> {
        let mut w = CaptureWriter::new(BufWriter::new(file), WriterOptions::default())?;
        let mut host = job.host.clone();
        host.settings
            .insert("window_start_boot_ns".into(), job.window.start.to_string());
        host.settings
            .insert("window_end_boot_ns".into(), job.window.end.to_string());
        host.settings.insert(
            "alerts_not_kept".into(),
            job.window.alerts_not_kept.to_string(),
        );
        host.settings.insert(
            "alerts_rate_limited".into(),
            job.window.alerts_rate_limited.to_string(),
        );
        w.write_host(&host)?;
        let segments = &job.selection.segments;
        if let Some(first) = segments.first() {
            w.write_processes(&first.snapshot)?;
        }
        for a in &job.window.alerts {
            w.write_alert(a)?;
        }
        let mut cgroups = HashSet::new();
        let mut clocks: Vec<ClockPair> = Vec::new();
        let mut drops = DropLedger::default();
        for seg in segments {
            for chunk in &seg.chunks {
                w.copy_raw_chunk(chunk)?;
                cgroups.extend(chunk.cgroup_ids.iter().copied());
                if let Some(pause) = job.slow_per_chunk {
                    std::thread::sleep(pause);
                }
            }
            clocks.extend(&seg.clocks);
            drops.entries.extend(seg.drops.iter().cloned());
        }
        if let Some(first) = segments.first() {
            // The snapshot's processes may live in containers that made no event since.
            cgroups.extend(first.snapshot.processes.iter().map(|p| p.cgroup_id));
        }
        w.write_clocks(&clocks)?;
        let containers: Vec<ContainerInfo> = job
            .containers
            .iter()
            .filter(|c| c.cgroup_ids.iter().any(|id| cgroups.contains(id)))
            .cloned()
            .collect();
        w.write_containers(&containers)?;
        w.write_users(&job.users)?;
        w.write_drops(&drops)?;
        let out = w.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?.publish()?;
        file.sync_all()?;
        Ok(file)
    };
    if let Err(e) = write() {
        // The window is retried whole; a half-written copy would only take the space the
        // retry needs (a full disk is the usual cause).
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("writing {}", partial.display()));
    }
    std::fs::rename(&partial, &path)
        .with_context(|| format!("renaming {} into place", partial.display()))?;
    write_manifest(&path)?;
    if let Some(key) = &job.signing_key {
        capture_format::signature::sign_capture(&path, key)?;
    }
    Ok(path)
}

/// The file being sealed: anonymous (O_TMPFILE) until the first write reaches it, then
/// linked in at its .partial path. Where the filesystem has no O_TMPFILE, an ordinary
/// file created at that path from the start.
struct Publishing {
    file: File,
    /// Where to link the file at its first write; `None` once it is visible.
    link_at: Option<PathBuf>,
}

impl Publishing {
    fn create(dir: &Path, path: &Path) -> std::io::Result<Self> {
        let anonymous = OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir);
        match anonymous {
            Ok(file) => Ok(Publishing {
                file,
                link_at: Some(path.to_owned()),
            }),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) =>
            {
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                Ok(Publishing {
                    file,
                    link_at: None,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Links the file in if no write did yet; returns it.
    fn publish(mut self) -> std::io::Result<File> {
        self.link()?;
        Ok(self.file)
    }

    fn link(&mut self) -> std::io::Result<()> {
        let Some(path) = self.link_at.take() else {
            return Ok(());
        };
        use std::os::{fd::AsRawFd, unix::ffi::OsStrExt};
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
            .expect("no NUL");
        let to = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: two valid C strings; linkat does not keep them.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Write for Publishing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Whole, so that the file is linked with at least the bytes of this first write
        // (the BufWriter's first flush: the file header and more).
        self.file.write_all(buf)?;
        self.link()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// `NAME.sha256` in sha256sum's format, beside the capture.
fn write_manifest(path: &Path) -> Result<()> {
    let mut hasher = Sha256::new();
    let mut f = File::open(path).with_context(|| format!("hashing {}", path.display()))?;
    std::io::copy(&mut f, &mut hasher)?;
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut manifest = path.as_os_str().to_owned();
    manifest.push(".sha256");
    let mut m = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&manifest)
        .with_context(|| format!("creating {}", Path::new(&manifest).display()))?;
    writeln!(m, "{hex}  {name}")?;
    m.sync_all()?;
    Ok(())
}

/// Deletes the oldest captures (and their manifests) until the directory holds at most
/// `max_count` captures and `max_bytes` bytes of them. Returns what was removed.
pub fn enforce_retention(dir: &Path, max_bytes: u64, max_count: usize) -> Result<Vec<PathBuf>> {
    let mut captures: Vec<(std::time::SystemTime, u64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "atcap"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    captures.sort();
    let mut total: u64 = captures.iter().map(|c| c.1).sum();
    let mut count = captures.len();
    let mut removed = Vec::new();
    for (_, len, path) in captures {
        if total <= max_bytes && count <= max_count {
            break;
        }
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        let mut manifest = path.as_os_str().to_owned();
        manifest.push(".sha256");
        let _ = std::fs::remove_file(manifest);
        total -= len;
        count -= 1;
        removed.push(path);
    }
    Ok(removed)
}
