//! Every exec: time, pid, parent, user, container, command line; the selected one with its
//! whole argv, cwd and the chain of parents that led to it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::style::{printable, shell_words};
use crate::views::tree_command;

use super::super::app::{App, View};
use super::super::layout::panes;
use super::super::rows::short_time;
use super::{boxed, fit, list_rows, loading, thousands, BOLD, CURSOR, CYAN, DIM, HEADER};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let (Some(c), Some(a)) = (&app.capture, &app.analysis) else {
        loading(frame, app, area, "Commands");
        return;
    };
    let clock = c.lookups.clock();
    let p = panes(View::Commands, area);
    let rows = list_rows(p.list);
    let width = usize::from(p.list.width.saturating_sub(2));
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{:<15} {:>7} {:>7} {:<10} {:<14} COMMAND",
                "TIME", "PID", "PPID", "USER", "CONTAINER"
            ),
            width,
        ),
        HEADER,
    )];
    let list = &app.commands_rows;
    for (i, &k) in list.iter().enumerate().skip(app.commands.top).take(rows) {
        let Some(cmd) = a.commands.get(k) else {
            continue;
        };
        let user = cmd.user.clone().unwrap_or_else(|| cmd.uid.to_string());
        let container = cmd
            .container_name
            .clone()
            .or_else(|| {
                cmd.container_id
                    .as_ref()
                    .map(|id| id.chars().take(12).collect())
            })
            .unwrap_or_else(|| "-".into());
        let mut argv = shell_words(&cmd.argv);
        if cmd.argv_truncated {
            argv.push_str(" [...]");
        }
        let mut line = Line::from(vec![
            Span::styled(format!("{:<15} ", short_time(clock, cmd.boot_ns)), DIM),
            Span::styled(format!("{:>7} ", cmd.pid), CYAN),
            Span::raw(format!("{:>7} ", cmd.ppid)),
            Span::raw(fit(&printable(&user), 10) + " "),
            Span::raw(fit(&printable(&container), 14) + " "),
            Span::styled(argv, BOLD),
        ]);
        if i == app.commands.cursor {
            line = line.patch_style(CURSOR);
        }
        lines.push(line);
    }
    if list.is_empty() {
        lines.push(Line::styled(
            "no exec matches the filter and range (F and T clear them)",
            DIM,
        ));
    }
    let title = format!(
        " Commands: {} of {} execs ",
        thousands(list.len() as u64),
        thousands(a.commands.len() as u64)
    );
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), p.list);

    let Some(d) = p.detail else { return };
    let mut out: Vec<Line> = Vec::new();
    if let Some(&k) = list.get(app.commands.cursor) {
        if let (Some(cmd), Some(e)) = (a.commands.get(k), a.execs.get(k)) {
            let kv = |k: &str, v: String| {
                Line::from(vec![Span::styled(format!("{k:<8}"), BOLD), Span::raw(v)])
            };
            out.push(kv("time", cmd.time.clone()));
            out.push(kv("argv", shell_words(&cmd.argv)));
            out.push(kv(
                "exe",
                format!(
                    "{}   cwd {}",
                    printable(&cmd.exe),
                    printable(cmd.cwd.as_deref().unwrap_or("?"))
                ),
            ));
            out.push(kv(
                "user",
                format!(
                    "uid {} euid {}{}   container {}",
                    cmd.uid,
                    cmd.euid,
                    cmd.user
                        .as_deref()
                        .map(|u| format!(" ({})", printable(u)))
                        .unwrap_or_default(),
                    printable(
                        cmd.container_name
                            .as_deref()
                            .unwrap_or(cmd.container_id.as_deref().unwrap_or("host"))
                    )
                ),
            ));
            // The chain of parents, nearest first.
            let mut chain = Vec::new();
            let mut cur = a
                .tree
                .lookup(e.pid, e.ts)
                .and_then(|id| a.tree.get(id))
                .and_then(|p| p.parent);
            while let Some(id) = cur {
                let Some(p) = a.tree.get(id) else { break };
                let name: String = printable(&tree_command(p)).chars().take(60).collect();
                chain.push(format!("{} {name}", p.pid));
                cur = p.parent;
                if chain.len() >= 12 {
                    chain.push("…".into());
                    break;
                }
            }
            out.push(kv(
                "parents",
                if chain.is_empty() {
                    "unknown".into()
                } else {
                    chain.join("  ←  ")
                },
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(out)
            .wrap(Wrap { trim: false })
            .block(boxed(" Command ".into())),
        d,
    );
}
