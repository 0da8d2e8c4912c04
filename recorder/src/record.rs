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
use capture_format::{
    CaptureWriter, DropEntry, DropLedger, Event, EventBody, UsersAndGroups, WriterOptions,
};
use recorder_common::drop_cause;

use crate::{
    clock,
    containers::{cgroup2_root, CgroupResolver},
    convert, host,
    probes::{DropCounts, DropCountsByCpu, ProbeSettings, Probes},
    procfs_enrich, procscan, runtime_meta,
};

/// Writing the capture failed (disk full, permissions...): exit code 74.
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

pub struct RecordOptions {
    pub output: PathBuf,
    pub duration: Option<Duration>,
    /// Run this and stop when it exits; empty to record until the duration or a signal.
    pub command: Vec<OsString>,
    pub writer: WriterOptions,
    pub probes: ProbeSettings,
    /// Called once the programs are attached and recording has begun.
    pub on_ready: Option<Box<dyn FnOnce()>>,
}

#[derive(Debug)]
pub struct RecordOutcome {
    pub path: PathBuf,
    pub events: u64,
    pub bad_records: u64,
    /// Events written out of time order (arrived after the reorder window).
    pub late_events: u64,
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
/// How often the kernel's loss counters are read, which is the time resolution of the
/// drop ledger.
const DROP_POLL_INTERVAL: Duration = Duration::from_millis(250);
const POLL: Duration = Duration::from_millis(50);

/// Events waiting in the reorder window, keyed by (time, arrival order).
#[derive(Default)]
struct Reorder {
    pending: BTreeMap<(u64, u64), Event>,
    arrivals: u64,
    newest: u64,
    /// Everything before this has been written.
    released_upto: u64,
    /// Events that arrived after later ones were written (a syscall blocked for longer
    /// than the window): written out of order rather than lost.
    late: u64,
}

impl Reorder {
    fn push(&mut self, ts: u64, e: Event) {
        if ts < self.released_upto {
            self.late += 1;
        }
        self.newest = self.newest.max(ts);
        self.pending.insert((ts, self.arrivals), e);
        self.arrivals += 1;
    }

    /// Events before this are released by the next `release`.
    fn horizon(&self) -> u64 {
        self.newest.saturating_sub(REORDER_WINDOW_NS)
    }

