//! `export -o OUT.atcap`: a selection (filter, time range, container, process subtree) as a
//! new capture that reads alone. It holds the selected records and, restricted to them, the
//! state a reader needs (processes as of the selection's start with their fds, their
//! containers and those containers' users), the clock pairs and host facts, the alerts
//! received inside the range, the losses that overlap it, and an EXPORT block (a private
//! extension kind, skipped by readers that do not know it) saying which file it came from
//! (sha256) and how it was selected: chain of custody for a capture attached to a ticket.
//!
//! Nothing outside the selection goes through the state tables: a process is listed only
//! when it has a selected record (or is an ancestor inside the selected container or
//! subtree), a container only when a listed process or record is in it, a user table only
//! for those containers (the host's only when a host process is selected).

use std::collections::{BTreeSet, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use aftertrace_filter::Filter;
use capture_format::{
    BootNs, CaptureReader, CaptureWriter, ContainerInfo, DropLedger, Event, EventBody, ProcessInfo,
    ProcessSnapshot, Records, UsersAndGroups, WriterOptions,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::context::CaptureContext;
use crate::export::redact::{
    redact_alert, redact_events, redact_snapshot, sweep_known, Ledger, Policy, REDACTION_BLOCK_KIND,
};
use crate::meta::Lookups;
use crate::procs::{ProcId, ProcessTree};
use crate::scan::{self, Plan, TreeNeed};
use crate::select::{required_pids, window_start, TimeRange};

/// The EXPORT block's kind: in the private-extension range of the format (0x8000..), so
/// every reader of the format skips it without complaint.
pub const EXPORT_BLOCK_KIND: u16 = 0x8001;

/// What to export, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The user's `--filter` expression, as typed.
    pub filter: Option<String>,
    pub range: TimeRange,
    /// `--container`: a full id, an id prefix (at least 3 characters) or a name.
    pub container: Option<String>,
    /// `--pid N`: that process (and, with `with_descendants`, every process below it).
    pub pid: Option<u32>,
    pub with_descendants: bool,
    /// `--redact`: the policy applied to records, snapshot command lines and alerts.
    pub redact: Option<Policy>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--container {given:?} names no container in this capture (it has: {known})")]
    UnknownContainer { given: String, known: String },
    #[error("--container {given:?} is ambiguous: it matches {matches}; give more of the id")]
    AmbiguousContainer { given: String, matches: String },
    #[error("invalid selection: {0}")]
    BadSelection(String),
    #[error("the selection is empty: no record of the capture matches {0}; nothing was written")]
    Empty(String),
    #[error("cannot write the export {}: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    #[error("cannot read the source capture {}: {source}", path.display())]
    Source { path: PathBuf, source: io::Error },
}

/// What the export holds, for the line printed after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub events: u64,
    pub processes: usize,
    pub containers: usize,
    pub alerts: usize,
    pub redacted_spans: usize,
    pub bytes: u64,
}

/// The EXPORT block's content (JSON; the README documents it).
#[derive(Serialize)]
struct ExportBlock {
    source: SourceInfo,
    selection: SelectionInfo,
    /// The redaction applied: `"none"`, or the policy's name with the spans' count and
    /// bytes (each span is in the REDACTION block).
    redaction: serde_json::Value,
    /// The state tables describe this boot time (the selection's start).
    state_ts: BootNs,
    records: u64,
    exported_by: String,
}

#[derive(Serialize)]
struct SourceInfo {
    file_name: String,
    sha256: String,
    file_id: String,
}

#[derive(Serialize)]
struct SelectionInfo {
    /// The whole expression every exported record satisfies.
    expression: Option<String>,
    filter: Option<String>,
    since_boot_ns: Option<BootNs>,
    until_boot_ns: Option<BootNs>,
    since: Option<String>,
    until: Option<String>,
    container_id: Option<String>,
    container_name: Option<String>,
    pid: Option<u32>,
    with_descendants: bool,
}

/// `OUT` with `.partial` appended to its file name.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

