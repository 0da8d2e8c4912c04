//! The process tree, collapsible, exited processes dimmed, and the selected process in
//! detail: command lines over time, cwd, user, container, open fds (from the snapshot),
//! children and how it ended.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::procs::{PhaseSource, Process};
use crate::style::{printable, shell_words};
use crate::views::{status_text, tree_command};

use super::super::app::{App, TreeRow, View};
use super::super::layout::panes;
use super::{
    boxed, fit, list_rows, loading, thousands, BOLD, CURSOR, CYAN, DIM, GREEN, HEADER, RED, YELLOW,
};

fn text(b: &[u8]) -> String {
    printable(&String::from_utf8_lossy(b)).into_owned()
}

fn failed(p: &Process) -> bool {
    p.exit
        .is_some_and(|e| e.code().is_some_and(|c| c != 0) || e.signal().is_some())
}

fn row_line(app: &App, row: &TreeRow, selected: bool, width: usize) -> Line<'static> {
    let Some(p) = app.analysis.as_ref().and_then(|a| a.tree.get(row.id)) else {
        return Line::raw("");
    };
    let mut guides = String::new();
    for &ancestor_last in row.last.iter().skip(1).take(row.depth.saturating_sub(1)) {
        guides.push_str(if ancestor_last { "   " } else { "│  " });
    }
    if row.depth > 0 {
        guides.push_str(if row.last[row.depth] {
            "└─"
        } else {
            "├─"
        });
    }
    let marker = match (row.kids, row.collapsed) {
        (0, _) if row.depth > 0 => "─ ".to_owned(),
        (0, _) => "  ".to_owned(),
        (_, true) => "▸ ".to_owned(),
        (_, false) => "▾ ".to_owned(),
    };
    let exited = p.exit.is_some();
    let base = if !row.matched {
        DIM.add_modifier(Modifier::ITALIC)
    } else if exited {
        DIM
    } else {
        ratatui::style::Style::new()
    };
    let mut spans = vec![
        Span::styled(guides, DIM),
        Span::styled(marker, YELLOW),
        Span::styled(format!("{} ", p.pid), if exited { DIM } else { CYAN }),
    ];
    let cmd: String = printable(&tree_command(p))
        .chars()
        .take(width.max(1))
        .collect();
    spans.push(Span::styled(cmd, base));
    if row.collapsed {
        spans.push(Span::styled(format!(" (+{})", row.kids), YELLOW));
    }
    if exited {
        let st = status_text(p.exit);
        spans.push(Span::styled(
            format!("  {st}"),
            if failed(p) { RED } else { DIM },
        ));
    }
    let mut line = Line::from(spans);
    if selected {
        line = line.patch_style(CURSOR);
    }
    line
}

