//! The process tree: every process the capture knows, from the snapshot(s) of processes
//! that began before the window and from the fork, exec and exit records during it, with
//! tombstones (exit time and status), each command line it ran, and its children.
//!
//! The tree is built incrementally in time order ([`ProcessTree::apply`] for each
//! lifecycle record, [`ProcessTree::advance_to`] as time passes), and every query takes a
//! time: the process a pid named *then*, and the image it ran *then*. So a tree built up to
//! time T answers every question about times up to T exactly as the finished tree would,
//! which is what lets the scanner evaluate filters while it is still reading.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use capture_format::{BootNs, Event, EventBody, ExecEvent, ProcessInfo, ProcessSnapshot};

/// Index of a process (one pid incarnation) in [`ProcessTree::processes`].
pub type ProcId = usize;

/// How the capture knows a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Listed in a snapshot: it was running when the window (or a segment) began.
    Snapshot,
    /// Forked during the window.
    Fork,
    /// Seen only in events (its fork was before the window or lost, and no snapshot lists
    /// it).
    Unknown,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Snapshot => "snapshot",
            Origin::Fork => "fork",
            Origin::Unknown => "unknown",
        }
    }
}

/// Where a process's image (command line, credentials...) came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseSource {
    /// The snapshot's view of a process that was running before the window.
    Snapshot,
    /// Inherited from the parent at fork.
    Fork,
    /// A successful exec.
    Exec,
}

/// What a process was running: the program, its command line and credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// The kernel's comm: the basename of the exec'd file, at most 15 bytes.
    pub comm: Vec<u8>,
    /// The resolved executable if known, else the exec'd path.
    pub exe: Option<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    pub argv_truncated: bool,
    pub cwd: Option<Vec<u8>>,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub cgroup_id: u64,
}

/// The kernel's comm for an exec'd path: its basename, cut to TASK_COMM_LEN - 1 bytes (as
/// the filter language's `proc.name` computes it for exec records).
pub fn comm_of(path: &[u8]) -> &[u8] {
    let base = match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    };
    &base[..base.len().min(15)]
}

impl Image {
    pub fn from_exec(x: &ExecEvent) -> Image {
        Image {
            comm: comm_of(&x.filename).to_vec(),
            exe: Some(x.exe.clone().unwrap_or_else(|| x.filename.clone())),
            argv: x.argv.clone(),
            argv_truncated: x.argv_truncated,
            cwd: x.cwd.clone(),
            uid: x.uid,
            euid: x.euid,
            gid: x.gid,
            egid: x.egid,
            cgroup_id: x.cgroup_id,
        }
    }

    pub fn from_snapshot(p: &ProcessInfo) -> Image {
        Image {
            comm: p.comm.as_bytes().to_vec(),
            exe: p.exe.clone(),
            argv: p.argv.clone(),
            argv_truncated: false,
            cwd: p.cwd.clone(),
            uid: p.uid,
            euid: p.euid,
            gid: p.gid,
            egid: p.egid,
            cgroup_id: p.cgroup_id,
        }
    }
}

/// One stretch of a process's life with one image.
#[derive(Clone, Debug)]
pub struct Phase {
    /// When it began; `None` for a snapshot's image (in effect since before the window).
    pub ts: Option<BootNs>,
    pub source: PhaseSource,
    /// The parent pid as of this phase (an exec record says who the parent was then).
    pub ppid: u32,
    /// Shared between a parent and the children that inherited it.
    pub image: Arc<Image>,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// `None` when a snapshot lists a tombstone without its time.
    pub ts: Option<BootNs>,
    /// wait(2) status: exit code << 8, or the terminating signal in the low 7 bits.
    pub status: Option<u32>,
}

impl Exit {
    /// The exit code, if the process exited (rather than being killed).
    pub fn code(&self) -> Option<u32> {
        self.status
            .filter(|s| s & 0x7f == 0)
            .map(|s| (s >> 8) & 0xff)
    }

    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<u32> {
        self.status.map(|s| s & 0x7f).filter(|&sig| sig != 0)
    }
}

