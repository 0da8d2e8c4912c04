//! Containers (and the host) with their processes, commands and syscalls.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::style::printable;

use super::super::app::{App, View};
use super::super::layout::panes;
use super::{boxed, fit, list_rows, loading, thousands, BOLD, CURSOR, CYAN, DIM, HEADER};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let (Some(c), Some(_)) = (&app.capture, &app.analysis) else {
        loading(frame, app, area, "Containers");
        return;
    };
    let meta = c.reader.metadata();
    let p = panes(View::Containers, area);
    let rows = list_rows(p.list);
    let width = usize::from(p.list.width.saturating_sub(2));
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{:<20} {:<12} {:>9} {:>9} {:>12} {:<9} IMAGE",
                "NAME", "ID", "PROCS", "COMMANDS", "SYSCALLS", "RUNTIME"
            ),
            width,
        ),
        HEADER,
    )];
    for (i, row) in app
        .containers_rows
        .iter()
        .enumerate()
        .skip(app.containers.top)
        .take(rows)
    {
        let ct = row.index.and_then(|k| meta.containers.get(k));
        let (name, id, runtime, image) = match ct {
            Some(ct) => (
                printable(ct.name.as_deref().unwrap_or("?")).into_owned(),
                ct.id.chars().take(12).collect::<String>(),
                printable(&ct.runtime).into_owned(),
                printable(ct.image.as_deref().unwrap_or("?")).into_owned(),
            ),
            None => ("(host)".into(), "host".into(), "-".into(), "-".into()),
        };
        let mut line = Line::from(vec![
            Span::styled(fit(&name, 20) + " ", BOLD),
            Span::styled(format!("{id:<12} "), CYAN),
            Span::raw(format!(
                "{:>9} {:>9} {:>12} ",
                thousands(row.processes as u64),
                thousands(row.commands as u64),
                thousands(row.syscalls)
            )),
            Span::raw(fit(&runtime, 9) + " "),
            Span::styled(image, DIM),
        ]);
        if i == app.containers.cursor {
            line = line.patch_style(CURSOR);
        }
        lines.push(line);
    }
    let title = format!(
        " Containers: {} (processes and commands in the range; syscalls over the whole capture) ",
        meta.containers.len()
    );
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), p.list);

    let Some(d) = p.detail else { return };
    let mut out: Vec<Line> = Vec::new();
    let kv =
        |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<10}"), BOLD), Span::raw(v)]);
    match app
        .containers_rows
        .get(app.containers.cursor)
        .and_then(|r| r.index)
        .and_then(|k| meta.containers.get(k))
    {
        Some(ct) => {
            out.push(kv("id", ct.id.clone()));
            out.push(kv(
                "hostname",
                printable(ct.hostname.as_deref().unwrap_or("?")).into_owned(),
            ));
            out.push(kv("cgroup", printable(&ct.cgroup_path).into_owned()));
            let labels: Vec<String> = ct
                .labels
                .iter()
                .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
                .collect();
            out.push(kv("labels", labels.join("  ")));
            out.push(Line::styled("Enter shows its events", DIM));
        }
        None => {
            out.push(kv("host", "processes outside any container".into()));
            out.push(Line::styled("Enter shows their events", DIM));
        }
    }
    frame.render_widget(
        Paragraph::new(out)
            .wrap(Wrap { trim: false })
            .block(boxed(" Container ".into())),
        d,
    );
}