fn detail(app: &App, p: &Process) -> Vec<Line<'static>> {
    let (Some(c), Some(a)) = (&app.capture, &app.analysis) else {
        return Vec::new();
    };
    let clock = c.lookups.clock();
    let mut out: Vec<Line<'static>> = Vec::new();
    let kv =
        |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<10}"), BOLD), Span::raw(v)]);
    let image = p.current().map(|ph| &*ph.image);
    out.push(kv(
        "pid",
        format!(
            "{}  parent {}  ({})",
            p.pid,
            p.ppid,
            match p.origin {
                crate::procs::Origin::Snapshot => "running when the capture began",
                crate::procs::Origin::Fork => "forked during the capture",
                crate::procs::Origin::Unknown => "seen only in its own events",
            }
        ),
    ));
    if let Some(i) = image {
        out.push(kv("name", text(&i.comm)));
        let mut argv = shell_words(
            &i.argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>(),
        );
        if i.argv_truncated {
            argv.push_str(" [...]");
        }
        out.push(kv("argv", argv));
        out.push(kv("exe", i.exe.as_deref().map_or("?".into(), text)));
        out.push(kv("cwd", i.cwd.as_deref().map_or("?".into(), text)));
        let user = |uid: u32| {
            c.lookups
                .user_in_cgroup(uid, i.cgroup_id)
                .map_or(uid.to_string(), |n| format!("{uid} ({})", printable(n)))
        };
        let mut u = format!("uid {}", user(i.uid));
        if i.euid != i.uid {
            u.push_str(&format!("  euid {}", user(i.euid)));
        }
        out.push(kv("user", u));
        out.push(kv(
            "container",
            match c.lookups.container(i.cgroup_id) {
                Some(ct) => format!(
                    "{} ({}, {})",
                    printable(ct.name.as_deref().unwrap_or("?")),
                    ct.id.chars().take(12).collect::<String>(),
                    printable(ct.image.as_deref().unwrap_or("?"))
                ),
                None => "host".into(),
            },
        ));
    }
    out.push(kv(
        "started",
        p.start
            .map_or("before the window".into(), |t| clock.rfc3339(t)),
    ));
    out.push(Line::from(vec![
        Span::styled(format!("{:<10}", "status"), BOLD),
        Span::styled(
            match p.exit {
                Some(e) => format!(
                    "{} at {}",
                    status_text(p.exit),
                    e.ts.map_or("?".into(), |t| clock.rfc3339(t))
                ),
                None => "running when the capture ended".into(),
            },
            if failed(p) {
                RED
            } else if p.exit.is_some() {
                DIM
            } else {
                GREEN
            },
        ),
    ]));
    out.push(kv(
        "activity",
        format!(
            "{} syscalls, {} thread(s) created",
            thousands(p.syscalls),
            p.threads
        ),
    ));
    let execs: Vec<_> = p
        .phases
        .iter()
        .filter(|ph| ph.source == PhaseSource::Exec)
        .collect();
    if !execs.is_empty() {
        out.push(Line::styled("execs", BOLD));
        for ph in execs {
            let argv: Vec<String> = ph
                .image
                .argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push(Line::from(vec![
                Span::styled(
                    format!(
                        "  {} ",
                        ph.ts
                            .map_or("?".into(), |t| super::super::rows::short_time(clock, t))
                    ),
                    DIM,
                ),
                Span::raw(shell_words(&argv)),
            ]));
        }
    }
    // Open fds, as the snapshot that listed this process saw them.
    let fds = c
        .reader
        .metadata()
        .processes
        .iter()
        .flat_map(|s| s.processes.iter())
        .find(|info| info.pid == p.pid && info.start_ts == p.start && !info.fds.is_empty())
        .map(|info| &info.fds);
    if let Some(fds) = fds {
        out.push(Line::styled("open fds (snapshot)", BOLD));
        for fd in fds.iter().take(32) {
            let peer = match (&fd.local, &fd.remote) {
                (Some(l), Some(r)) => format!(
                    "  {} -> {}",
                    crate::events::sockaddr(l),
                    crate::events::sockaddr(r)
                ),
                _ => String::new(),
            };
            out.push(Line::raw(format!(
                "  {:>3} {:<9} {}{peer}",
                fd.fd,
                format!("{:?}", fd.kind).to_lowercase(),
                text(&fd.name)
            )));
        }
    }
    if !p.children.is_empty() {
        out.push(Line::styled(
            format!("children ({})", p.children.len()),
            BOLD,
        ));
        for &k in p.children.iter().take(50) {
            if let Some(child) = a.tree.get(k) {
                let cmd: String = printable(&tree_command(child)).chars().take(120).collect();
                out.push(Line::from(vec![
                    Span::styled(format!("  {} ", child.pid), CYAN),
                    Span::raw(cmd),
                    Span::styled(
                        child
                            .exit
                            .map(|_| format!("  {}", status_text(child.exit)))
                            .unwrap_or_default(),
                        if failed(child) { RED } else { DIM },
                    ),
                ]));
            }
        }
    }
    out
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(a) = &app.analysis else {
        loading(frame, app, area, "Processes");
        return;
    };
    let p = panes(View::Processes, area);
    let rows = list_rows(p.list);
    let list = &app.procs.rows;
    let top = app.procs.list.top.min(list.len());
    let width = usize::from(p.list.width.saturating_sub(2));
    let mut lines = vec![Line::styled(fit("PID COMMAND", width), HEADER)];
    for (i, row) in list.iter().enumerate().skip(top).take(rows) {
        lines.push(row_line(app, row, i == app.procs.list.cursor, width));
    }
    if list.is_empty() {
        lines.push(Line::styled(
            "no process matches the filter and range (F and T clear them)",
            DIM,
        ));
    }
    let title = format!(
        " Processes: {} shown of {} ",
        thousands(list.len() as u64),
        thousands(a.tree.processes().len() as u64)
    );
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), p.list);
    if let Some(d) = p.detail {
        let lines = list
            .get(app.procs.list.cursor)
            .and_then(|r| a.tree.get(r.id))
            .map(|proc_| detail(app, proc_))
            .unwrap_or_default();
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(boxed(" Process ".into())),
            d,
        );
    }
}