/// One process: one incarnation of a pid, from its start (or the window's) to its exit.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: u32,
    /// The parent's pid when the process began (the forking process, or the snapshot's
    /// ppid); later exec records may name another (see [`Phase::ppid`]).
    pub ppid: u32,
    /// The parent process, when the capture knows it.
    pub parent: Option<ProcId>,
    pub origin: Origin,
    /// Fork time, or the start time a snapshot gives; `None` when unknown (began before
    /// the window).
    pub start: Option<BootNs>,
    /// Set for tombstones.
    pub exit: Option<Exit>,
    /// Images in time order: the snapshot's or the inherited one first, then one per
    /// exec. Empty when the capture never saw what the process ran.
    pub phases: Vec<Phase>,
    /// Processes this one forked (and snapshot processes naming it as parent), in start
    /// order once the tree is finished.
    pub children: Vec<ProcId>,
    /// Threads created during the window.
    pub threads: u32,
    /// Syscall records of the process (all its threads), counted when the scan asked.
    pub syscalls: u64,
    /// Its first and last record of any kind, when counted.
    pub first_event: Option<BootNs>,
    pub last_event: Option<BootNs>,
    /// Lookups of this pid at or after this time find this incarnation (until the next).
    valid_from: BootNs,
    /// For snapshot processes: when the snapshot was taken.
    snapshot_ts: Option<BootNs>,
}

impl Process {
    fn new(pid: u32, origin: Origin, valid_from: BootNs) -> Process {
        Process {
            pid,
            ppid: 0,
            parent: None,
            origin,
            start: None,
            exit: None,
            phases: Vec::new(),
            children: Vec::new(),
            threads: 0,
            syscalls: 0,
            first_event: None,
            last_event: None,
            valid_from,
            snapshot_ts: None,
        }
    }

    /// The image in effect at `at`. Before the first exec of a process known only from
    /// that exec, nothing is known.
    pub fn phase_at(&self, at: BootNs) -> Option<&Phase> {
        let first = self.phases.first()?;
        let i = self
            .phases
            .partition_point(|p| p.ts.is_none_or(|t| t <= at));
        match i {
            0 if first.source == PhaseSource::Exec => None,
            0 => Some(first),
            i => self.phases.get(i - 1),
        }
    }

    /// The latest image.
    pub fn current(&self) -> Option<&Phase> {
        self.phases.last()
    }

    /// The execs seen during the window, in order.
    pub fn execs(&self) -> impl Iterator<Item = &Phase> {
        self.phases.iter().filter(|p| p.source == PhaseSource::Exec)
    }

    /// Whether the process was (or may have been) alive at some point of the inclusive
    /// range. Unknown starts count as "before the window".
    pub fn alive_during(&self, since: Option<BootNs>, until: Option<BootNs>) -> bool {
        let begin = self.start.unwrap_or(0);
        let end = match self.exit {
            Some(Exit { ts: Some(t), .. }) => t,
            Some(Exit { ts: None, .. }) => begin,
            None => BootNs::MAX,
        };
        since.is_none_or(|s| end >= s) && until.is_none_or(|u| begin <= u)
    }

    /// The time to ask the tree about this process for a moment in `[since, until]` while
    /// `phase` was in effect, if there is such a moment.
    pub fn probe_time(
        &self,
        phase_index: usize,
        since: Option<BootNs>,
        until: Option<BootNs>,
    ) -> Option<BootNs> {
        let phase = self.phases.get(phase_index)?;
        let begin = phase.ts.unwrap_or(self.valid_from).max(self.valid_from);
        let t = since.map_or(begin, |s| s.max(begin));
        let next = self.phases.get(phase_index + 1).and_then(|p| p.ts);
        let exit = self.exit.and_then(|e| e.ts);
        let fits = until.is_none_or(|u| t <= u)
            && next.is_none_or(|n| t < n)
            && exit.is_none_or(|e| t <= e);
        fits.then_some(t)
    }
}

/// A hasher for small integer keys (pids): one multiply, no SipHash rounds per lookup.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Per-process activity in a run of events, for [`ProcessTree::add_activity`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activity {
    pub pid: u32,
    pub first_ts: BootNs,
    pub last_ts: BootNs,
    pub syscalls: u64,
}

