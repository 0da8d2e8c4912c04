//! `aftertrace-recorder record`: record the whole node into one capture file until a
//! duration passes, a signal arrives, or a command exits.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    fs::{File, OpenOptions},
    io::BufWriter,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use capture_format::{CaptureWriter, DropEntry, DropLedger, Event, EventBody, WriterOptions};
use recorder_common::drop_cause;

use crate::{
    clock,
    containers::{cgroup2_root, CgroupResolver},
    convert, host,
    probes::{DropCounts, Probes},
    procfs_enrich, procscan,
};

pub struct RecordOptions {
    pub output: PathBuf,
    pub duration: Option<Duration>,
    /// Run this and stop when it exits; empty to record until the duration or a signal.
    pub command: Vec<OsString>,
    pub writer: WriterOptions,
    /// Called once the programs are attached and recording has begun.
    pub on_ready: Option<Box<dyn FnOnce()>>,
}

#[derive(Debug)]
pub struct RecordOutcome {
    pub path: PathBuf,
    pub events: u64,
    pub bad_records: u64,
    pub drops: DropCounts,
    /// The command's status, when one was run and it exited.
    pub command_status: Option<ExitStatus>,
    /// The signal that stopped the recording, if one did.
    pub stopped_by_signal: bool,
}

/// How long events are held back so that records from different CPUs can be put back in
/// time order before they are chunked. The ring buffer is shared by all CPUs and nearly
/// ordered already; this absorbs the rest.
const REORDER_WINDOW_NS: u64 = 50_000_000;
const CLOCK_PAIR_INTERVAL: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(50);

/// Events waiting in the reorder window, keyed by (completion time, arrival order).
struct Reorder {
    pending: BTreeMap<(u64, u64), Event>,
    arrivals: u64,
    newest: u64,
}

impl Reorder {
    fn push(&mut self, completion_ts: u64, e: Event) {
        self.newest = self.newest.max(completion_ts);
        self.pending.insert((completion_ts, self.arrivals), e);
        self.arrivals += 1;
    }

