//! Capture files being written: one file for `record -o FILE`, or a ring of files for
//! continuous mode (`--rotate-size`, `--rotate-time`, `--keep`). Every file opens with the
//! state the pipeline knows (host, processes that began before it) and closes with what it
//! learned (clock pairs, containers, users, losses), so each one stands alone.

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use capture_format::{CaptureWriter, DropLedger, Event, HostInfo, WriterOptions};

use crate::{clock, pipeline::Pipeline};

/// Writing a capture failed (disk full, permissions...): exit code 74.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source:#} (what was written before the failure stays readable there)", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    pub source: anyhow::Error,
}

/// Tags a failure to write the capture, so the caller can tell it from a kernel failure.
fn output<T, E: Into<anyhow::Error>>(path: &Path, r: Result<T, E>) -> Result<T, OutputError> {
    r.map_err(|e| OutputError {
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

fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// One capture file being written, as `PATH.partial` until it is complete.
pub struct Segment {
    path: PathBuf,
    partial: PathBuf,
    writer: CaptureWriter<Counting<BufWriter<File>>>,
    written: Arc<AtomicU64>,
    opened: Instant,
    start_ts: u64,
}

impl Segment {
    /// Creates `path` (via `path.partial`) owner-only, since captures hold secrets (typed
    /// passwords, tokens in env). `exclusive` refuses to replace an existing file.
    pub fn open(
        path: &Path,
        exclusive: bool,
        opts: WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<Self, OutputError> {
        let partial = partial_path(path);
        if exclusive && path.exists() {
            return Err(OutputError {
                path: path.to_owned(),
                source: anyhow::anyhow!("exists already; evidence is never overwritten"),
            });
        }
        let mut options = OpenOptions::new();
        options.write(true).mode(0o600);
        if exclusive {
            options.create_new(true);
        } else {
            options.create(true).truncate(true);
        }
        let file = output(&partial, options.open(&partial))?;
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
        Ok(Segment {
            path: path.to_owned(),
            partial,
            writer,
            written,
            opened: Instant::now(),
            start_ts,
        })
    }

    pub fn push(&mut self, e: &Event) -> Result<(), OutputError> {
        output(&self.partial, self.writer.push_event(e))
    }

    pub fn bytes(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Writes what was learned during the segment, completes the file and renames it into
    /// place. Returns its final path.
    pub fn close(mut self, pipeline: &mut Pipeline) -> Result<PathBuf, OutputError> {
        let p = self.partial.clone();
        output(&p, self.writer.write_clocks(&pipeline.take_clocks()))?;
        let drops = DropLedger {
            entries: pipeline.take_drops(self.start_ts),
        };
        let state = pipeline.state();
        output(&p, self.writer.write_containers(&state.containers))?;
        output(&p, self.writer.write_users(state.users))?;
        output(&p, self.writer.write_drops(&drops))?;
        let counting = output(&p, self.writer.finish())?;
        let file = output(&p, counting.inner.into_inner().map_err(|e| e.into_error()))?;
        output(&p, file.sync_all())?;
        output(&p, std::fs::rename(&p, &self.path))?;
        Ok(self.path)
    }
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
        dir: PathBuf,
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
        Ok(Output::Single(Some(Segment::open(
            path, false, opts, host, pipeline,
        )?)))
    }

    pub fn rotating(
        dir: &Path,
        rotation: Rotation,
        opts: WriterOptions,
        host: &HostInfo,
        pipeline: &mut Pipeline,
    ) -> Result<Self, OutputError> {
        output(dir, std::fs::create_dir_all(dir))?;
        let run = format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::process::id()
        );
        let first = Segment::open(
            &dir.join(format!("aftertrace-{run}-00000.atcap")),
            true,
            opts,
            host,
            pipeline,
        )?;
        Ok(Output::Rotating {
            dir: dir.to_owned(),
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
                            output(&old, std::fs::remove_file(&old))?;
                        }
                    }
                    *seq += 1;
                    let path = dir.join(format!("aftertrace-{run}-{seq:05}.atcap"));
                    *current = Some(Segment::open(&path, true, opts.clone(), host, pipeline)?);
                }
                Ok(())
            }
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
