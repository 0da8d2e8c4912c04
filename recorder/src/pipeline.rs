//! The path from the kernel to ordered, enriched events: drain the ring buffer, decode,
//! join syscall halves, enrich (process table, containers, users), account for losses, and
//! put events from all CPUs back in time order. Every way of writing captures (one file,
//! rotating files, the alert daemon's rolling buffer) sits on top of this.

use std::{
    collections::{BTreeMap, VecDeque},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Result;
use capture_format::{
    ClockPair, ContainerInfo, DropEntry, Event, EventBody, ProcessSnapshot, UsersAndGroups,
};
use recorder_common::drop_cause;

use crate::{
    clock,
    containers::{cgroup2_root, CgroupResolver},
    convert,
    probes::{DropCounts, DropCountsByCpu, ProbeSettings, Probes},
    procscan,
    proctable::ProcTable,
    rules::{LiveContext, RuleMatch, RuleSet, WrittenFiles},
    runtime_meta,
};

/// How long events are held back so that records from different CPUs can be put back in
/// time order before they are chunked. The ring buffer is shared by all CPUs and nearly
/// ordered already; this absorbs the rest.
const REORDER_WINDOW_NS: u64 = 50_000_000;
const CLOCK_PAIR_INTERVAL: Duration = Duration::from_secs(1);
/// How often the kernel's loss counters are read, which is the time resolution of the
/// drop ledger.
const DROP_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Events waiting in the reorder window, sorted by time (arrival order among equals).
/// They arrive nearly sorted, so an insertion scans back from the end a step or two; a
/// release pops from the front. No per-event allocation, no tree rebalancing.
#[derive(Default)]
struct Reorder {
    pending: VecDeque<Event>,
    newest: u64,
    /// Everything before this has been released.
    released_upto: u64,
    /// Events that arrived after later ones were released (a syscall blocked for longer
    /// than the window): written out of order rather than lost.
    late: u64,
}

impl Reorder {
    fn push(&mut self, e: Event) {
        if e.ts < self.released_upto {
            self.late += 1;
        }
        self.newest = self.newest.max(e.ts);
        // Insert after every event with a time <= e.ts: stable among equal times.
        let at = self
            .pending
            .iter()
            .rposition(|p| p.ts <= e.ts)
            .map_or(0, |i| i + 1);
        self.pending.insert(at, e);
    }

    /// Events before this are released by the next `release`.
    fn horizon(&self) -> u64 {
        self.newest.saturating_sub(REORDER_WINDOW_NS)
    }

    /// Where the next releases stop: events before it are old enough that nothing
    /// earlier can still arrive (everything with `all`).
    fn release_horizon(&mut self, all: bool) -> u64 {
        if all {
            return u64::MAX;
        }
        let horizon = self.horizon();
        self.released_upto = self.released_upto.max(horizon);
        horizon
    }

    /// The oldest event if it is before `horizon`.
    fn pop_before(&mut self, horizon: u64) -> Option<Event> {
        if self.pending.front()?.ts < horizon {
            self.pending.pop_front()
        } else {
            None
        }
    }
}

/// Names of `recorder_common::drop_cause` indices, as they appear in the drop ledger.
const CAUSES: [&str; drop_cause::COUNT as usize] = [
    "ring_full",
    "unreadable",
    "scratch_full",
    "regs_unreadable",
    "data_lost",
    "lifecycle_full",
];

/// Turns the kernel's cumulative per-CPU loss counters into ledger entries: one per
/// (cause, CPU, polling interval) in which something was lost.
struct Ledger {
    last: DropCountsByCpu,
    last_ts: u64,
    last_poll: Instant,
    entries: Vec<DropEntry>,
    /// Lost records by process, as of the last `take`.
    by_pid_taken: BTreeMap<u32, u64>,
    /// Malformed records already in an entry.
    malformed_seen: u64,
}

impl Ledger {
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

    /// Records the kernel sent that did not decode (logged where they were met) become
    /// a `malformed` ledger entry for the interval: a counted loss like any other.
    fn note_malformed(&mut self, total: u64) {
        if total > self.malformed_seen {
            self.entries.push(DropEntry {
                cause: "malformed".to_owned(),
                cpu: None,
                pid: None,
                from: self.last_ts,
                to: self.last_ts,
                count: total - self.malformed_seen,
            });
            self.malformed_seen = total;
        }
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

    /// The entries since the last `take`, plus the per-process losses since then.
    fn take(&mut self, from: u64, lost_by_pid: &[(u32, u64)]) -> Vec<DropEntry> {
        let mut out = std::mem::take(&mut self.entries);
        for &(pid, total) in lost_by_pid {
            let before = self.by_pid_taken.insert(pid, total).unwrap_or(0);
            if total > before {
                out.push(DropEntry {
                    cause: "lost_records".to_owned(),
                    cpu: None,
                    pid: Some(pid),
                    from,
                    to: self.last_ts,
                    count: total - before,
                });
            }
        }
        out
    }
}

/// What a capture (or a segment of one) needs to stand alone, besides its events.
pub struct State<'a> {
    pub processes: ProcessSnapshot,
    pub containers: Vec<ContainerInfo>,
    pub users: &'a UsersAndGroups,
}

/// Totals over the whole run.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub events: u64,
    pub bad_records: u64,
    pub late_events: u64,
    pub drops: DropCounts,
}

