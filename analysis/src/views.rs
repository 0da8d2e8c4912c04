//! The `procs` and `tree` views of the process tree: rows for JSON, aligned text, and the
//! indented tree.

use serde::Serialize;

use crate::meta::Lookups;
use crate::procs::{Exit, Phase, PhaseSource, ProcId, Process, ProcessTree};
use crate::style::{pad, printable, shell_words, Style};
use crate::syscall_sig;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An exec a process made during the window, as `procs --json` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExecRow {
    pub time: String,
    pub exe: Option<String>,
    pub argv: Vec<String>,
    pub argv_truncated: bool,
}

/// One process, as `procs --json` (and, with `depth` and `matched`, `tree --json`) prints
/// it. The README documents the schema.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProcRow {
    pub pid: u32,
    pub ppid: u32,
    pub origin: &'static str,
    pub start: Option<String>,
    pub end: Option<String>,
    pub exit_code: Option<u32>,
    pub exit_signal: Option<String>,
    pub exit_status: Option<u32>,
    pub name: Option<String>,
    pub exe: Option<String>,
    pub argv: Vec<String>,
    pub argv_truncated: bool,
    pub cwd: Option<String>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub user: Option<String>,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub execs: Vec<ExecRow>,
    pub children: Vec<u32>,
    pub threads: u32,
    pub syscalls: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
}

impl ProcRow {
    pub fn new(tree: &ProcessTree, p: &Process, lookups: &Lookups) -> ProcRow {
        let clock = lookups.clock();
        let image = p.current().map(|ph| &*ph.image);
        let container = image.and_then(|i| lookups.container(i.cgroup_id));
        ProcRow {
            pid: p.pid,
            ppid: p.ppid,
            origin: p.origin.as_str(),
            start: p.start.map(|t| clock.rfc3339(t)),
            end: p.exit.and_then(|e| e.ts).map(|t| clock.rfc3339(t)),
            exit_code: p.exit.and_then(|e| e.code()),
            exit_signal: p
                .exit
                .and_then(|e| e.signal())
                .map(|s| syscall_sig::signal(s.into())),
            exit_status: p.exit.and_then(|e| e.status),
            name: image.map(|i| text(&i.comm)),
            exe: image.and_then(|i| i.exe.as_deref()).map(text),
            argv: image.map_or_else(Vec::new, |i| i.argv.iter().map(|a| text(a)).collect()),
            argv_truncated: image.is_some_and(|i| i.argv_truncated),
            cwd: image.and_then(|i| i.cwd.as_deref()).map(text),
            uid: image.map(|i| i.uid),
            euid: image.map(|i| i.euid),
            user: image
                .and_then(|i| lookups.user_in_cgroup(i.uid, i.cgroup_id))
                .map(str::to_owned),
            container_id: container.map(|c| c.id.clone()),
            container_name: container.and_then(|c| c.name.clone()),
            execs: p
                .execs()
                .map(|ph| ExecRow {
                    time: ph.ts.map(|t| clock.rfc3339(t)).unwrap_or_default(),
                    exe: ph.image.exe.as_deref().map(text),
                    argv: ph.image.argv.iter().map(|a| text(a)).collect(),
                    argv_truncated: ph.image.argv_truncated,
                })
                .collect(),
            children: p
                .children
                .iter()
                .filter_map(|&c| tree.get(c))
                .map(|c| c.pid)
                .collect(),
            threads: p.threads,
            syscalls: p.syscalls,
            first_event: p.first_event.map(|t| clock.rfc3339(t)),
            last_event: p.last_event.map(|t| clock.rfc3339(t)),
            depth: None,
            matched: None,
        }
    }
}

/// `exit 0`, `SIGKILL`, `running`...
pub fn status_text(exit: Option<Exit>) -> String {
    match exit {
        None => "running".into(),
        Some(e) => match (e.code(), e.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (_, Some(sig)) => {
                let core = e.status.is_some_and(|s| s & 0x80 != 0);
                let name = syscall_sig::signal(sig.into());
                if core {
                    format!("{name} (core)")
                } else {
                    name
                }
            }
            _ => "exited".into(),
        },
    }
}

