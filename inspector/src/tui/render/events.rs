//! Every event, scrolled virtually: only the rows on screen were decoded and described
//! (by `update`); the row count comes from the index, or from the filter's scan so far.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::{App, View};
use super::super::layout::panes;
use super::{bar, boxed, fit, list_rows, thousands, BOLD, CURSOR, CYAN, DIM, HEADER, RED, YELLOW};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(c) = &app.capture else {
        super::loading(frame, app, area, "Events");
        return;
    };
    let p = panes(View::Events, area);
    let width = usize::from(p.list.width.saturating_sub(2));
    let ev = &app.events;
    let mut lines = vec![Line::styled(
        fit(
            &format!(
                "{:<15} {:>7} {:>7} {:<15} EVENT",
                "TIME", "PID", "TID", "PROCESS"
            ),
            width,
        ),
        HEADER,
    )];
    for (pos, row) in ev.visible.iter().take(list_rows(p.list)) {
        let mut line = match row {
            Some(r) => {
                let call_style = if r.failed {
                    RED
                } else if r.kind == "exec" {
                    BOLD
                } else if r.kind != "syscall" {
                    YELLOW
                } else {
                    ratatui::style::Style::new()
                };
                let mut spans = vec![
                    Span::styled(format!("{:<15} ", r.time), DIM),
                    Span::styled(format!("{:>7} ", r.pid), CYAN),
                    Span::raw(format!("{:>7} ", r.tid)),
                    Span::raw(fit(&r.proc, 15) + " "),
                    Span::styled(r.call.clone(), call_style),
                ];
                if !r.data.is_empty() {
                    spans.push(Span::styled(format!("  {}", r.data), DIM));
                }
                Line::from(spans)
            }
            None => Line::styled(
                "<this chunk could not be read: its events are lost>",
                RED.add_modifier(Modifier::ITALIC),
            ),
        };
        if *pos == ev.cursor {
            line = line.patch_style(CURSOR);
        }
        lines.push(line);
    }
    if ev.rows.is_empty() {
        lines.push(Line::styled(
            match (&app.filter, &app.analysis, ev.rows.complete) {
                (Some(_), None, _) => "the filter runs once the process tree is built…",
                (_, _, false) => "scanning…",
                _ => "no event matches the filter and range (F and T clear them)",
            },
            DIM,
        ));
    }
    let mut title = format!(" Events: {}", thousands(ev.rows.len()));
    if app.filter.is_some() || !app.range.is_all() {
        title.push_str(&format!(" of {}", thousands(c.total_events())));
    }
    if !ev.rows.is_empty() {
        title.push_str(&format!("  row {}", thousands(ev.cursor + 1)));
    }
    if let Some((done, of)) = ev.scanned {
        title.push_str(&format!(
            "  scanning {}% {}",
            done * 100 / of.max(1),
            bar(done as u64, of as u64, 10)
        ));
    }
    title.push(' ');
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), p.list);

    let Some(d) = p.detail else { return };
    let mut out: Vec<Line> = Vec::new();
    if let Some(detail) = &ev.detail {
        let half = detail.fields.len().div_ceil(2);
        // Two columns of fields when the pane is wide, else one.
        let two = d.width >= 120;
        let colw = usize::from(d.width.saturating_sub(2)) / 2;
        let kv = |(k, v): &(String, String)| {
            vec![
                Span::styled(format!("{k:<11} "), BOLD),
                Span::raw(v.clone()),
            ]
        };
        if two {
            for i in 0..half {
                let mut spans = kv(&detail.fields[i]);
                let used: usize = spans.iter().map(|s| s.width()).sum();
                if used < colw {
                    spans.push(Span::raw(" ".repeat(colw - used)));
                } else {
                    // Cut the left column to its width.
                    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
                    spans = vec![Span::raw(fit(&text, colw))];
                }
                if let Some(f) = detail.fields.get(half + i) {
                    spans.extend(kv(f));
                }
                out.push(Line::from(spans));
            }
        } else {
            out.extend(detail.fields.iter().map(|f| Line::from(kv(f))));
        }
        if let Some(data) = &detail.data {
            out.push(Line::from(vec![
                Span::styled("bytes       ", BOLD),
                Span::styled(data.clone(), YELLOW),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(out)
            .wrap(Wrap { trim: false })
            .block(boxed(" Event ".into())),
        d,
    );
}