pub struct Pipeline {
    probes: Probes,
    decoder: convert::Decoder,
    procs: ProcTable,
    cgroups: CgroupResolver,
    users: UsersAndGroups,
    reorder: Reorder,
    ledger: Ledger,
    clocks: Vec<ClockPair>,
    last_pair: Instant,
    totals: Totals,
    rules: Option<RuleSet>,
    written: WrittenFiles,
    matches: Vec<RuleMatch>,
}

impl Pipeline {
    /// Loads the programs, then scans /proc: what began before now is in the first
    /// snapshot, what begins after is in the events.
    pub fn start(settings: &ProbeSettings) -> Result<Self> {
        let mut probes = Probes::load(settings)?;
        let first_pair = clock::pair();
        let snapshot = procscan::snapshot(clock::boot_ns(), cgroup2_root().as_deref());
        probes.seed_process_flags(&snapshot);
        let (users, groups) = runtime_meta::users_and_groups(Path::new("/"), "");
        Ok(Pipeline {
            probes,
            decoder: convert::Decoder::default(),
            procs: ProcTable::new(&snapshot),
            cgroups: CgroupResolver::new(),
            users: UsersAndGroups { users, groups },
            reorder: Reorder::default(),
            ledger: Ledger {
                last: Vec::new(),
                last_ts: first_pair.boot_ns,
                last_poll: Instant::now(),
                entries: Vec::new(),
                by_pid_taken: BTreeMap::new(),
                malformed_seen: 0,
            },
            clocks: vec![first_pair],
            last_pair: Instant::now(),
            totals: Totals::default(),
            rules: None,
            written: WrittenFiles::default(),
            matches: Vec::new(),
        })
    }

    /// Drains what the kernel produced (waiting up to `timeout` for it) and hands `sink`
    /// every event that is now in order. A sink error stops the drain and is returned.
    pub fn poll(
        &mut self,
        timeout: Duration,
        sink: &mut dyn FnMut(Event) -> Result<()>,
    ) -> Result<()> {
        let Pipeline {
            probes,
            decoder,
            procs,
            cgroups,
            users,
            reorder,
            totals,
            ..
        } = self;
        probes.drain(timeout, |ring, bytes| {
            let mut keep = |mut e: Event| {
                procs.apply(&mut e);
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
                // Events are ordered by their own time (a joined execve carries its enter
                // time, earlier than its exit record).
                reorder.push(e);
            };
            if let Err(err) = decoder.decode_from(ring, bytes, &mut keep) {
                totals.bad_records += 1;
                tracing::warn!("{err}: {:02x?}", &bytes[..bytes.len().min(64)]);
            }
        })?;
        if self.ledger.last_poll.elapsed() >= DROP_POLL_INTERVAL {
            self.ledger.poll(&self.probes.drop_counts_by_cpu()?);
            self.ledger.note_malformed(self.totals.bad_records);
        }
        if self.last_pair.elapsed() >= CLOCK_PAIR_INTERVAL {
            self.clocks.push(clock::pair());
            self.last_pair = Instant::now();
        }
        for e in self.decoder.expire(self.reorder.horizon()) {
            self.reorder.push(e);
        }
        self.hand_over(false, sink)
    }

    /// Releases the events the reorder window lets go (all of them with `all`): counted,
    /// checked against the rules, and handed to `sink` in order.
    fn hand_over(&mut self, all: bool, sink: &mut dyn FnMut(Event) -> Result<()>) -> Result<()> {
        // Popped one at a time (no batch in between): an event is moved once, from the
        // window to the sink, and the window is free for check_rules' borrow of self.
        let horizon = self.reorder.release_horizon(all);
        while let Some(e) = self.reorder.pop_before(horizon) {
            self.totals.events += 1;
            self.check_rules(&e);
            sink(e)?;
        }
        Ok(())
    }