fn argv_text(phase: &Phase) -> String {
    let image = &phase.image;
    if image.argv.is_empty() {
        // Kernel threads (and processes whose command line was unreadable), as ps shows them.
        return format!("[{}]", printable(&text(&image.comm)));
    }
    let argv: Vec<String> = image.argv.iter().map(|a| text(a)).collect();
    let mut s = shell_words(&argv);
    if image.argv_truncated {
        s.push_str(" [...]");
    }
    s
}

/// The command line a process runs now, for the `procs` text view.
fn current_command(p: &Process) -> String {
    match p.current() {
        Some(ph) => argv_text(ph),
        None => "?".into(),
    }
}

/// What a process ran, for the tree: the snapshot's command line, then each exec's,
/// joined by ` => `; a forked copy that never exec'd shows its name and `(fork)`.
pub fn tree_command(p: &Process) -> String {
    let mut parts = Vec::new();
    for ph in &p.phases {
        match ph.source {
            PhaseSource::Snapshot | PhaseSource::Exec => parts.push(argv_text(ph)),
            PhaseSource::Fork => {}
        }
    }
    if parts.is_empty() {
        return match p.phases.first() {
            Some(ph) => format!("{} (fork)", printable(&text(&ph.image.comm))),
            None => "?".into(),
        };
    }
    parts.join(" => ")
}

/// The `procs` text view's column titles.
pub fn procs_header(style: Style) -> String {
    let h = format!(
        "{:>7} {:>7} {:<30} {:<30} {:<10} {:>6} {:<12} {:>8} COMMAND",
        "PID", "PPID", "START", "END", "STATUS", "UID", "CONTAINER", "SYSCALLS"
    );
    style.bold(&h).into_owned()
}

/// One aligned `procs` line.
pub fn procs_line(p: &Process, lookups: &Lookups, style: Style) -> String {
    let clock = lookups.clock();
    let start = match p.start {
        Some(t) => clock.rfc3339(t),
        None => "(before window)".into(),
    };
    let end = match p.exit {
        None => "-".into(),
        Some(Exit { ts: Some(t), .. }) => clock.rfc3339(t),
        Some(Exit { ts: None, .. }) => "?".into(),
    };
    let image = p.current().map(|ph| &*ph.image);
    let uid = image.map_or("?".into(), |i| i.uid.to_string());
    let container = image
        .and_then(|i| lookups.container(i.cgroup_id))
        .map_or("-".to_owned(), |c| c.id.chars().take(12).collect());
    let status = status_text(p.exit);
    let status = pad(&status, 10);
    let status = if p
        .exit
        .is_some_and(|e| e.code().is_some_and(|c| c != 0) || e.signal().is_some())
    {
        style.red(&status).into_owned()
    } else {
        status
    };
    format!(
        "{:>7} {:>7} {:<30} {:<30} {} {:>6} {:<12} {:>8} {}",
        p.pid,
        p.ppid,
        start,
        end,
        status,
        uid,
        container,
        p.syscalls,
        current_command(p)
    )
}

/// The processes to show, in start order.
pub fn procs_order(tree: &ProcessTree, selected: &[bool]) -> Vec<ProcId> {
    let mut ids: Vec<ProcId> = (0..tree.processes().len())
        .filter(|&i| selected.get(i).copied().unwrap_or(false))
        .collect();
    ids.sort_by_key(|&i| (tree.processes()[i].start.unwrap_or(0), i));
    ids
}

/// One node of the tree view, in depth-first order.
pub struct TreeNode {
    pub id: ProcId,
    pub depth: usize,
    /// For each ancestor level, whether that ancestor was the last of its siblings; and
    /// whether this node is the last of its own.
    pub last: Vec<bool>,
}

