//! One selection (a filter and a time range) and what it picks: the same rules for the
//! CLI's queries and the TUI's views. A record is selected when it is in the range and the
//! filter matches it; a process when it has a selected record, or when it was alive in the
//! range and its state matches the filter (tested as a [`state_probe`]); a reconstruction
//! artifact when its first record is in the range and the filter matches one of its
//! processes' states at its first or last record.

use aftertrace_filter::Filter;
use capture_format::{Abi, BootNs, Completion, Event, EventBody, Records, SyscallEvent};

use crate::context::CaptureContext;
use crate::meta::Lookups;
use crate::procs::{ProcId, ProcessTree};
use crate::reconstruct::{ProcRef, Reconstruction};
use crate::select::{required_pids, TimeRange};
use crate::session::{Analysis, Capture};

/// A filter and a time range, borrowed from whoever holds them (the CLI's query, the
/// TUI's state).
#[derive(Clone, Copy, Debug, Default)]
pub struct Selection<'a> {
    pub filter: Option<&'a Filter>,
    pub range: TimeRange,
}

/// A container (or the host) with what the selection picks in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRow {
    /// Index into the metadata's containers; `None` for the host.
    pub index: Option<usize>,
    pub processes: usize,
    pub commands: usize,
    pub syscalls: u64,
}

/// The reconstruction's rows a selection picks, as indices into the [`Reconstruction`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconRows {
    /// `(true, i)`: `scripts[i]`; `(false, i)`: `files[i]` (files that are not scripts).
    pub scripts: Vec<(bool, usize)>,
    pub sessions: Vec<usize>,
    pub connections: Vec<usize>,
}

/// The record a process's state is tested as, for `procs` and `tree` filters: a record of
/// process `pid` at `ts` that is no syscall of any name (so `evt.type`, `evt.res` and the
/// `fd.*` fields are missing), whose `proc.*`, `user.*` and `container.*` fields come from
/// the reconstruction. So `proc.name = sshd` selects an sshd that made no syscall in the
/// window, and `evt.type = exec` only processes that really exec'd.
pub fn state_probe(pid: u32, ts: BootNs) -> Event {
    Event {
        ts,
        cpu: u32::MAX,
        pid,
        tid: pid,
        body: EventBody::Syscall(SyscallEvent {
            nr: u32::MAX,
            abi: Abi::X86_64,
            completion: Completion::EnterOnly,
            args: [0; 6],
            ret: None,
            duration_ns: None,
            cgroup_id: 0,
            params: Vec::new(),
        }),
    }
}

