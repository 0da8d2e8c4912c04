//! Capture files being written: one file for `record -o FILE`, or a ring of files for
//! continuous mode (`--rotate-size`, `--rotate-time`, `--keep`). Every file opens with the
//! state the pipeline knows (host, processes that began before it) and closes with what it
//! learned (clock pairs, containers, users, losses), so each one stands alone.

use std::{
    collections::VecDeque,
    ffi::OsString,
    fs::File,
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use capture_format::{CaptureWriter, DropEntry, DropLedger, Event, HostInfo, WriterOptions};

use crate::{
    clock,
    pipeline::Pipeline,
    safe_fs::{self, CreateError, Dir},
};

/// Writing a capture failed (disk full, permissions, a name that exists already or is a
/// link...): exit code 74.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing {}: {source:#} (what was written before the failure stays readable there)", path.display())]
    Write {
        path: PathBuf,
        source: anyhow::Error,
    },
    #[error(transparent)]
    Create(#[from] CreateError),
}

/// Tags a failure to write the capture, so the caller can tell it from a kernel failure.
fn output<T, E: Into<anyhow::Error>>(path: &Path, r: Result<T, E>) -> Result<T, OutputError> {
    r.map_err(|e| OutputError::Write {
        path: path.to_owned(),
        source: e.into(),
    })
}

/// Counts the bytes written, for size-based rotation; the count is shared because the
/// capture writer owns the stream.
struct Counting<W> {
    inner: W,
    written: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How often what was recorded reaches the file (a chunk of whatever is pending, the
/// clock pairs and losses so far), so that a kill -9 costs at most about this much.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// One capture file being written, as `NAME.partial` until it is complete.
pub struct Segment {
    dir: Arc<Dir>,
    name: OsString,
    partial_name: OsString,
    path: PathBuf,
    partial: PathBuf,
    writer: CaptureWriter<Counting<BufWriter<File>>>,
    written: Arc<AtomicU64>,
    opened: Instant,
    start_ts: u64,
    /// Where the writer was when the output was last flushed: a chunk written since (a
    /// full one) is flushed at once.
    flushed_at: u64,
    last_flush: Instant,
    /// Containers and users already written mid-file, to write them again only when
    /// they changed.
    containers_written: usize,
    users_written: usize,
    /// Events the file could not take (one that encodes beyond the chunk limit), counted
    /// into the drop ledger by process.
    lost: Vec<DropEntry>,
}

impl Segment {
    /// Creates `dir/name` (via `name.partial`, created exclusively and never through a
    /// link) owner-only, since captures hold secrets (typed passwords, tokens in env).
    /// An existing `name` or `name.partial` is an error naming it: evidence is never
    /// overwritten, and a second recorder on the same output is refused.
    pub fn open(
        dir: Arc<Dir>,
        name: OsString,
        opts: WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<Self, OutputError> {
        let path = dir.path().join(&name);
        let partial_name = safe_fs::with_suffix(&name, ".partial");
        let partial = dir.path().join(&partial_name);
        if dir.contains(&name) {
            return Err(CreateError::Exists { path }.into());
        }
        let file = dir.create_file(&partial_name)?;
        let written = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: BufWriter::with_capacity(1 << 20, file),
            written: Arc::clone(&written),
        };
        let mut writer = output(&partial, CaptureWriter::new(counting, opts))?;
        let start_ts = clock::boot_ns();
        output(&partial, writer.write_host(host))?;
        let state = pipeline.state();
        output(&partial, writer.write_processes(&state.processes))?;
        // The header, host and snapshot are on disk before the first event: a file cut
        // short at any later moment opens.
        output(&partial, writer.flush())?;
        let flushed_at = writer.position();
        Ok(Segment {
            dir,
            name,
            partial_name,
            path,
            partial,
            writer,
            written,
            opened: Instant::now(),
            start_ts,
            flushed_at,
            last_flush: Instant::now(),
            containers_written: 0,
            users_written: 0,
            lost: Vec::new(),
        })
    }

    /// Writes `e`. An event the format cannot hold (it alone encodes beyond the chunk
    /// limit) is counted as lost to its process and logged, never an error: no input
    /// ends recording. Failures of the file itself are errors.
    pub fn push(&mut self, e: &Event) -> Result<(), OutputError> {
        match self.writer.push_event(e) {
            Ok(()) => {}
            Err(capture_format::Error::InvalidInput { reason }) => {
                tracing::warn!(
                    "event of pid {} at {} not recorded: {reason} (counted as too_large)",
                    e.pid,
                    e.ts
                );
                // As the kernel's losses are kept: by cause, and by process.
                for (cause, pid) in [("too_large", None), ("lost_records", Some(e.pid))] {
                    self.lost.push(DropEntry {
                        cause: cause.to_owned(),
                        cpu: None,
                        pid,
                        from: e.ts,
                        to: e.ts,
                        count: 1,
                    });
                }
            }
            Err(err) => return output(&self.partial, Err(err)),
        }
        if self.writer.position() != self.flushed_at {
            // A full chunk went out: on disk now, not when the buffer fills.
            self.flush_output()?;
        }
        Ok(())
    }

    fn flush_output(&mut self) -> Result<(), OutputError> {
        output(&self.partial, self.writer.flush())?;
        self.flushed_at = self.writer.position();
        Ok(())
    }

    /// Called after each poll: once a second, the pending events become a chunk and
    /// reach the file with the clock pairs and losses so far (and the containers and
    /// users when new ones appeared), so a reader of a file cut short has what it needs.
    pub fn tick(&mut self, pipeline: &mut Pipeline) -> Result<(), OutputError> {
        if self.last_flush.elapsed() < FLUSH_INTERVAL {
            return Ok(());
        }
        self.last_flush = Instant::now();
        let p = self.partial.clone();
        output(&p, self.writer.flush_chunk())?;
        output(&p, self.writer.write_clocks(&pipeline.take_clocks()))?;
        let mut entries = pipeline.take_drops(self.start_ts);
        entries.append(&mut self.lost);
        if !entries.is_empty() {
            output(&p, self.writer.write_drops(&DropLedger { entries }))?;
        }
        let (containers, users) = pipeline.known_counts();
        if containers != self.containers_written || users != self.users_written {
            let state = pipeline.state_without_processes();
            output(&p, self.writer.write_containers(&state.containers))?;
            output(&p, self.writer.write_users(state.users))?;
            self.containers_written = containers;
            self.users_written = users;
        }
        self.flush_output()
    }

    pub fn bytes(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Writes what was learned during the segment, completes the file, renames it into
    /// place (never over an existing name) and writes `NAME.sha256` beside it. Returns
    /// its final path.
    pub fn close(mut self, pipeline: &mut Pipeline) -> Result<PathBuf, OutputError> {
        let p = self.partial.clone();
        output(&p, self.writer.write_clocks(&pipeline.take_clocks()))?;
        let mut entries = pipeline.take_drops(self.start_ts);
        entries.append(&mut self.lost);
        let drops = DropLedger { entries };
        let state = pipeline.state_without_processes();
        output(&p, self.writer.write_containers(&state.containers))?;
        output(&p, self.writer.write_users(state.users))?;
        output(&p, self.writer.write_drops(&drops))?;
        let counting = output(&p, self.writer.finish())?;
        let mut file = output(&p, counting.inner.into_inner().map_err(|e| e.into_error()))?;
        output(&p, file.sync_all())?;
        self.dir.rename_noreplace(&self.partial_name, &self.name)?;
        safe_fs::write_sha256(&self.dir, &self.name, &mut file)?;
        Ok(self.path)
    }
}

/// Opens the directory a record writes in; says so when others can add or remove
/// entries there. Links are never followed and files are created 0600, so that is only
/// a warning: the remaining risk is that another user deletes or renames a finished
/// capture (the sticky bit prevents that).
fn record_dir(dir: &Path) -> Result<Arc<Dir>, OutputError> {
    let d = Dir::open(dir)?;
    if d.writable_by_others()? == Some(false) {
        tracing::warn!(
            "{} is writable by other users and not sticky: they can delete or rename the capture",
            dir.display()
        );
    }
    Ok(Arc::new(d))
}

/// When continuous mode starts a new file, and how many it keeps.
#[derive(Clone, Debug, Default)]
pub struct Rotation {
    pub max_bytes: Option<u64>,
    pub max_age: Option<Duration>,
    /// Files of this run to keep; older ones of this run are deleted. Files of earlier
    /// runs are never touched.
    pub keep: Option<usize>,
}

/// Where events go: one file, or a rotating ring of files in a directory.
pub enum Output {
    Single(Option<Segment>),
    Rotating {
        dir: Arc<Dir>,
        /// Unique per run (start time and pid), so a run never overwrites another's files.
        run: String,
        seq: u64,
        rotation: Rotation,
        current: Option<Segment>,
        done: VecDeque<PathBuf>,
    },
}

impl Output {
    pub fn single(
        path: &Path,
        opts: WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<Self, OutputError> {
        let (_, name) = safe_fs::split(path)?;
        let dir = record_dir(path.parent().unwrap_or(Path::new(".")))?;
        Ok(Output::Single(Some(Segment::open(
            dir, name, opts, host, pipeline,
        )?)))
    }

    /// Continuous mode: the directory is created owner-only (0700) when missing.
    pub fn rotating(
        dir: &Path,
        rotation: Rotation,
        opts: WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<Self, OutputError> {
        if !dir.exists() {
            Dir::create_private(dir)?;
        }
        let dir = record_dir(dir)?;
        let run = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::process::id()
        );
        let first = Segment::open(
            Arc::clone(&dir),
            format!("aftertrace-{run}-00000.atcap").into(),
            opts,
            host,
            pipeline,
        )?;
        Ok(Output::Rotating {
            dir,
            run,
            seq: 0,
            rotation,
            current: Some(first),
            done: VecDeque::new(),
        })
    }

    pub fn push(
        &mut self,
        e: &Event,
        opts: &WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<(), OutputError> {
        match self {
            Output::Single(seg) => seg.as_mut().map_or(Ok(()), |s| s.push(e)),
            Output::Rotating {
                dir,
                run,
                seq,
                rotation,
                current,
                done,
            } => {
                let Some(seg) = current.as_mut() else {
                    return Ok(());
                };
                seg.push(e)?;
                let full = rotation.max_bytes.is_some_and(|m| seg.bytes() >= m)
                    || rotation.max_age.is_some_and(|m| seg.age() >= m);
                if full {
                    let closed = current.take().expect("checked above").close(pipeline)?;
                    tracing::info!("rotated: {}", closed.display());
                    done.push_back(closed);
                    while rotation.keep.is_some_and(|k| done.len() >= k.max(1)) {
                        if let Some(old) = done.pop_front() {
                            tracing::info!("removing {} (--keep)", old.display());
                            if let Some(name) = old.file_name() {
                                dir.remove(name)?;
                                let _ = dir.remove(&safe_fs::with_suffix(name, ".sha256"));
                            }
                        }
                    }
                    *seq += 1;
                    let name = format!("aftertrace-{run}-{seq:05}.atcap");
                    *current = Some(Segment::open(
                        Arc::clone(dir),
                        name.into(),
                        opts.clone(),
                        host,
                        pipeline,
                    )?);
                }
                Ok(())
            }
        }
    }

    /// Called after each poll: see [`Segment::tick`].
    pub fn tick(&mut self, pipeline: &mut Pipeline) -> Result<(), OutputError> {
        match self {
            Output::Single(Some(seg))
            | Output::Rotating {
                current: Some(seg), ..
            } => seg.tick(pipeline),
            _ => Ok(()),
        }
    }

    /// Completes the current file; returns every file this run left.
    pub fn close(self, pipeline: &mut Pipeline) -> Result<Vec<PathBuf>, OutputError> {
        match self {
            Output::Single(seg) => Ok(seg
                .map(|s| s.close(pipeline))
                .transpose()?
                .into_iter()
                .collect()),
            Output::Rotating { current, done, .. } => {
                let mut files: Vec<PathBuf> = done.into_iter().collect();
                if let Some(seg) = current {
                    files.push(seg.close(pipeline)?);
                }
                Ok(files)
            }
        }
    }
}