/// The shown processes (`shown[id]`) in depth-first order, children by start time. A
/// shown process whose parent is not shown is a root.
pub fn tree_order(tree: &ProcessTree, shown: &[bool]) -> Vec<TreeNode> {
    let is_shown = |i: ProcId| shown.get(i).copied().unwrap_or(false);
    let mut roots: Vec<ProcId> = (0..tree.processes().len())
        .filter(|&i| is_shown(i) && !tree.processes()[i].parent.is_some_and(is_shown))
        .collect();
    roots.sort_by_key(|&i| (tree.processes()[i].start.unwrap_or(0), i));
    let mut out = Vec::new();
    // An explicit stack: fork chains can be deeper than the thread's stack would allow.
    let mut stack: Vec<(ProcId, Vec<bool>)> = Vec::new();
    for (n, &r) in roots.iter().enumerate().rev() {
        stack.push((r, vec![n + 1 == roots.len()]));
    }
    let mut seen = vec![false; tree.processes().len()];
    while let Some((id, last)) = stack.pop() {
        if seen[id] {
            continue;
        }
        seen[id] = true;
        let kids: Vec<ProcId> = tree.processes()[id]
            .children
            .iter()
            .copied()
            .filter(|&c| is_shown(c))
            .collect();
        for (n, &c) in kids.iter().enumerate().rev() {
            let mut l = last.clone();
            l.push(n + 1 == kids.len());
            stack.push((c, l));
        }
        out.push(TreeNode {
            id,
            depth: last.len() - 1,
            last,
        });
    }
    out
}

/// One line of the tree view: guides, pid, what it ran, and what changed from its parent
/// (user, container), then how it ended.
pub fn tree_line(
    tree: &ProcessTree,
    node: &TreeNode,
    matched: bool,
    lookups: &Lookups,
    style: Style,
) -> String {
    let Some(p) = tree.get(node.id) else {
        return String::new();
    };
    let mut line = String::new();
    // Guides: one column per ancestor level below the root.
    for &ancestor_last in node.last.iter().skip(1).take(node.depth.saturating_sub(1)) {
        line.push_str(if ancestor_last { "   " } else { "│  " });
    }
    if node.depth > 0 {
        line.push_str(if node.last[node.depth] {
            "└─ "
        } else {
            "├─ "
        });
    }
    let pid = p.pid.to_string();
    line.push_str(&style.cyan(&pid));
    line.push(' ');
    let command = tree_command(p);
    if matched {
        line.push_str(&style.bold(&command));
    } else {
        line.push_str(&style.dim(&command));
    }
    let image = p.current().map(|ph| &*ph.image);
    let parent_image = p
        .parent
        .and_then(|pp| tree.get(pp))
        .and_then(|pp| pp.current())
        .map(|ph| &*ph.image);
    let mut notes = Vec::new();
    if let Some(i) = image {
        // A root running as root is the norm; anything else, and every change of
        // effective user from parent to child, is worth a note.
        let changed = match parent_image {
            Some(pi) => pi.euid != i.euid,
            None => i.euid != 0,
        };
        if changed {
            let user = lookups.user_in_cgroup(i.euid, i.cgroup_id);
            notes.push(match user {
                Some(u) => format!("uid {} ({})", i.euid, printable(u)),
                None => format!("uid {}", i.euid),
            });
        }
        let container = lookups.container(i.cgroup_id);
        let parent_container = parent_image.and_then(|pi| lookups.container(pi.cgroup_id));
        if let Some(c) = container {
            if parent_container.is_none_or(|pc| pc.id != c.id) {
                let name = c
                    .name
                    .clone()
                    .unwrap_or_else(|| c.id.chars().take(12).collect());
                notes.push(format!("container {}", printable(&name)));
            }
        } else if parent_container.is_some() {
            notes.push("host".into());
        }
    }
    if !notes.is_empty() {
        line.push_str(&format!("  [{}]", notes.join(", ")));
    }
    if p.exit.is_some() {
        let status = status_text(p.exit);
        let failed = p
            .exit
            .is_some_and(|e| e.code().is_some_and(|c| c != 0) || e.signal().is_some());
        line.push_str("  ");
        if failed {
            line.push_str(&style.red(&status));
        } else {
            line.push_str(&style.green(&status));
        }
    }
    if !matched {
        line.push_str(&style.dim("  (context)"));
    }
    line
}