    /// Events old enough that nothing earlier can still arrive, in order.
    fn release(&mut self, all: bool) -> impl Iterator<Item = Event> {
        let keep = if all {
            BTreeMap::new()
        } else {
            let horizon = self.horizon();
            self.released_upto = self.released_upto.max(horizon);
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
    let mut probes = Probes::load(&opts.probes)?;
    let started = Instant::now();
    let partial = partial_path(&opts.output);
    let file = output(&partial, create_private(&partial))?;
    let mut writer = output(
        &partial,
        CaptureWriter::new(BufWriter::with_capacity(1 << 20, file), opts.writer),
    )?;

    let settings = BTreeMap::from([
        ("mode".to_owned(), "record".to_owned()),
        (
            "exec_args_max".to_owned(),
            recorder_common::EXEC_ARGS_MAX.to_string(),
        ),
        ("snaplen".to_owned(), opts.probes.snaplen.to_string()),
        ("ring_bytes".to_owned(), opts.probes.ring_bytes.to_string()),
    ]);
    output(&partial, writer.write_host(&host::host_info(settings)))?;
    let mut clocks = vec![clock::pair()];
    let cg_root = cgroup2_root();
    let snapshot = procscan::snapshot(clock::boot_ns(), cg_root.as_deref());
    let mut enrich = procfs_enrich::Enricher::new(&snapshot);
    output(&partial, writer.write_processes(&snapshot))?;
    let mut cgroups = CgroupResolver::new();
    let (host_users, host_groups) = runtime_meta::users_and_groups(Path::new("/"), "");
    let mut users = UsersAndGroups {
        users: host_users,
        groups: host_groups,
    };

    if let Some(ready) = opts.on_ready.take() {
        ready();
    }
    let mut child = spawn(&opts.command)?;
    let mut command_status = None;
    let mut reorder = Reorder::default();
    let mut events = 0u64;
    let mut bad_records = 0u64;
    let mut last_pair = Instant::now();
    let mut stopping_at: Option<Instant> = None;
    let mut decoder = convert::Decoder::default();
    let mut ledger = Ledger::new(clocks[0].boot_ns);

    loop {
        probes.drain(POLL, |bytes| {
            let mut keep = |mut e: Event| {
                enrich.apply(&mut e);
                match &e.body {
                    EventBody::CgroupMkdir(c) => {
                        cgroups.learn(c.cgroup_id, &String::from_utf8_lossy(&c.path));
                    }
                    EventBody::Syscall(s) if s.cgroup_id != 0 => {
                        cgroups.observe(s.cgroup_id);
                    }
                    EventBody::Exec(x) if x.cgroup_id != 0 => {
                        cgroups.observe(x.cgroup_id);
                        if let Some((u, g)) = cgroups.exec_in(x.cgroup_id, e.pid) {
                            users.users.extend(u);
                            users.groups.extend(g);
                        }
                    }
                    EventBody::Fork(f) if f.cgroup_id != 0 => {
                        cgroups.observe(f.cgroup_id);
                    }
                    _ => {}
                }
                // Events go to the file in the order of their own time (a joined execve
                // carries its enter time, earlier than its exit record).
                reorder.push(e.ts, e);
            };
            if let Err(err) = decoder.decode(bytes, &mut keep) {
                bad_records += 1;
                tracing::warn!("{err}: {:02x?}", &bytes[..bytes.len().min(200)]);
            }
        })?;
        if ledger.due() {
            ledger.poll(&probes.drop_counts_by_cpu()?);
        }
        for e in decoder.expire(reorder.horizon()) {
            reorder.push(e.ts, e);
        }
        for e in reorder.release(false) {
            output(&partial, writer.push_event(&e))?;
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
    ledger.poll(&probes.drop_counts_by_cpu()?);
    let by_pid = probes.drops_by_pid();
    drop(probes);
    let drops = ledger.totals();

    for e in decoder.finish() {
        reorder.push(e.ts, e);
    }
    for e in reorder.release(true) {
        output(&partial, writer.push_event(&e))?;
        events += 1;
    }
    clocks.push(clock::pair());
    output(&partial, writer.write_clocks(&clocks))?;
    output(&partial, writer.write_containers(&cgroups.containers()))?;
    output(&partial, writer.write_users(&users))?;
    output(&partial, writer.write_drops(&ledger.into_ledger(&by_pid)))?;
    let out = output(&partial, writer.finish())?;
    let file = output(&partial, out.into_inner().map_err(|e| e.into_error()))?;
    output(&partial, file.sync_all())?;
    output(&partial, std::fs::rename(&partial, &opts.output))?;

    Ok(RecordOutcome {
        path: opts.output,
        events,
        bad_records,
        late_events: reorder.late,
        drops,
        command_status,
        stopped_by_signal: stop.load(Ordering::Relaxed),
    })
}

/// Names of `recorder_common::drop_cause` indices, as they appear in the drop ledger.
const CAUSES: [&str; drop_cause::COUNT as usize] =
    ["ring_full", "unreadable", "scratch_full", "regs_unreadable"];

/// Turns the kernel's cumulative per-CPU loss counters into ledger entries: one per
/// (cause, CPU, polling interval) in which something was lost.
struct Ledger {
    last: DropCountsByCpu,
    last_ts: u64,
    last_poll: Instant,
    entries: Vec<DropEntry>,
}

impl Ledger {
    fn new(start_ts: u64) -> Self {
        Ledger {
            last: Vec::new(),
            last_ts: start_ts,
            last_poll: Instant::now(),
            entries: Vec::new(),
        }
    }

    fn due(&self) -> bool {
        self.last_poll.elapsed() >= DROP_POLL_INTERVAL
    }

    fn poll(&mut self, now: &DropCountsByCpu) {
        let ts = clock::boot_ns();
        for (cpu, counts) in now.iter().enumerate() {
            let before = self.last.get(cpu).copied().unwrap_or_default();
            for (cause, name) in CAUSES.iter().enumerate() {
                let delta = counts[cause].saturating_sub(before[cause]);
                if delta > 0 {
                    self.entries.push(DropEntry {
                        cause: (*name).to_owned(),
                        cpu: Some(cpu as u32),
                        pid: None,
                        from: self.last_ts,
                        to: ts,
                        count: delta,
                    });
                }
            }
        }
        self.last = now.clone();
        self.last_ts = ts;
        self.last_poll = Instant::now();
    }

    fn totals(&self) -> DropCounts {
        let mut t = DropCounts::default();
        for counts in &self.last {
            for (i, v) in counts.iter().enumerate() {
                t[i] += v;
            }
        }
        t
    }

    fn into_ledger(mut self, lost_by_pid: &[(u32, u64)]) -> DropLedger {
        let from = self.entries.first().map(|e| e.from).unwrap_or(self.last_ts);
        for &(pid, count) in lost_by_pid {
            self.entries.push(DropEntry {
                cause: "lost_records".to_owned(),
                cpu: None,
                pid: Some(pid),
                from,
                to: self.last_ts,
                count,
            });
        }
        DropLedger {
            entries: self.entries,
        }
    }
}