/// Sums up who did what in `events` (in time order). A pid's records after its exit form
/// a new entry, so that a reused pid's records are never credited to the dead process.
pub fn activity(events: &[Event]) -> Vec<Activity> {
    let mut out: Vec<Activity> = Vec::new();
    let mut open: IdMap<u32, usize> = IdMap::default();
    for e in events {
        let i = *open.entry(e.pid).or_insert_with(|| {
            out.push(Activity {
                pid: e.pid,
                first_ts: e.ts,
                last_ts: e.ts,
                syscalls: 0,
            });
            out.len() - 1
        });
        let a = &mut out[i];
        a.first_ts = a.first_ts.min(e.ts);
        a.last_ts = a.last_ts.max(e.ts);
        match &e.body {
            EventBody::Syscall(_) => a.syscalls += 1,
            EventBody::Exit(x) if x.group_dead => {
                open.remove(&e.pid);
            }
            _ => {}
        }
    }
    out
}

/// Whether an event changes the process tree.
pub fn is_lifecycle(e: &Event) -> bool {
    matches!(
        e.body,
        EventBody::Fork(_) | EventBody::Exec(_) | EventBody::Exit(_)
    )
}

/// Every process the capture knows, by pid and time.
#[derive(Clone, Debug, Default)]
pub struct ProcessTree {
    procs: Vec<Process>,
    /// Incarnations of each pid, in order of `valid_from`.
    by_pid: IdMap<u32, Vec<ProcId>>,
    /// Snapshots not applied yet, latest first (popped as time reaches them).
    pending: Vec<ProcessSnapshot>,
}

impl ProcessTree {
    /// A tree seeded with the earliest snapshot (processes that began before the window);
    /// later snapshots are applied when [`ProcessTree::advance_to`] reaches their time.
    pub fn new(snapshots: &[ProcessSnapshot]) -> ProcessTree {
        let mut pending = snapshots.to_vec();
        pending.sort_by_key(|s| std::cmp::Reverse(s.ts));
        let mut tree = ProcessTree {
            pending,
            ..ProcessTree::default()
        };
        if let Some(first) = tree.pending.pop() {
            tree.apply_snapshot(&first);
        }
        tree
    }

    pub fn processes(&self) -> &[Process] {
        &self.procs
    }

    pub fn get(&self, id: ProcId) -> Option<&Process> {
        self.procs.get(id)
    }

    /// The incarnation of `pid` at `at`: the latest one that began at or before `at`
    /// (a tombstone, if the process had exited: ancestors stay known after they die), or
    /// the earliest one for times before any began.
    pub fn lookup(&self, pid: u32, at: BootNs) -> Option<ProcId> {
        let ids = self.by_pid.get(&pid)?;
        let i = ids.partition_point(|&id| self.procs[id].valid_from <= at);
        ids.get(i.saturating_sub(1)).copied()
    }

    /// The incarnation of `pid` alive at `at`, if any.
    fn live(&self, pid: u32, at: BootNs) -> Option<ProcId> {
        let id = self.lookup(pid, at)?;
        match self.procs[id].exit {
            Some(Exit { ts: Some(t), .. }) if t < at => None,
            Some(Exit { ts: None, .. }) => None,
            _ => Some(id),
        }
    }

    fn create(&mut self, pid: u32, origin: Origin, valid_from: BootNs) -> ProcId {
        let ids = self.by_pid.entry(pid).or_default();
        // Keep `by_pid` ordered: a new incarnation is valid from after the previous one.
        let floor = ids.last().map_or(0, |&last| {
            let p = &self.procs[last];
            p.exit.and_then(|e| e.ts).unwrap_or(p.valid_from)
        });
        let id = self.procs.len();
        ids.push(id);
        self.procs
            .push(Process::new(pid, origin, valid_from.max(floor)));
        id
    }

    fn live_or_unknown(&mut self, pid: u32, at: BootNs) -> ProcId {
        match self.live(pid, at) {
            Some(id) => id,
            None => self.create(pid, Origin::Unknown, 0),
        }
    }

    fn link(&mut self, child: ProcId, parent: ProcId) {
        if child == parent {
            return;
        }
        if let Some(old) = self.procs[child].parent.replace(parent) {
            self.procs[old].children.retain(|&c| c != child);
        }
        self.procs[parent].children.push(child);
    }

    /// Applies snapshots whose time has come.
    pub fn advance_to(&mut self, ts: BootNs) {
        while self.pending.last().is_some_and(|s| s.ts <= ts) {
            if let Some(snap) = self.pending.pop() {
                self.apply_snapshot(&snap);
            }
        }
    }