/// Finds the one container `given` names: its full id, an id prefix of 3 or more
/// characters, or its name.
fn resolve_container<'a>(
    containers: &'a [ContainerInfo],
    given: &str,
) -> Result<&'a ContainerInfo, ExportError> {
    if let Some(c) = containers
        .iter()
        .find(|c| c.id == given || c.name.as_deref() == Some(given))
    {
        return Ok(c);
    }
    let prefixed: Vec<&ContainerInfo> = if given.len() >= 3 {
        containers
            .iter()
            .filter(|c| c.id.starts_with(given))
            .collect()
    } else {
        Vec::new()
    };
    match prefixed.as_slice() {
        [one] => Ok(one),
        [] => Err(ExportError::UnknownContainer {
            given: given.to_owned(),
            known: if containers.is_empty() {
                "no containers".into()
            } else {
                containers
                    .iter()
                    .map(|c| {
                        let short = &c.id[..c.id.len().min(12)];
                        match &c.name {
                            Some(n) => format!("{short} ({n})"),
                            None => short.to_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
        many => Err(ExportError::AmbiguousContainer {
            given: given.to_owned(),
            matches: many
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cgroup an event names, when its body carries one.
fn event_cgroup(e: &Event) -> Option<u64> {
    match &e.body {
        EventBody::Syscall(s) => Some(s.cgroup_id),
        EventBody::Fork(f) => Some(f.cgroup_id),
        EventBody::Exec(x) => Some(x.cgroup_id),
        EventBody::CgroupMkdir(_) | EventBody::Exit(_) => None,
    }
}

/// Writes the export of `sel` from `reader` (read from `source`) to `out`: first to
/// `OUT.partial` (created 0600, never following a link), renamed onto `out` once complete;
/// on any error nothing is left behind.
pub fn export_atcap(
    reader: &CaptureReader,
    source: &Path,
    lookups: &Lookups,
    sel: &Selection,
    out: &Path,
    on_error: impl FnMut(capture_format::Error),
) -> Result<ExportStats, ExportError> {
    let meta = reader.metadata();
    let container = sel
        .container
        .as_deref()
        .map(|c| resolve_container(&meta.containers, c))
        .transpose()?;

    // One expression for the whole selection: the filter language already answers
    // "in this container" and "below this pid" exactly as the views do.
    let mut parts = Vec::new();
    if let Some(f) = &sel.filter {
        parts.push(format!("({f})"));
    }
    if let Some(c) = container {
        // Container ids are hex: no quoting needed.
        parts.push(format!("container.full_id = {}", c.id));
    }
    if let Some(pid) = sel.pid {
        parts.push(if sel.with_descendants {
            format!("(proc.pid = {pid} or proc.apid = {pid})")
        } else {
            format!("proc.pid = {pid}")
        });
    }
    let expression = (!parts.is_empty()).then(|| parts.join(" and "));
    let filter = expression
        .as_deref()
        .map(Filter::parse)
        .transpose()
        .map_err(|e| ExportError::BadSelection(e.to_string()))?;

    let source_sha256 = sha256_file(source).map_err(|e| ExportError::Source {
        path: source.to_owned(),
        source: e,
    })?;

    // Created before the scan so an unwritable destination fails at once.
    let partial = partial_path(out);
    let output_error = |e: io::Error| ExportError::Output {
        path: out.to_owned(),
        source: e,
    };
    let file = {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
            o.custom_flags(libc_nofollow());
        }
        o.open(&partial).map_err(|e| ExportError::Output {
            path: partial.clone(),
            source: e,
        })?
    };
    let result = (|| {
        let built = build(
            reader,
            source,
            &source_sha256,
            lookups,
            sel,
            container,
            filter.as_ref(),
            expression.as_deref(),
            on_error,
        )?;
        write_export(io::BufWriter::with_capacity(1 << 20, &file), meta, &built).map_err(|e| {
            match e {
                capture_format::Error::Io(io) => output_error(io),
                other => output_error(io::Error::other(other.to_string())),
            }
        })?;
        file.sync_all().map_err(output_error)?;
        let bytes = file.metadata().map_err(output_error)?.len();
        std::fs::rename(&partial, out).map_err(output_error)?;
        Ok(ExportStats {
            events: built.events.len() as u64,
            processes: built.tables.snapshot.processes.len(),
            containers: built.tables.containers.len(),
            alerts: built.tables.alerts.len(),
            redacted_spans: built.ledger.as_ref().map_or(0, |l| l.entries.len()),
            bytes,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// The whole capture with `policy` applied, as the bytes of a capture (for `report
/// --redact`, which reports on it), and the ledger.
pub fn redacted_copy(
    reader: &CaptureReader,
    source: &Path,
    lookups: &Lookups,
    policy: Policy,
    on_error: impl FnMut(capture_format::Error),
) -> Result<(Vec<u8>, Ledger), ExportError> {
    let sel = Selection {
        redact: Some(policy),
        ..Selection::default()
    };
    let built = build(
        reader, source, "", lookups, &sel, None, None, None, on_error,
    )?;
    let bytes =
        write_export(Vec::new(), reader.metadata(), &built).map_err(|e| ExportError::Output {
            path: PathBuf::from("(memory)"),
            source: io::Error::other(e.to_string()),
        })?;
    Ok((bytes, built.ledger.unwrap_or_default()))
}

struct Built {
    events: Vec<Event>,
    tables: Tables,
    block: ExportBlock,
    ledger: Option<Ledger>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one internal step of export_atcap"
)]
fn build(
    reader: &CaptureReader,
    source: &Path,
    source_sha256: &str,
    lookups: &Lookups,
    sel: &Selection,
    container: Option<&ContainerInfo>,
    filter: Option<&Filter>,
    expression: Option<&str>,
    on_error: impl FnMut(capture_format::Error),
) -> Result<Built, ExportError> {
    let meta = reader.metadata();
    let expression = expression.map(str::to_owned);
    {
        let mut selected = select_events(reader, lookups, filter, sel.range, on_error);
        let Some(first_ts) = selected.events.first().map(|e| e.ts) else {
            return Err(ExportError::Empty(
                expression
                    .clone()
                    .map_or_else(|| "the time range".to_owned(), |e| format!("`{e}`")),
            ));
        };
        let state_ts = sel
            .range
            .since
            .unwrap_or_else(|| window_start(reader).min(first_ts));
        let mut tables = state_tables(
            meta,
            &selected,
            state_ts,
            container.map(|c| c.cgroup_ids.as_slice()),
            sel.pid,
        );
        let block = ExportBlock {
            source: SourceInfo {
                file_name: source
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                sha256: source_sha256.to_owned(),
                file_id: hex(&reader.file_id()),
            },
            selection: SelectionInfo {
                expression: expression.clone(),
                filter: sel.filter.clone(),
                since_boot_ns: sel.range.since,
                until_boot_ns: sel.range.until,
                since: sel.range.since.map(|t| lookups.clock().rfc3339(t)),
                until: sel.range.until.map(|t| lookups.clock().rfc3339(t)),
                container_id: container.map(|c| c.id.clone()),
                container_name: container.and_then(|c| c.name.clone()),
                pid: sel.pid,
                with_descendants: sel.with_descendants,
            },
            redaction: serde_json::Value::from("none"),
            state_ts,
            records: selected.events.len() as u64,
            exported_by: format!("aftertrace-inspector {}", env!("CARGO_PKG_VERSION")),
        };
        let ledger = sel.redact.as_ref().map(|policy| {
            let mut ledger = Ledger {
                policy: policy.name.clone(),
                ..Ledger::default()
            };
            redact_events(policy, &mut selected.events, &mut ledger);
            redact_snapshot(policy, &mut tables.snapshot, &mut ledger);
            for a in &mut tables.alerts {
                redact_alert(policy, a, &mut ledger);
            }
            sweep_known(&mut selected.events, &mut tables.snapshot, &mut ledger);
            ledger
        });
        let mut block = block;
        if let Some(l) = &ledger {
            block.redaction = serde_json::json!({
                "policy": l.policy,
                "spans": l.entries.len(),
                "bytes": l.bytes(),
                "note": "redacted spans are overwritten in place by same-length markers; \
                         sha256s of artifacts rebuilt from this file are of redacted content",
            });
        }
        Ok(Built {
            events: selected.events,
            tables,
            block,
            ledger,
        })
    }
}

/// `O_NOFOLLOW` where the libc crate is a dependency (see Cargo.toml); elsewhere
/// `create_new` alone still refuses an existing name, links included.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn libc_nofollow() -> i32 {
    libc::O_NOFOLLOW
}

#[cfg(all(unix, not(all(target_os = "linux", target_env = "gnu"))))]
fn libc_nofollow() -> i32 {
    0
}

struct Selected {
    events: Vec<Event>,
    /// The pids of selected records, with the incarnation each named at its time.
    procs: BTreeSet<u32>,
    /// The finished tree of the source (up to the range's end).
    tree: ProcessTree,
}

fn select_events(
    reader: &CaptureReader,
    lookups: &Lookups,
    filter: Option<&Filter>,
    range: TimeRange,
    on_error: impl FnMut(capture_format::Error),
) -> Selected {
    let plan = Plan {
        range,
        pids: filter.and_then(|f| required_pids(f.expr())),
        tree: TreeNeed::UntilRangeEnd,
        activity: false,
        output: true,
        records: Records::All,
    };
    let mut tree = ProcessTree::new(&reader.metadata().processes);
    let mut events = Vec::new();
    let _ = scan::run::<_, std::convert::Infallible>(
        reader,
        &plan,
        &mut tree,
        |batch, tree| {
            let ctx = CaptureContext::new(tree, lookups);
            batch
                .iter()
                .filter(|e| filter.is_none_or(|f| f.matches(e, &ctx)))
                .cloned()
                .collect::<Vec<_>>()
        },
        |mut batch| {
            events.append(&mut batch);
            Ok(())
        },
        on_error,
    );
    let procs = events.iter().map(|e| e.pid).collect();
    Selected {
        events,
        procs,
        tree,
    }
}

struct Tables {
    snapshot: ProcessSnapshot,
    containers: Vec<ContainerInfo>,
    users: UsersAndGroups,
    alerts: Vec<capture_format::Alert>,
    drops: DropLedger,
}

/// The state tables restricted to the selection, as of `state_ts`.
fn state_tables(
    meta: &capture_format::Metadata,
    sel: &Selected,
    state_ts: BootNs,
    container_cgroups: Option<&[u64]>,
    subtree_root: Option<u32>,
) -> Tables {
    let tree = &sel.tree;
    let alive_at = |id: ProcId| {
        tree.get(id).is_some_and(|p| {
            p.start.is_none_or(|s| s <= state_ts) && p.alive_during(Some(state_ts), None)
        })
    };
    // An ancestor is kept only inside the selected container or subtree: the host's
    // conmon or shell above a container is exactly what must not leak.
    let in_scope = |id: ProcId| {
        let Some(p) = tree.get(id) else { return false };
        let Some(phase) = p.phase_at(state_ts) else {
            return false;
        };
        let scoped = container_cgroups.is_some() || subtree_root.is_some();
        scoped && container_cgroups.is_none_or(|cg| cg.contains(&phase.image.cgroup_id))
    };
    let mut ids: BTreeSet<ProcId> = BTreeSet::new();
    for &pid in &sel.procs {
        let Some(id) = tree.lookup(pid, state_ts) else {
            continue;
        };
        if !alive_at(id) {
            continue;
        }
        ids.insert(id);
        let mut seen = HashSet::from([id]);
        let mut cur = id;
        while let Some(parent) = tree.get(cur).and_then(|p| p.parent) {
            let root_reached = subtree_root == tree.get(cur).map(|p| p.pid);
            if root_reached || !seen.insert(parent) || !alive_at(parent) || !in_scope(parent) {
                break;
            }
            ids.insert(parent);
            cur = parent;
        }
    }

    let mut processes = Vec::new();
    for id in ids {
        let Some(p) = tree.get(id) else { continue };
        let Some(phase) = p.phase_at(state_ts) else {
            continue;
        };
        let image = &*phase.image;
        processes.push(ProcessInfo {
            pid: p.pid,
            ppid: phase.ppid,
            comm: String::from_utf8_lossy(&image.comm).into_owned(),
            exe: image.exe.clone(),
            argv: image.argv.clone(),
            cwd: image.cwd.clone(),
            uid: image.uid,
            gid: image.gid,
            euid: image.euid,
            egid: image.egid,
            cgroup_id: image.cgroup_id,
            start_ts: p.start,
            exit_ts: None,
            exit_status: None,
            fds: snapshot_fds(meta, p.pid, p.start, state_ts),
        });
    }
    processes.sort_by_key(|p| p.pid);

    let mut cgroups: BTreeSet<u64> = processes.iter().map(|p| p.cgroup_id).collect();
    cgroups.extend(sel.events.iter().filter_map(event_cgroup));
    let containers: Vec<ContainerInfo> = meta
        .containers
        .iter()
        .filter(|c| c.cgroup_ids.iter().any(|cg| cgroups.contains(cg)))
        .cloned()
        .collect();
    let container_cgroup_set: HashSet<u64> = containers
        .iter()
        .flat_map(|c| c.cgroup_ids.iter().copied())
        .collect();
    let host_selected = cgroups.iter().any(|cg| !container_cgroup_set.contains(cg));
    let mut tables_of: HashSet<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    if host_selected {
        tables_of.insert("");
    }
    let users = UsersAndGroups {
        users: meta
            .users
            .users
            .iter()
            .filter(|u| tables_of.contains(u.container_id.as_str()))
            .cloned()
            .collect(),
        groups: meta
            .users
            .groups
            .iter()
            .filter(|g| tables_of.contains(g.container_id.as_str()))
            .cloned()
            .collect(),
    };

    let range = TimeRange {
        since: Some(state_ts),
        until: sel.events.last().map(|e| e.ts),
    };
    let alerts = meta
        .alerts
        .iter()
        .filter(|a| range.contains(a.received_boot_ns))
        .cloned()
        .collect();
    let drops = DropLedger {
        entries: meta
            .drops
            .entries
            .iter()
            .filter(|d| range.overlaps(d.from, d.to))
            .filter(|d| d.pid.is_none_or(|pid| sel.procs.contains(&pid)))
            .cloned()
            .collect(),
    };
    Tables {
        snapshot: ProcessSnapshot {
            ts: state_ts,
            processes,
        },
        containers,
        users,
        alerts,
        drops,
    }
}

/// The fds the source's snapshots list for this incarnation of `pid`: the latest snapshot
/// at or before `at` (else the first) that has it. Fds opened between that snapshot and
/// `at` are not replayed into the list (see the README).
fn snapshot_fds(
    meta: &capture_format::Metadata,
    pid: u32,
    start: Option<BootNs>,
    at: BootNs,
) -> Vec<capture_format::FdInfo> {
    let mut best: Option<(&ProcessSnapshot, &ProcessInfo)> = None;
    for s in &meta.processes {
        let Some(p) = s
            .processes
            .iter()
            .find(|p| p.pid == pid && p.exit_ts.is_none())
        else {
            continue;
        };
        if start.is_some() && p.start_ts.is_some() && p.start_ts != start {
            continue;
        }
        let better = match best {
            None => true,
            Some((b, _)) => (s.ts <= at && s.ts > b.ts) || (b.ts > at && s.ts < b.ts),
        };
        if better {
            best = Some((s, p));
        }
    }
    best.map(|(_, p)| p.fds.clone()).unwrap_or_default()
}

fn write_export<W: Write>(
    out: W,
    meta: &capture_format::Metadata,
    b: &Built,
) -> Result<W, capture_format::Error> {
    let t = &b.tables;
    let mut w = CaptureWriter::new(out, WriterOptions::default())?;
    if let Some(host) = &meta.host {
        w.write_host(host)?;
    }
    w.write_clocks(&meta.clocks)?;
    w.write_containers(&t.containers)?;
    w.write_users(&t.users)?;
    w.write_processes(&t.snapshot)?;
    for a in &t.alerts {
        w.write_alert(a)?;
    }
    w.write_drops(&t.drops)?;
    let json = |v: &dyn erased::Json| {
        v.to_vec().map_err(|e| capture_format::Error::InvalidInput {
            reason: format!("export block: {e}"),
        })
    };
    w.write_custom_block(EXPORT_BLOCK_KIND, &json(&b.block)?)?;
    if let Some(l) = &b.ledger {
        w.write_custom_block(REDACTION_BLOCK_KIND, &json(l)?)?;
    }
    for e in &b.events {
        w.push_event(e)?;
    }
    w.flush_chunk()?;
    let mut out = w.finish()?;
    out.flush()?;
    Ok(out)
}

/// JSON encoding of the two extension blocks through one closure.
mod erased {
    pub trait Json {
        fn to_vec(&self) -> serde_json::Result<Vec<u8>>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_vec(&self) -> serde_json::Result<Vec<u8>> {
            serde_json::to_vec(self)
        }
    }
}