impl Selection<'_> {
    /// Whether it selects anything less than everything.
    pub fn selects(&self) -> bool {
        self.filter.is_some() || !self.range.is_all()
    }

    /// Whether the filter matches `e` (the range is the caller's: a scan's plan skips what
    /// is outside it).
    pub fn matches(&self, e: &Event, ctx: &CaptureContext<'_>) -> bool {
        self.filter.is_none_or(|f| f.matches(e, ctx))
    }

    /// Whether record `e` is selected: in the range, and the filter matches it.
    pub fn selects_record(&self, e: &Event, ctx: &CaptureContext<'_>) -> bool {
        self.range.contains(e.ts) && self.matches(e, ctx)
    }

    /// The pids the filter requires, for the index to rule chunks out.
    pub fn pids(&self) -> Option<Vec<u32>> {
        self.filter.and_then(|f| required_pids(f.expr()))
    }

    /// The records a pass must decode for these rows: the filter's `evt.type` tests may
    /// rule most syscalls out.
    pub fn records(&self) -> Records {
        self.filter
            .and_then(Filter::syscalls_that_can_match)
            .map_or(Records::All, Records::Syscalls)
    }

    /// Which processes of `tree` are selected, by process id; `hit(id)`: whether the
    /// process has a selected record.
    pub fn processes(
        &self,
        tree: &ProcessTree,
        lookups: &Lookups,
        hit: impl Fn(ProcId) -> bool,
    ) -> Vec<bool> {
        let n = tree.processes().len();
        if !self.selects() {
            return vec![true; n];
        }
        let ctx = CaptureContext::new(tree, lookups);
        let (since, until) = (self.range.since, self.range.until);
        (0..n)
            .map(|id| {
                let p = &tree.processes()[id];
                hit(id)
                    || (p.alive_during(since, until)
                        && match self.filter {
                            None => true,
                            Some(f) => (0..p.phases.len()).any(|i| {
                                p.probe_time(i, since, until)
                                    .is_some_and(|t| f.matches(&state_probe(p.pid, t), &ctx))
                            }),
                        })
            })
            .collect()
    }

    /// The selected execs, as indices into `analysis.execs`.
    pub fn commands(&self, capture: &Capture, analysis: &Analysis) -> Vec<usize> {
        let ctx = CaptureContext::new(&analysis.tree, &capture.lookups);
        (0..analysis.execs.len())
            .filter(|&i| self.selects_record(&analysis.execs[i], &ctx))
            .collect()
    }

    /// Every container and the host, with the selected processes and `commands` (indices
    /// into `analysis.execs`) in each and its syscall count; busiest first, the host last
    /// among equals.
    pub fn containers(
        &self,
        capture: &Capture,
        analysis: &Analysis,
        commands: &[usize],
    ) -> Vec<ContainerRow> {
        let meta = capture.reader.metadata();
        let n = meta.containers.len();
        let slot = |cgroup: u64| -> usize {
            capture
                .lookups
                .container(cgroup)
                .and_then(|ct| meta.containers.iter().position(|m| m.id == ct.id))
                .unwrap_or(n)
        };
        let mut rows: Vec<ContainerRow> = (0..=n)
            .map(|i| ContainerRow {
                index: (i < n).then_some(i),
                processes: 0,
                commands: 0,
                syscalls: 0,
            })
            .collect();
        for p in analysis.tree.processes() {
            if !p.alive_during(self.range.since, self.range.until) {
                continue;
            }
            if let Some(ph) = p.current() {
                rows[slot(ph.image.cgroup_id)].processes += 1;
            }
        }
        for &i in commands {
            if let Some(EventBody::Exec(x)) = analysis.execs.get(i).map(|e| &e.body) {
                rows[slot(x.cgroup_id)].commands += 1;
            }
        }
        for (&cg, &count) in &analysis.by_cgroup {
            rows[slot(cg)].syscalls += count;
        }
        rows.sort_by_key(|r| (std::cmp::Reverse(r.syscalls), r.index.is_none()));
        rows
    }

    /// The reconstruction's artifacts, sessions and connections whose first record is in
    /// the range and, with a filter, one of whose processes the filter selects (tested as
    /// the tree is, as a [`state_probe`] at the first and at the last record: so
    /// `proc.*`, `user.*` and `container.*` fields narrow these; `evt.*` and `fd.*`
    /// fields select nothing here). Without the capture's lookups the filter is not
    /// applied.
    pub fn recon(&self, lookups: Option<&Lookups>, r: &Reconstruction) -> ReconRows {
        let range = self.range;
        let within = |first: u64| range.is_all() || range.contains(first);
        let ctx = lookups.map(|l| CaptureContext::new(&r.tree, l));
        let by_filter = |procs: &[ProcRef], first: u64, last: u64| {
            let (Some(f), Some(ctx)) = (self.filter, &ctx) else {
                return true;
            };
            procs.iter().any(|p| {
                [first, last].iter().any(|&t| {
                    r.tree.lookup(p.pid, t).is_some() && f.matches(&state_probe(p.pid, t), ctx)
                })
            })
        };
        let artifact = |a: &crate::reconstruct::Artifact| {
            within(a.first_ts) && by_filter(&a.processes, a.first_ts, a.last_ts)
        };
        ReconRows {
            scripts: (0..r.scripts.len())
                .filter(|&i| artifact(&r.scripts[i]))
                .map(|i| (true, i))
                .chain(
                    (0..r.files.len())
                        .filter(|&i| !r.files[i].is_script && artifact(&r.files[i]))
                        .map(|i| (false, i)),
                )
                .collect(),
            sessions: (0..r.sessions.len())
                .filter(|&i| {
                    let s = &r.sessions[i];
                    within(s.first_ts) && by_filter(&s.processes, s.first_ts, s.last_ts)
                })
                .collect(),
            connections: (0..r.connections.len())
                .filter(|&i| {
                    let c = &r.connections[i];
                    within(c.first_ts) && by_filter(&c.processes, c.first_ts, c.last_ts)
                })
                .collect(),
        }
    }
}
