//! Cuts a capture down to one workload, for `samples/` (run by `scripts/regen-samples.sh`).
//!
//! The recorder records the whole node: a capture made on a developer's machine or a CI
//! runner holds every other process's command line, environment-bearing arguments and I/O.
//! A sample committed to the repository must hold only the workload it was recorded for.
//! This keeps the processes that descend from the roots (the `--root PID`s; by default the
//! snapshot's one `aftertrace-recorder`, which started the workload), following forks
//! during the window and ancestry in the snapshot, and drops everything
//! else: other processes' events and snapshot entries, their per-process drop counts, and
//! containers none of the kept events ran in. What is kept is copied unchanged; events are
//! re-chunked small (16 KiB raw) so samples exercise multi-chunk reading.
//!
//! `--keep-syscalls EXPR` also drops the kept processes' syscall records that the filter
//! expression does not select (evaluated with the reconstructed process tree, as the
//! inspector's `--filter`), e.g. to keep a container's workload but not the thousands of
//! syscalls podman's Go runtime makes; fork, exec and exit records are always kept.
//!
//! ```text
//! cargo run -p aftertrace-inspector --example scrub_sample -- IN OUT [--root PID]... [--keep-syscalls EXPR]
//! ```

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use aftertrace_filter::Filter;
use aftertrace_inspector::{context::CaptureContext, meta::Lookups, procs::ProcessTree};
use anyhow::{bail, Context, Result};
use capture_format::{
    CaptureReader, CaptureWriter, DropLedger, EventBody, ProcessSnapshot, UsersAndGroups,
    WriterOptions,
};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut roots: BTreeSet<u32> = BTreeSet::new();
    let mut keep_syscalls: Option<Filter> = None;
    while let Some(a) = args.next() {
        if a == "--keep-syscalls" {
            let expr = args.next().context("--keep-syscalls needs an expression")?;
            keep_syscalls =
                Some(Filter::parse(&expr).map_err(|e| anyhow::anyhow!("--keep-syscalls: {e}"))?);
        } else if a == "--root" {
            let pid = args.next().context("--root needs a pid")?;
            roots.insert(pid.parse().with_context(|| format!("--root {pid}"))?);
        } else {
            files.push(PathBuf::from(a));
        }
    }
    let [input, output] = files.as_slice() else {
        bail!("usage: scrub_sample IN OUT [--root PID]... [--keep-syscalls EXPR]");
    };
    let reader =
        CaptureReader::open(input).with_context(|| format!("opening {}", input.display()))?;
    if !reader.damage().is_empty() {
        bail!("{} is damaged: record the sample again", input.display());
    }
    let meta = reader.metadata();

    // Roots: what the caller names, else the recorder (it forked the workload) if the
    // snapshot shows exactly one.
    if roots.is_empty() {
        let recorders: BTreeSet<u32> = meta
            .processes
            .iter()
            .flat_map(|s| &s.processes)
            .filter(|p| p.comm == "aftertrace-reco")
            .map(|p| p.pid)
            .collect();
        if recorders.len() != 1 {
            bail!(
                "give --root PID: the snapshot shows {} aftertrace-recorder processes",
                recorders.len()
            );
        }
        roots = recorders;
    }

    // Snapshot processes descending from a root.
    let mut kept_snapshot_pids: HashSet<u32> = roots.iter().copied().collect();
    loop {
        let before = kept_snapshot_pids.len();
        for snap in &meta.processes {
            for p in &snap.processes {
                if kept_snapshot_pids.contains(&p.ppid) {
                    kept_snapshot_pids.insert(p.pid);
                }
            }
        }
        if kept_snapshot_pids.len() == before {
            break;
        }
    }

    // Events of the kept processes, following forks; a kept pid that exits is dropped so
    // an unrelated process reusing it is not kept.
    let mut live: HashSet<u32> = kept_snapshot_pids.clone();
    let mut ever: HashSet<u32> = live.clone();
    let mut events = Vec::new();
    let mut cgroups: HashSet<u64> = HashSet::new();
    let lookups = Lookups::new(meta);
    let mut tree = ProcessTree::new(&meta.processes);
    for e in reader.events() {
        let e = e.context("reading events")?;
        tree.apply(&e);
        if !live.contains(&e.pid) {
            continue;
        }
        if let (Some(f), EventBody::Syscall(_)) = (&keep_syscalls, &e.body) {
            if !f.matches(&e, &CaptureContext::new(&tree, &lookups)) {
                continue;
            }
        }
        match &e.body {
            EventBody::Fork(f) => {
                live.insert(f.child_pid);
                ever.insert(f.child_pid);
                cgroups.insert(f.cgroup_id);
            }
            EventBody::Exec(x) => {
                cgroups.insert(x.cgroup_id);
            }
            EventBody::Syscall(s) => {
                cgroups.insert(s.cgroup_id);
            }
            EventBody::CgroupMkdir(c) => {
                cgroups.insert(c.cgroup_id);
            }
            EventBody::Exit(x) if x.group_dead => {
                live.remove(&e.pid);
            }
            EventBody::Exit(_) => {}
        }
        events.push(e);
    }

    let snapshots: Vec<ProcessSnapshot> = meta
        .processes
        .iter()
        .map(|s| ProcessSnapshot {
            ts: s.ts,
            processes: s
                .processes
                .iter()
                .filter(|p| kept_snapshot_pids.contains(&p.pid))
                .cloned()
                .collect(),
        })
        .collect();
    for s in &snapshots {
        cgroups.extend(s.processes.iter().map(|p| p.cgroup_id));
    }
    let containers: Vec<_> = meta
        .containers
        .iter()
        .filter(|c| c.cgroup_ids.iter().any(|cg| cgroups.contains(cg)))
        .cloned()
        .collect();
    let container_ids: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    let users = UsersAndGroups {
        users: meta
            .users
            .users
            .iter()
            .filter(|u| {
                u.container_id.is_empty() || container_ids.contains(u.container_id.as_str())
            })
            .cloned()
            .collect(),
        groups: meta
            .users
            .groups
            .iter()
            .filter(|g| {
                g.container_id.is_empty() || container_ids.contains(g.container_id.as_str())
            })
            .cloned()
            .collect(),
    };
    let drops = DropLedger {
        entries: meta
            .drops
            .entries
            .iter()
            .filter(|d| d.pid.is_none_or(|pid| ever.contains(&pid)))
            .cloned()
            .collect(),
    };

    let file = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let opts = WriterOptions {
        chunk_raw_bytes: 16 * 1024,
        zstd_level: 19,
        file_id: Some(reader.file_id()),
    };
    let mut w = CaptureWriter::new(BufWriter::new(file), opts)?;
    if let Some(host) = &meta.host {
        w.write_host(host)?;
    }
    for s in &snapshots {
        w.write_processes(s)?;
    }
    for e in &events {
        w.push_event(e)?;
    }
    w.write_clocks(&meta.clocks)?;
    w.write_containers(&containers)?;
    if !users.users.is_empty() || !users.groups.is_empty() {
        w.write_users(&users)?;
    }
    for a in &meta.alerts {
        w.write_alert(a)?;
    }
    w.write_drops(&drops)?;
    w.finish()?;
    eprintln!(
        "scrub_sample: kept {} of the snapshot's processes, {} events, {} container(s) -> {}",
        snapshots.iter().map(|s| s.processes.len()).sum::<usize>(),
        events.len(),
        containers.len(),
        output.display()
    );
    Ok(())
}