    fn apply_snapshot(&mut self, snap: &ProcessSnapshot) {
        let mut unlinked = Vec::new();
        // Tombstones first, so the live processes that reused their pids come after them.
        let (dead, alive): (Vec<&ProcessInfo>, Vec<&ProcessInfo>) =
            snap.processes.iter().partition(|p| p.exit_ts.is_some());
        for p in dead.into_iter().chain(alive) {
            let phase = Phase {
                ts: None,
                source: PhaseSource::Snapshot,
                ppid: p.ppid,
                image: Arc::new(Image::from_snapshot(p)),
            };
            let existing = match p.exit_ts {
                Some(_) => None,
                None => self.live(p.pid, snap.ts),
            };
            let id = match existing {
                Some(id) => {
                    // Already known from events before the snapshot's time: the snapshot
                    // only fills in what the events did not say.
                    let q = &mut self.procs[id];
                    if q.origin == Origin::Unknown {
                        q.origin = Origin::Snapshot;
                        q.snapshot_ts = Some(snap.ts);
                    }
                    if q.phases.is_empty() {
                        q.phases.push(phase);
                    }
                    if q.ppid == 0 {
                        q.ppid = p.ppid;
                    }
                    id
                }
                None => {
                    let id = self.create(p.pid, Origin::Snapshot, p.start_ts.unwrap_or(0));
                    let q = &mut self.procs[id];
                    q.ppid = p.ppid;
                    q.start = p.start_ts;
                    q.exit = p.exit_ts.map(|ts| Exit {
                        ts: Some(ts),
                        status: p.exit_status,
                    });
                    q.snapshot_ts = Some(snap.ts);
                    q.phases.push(phase);
                    id
                }
            };
            if self.procs[id].parent.is_none() {
                unlinked.push(id);
            }
        }
        // Parents after every process is in: a parent may be listed after its child.
        for id in unlinked {
            let q = &self.procs[id];
            let at = q.exit.and_then(|e| e.ts).unwrap_or(snap.ts);
            if q.ppid == 0 {
                continue;
            }
            if let Some(parent) = self.lookup(q.ppid, at) {
                self.link(id, parent);
            }
        }
    }

    /// Applies one record, in time order. Records other than fork, exec and exit are
    /// ignored.
    pub fn apply(&mut self, e: &Event) {
        self.advance_to(e.ts);
        match &e.body {
            EventBody::Fork(f) if f.child_pid == e.pid => {
                let id = self.live_or_unknown(e.pid, e.ts);
                self.procs[id].threads += 1;
            }
            EventBody::Fork(f) => {
                let parent = self.live_or_unknown(e.pid, e.ts);
                let inherited = self.procs[parent]
                    .phase_at(e.ts)
                    .map(|p| Arc::clone(&p.image));
                let phase = inherited.map(|image| Phase {
                    ts: Some(e.ts),
                    source: PhaseSource::Fork,
                    ppid: e.pid,
                    image,
                });
                let child = match self.live(f.child_pid, e.ts) {
                    // Forked just before the snapshot was taken: the same process, now
                    // known precisely.
                    Some(c)
                        if self.procs[c].origin == Origin::Snapshot
                            && self.procs[c].snapshot_ts.is_some_and(|s| e.ts <= s) =>
                    {
                        let q = &mut self.procs[c];
                        q.origin = Origin::Fork;
                        q.phases.retain(|p| p.source != PhaseSource::Snapshot);
                        if let Some(phase) = phase {
                            q.phases.insert(0, phase);
                        }
                        c
                    }
                    _ => {
                        let c = self.create(f.child_pid, Origin::Fork, e.ts);
                        if let Some(phase) = phase {
                            self.procs[c].phases.push(phase);
                        }
                        c
                    }
                };
                let q = &mut self.procs[child];
                q.start = Some(e.ts);
                q.ppid = e.pid;
                self.link(child, parent);
            }
            EventBody::Exec(x) => {
                let id = self.live_or_unknown(e.pid, e.ts);
                self.procs[id].phases.push(Phase {
                    ts: Some(e.ts),
                    source: PhaseSource::Exec,
                    ppid: x.ppid,
                    image: Arc::new(Image::from_exec(x)),
                });
                let q = &self.procs[id];
                if q.parent.is_none() && x.ppid != 0 && x.ppid != e.pid {
                    if q.ppid == 0 {
                        self.procs[id].ppid = x.ppid;
                    }
                    if let Some(parent) = self.lookup(x.ppid, e.ts) {
                        self.link(id, parent);
                    }
                }
            }
            EventBody::Exit(x) if x.group_dead => {
                let id = self.live_or_unknown(e.pid, e.ts);
                self.procs[id].exit = Some(Exit {
                    ts: Some(e.ts),
                    status: Some(x.status),
                });
            }
            EventBody::Exit(_) | EventBody::Syscall(_) | EventBody::CgroupMkdir(_) => {}
        }
    }