    /// Evaluates the rules (if any) on a released event, with the live tables as context.
    fn check_rules(&mut self, e: &Event) {
        let Some(rules) = self.rules.as_mut() else {
            return;
        };
        self.written.observe(e, &self.procs, &self.cgroups);
        let ctx = LiveContext {
            procs: &self.procs,
            cgroups: &self.cgroups,
            users: &self.users,
            written: &self.written,
        };
        rules.check(e, &ctx, &mut self.matches);
    }

    /// Evaluates `rules` on every event from now on.
    pub fn set_rules(&mut self, rules: Option<RuleSet>) {
        self.rules = rules;
    }

    /// Rule matches since the last call.
    pub fn take_rule_matches(&mut self) -> Vec<RuleMatch> {
        std::mem::take(&mut self.matches)
    }

    /// Matches not queued since the last call (too many waiting), by rule.
    pub fn take_rule_overflow(&mut self) -> Vec<(String, u64)> {
        self.rules
            .as_mut()
            .map(|r| r.overflow.drain().collect())
            .unwrap_or_default()
    }

    /// Detaches the programs and hands `sink` every event still held back.
    pub fn finish(&mut self, sink: &mut dyn FnMut(Event) -> Result<()>) -> Result<()> {
        self.ledger.poll(&self.probes.drop_counts_by_cpu()?);
        self.ledger.note_malformed(self.totals.bad_records);
        for e in self.decoder.finish() {
            self.reorder.push(e);
        }
        self.hand_over(true, sink)?;
        self.clocks.push(clock::pair());
        self.totals.late_events = self.reorder.late;
        self.totals.drops = self.ledger.totals();
        Ok(())
    }

    /// The state a new capture segment opens with.
    pub fn state(&mut self) -> State<'_> {
        State {
            processes: self.procs.snapshot(clock::boot_ns()),
            containers: self.cgroups.containers(),
            users: &self.users,
        }
    }

    /// Clock pairs taken since the last call, closed by one taken now, so whatever span
    /// they cover (a segment rotated after less than CLOCK_PAIR_INTERVAL) has a pair at
    /// each end. The closing pair is kept as the next span's start.
    pub fn take_clocks(&mut self) -> Vec<ClockPair> {
        self.clocks.push(clock::pair());
        self.last_pair = Instant::now();
        let last = *self.clocks.last().expect("at least one pair");
        std::mem::replace(&mut self.clocks, vec![last])
    }

    /// Ledger entries since the last call; `from` starts the per-process entries' range.
    pub fn take_drops(&mut self, from: u64) -> Vec<DropEntry> {
        let by_pid = self.probes.drops_by_pid();
        self.ledger.take(from, &by_pid)
    }

    /// Clock pairs taken since the last `take_clocks`.
    pub fn clocks(&self) -> &[ClockPair] {
        &self.clocks
    }

    /// Kernel loss counters so far, by cause name.
    pub fn drop_counts_named(&self) -> BTreeMap<String, u64> {
        let mut named: BTreeMap<String, u64> = CAUSES
            .iter()
            .zip(self.ledger.totals())
            .map(|(name, n)| ((*name).to_owned(), n))
            .collect();
        named.insert("malformed".to_owned(), self.totals.bad_records);
        named
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }
}

/// What a file needs besides its process snapshot (cheaper than [`Pipeline::state`]).
pub struct Known<'a> {
    pub containers: Vec<ContainerInfo>,
    pub users: &'a UsersAndGroups,
}

impl Pipeline {
    /// Containers and users known so far, without a process snapshot.
    pub fn state_without_processes(&mut self) -> Known<'_> {
        Known {
            containers: self.cgroups.containers(),
            users: &self.users,
        }
    }

    /// The `n` processes that lost the most records in the kernel (ring full...), most
    /// first: (pid, records lost).
    pub fn lost_by_pid(&self, n: usize) -> Vec<(u32, u64)> {
        let mut v = self.probes.drops_by_pid();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The container `cgroup_id` belongs to, as rules throttle by it: its id, `host`, or
    /// `unknown` while the cgroup is not resolved.
    pub fn container_of(&self, cgroup_id: u64) -> String {
        match self.cgroups.known(cgroup_id) {
            Some(Some(c)) => c.id.clone(),
            Some(None) => "host".to_owned(),
            None => "unknown".to_owned(),
        }
    }

    /// How many containers and users are known: a file being written notes new ones.
    pub fn known_counts(&self) -> (usize, usize) {
        (
            self.cgroups.container_count(),
            self.users.users.len() + self.users.groups.len(),
        )
    }
}