    /// Events old enough that nothing earlier can still arrive, in order.
    fn release(&mut self, all: bool) -> impl Iterator<Item = Event> {
        let keep = if all {
            BTreeMap::new()
        } else {
            let horizon = self.newest.saturating_sub(REORDER_WINDOW_NS);
            self.pending.split_off(&(horizon, 0))
        };
        std::mem::replace(&mut self.pending, keep).into_values()
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Capture files hold secrets (typed passwords, tokens in env): owner-only from creation.
fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

fn spawn(command: &[OsString]) -> Result<Option<Child>> {
    let Some((program, args)) = command.split_first() else {
        return Ok(None);
    };
    Command::new(program)
        .args(args)
        .spawn()
        .map(Some)
        .with_context(|| format!("starting {}", program.to_string_lossy()))
}

pub fn record(mut opts: RecordOptions, stop: Arc<AtomicBool>) -> Result<RecordOutcome> {
    let mut probes = Probes::load()?;
    let started = Instant::now();
    let partial = partial_path(&opts.output);
    let file = create_private(&partial)?;
    let mut writer = CaptureWriter::new(BufWriter::with_capacity(1 << 20, file), opts.writer)
        .with_context(|| format!("writing {}", partial.display()))?;

    let settings = BTreeMap::from([
        ("mode".to_owned(), "record".to_owned()),
        (
            "exec_args_max".to_owned(),
            recorder_common::EXEC_ARGS_MAX.to_string(),
        ),
        ("syscall_data".to_owned(), "none".to_owned()),
    ]);
    writer.write_host(&host::host_info(settings))?;
    let mut clocks = vec![clock::pair()];
    let cg_root = cgroup2_root();
    let snapshot = procscan::snapshot(clock::boot_ns(), cg_root.as_deref());
    let mut enrich = procfs_enrich::Enricher::new(&snapshot);
    writer.write_processes(&snapshot)?;
    let mut cgroups = CgroupResolver::new();

    if let Some(ready) = opts.on_ready.take() {
        ready();
    }
    let mut child = spawn(&opts.command)?;
    let mut command_status = None;
    let mut reorder = Reorder {
        pending: BTreeMap::new(),
        arrivals: 0,
        newest: 0,
    };
    let mut events = 0u64;
    let mut bad_records = 0u64;
    let mut last_pair = Instant::now();
    let mut stopping_at: Option<Instant> = None;

    loop {
        probes.drain(POLL, |bytes| {
            let Some(done_ts) = convert::completion_ts(bytes) else {
                bad_records += 1;
                return;
            };
            match convert::convert(bytes) {
                Ok(None) => {}
                Ok(Some(mut e)) => {
                    enrich.apply(&mut e);
                    if let EventBody::CgroupMkdir(c) = &e.body {
                        cgroups.learn(c.cgroup_id, &String::from_utf8_lossy(&c.path));
                    }
                    let cgroup = match &e.body {
                        EventBody::Syscall(s) => s.cgroup_id,
                        EventBody::Exec(x) => x.cgroup_id,
                        EventBody::Fork(f) => f.cgroup_id,
                        _ => 0,
                    };
                    if cgroup != 0 {
                        cgroups.observe(cgroup);
                    }
                    reorder.push(done_ts, e);
                }
                Err(err) => {
                    bad_records += 1;
                    tracing::warn!("{err}");
                }
            }
        })?;
        for e in reorder.release(false) {
            writer.push_event(&e)?;
            events += 1;
        }
        if last_pair.elapsed() >= CLOCK_PAIR_INTERVAL {
            clocks.push(clock::pair());
            last_pair = Instant::now();
        }

        if stopping_at.is_none() {
            if stop.load(Ordering::Relaxed) || opts.duration.is_some_and(|d| started.elapsed() >= d)
            {
                stopping_at = Some(Instant::now());
            }
            if let Some(c) = child.as_mut() {
                if let Some(status) = c.try_wait().context("waiting for the command")? {
                    command_status = Some(status);
                    stopping_at = Some(Instant::now());
                }
            }
        }
        // After the stop, keep draining briefly: records committed on other CPUs just
        // before it are still in the ring.
        if stopping_at.is_some_and(|t| t.elapsed() >= POLL * 2) {
            break;
        }
    }
    let drops = probes.drop_counts()?;
    let end_ts = clock::boot_ns();
    drop(probes);

    for e in reorder.release(true) {
        writer.push_event(&e)?;
        events += 1;
    }
    clocks.push(clock::pair());
    writer.write_clocks(&clocks)?;
    writer.write_containers(&cgroups.containers())?;
    writer.write_drops(&drop_ledger(&drops, clocks[0].boot_ns, end_ts))?;
    let out = writer
        .finish()
        .with_context(|| format!("finishing {}", partial.display()))?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("flushing {}", partial.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", partial.display()))?;
    std::fs::rename(&partial, &opts.output)
        .with_context(|| format!("renaming {} into place", partial.display()))?;

    Ok(RecordOutcome {
        path: opts.output,
        events,
        bad_records,
        drops,
        command_status,
        stopped_by_signal: stop.load(Ordering::Relaxed),
    })
}

fn drop_ledger(drops: &DropCounts, from: u64, to: u64) -> DropLedger {
    let names = [
        (drop_cause::RING_FULL, "ring_full"),
        (drop_cause::EXIT_WITHOUT_ENTER, "exit_without_enter"),
        (drop_cause::ENTER_MAP_FULL, "enter_map_full"),
    ];
    DropLedger {
        entries: names
            .iter()
            .filter(|(i, _)| drops[*i as usize] > 0)
            .map(|(i, name)| DropEntry {
                cause: (*name).to_owned(),
                cpu: None,
                from,
                to,
                count: drops[*i as usize],
            })
            .collect(),
    }
}
