//! A front end's session: what is known about the capture, and the background thread that
//! learns it, reporting each stage as a [`LoadEvent`] (the TUI's loading screen and views
//! are fed by these; another front end can use the same stages).
//!
//! Stages, each sent as soon as it is ready:
//! 1. [`Capture`]: the file opened and framed (metadata, chunk index). Cheap: no chunk is
//!    decoded, so the first screen (the Overview from the index) appears at once.
//! 3. after it, the reconstruction (`crate::reconstruct`): scripts and files, terminal
//!    sessions, connections, for the Scripts, Sessions and Network views.
//! 2. [`Analysis`]: one parallel pass over every chunk ([`crate::scan`]) building the whole
//!    process tree with each process's activity, the counts by kind, the commands and the
//!    events per cgroup. Progress is reported as the pass goes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use capture_format::{BootNs, CaptureReader, Event, EventBody, Records};

use crate::commands::Command;
use crate::meta::Lookups;
use crate::open::open;
use crate::procs::ProcessTree;
use crate::reconstruct::Reconstruction;
use crate::scan::{self, Group, Plan, TreeNeed};
use crate::select::{window_start, TimeRange};

/// The opened capture: everything known without decoding a chunk.
pub struct Capture {
    pub path: PathBuf,
    pub reader: CaptureReader,
    pub lookups: Lookups,
    /// Chunks whose time ranges overlap, decoded together (the Events view's paging unit).
    pub groups: Vec<Group>,
    /// `group_start[i]`: events before group `i` (by the index's counts); one more entry
    /// than `groups`, the last being the total.
    pub group_start: Vec<u64>,
    /// Earliest and latest event time by the index.
    pub window: Option<(BootNs, BootNs)>,
    /// Where `+DURATION` times count from (as the CLI's `--since +1s`).
    pub window_start: BootNs,
    /// The tree as the snapshots alone describe it: names events until the full tree is
    /// built.
    pub snapshot_tree: ProcessTree,
}

impl Capture {
    pub fn new(path: &Path, reader: CaptureReader) -> Capture {
        let lookups = Lookups::new(reader.metadata());
        let groups = scan::bounded_groups(&reader);
        let mut group_start = Vec::with_capacity(groups.len() + 1);
        let mut n = 0;
        group_start.push(0);
        for g in &groups {
            n += g.events;
            group_start.push(n);
        }
        let chunks = reader.chunks();
        let window = chunks
            .iter()
            .map(|c| c.first_ts)
            .min()
            .zip(chunks.iter().map(|c| c.last_ts).max());
        let snapshot_tree = ProcessTree::new(&reader.metadata().processes);
        Capture {
            path: path.to_path_buf(),
            window_start: window_start(&reader),
            lookups,
            groups,
            group_start,
            window,
            snapshot_tree,
            reader,
        }
    }

    /// Events in the capture by the index.
    pub fn total_events(&self) -> u64 {
        self.group_start.last().copied().unwrap_or(0)
    }

    /// Estimated events in `range` by the index: each chunk's events spread evenly over its
    /// time span.
    pub fn estimate_in(&self, range: TimeRange) -> u64 {
        let mut n = 0.0;
        for c in self.reader.chunks() {
            if !range.overlaps(c.first_ts, c.last_ts) {
                continue;
            }
            let lo = range.since.map_or(c.first_ts, |s| s.max(c.first_ts));
            let hi = range.until.map_or(c.last_ts, |u| u.min(c.last_ts));
            let span = c.last_ts.saturating_sub(c.first_ts);
            n += if span == 0 {
                f64::from(c.event_count)
            } else {
                f64::from(c.event_count) * (hi.saturating_sub(lo) as f64 / span as f64)
            };
        }
        n.round() as u64
    }

    /// How many of `groups` (at least one, if any) decompress to at most `max_raw` bytes
    /// together, from the front.
    pub fn groups_within(&self, groups: &[usize], max_raw: u64) -> usize {
        let mut raw = 0u64;
        let mut n = 0;
        for &g in groups {
            let bytes: u64 = self.groups.get(g).map_or(0, |grp| {
                grp.chunks
                    .clone()
                    .map(|i| self.reader.chunk_raw_len(i))
                    .sum()
            });
            if n > 0 && raw + bytes > max_raw {
                break;
            }
            raw += bytes;
            n += 1;
        }
        n
    }

    /// The events of group `g`, in time order (a chunk that cannot be read contributes
    /// nothing; its error is returned beside what could be read).
    pub fn decode_group(&self, g: usize) -> (Vec<Event>, Vec<capture_format::Error>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        let Some(group) = self.groups.get(g) else {
            return (events, errors);
        };
        for i in group.chunks.clone() {
            match self.reader.chunk_events(i) {
                Ok(v) if events.is_empty() => events = v,
                Ok(mut v) => events.append(&mut v),
                Err(e) => errors.push(e),
            }
        }
        if !events.is_sorted_by_key(|e| e.ts) {
            events.sort_by_key(|e| e.ts);
        }
        (events, errors)
    }
}

/// Records by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub events: u64,
    pub syscalls: u64,
    pub failed: u64,
    pub execs: u64,
    pub forks: u64,
    pub exits: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.events += o.events;
        self.syscalls += o.syscalls;
        self.failed += o.failed;
        self.execs += o.execs;
        self.forks += o.forks;
        self.exits += o.exits;
    }
}

