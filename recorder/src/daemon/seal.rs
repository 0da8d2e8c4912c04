//! Sealing a window into a capture file: whole segments of the rolling buffer, their
//! already compressed chunks copied as they are, the state the first segment opened with,
//! the alerts verbatim. Written as NAME.atcap.partial, renamed when complete, then
//! NAME.atcap.sha256 for chain of custody. Then the directory's retention is applied.
//!
//! The .partial appears only once its first bytes are written (an anonymous O_TMPFILE
//! linked in then), so a kill -9 at any moment leaves no file or one that opens.

use std::{
    collections::HashSet,
    ffi::OsString,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, Result};
use capture_format::{
    CaptureWriter, ClockPair, ContainerInfo, DropLedger, HostInfo, UsersAndGroups, WriterOptions,
};

use super::{alerts::slug, buffer::Selection, windows::Window};
use crate::safe_fs::{self, Dir};

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
    /// The file name of the capture this one continues (a split window).
    pub previous_capture: Option<String>,
    /// Test-only: pause after each chunk, to widen the window for kill -9 tests.
    pub slow_per_chunk: Option<Duration>,
    /// Called the moment the capture is in place under its final name, so `status`
    /// counts it before anyone can see the file (not when the daemon's loop next looks).
    pub published: Box<dyn FnOnce(&Path) + Send>,
    /// Sign the capture with this secret key file (`NAME.atcap.sig`).
    pub signing_key: Option<PathBuf>,
}

/// `<host>-<UTC time without colons>-<slug>.atcap`, numbered on collision (with the
/// capture, its .partial or its .sha256).
fn file_name(dir: &Dir, host: &str, realtime_ns: i64, summary: &str) -> OsString {
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
        let taken = [".partial", ".sha256", ".sig", ""]
            .iter()
            .any(|suffix| dir.contains(&safe_fs::with_suffix(name.as_ref(), suffix)));
        if !taken {
            return name.into();
        }
        n += 1;
    }
}

pub fn seal(job: SealJob) -> Result<PathBuf> {
    let dir = Arc::new(safe_fs::captures_dir(&job.dir)?);
    let summary = if job.window.title.is_empty() {
        "alert"
    } else {
        job.window.title.as_str()
    };
    let name = file_name(&dir, &job.host.hostname, job.received_realtime_ns, summary);
    let path = job.dir.join(&name);
    let partial_name = safe_fs::with_suffix(&name, ".partial");
    let partial = job.dir.join(&partial_name);
    let file = Publishing::create(Arc::clone(&dir), partial_name.clone())?;
    let linked = Arc::clone(&file.linked);
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
        // What a storm did to this capture, for summary and the Overview.
        host.settings
            .insert("window_part".into(), job.window.part.to_string());
        if job.window.continued {
            host.settings
                .insert("window_continues".into(), "true".into());
        }
        if job.window.part > 1 {
            host.settings.insert(
                "previous_capture".into(),
                job.previous_capture
                    .clone()
                    .unwrap_or_else(|| "(not sealed)".into()),
            );
        }
        if !job.window.rules_throttled.is_empty() {
            host.settings.insert(
                "rules_throttled".into(),
                serde_json::to_string(&job.window.rules_throttled)?,
            );
        }
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
    let mut file = match write() {
        Ok(f) => f,
        Err(e) => {
            // The window is retried whole; a half-written copy would only take the space
            // the retry needs (a full disk is the usual cause). Only a file this seal
            // linked in is removed, never one it found there.
            if linked.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = dir.remove(&partial_name);
            }
            return Err(e).with_context(|| format!("writing {}", partial.display()));
        }
    };
    // The manifest goes first, so whoever sees NAME.atcap finds its NAME.atcap.sha256
    // beside it. A manifest that cannot be written is logged, not a failed seal (a retry
    // would seal the window twice).
    let manifest = match safe_fs::write_sha256(&dir, &name, &mut file) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!("sealing {} without its manifest: {e}", path.display());
            None
        }
    };
    // The signature too, so NAME.atcap never appears without it when a key is set; a
    // signature that cannot be made fails the seal (it is retried), as a responder relies
    // on every capture being signed.
    let signature = match &job.signing_key {
        None => None,
        Some(key) => {
            let sig_name = safe_fs::with_suffix(&name, ".sig");
            let made = capture_format::signature::signature_text(&partial, key)
                .map_err(anyhow::Error::from)
                .and_then(|text| {
                    let mut f = dir.create_file(&sig_name)?;
                    f.write_all(text.as_bytes())?;
                    f.sync_all()?;
                    Ok(())
                });
            if let Err(e) = made {
                if manifest.is_some() {
                    let _ = dir.remove(&safe_fs::with_suffix(&name, ".sha256"));
                }
                let _ = dir.remove(&partial_name);
                return Err(e.context(format!("signing {}", partial.display())));
            }
            Some(sig_name)
        }
    };
    if let Err(e) = dir.rename_noreplace(&partial_name, &name) {
        if manifest.is_some() {
            let _ = dir.remove(&safe_fs::with_suffix(&name, ".sha256"));
        }
        if let Some(sig) = &signature {
            let _ = dir.remove(sig);
        }
        return Err(e.into());
    }
    (job.published)(&path);
    Ok(path)
}

/// The file being sealed: anonymous (O_TMPFILE) until the first write reaches it, then
/// linked in at its .partial name (never over an existing entry). Where the filesystem
/// has no O_TMPFILE, a file created exclusively at that name from the start.
struct Publishing {
    file: File,
    dir: Arc<Dir>,
    /// Where to link the file at its first write; `None` once it is visible.
    link_as: Option<OsString>,
    /// Whether the file has a name in the directory (so a failed seal removes it).
    linked: Arc<std::sync::atomic::AtomicBool>,
}

impl Publishing {
    fn create(dir: Arc<Dir>, name: OsString) -> Result<Self, safe_fs::CreateError> {
        let linked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        match dir.create_anonymous()? {
            Some(file) => Ok(Publishing {
                file,
                dir,
                link_as: Some(name),
                linked,
            }),
            None => {
                let file = dir.create_file(&name)?;
                linked.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(Publishing {
                    file,
                    dir,
                    link_as: None,
                    linked,
                })
            }
        }
    }

    /// Links the file in if no write did yet; returns it.
    fn publish(mut self) -> std::io::Result<File> {
        self.link()?;
        Ok(self.file)
    }

    fn link(&mut self) -> std::io::Result<()> {
        let Some(name) = self.link_as.take() else {
            return Ok(());
        };
        self.dir
            .link_anonymous(&self.file, &name)
            .map_err(std::io::Error::other)?;
        self.linked
            .store(true, std::sync::atomic::Ordering::Relaxed);
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

/// Deletes the oldest captures (and their manifests) until the directory holds at most
/// `max_count` captures and `max_bytes` bytes of them. Returns what was removed.
pub fn enforce_retention(dir: &Path, max_bytes: u64, max_count: usize) -> Result<Vec<PathBuf>> {
    let mut captures: Vec<(std::time::SystemTime, u64, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "atcap"))
        .filter_map(|e| {
            // Not through links: only the directory's own regular files count.
            let m = e.metadata().ok().filter(|m| m.is_file())?;
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
        // Its sidecars go with it: the manifest, the signature, the upload marker.
        for suffix in [".sha256", ".sig", ".uploaded"] {
            let mut sidecar = path.as_os_str().to_owned();
            sidecar.push(suffix);
            let _ = std::fs::remove_file(sidecar);
        }
        total -= len;
        count -= 1;
        removed.push(path);
    }
    Ok(removed)
}