    /// Credits records to the processes that made them (creating processes known only
    /// from their records).
    pub fn add_activity(&mut self, a: &Activity) {
        let id = match self.lookup(a.pid, a.first_ts) {
            Some(id) => id,
            None => self.create(a.pid, Origin::Unknown, 0),
        };
        let p = &mut self.procs[id];
        p.syscalls += a.syscalls;
        p.first_event = Some(p.first_event.map_or(a.first_ts, |t| t.min(a.first_ts)));
        p.last_event = Some(p.last_event.map_or(a.last_ts, |t| t.max(a.last_ts)));
    }

    /// Applies the remaining snapshots and orders every child list by start time.
    pub fn finish(&mut self) {
        self.advance_to(BootNs::MAX);
        let keys: Vec<(BootNs, ProcId)> = self
            .procs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.start.unwrap_or(0), i))
            .collect();
        for p in &mut self.procs {
            p.children.sort_by_key(|&c| keys[c]);
            p.children.dedup();
        }
    }

    /// Processes without a known parent, in start order.
    pub fn roots(&self) -> Vec<ProcId> {
        let mut roots: Vec<ProcId> = (0..self.procs.len())
            .filter(|&i| self.procs[i].parent.is_none())
            .collect();
        roots.sort_by_key(|&i| (self.procs[i].start.unwrap_or(0), i));
        roots
    }

    /// Every process in `ids` and all their ancestors.
    pub fn with_ancestors(&self, ids: impl IntoIterator<Item = ProcId>) -> Vec<bool> {
        let mut keep = vec![false; self.procs.len()];
        for id in ids {
            let mut cur = Some(id);
            // The parent links form a forest (a process is linked to an older one), but
            // stop on a cycle anyway rather than loop on a malformed capture.
            let mut steps = 0;
            while let Some(i) = cur {
                if i >= keep.len() || keep[i] || steps > self.procs.len() {
                    break;
                }
                keep[i] = true;
                cur = self.procs[i].parent;
                steps += 1;
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture_format::{ExitEvent, ForkEvent};

    fn ev(ts: u64, pid: u32, body: EventBody) -> Event {
        Event {
            ts,
            cpu: 0,
            pid,
            tid: pid,
            body,
        }
    }

    fn fork(ts: u64, pid: u32, child: u32) -> Event {
        ev(
            ts,
            pid,
            EventBody::Fork(ForkEvent {
                child_pid: child,
                child_tid: child,
                cgroup_id: 1,
            }),
        )
    }

    fn exec(ts: u64, pid: u32, ppid: u32, argv: &[&str]) -> Event {
        ev(
            ts,
            pid,
            EventBody::Exec(ExecEvent {
                filename: format!("/usr/bin/{}", argv[0]).into_bytes(),
                argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
                argv_truncated: false,
                ppid,
                uid: 0,
                gid: 0,
                euid: 0,
                egid: 0,
                cgroup_id: 1,
                exe: None,
                cwd: None,
            }),
        )
    }

    fn exit(ts: u64, pid: u32, status: u32) -> Event {
        ev(
            ts,
            pid,
            EventBody::Exit(ExitEvent {
                status,
                group_dead: true,
            }),
        )
    }

    fn snapshot() -> ProcessSnapshot {
        ProcessSnapshot {
            ts: 100,
            processes: vec![
                ProcessInfo {
                    pid: 1,
                    comm: "init".into(),
                    argv: vec![b"/sbin/init".to_vec()],
                    ..Default::default()
                },
                ProcessInfo {
                    pid: 10,
                    ppid: 1,
                    comm: "bash".into(),
                    argv: vec![b"bash".to_vec()],
                    euid: 1000,
                    ..Default::default()
                },
            ],
        }
    }

    fn name(t: &ProcessTree, pid: u32, at: u64) -> Option<String> {
        let p = t.get(t.lookup(pid, at)?)?;
        Some(String::from_utf8_lossy(&p.phase_at(at)?.image.comm).into_owned())
    }

    #[test]
    fn fork_exec_exit_and_pid_reuse() {
        let mut t = ProcessTree::new(&[snapshot()]);
        for e in [
            fork(200, 10, 20),
            exec(300, 20, 10, &["cat", "/etc/hostname"]),
            exit(400, 20, 0),
            fork(500, 10, 20),
            exit(600, 20, 9),
        ] {
            t.apply(&e);
        }
        t.finish();
        assert_eq!(
            name(&t, 20, 250).as_deref(),
            Some("bash"),
            "inherited at fork"
        );
        assert_eq!(name(&t, 20, 350).as_deref(), Some("cat"));
        assert_eq!(name(&t, 20, 450).as_deref(), Some("cat"), "tombstone");
        assert_eq!(
            name(&t, 20, 550).as_deref(),
            Some("bash"),
            "the pid's reuse"
        );
        let bash = t.lookup(10, 0).unwrap();
        let kids = &t.get(bash).unwrap().children;
        assert_eq!(kids.len(), 2);
        let first = t.get(kids[0]).unwrap();
        assert_eq!(first.exit.unwrap().code(), Some(0));
        assert_eq!(first.origin, Origin::Fork);
        assert_eq!(first.execs().count(), 1);
        let second = t.get(kids[1]).unwrap();
        assert_eq!(second.exit.unwrap().signal(), Some(9));
        assert_eq!(t.roots(), vec![t.lookup(1, 0).unwrap()]);
        assert_eq!(t.get(bash).unwrap().parent, t.lookup(1, 0));
    }

    #[test]
    fn unknown_processes_and_late_snapshots() {
        let mut t = ProcessTree::new(&[]);
        t.apply(&exec(50, 30, 10, &["ls"]));
        assert_eq!(name(&t, 30, 40), None, "nothing known before the exec");
        assert_eq!(name(&t, 30, 60).as_deref(), Some("ls"));
        let id = t.lookup(30, 60).unwrap();
        assert_eq!(t.get(id).unwrap().origin, Origin::Unknown);
        t.add_activity(&Activity {
            pid: 31,
            first_ts: 70,
            last_ts: 80,
            syscalls: 5,
        });
        let unknown = t.get(t.lookup(31, 75).unwrap()).unwrap();
        assert_eq!((unknown.syscalls, unknown.phases.len()), (5, 0));
    }

    #[test]
    fn fork_just_before_the_snapshot_is_the_same_process() {
        let mut snap = snapshot();
        snap.processes.push(ProcessInfo {
            pid: 40,
            ppid: 10,
            comm: "bash".into(),
            ..Default::default()
        });
        let mut t = ProcessTree::new(&[snap]);
        t.apply(&fork(90, 10, 40));
        t.finish();
        let ids = t.by_pid.get(&40).unwrap();
        assert_eq!(ids.len(), 1);
        let p = t.get(ids[0]).unwrap();
        assert_eq!((p.origin, p.start), (Origin::Fork, Some(90)));
        assert_eq!(t.get(t.lookup(10, 0).unwrap()).unwrap().children.len(), 1);
    }

    #[test]
    fn activity_splits_at_exit() {
        let events = [
            ev(
                1,
                5,
                EventBody::Syscall(capture_format::SyscallEvent {
                    nr: 0,
                    abi: capture_format::Abi::X86_64,
                    completion: capture_format::Completion::Complete,
                    args: [0; 6],
                    ret: Some(0),
                    duration_ns: None,
                    cgroup_id: 0,
                    params: vec![],
                }),
            ),
            exit(2, 5, 0),
            fork(3, 1, 5),
            exit(4, 5, 0),
        ];
        let a = activity(&events);
        assert_eq!(a.len(), 3);
        assert_eq!((a[0].pid, a[0].syscalls, a[0].last_ts), (5, 1, 2));
        assert_eq!((a[2].pid, a[2].first_ts), (5, 4));
    }

    #[test]
    fn probe_times_stay_inside_the_phase_and_range() {
        let mut t = ProcessTree::new(&[snapshot()]);
        t.apply(&exec(300, 10, 1, &["vim"]));
        t.finish();
        let bash = t.get(t.lookup(10, 0).unwrap()).unwrap();
        assert_eq!(bash.probe_time(0, None, None), Some(0));
        assert_eq!(bash.probe_time(0, Some(350), None), None);
        assert_eq!(bash.probe_time(1, Some(350), None), Some(350));
        assert_eq!(bash.probe_time(1, None, Some(200)), None);
    }
}