/// What the full pass learned.
pub struct Analysis {
    /// Every process of the capture, finished ([`ProcessTree::finish`]).
    pub tree: ProcessTree,
    pub counts: Counts,
    /// Every exec record, in time order, and its row (same index).
    pub execs: Vec<Event>,
    pub commands: Vec<Command>,
    /// Syscall records by the cgroup they name (0: not recorded).
    pub by_cgroup: HashMap<u64, u64>,
    /// Chunks that could not be read, as messages.
    pub errors: Vec<String>,
}

/// One group's share of the pass.
struct Part {
    counts: Counts,
    execs: Vec<Event>,
    by_cgroup: Vec<(u64, u64)>,
}

fn part_of(events: &[Event]) -> Part {
    let mut counts = Counts::default();
    let mut execs = Vec::new();
    let mut by_cgroup: HashMap<u64, u64> = HashMap::new();
    for e in events {
        counts.events += 1;
        match &e.body {
            EventBody::Syscall(s) => {
                counts.syscalls += 1;
                if s.ret.is_some_and(|r| r < 0) {
                    counts.failed += 1;
                }
                *by_cgroup.entry(s.cgroup_id).or_default() += 1;
            }
            EventBody::Exec(_) => {
                counts.execs += 1;
                execs.push(e.clone());
            }
            EventBody::Fork(_) => counts.forks += 1,
            EventBody::Exit(_) => counts.exits += 1,
            EventBody::CgroupMkdir(_) => {}
        }
    }
    Part {
        counts,
        execs,
        by_cgroup: by_cgroup.into_iter().collect(),
    }
}

/// What the loading thread reports, in this order: `Opened` (or `OpenFailed`), `Progress`
/// as the pass goes, `Analyzed`, then `Reconstructed`.
pub enum LoadEvent {
    Opened(Arc<Capture>),
    OpenFailed(String),
    /// Events scanned so far of the index's total.
    Progress {
        done: u64,
        total: u64,
    },
    Analyzed(Arc<Analysis>),
    Reconstructed(Arc<Reconstruction>),
}

/// Opens `path` and analyses it on a background thread, reporting each [`LoadEvent`] to
/// `tx` (as the front end's own message type, so one channel carries both). Setting
/// `cancel` stops the pass at the next group; so does the receiver going away.
pub fn spawn_loader<T>(path: PathBuf, tx: Sender<T>, cancel: Arc<AtomicBool>)
where
    T: From<LoadEvent> + Send + 'static,
{
    let report = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("aftertrace-load".into())
        .spawn(move || load(&path, &tx, &cancel));
    if let Err(e) = spawned {
        let _ = report.send(T::from(LoadEvent::OpenFailed(format!(
            "cannot start the loading thread: {e}"
        ))));
    }
}

fn load<T: From<LoadEvent>>(path: &Path, tx: &Sender<T>, cancel: &AtomicBool) {
    let send = |e: LoadEvent| tx.send(T::from(e)).is_ok();
    let reader = match open(path) {
        Ok(r) => r,
        Err(e) => {
            send(LoadEvent::OpenFailed(e.to_string()));
            return;
        }
    };
    let capture = Arc::new(Capture::new(path, reader));
    if !send(LoadEvent::Opened(Arc::clone(&capture))) {
        return;
    }
    let Some(analysis) = analyse(&capture, &send, cancel) else {
        return;
    };
    if !send(LoadEvent::Analyzed(Arc::new(analysis))) || cancel.load(Ordering::Relaxed) {
        return;
    }
    // Scripts and files, sessions, connections: a replay of every record (its own pass).
    let recon = crate::reconstruct::reconstruct(
        &capture.reader,
        &capture.lookups,
        None,
        TimeRange::default(),
        |_| {},
    );
    send(LoadEvent::Reconstructed(Arc::new(recon)));
}

/// The full pass; `None` when cancelled.
fn analyse(
    capture: &Capture,
    send: &dyn Fn(LoadEvent) -> bool,
    cancel: &AtomicBool,
) -> Option<Analysis> {
    let reader = &capture.reader;
    let plan = Plan {
        range: TimeRange::default(),
        pids: None,
        tree: TreeNeed::Whole,
        activity: true,
        output: true,
        records: Records::All,
    };
    let total = capture.total_events().max(1);
    let mut tree = ProcessTree::new(&reader.metadata().processes);
    let mut counts = Counts::default();
    let mut execs = Vec::new();
    let mut by_cgroup: HashMap<u64, u64> = HashMap::new();
    let mut errors = Vec::new();
    let mut last_sent = 0u64;
    let result = scan::run(
        reader,
        &plan,
        &mut tree,
        |events, _| part_of(events),
        |part| {
            if cancel.load(Ordering::Relaxed) {
                return Err(());
            }
            counts.add(&part.counts);
            execs.extend(part.execs);
            for (cg, n) in part.by_cgroup {
                *by_cgroup.entry(cg).or_default() += n;
            }
            // A message per percent at most.
            if counts.events - last_sent >= total / 100 {
                last_sent = counts.events;
                send(LoadEvent::Progress {
                    done: counts.events,
                    total,
                });
            }
            Ok(())
        },
        |e| errors.push(e.to_string()),
    );
    if result.is_err() {
        return None;
    }
    let commands = execs
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Exec(x) => Some(Command::new(e, x, &capture.lookups)),
            _ => None,
        })
        .collect();
    Some(Analysis {
        tree,
        counts,
        execs,
        commands,
        by_cgroup,
        errors,
    })
}
