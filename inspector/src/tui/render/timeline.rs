//! Event density over the capture's window, from the chunk index alone (each chunk's events
//! spread over its time span), with alerts, recorder drops and damaged stretches marked,
//! and the cursor, the mark and the selected range highlighted.

use capture_format::BootNs;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::style::printable;

use super::super::app::{duration_text, App};
use super::{boxed, loading, thousands, BOLD, DIM, RED, YELLOW};

/// Events per bin, estimated from the index.
pub fn density(app: &App, first: BootNs, width: u64, bins: usize) -> Vec<f64> {
    let mut out = vec![0.0; bins];
    let Some(c) = &app.capture else { return out };
    let bin = |t: BootNs| ((t.saturating_sub(first)) / width).min(bins as u64 - 1) as usize;
    // Zoomed in, the bins cover part of the window: only that part of a chunk counts.
    let end = first + width * bins as u64;
    for chunk in c.reader.chunks() {
        if chunk.last_ts < first || chunk.first_ts >= end {
            continue;
        }
        let (b0, b1) = (
            bin(chunk.first_ts.max(first)),
            bin(chunk.last_ts.min(end - 1)),
        );
        let n = f64::from(chunk.event_count);
        if chunk.first_ts == chunk.last_ts {
            out[b0] += n;
            continue;
        }
        let span = (chunk.last_ts - chunk.first_ts) as f64;
        for (b, slot) in out.iter_mut().enumerate().take(b1 + 1).skip(b0) {
            let lo = (first + b as u64 * width).max(chunk.first_ts);
            let hi = (first + (b as u64 + 1) * width).min(chunk.last_ts);
            *slot += n * (hi.saturating_sub(lo) as f64 / span);
        }
    }
    out
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let (Some(c), Some((first, width, bins))) = (&app.capture, app.timeline_bins()) else {
        if app.capture.is_some() {
            frame.render_widget(
                Paragraph::new("The capture holds no event.").block(boxed(" Timeline ".into())),
                area,
            );
        } else {
            loading(frame, app, area, "Timeline");
        }
        return;
    };
    let meta = c.reader.metadata();
    let clock = c.lookups.clock();
    let inner_h = usize::from(area.height.saturating_sub(2));
    // A tall chart of an even load reads as a solid block: keep it to a dozen rows.
    let chart_h = inner_h.saturating_sub(7).clamp(1, 12);
    let exact = app
        .timeline_counts
        .as_ref()
        .filter(|t| (t.0, t.1, t.2) == (first, width, bins));
    let counts = match exact {
        Some(t) => t.3.clone(),
        None => density(app, first, width, bins),
    };
    let max = counts.iter().copied().fold(0.0, f64::max).max(1.0);
    let bin_of = |t: BootNs| ((t.saturating_sub(first)) / width).min(bins as u64 - 1) as usize;
    let cursor = bin_of(app.timeline.cursor.unwrap_or(first));
    let marked = app.timeline.mark.map(|m| {
        let m = bin_of(m);
        (m.min(cursor), m.max(cursor))
    });
    let in_range = |b: usize| {
        let lo = first + b as u64 * width;
        !app.range.is_all() && app.range.overlaps(lo, lo + width - 1)
    };
    let end = first + width * bins as u64;
    let shown = |from: BootNs, to: BootNs| to >= first && from < end;
    let mut alerts = vec![false; bins];
    for a in &meta.alerts {
        if shown(a.received_boot_ns, a.received_boot_ns) {
            alerts[bin_of(a.received_boot_ns)] = true;
        }
    }
    let mut drops = vec![false; bins];
    // `unreadable` marks a parameter of a record that was kept: not a hole in the record.
    for d in meta
        .drops
        .entries
        .iter()
        .filter(|d| d.pid.is_none() && d.count > 0 && d.cause != "unreadable")
        .filter(|d| shown(d.from, d.to))
    {
        for slot in drops.iter_mut().take(bin_of(d.to) + 1).skip(bin_of(d.from)) {
            *slot = true;
        }
    }
    let mut gaps = vec![false; bins];
    for l in &c.reader.damage().lost {
        let a = l.after_ts.unwrap_or(first);
        let b = l.before_ts.unwrap_or(first + width * bins as u64);
        if !shown(a, b) {
            continue;
        }
        for slot in gaps.iter_mut().take(bin_of(b) + 1).skip(bin_of(a)) {
            *slot = true;
        }
    }

    let cell_style = |b: usize| {
        let mut s = Style::new().fg(Color::Cyan);
        if gaps[b] {
            s = s.fg(Color::Red);
        }
        if in_range(b) {
            s = s.bg(Color::Rgb(40, 40, 70));
        }
        if marked.is_some_and(|(lo, hi)| b >= lo && b <= hi) {
            s = s.bg(Color::Blue);
        }
        if b == cursor {
            s = s.fg(Color::Yellow).add_modifier(Modifier::BOLD);
        }
        s
    };
    const LEVELS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut lines: Vec<Line> = Vec::new();
    for row in (0..chart_h).rev() {
        let spans: Vec<Span> = (0..bins)
            .map(|b| {
                // Eighths of a row this bin fills at this row.
                let h = counts[b] / max * (chart_h * 8) as f64;
                let fill = (h - (row * 8) as f64).clamp(0.0, 8.0);
                let mut ch = LEVELS[fill.ceil() as usize];
                if counts[b] > 0.0 && row == 0 && ch == ' ' {
                    ch = '▁';
                }
                if ch == ' ' && b == cursor {
                    ch = '│';
                }
                Span::styled(ch.to_string(), cell_style(b))
            })
            .collect();
        lines.push(Line::from(spans));
    }
    // Markers under the chart: alerts, drops, damage.
    let marks: Vec<Span> = (0..bins)
        .map(|b| {
            if alerts[b] {
                Span::styled("▲", YELLOW.add_modifier(Modifier::BOLD))
            } else if gaps[b] {
                Span::styled("✗", RED)
            } else if drops[b] {
                Span::styled("!", RED)
            } else if b == cursor {
                Span::styled("^", YELLOW)
            } else {
                Span::raw(" ")
            }
        })
        .collect();
    lines.push(Line::from(marks));
    let start = clock.rfc3339(first);
    let span = app.timeline_span().unwrap_or((first, first));
    let end = clock.rfc3339(span.1);
    let room = bins.saturating_sub(start.len());
    lines.push(Line::styled(format!("{start}{end:>room$}"), DIM));

    let lo = first + cursor as u64 * width;
    let offset = lo.saturating_sub(c.window_start);
    lines.push(Line::from(vec![
        Span::styled("cursor  ", BOLD),
        Span::raw(format!(
            "{}  (+{:.3} s)  {}{} events in {:.3} ms",
            clock.rfc3339(lo),
            offset as f64 / 1e9,
            if exact.is_some() { "" } else { "~" },
            thousands(counts[cursor].round() as u64),
            width as f64 / 1e6
        )),
    ]));
    let alert_text: Vec<String> = meta
        .alerts
        .iter()
        .filter(|a| {
            bin_of(a.received_boot_ns) == cursor && shown(a.received_boot_ns, a.received_boot_ns)
        })
        .map(|a| format!("{}: {}", printable(&a.source), printable(&a.summary)))
        .collect();
    lines.push(if alert_text.is_empty() {
        Line::raw("")
    } else {
        Line::styled(format!("alert   {}", alert_text.join("; ")), YELLOW)
    });
    lines.push(match (app.timeline.mark, app.range.is_all()) {
        (Some(m), _) => Line::styled(
            format!(
                "marked from {} (Enter narrows every view to the marked bins, Space unmarks)",
                clock.rfc3339(m)
            ),
            Style::new().fg(Color::Blue),
        ),
        (None, false) => Line::styled(
            format!("selected range {} (T clears)", app.range_text()),
            YELLOW,
        ),
        (None, true) => Line::styled(
            "▲ alert  ! recorder drops  ✗ damaged file  — Space marks a start, Enter selects, + zooms",
            DIM,
        ),
    });
    let title = if app.timeline.zoom.is_empty() {
        format!(
            " Timeline: {} events over {:.3} s ",
            thousands(c.total_events()),
            (width * bins as u64) as f64 / 1e9
        )
    } else {
        let window = c.window.map_or(0, |w| w.1 - w.0);
        format!(
            " Timeline: zoomed in ({} of {}, level {}; - zooms out): {}{} events{} ",
            duration_text(span.1 - span.0),
            duration_text(window),
            app.timeline.zoom.len(),
            if exact.is_some() { "" } else { "~" },
            thousands(counts.iter().sum::<f64>().round() as u64),
            if exact.is_some() {
                ""
            } else {
                " (estimated from the index)"
            }
        )
    };
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), area);
}
