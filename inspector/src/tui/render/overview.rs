//! The first screen: where and when, the alerts, how much, who was busiest, what is
//! missing, and whether the file is whole. Everything but the breakdowns comes from the
//! metadata and the chunk index, so it shows before any chunk is decoded.

use std::collections::BTreeMap;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::style::printable;
use crate::views::tree_command;

use super::super::app::App;
use super::{bar, boxed, thousands, BOLD, CYAN, DIM, GREEN, RED, YELLOW};

fn label(k: &str) -> Span<'static> {
    Span::styled(format!("{k:<12}"), BOLD)
}

fn section(title: &str) -> Line<'static> {
    Line::styled(title.to_owned(), BOLD.fg(ratatui::style::Color::Cyan))
}

/// The Overview's lines (also what `/` searches there).
pub fn lines(app: &App) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    let Some(c) = &app.capture else {
        out.push(Line::styled("Opening the capture…", CYAN));
        return out;
    };
    let meta = c.reader.metadata();
    let clock = c.lookups.clock();
    let host = meta.host.as_ref();
    let or = |s: Option<&String>| s.map_or("unknown".into(), |s| printable(s).into_owned());
    // What the capture's source could not record (a converted .scap file: containers,
    // alerts, losses): shown as unknown, not as none.
    let not_recorded = |what: &str| {
        host.and_then(|h| h.settings.get("not_recorded"))
            .is_some_and(|v| v.split_whitespace().any(|w| w == what))
    };
    out.push(Line::from(vec![
        label("file"),
        Span::raw(printable(&c.path.display().to_string()).into_owned()),
    ]));
    out.push(Line::from(vec![
        label("host"),
        Span::raw(or(host.map(|h| &h.hostname))),
        Span::styled(
            host.map(|h| {
                format!(
                    "  kernel {}  {}  {} CPU(s)  recorder {}",
                    printable(&h.kernel_release),
                    printable(&h.arch),
                    h.cpu_count,
                    printable(&h.recorder_version)
                )
            })
            .unwrap_or_default(),
            DIM,
        ),
    ]));
    match c.window {
        Some((first, last)) => out.push(Line::from(vec![
            label("window"),
            Span::raw(format!(
                "{} .. {}  ({:.3} s)",
                clock.rfc3339(first),
                clock.rfc3339(last),
                (last - first) as f64 / 1e9
            )),
        ])),
        None => out.push(Line::from(vec![label("window"), Span::raw("no events")])),
    }
    if !app.range.is_all() || app.filter.is_some() {
        let mut spans = vec![label("selected")];
        if !app.range.is_all() {
            spans.push(Span::styled(format!("range {}", app.range_text()), YELLOW));
            spans.push(Span::raw(format!(
                "  (~{} events by the index)",
                thousands(c.estimate_in(app.range))
            )));
        }
        if let Some(f) = &app.filter {
            spans.push(Span::styled(
                format!("  filter {}", printable(f.source())),
                YELLOW,
            ));
        }
        out.push(Line::from(spans));
    }

    // Alerts.
    out.push(Line::raw(""));
    out.push(section(&format!("Alerts ({})", meta.alerts.len())));
    if meta.alerts.is_empty() && not_recorded("alerts") {
        out.push(Line::styled(
            "  unknown: the capture's source does not record alerts",
            DIM,
        ));
    } else if meta.alerts.is_empty() {
        out.push(Line::styled(
            "  none: sealed by hand, by a signal or at the end of a recording",
            DIM,
        ));
    }
    for a in &meta.alerts {
        let payload_time = a
            .payload_time
            .as_deref()
            .map(|t| format!("  (payload time {})", printable(t)))
            .unwrap_or_default();
        out.push(Line::from(vec![
            Span::styled("  ▲ ", YELLOW),
            Span::raw(clock.rfc3339(a.received_boot_ns)),
            Span::raw("  "),
            Span::styled(printable(&a.source).into_owned(), BOLD),
            Span::raw(": "),
            Span::styled(printable(&a.summary).into_owned(), YELLOW),
            Span::styled(payload_time, DIM),
        ]));
    }

    // What a storm did: split windows, alerts counted instead of kept, throttled rules.
    let mut storm = crate::summary::Summary::default();
    storm.read_storm(meta);
    for line in storm.storm_lines() {
        out.push(Line::styled(format!("  ⚠ {}", printable(&line)), YELLOW));
    }

    // Counts.
    out.push(Line::raw(""));
    out.push(section("Events"));
    let mut counts = vec![
        label("  recorded"),
        Span::raw(format!(
            "{} in {} chunk(s)",
            thousands(c.total_events()),
            c.reader.chunks().len()
        )),
    ];
    match (&app.analysis, app.progress) {
        (Some(a), _) => counts.push(Span::raw(format!(
            ": {} syscalls ({} failed), {} execs, {} forks, {} exits",
            thousands(a.counts.syscalls),
            thousands(a.counts.failed),
            thousands(a.counts.execs),
            thousands(a.counts.forks),
            thousands(a.counts.exits)
        ))),
        (None, Some((d, t))) => counts.push(Span::styled(
            format!("  counting… {}% {}", d * 100 / t.max(1), bar(d, t, 10)),
            CYAN,
        )),
        (None, None) => counts.push(Span::styled("  counting…", CYAN)),
    }
    out.push(Line::from(counts));
    if let Some(a) = &app.analysis {
        out.push(Line::from(vec![
            label("  processes"),
            Span::raw(format!(
                "{} ({} began before the window)",
                thousands(a.tree.processes().len() as u64),
                a.tree
                    .processes()
                    .iter()
                    .filter(|p| p.origin == crate::procs::Origin::Snapshot)
                    .count()
            )),
        ]));
    }

    // Containers, busiest first.
    out.push(Line::raw(""));
    out.push(section(&format!("Containers ({})", meta.containers.len())));
    let mut by_container: Vec<(u64, String)> = meta
        .containers
        .iter()
        .map(|ct| {
            let n = app.analysis.as_ref().map_or(0, |a| {
                ct.cgroup_ids
                    .iter()
                    .map(|cg| a.by_cgroup.get(cg).copied().unwrap_or(0))
                    .sum()
            });
            let about = [
                ct.name.as_deref(),
                ct.image.as_deref(),
                Some(ct.runtime.as_str()),
            ]
            .into_iter()
            .flatten()
            .map(|s| printable(s).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
            (
                n,
                format!("{} ({about})", ct.id.chars().take(12).collect::<String>()),
            )
        })
        .collect();
    by_container.sort_by_key(|c| std::cmp::Reverse(c.0));
    if by_container.is_empty() && not_recorded("containers") {
        out.push(Line::styled(
            "  unknown: the capture's source does not record containers",
            DIM,
        ));
    } else if by_container.is_empty() {
        out.push(Line::styled("  none: every process ran on the host", DIM));
    }
    for (n, text) in by_container.iter().take(5) {
        let count = if app.analysis.is_some() {
            format!("{:>12} syscalls  ", thousands(*n))
        } else {
            String::new()
        };
        out.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(count, DIM),
            Span::raw(text.clone()),
        ]));
    }
    if by_container.len() > 5 {
        out.push(Line::styled(
            format!("  … {} more (6 Containers)", by_container.len() - 5),
            DIM,
        ));
    }

    // Busiest processes.
    if let Some(a) = &app.analysis {
        out.push(Line::raw(""));
        out.push(section("Busiest processes"));
        let mut ids: Vec<usize> = (0..a.tree.processes().len()).collect();
        ids.sort_by_key(|&i| std::cmp::Reverse(a.tree.processes()[i].syscalls));
        for &i in ids.iter().take(5) {
            let p = &a.tree.processes()[i];
            if p.syscalls == 0 {
                break;
            }
            let cmd: String = printable(&tree_command(p)).chars().take(100).collect();
            out.push(Line::from(vec![
                Span::styled(format!("  {:>12} syscalls  ", thousands(p.syscalls)), DIM),
                Span::styled(format!("{:>7} ", p.pid), CYAN),
                Span::raw(cmd),
            ]));
        }
    }

    // Losses.
    out.push(Line::raw(""));
    out.push(section("Drops and gaps"));
    let mut by_cause: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for d in meta.drops.entries.iter().filter(|d| d.pid.is_none()) {
        let e = by_cause.entry(d.cause.as_str()).or_insert((0, u64::MAX, 0));
        e.0 += d.count;
        e.1 = e.1.min(d.from);
        e.2 = e.2.max(d.to);
    }
    if by_cause.is_empty() && not_recorded("losses") {
        out.push(Line::styled(
            "  unknown: the capture's source keeps no loss ledger",
            YELLOW,
        ));
    } else if by_cause.is_empty() {
        out.push(Line::styled("  no loss counted by the recorder", GREEN));
    }
    for (cause, (n, from, to)) in &by_cause {
        // `unreadable` counts parameters whose user memory could not be read, in records
        // that were kept; every other cause is records lost.
        let (what, style) = if *cause == "unreadable" {
            ("unreadable", YELLOW)
        } else {
            ("lost", RED)
        };
        out.push(Line::from(vec![
            Span::styled(format!("  {:>12} {what}  ", thousands(*n)), style),
            Span::raw(format!(
                "{}  between {} and {}",
                printable(cause),
                clock.rfc3339(*from),
                clock.rfc3339(*to)
            )),
        ]));
    }
    let mut lost_pids: Vec<(u32, u64)> = meta
        .drops
        .entries
        .iter()
        .filter_map(|d| Some((d.pid?, d.count)))
        .collect();
    lost_pids.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    if !lost_pids.is_empty() {
        let list: Vec<String> = lost_pids
            .iter()
            .take(8)
            .map(|(p, n)| format!("pid {p}: {n}"))
            .collect();
        out.push(Line::styled(
            format!("  most losses by process: {}", list.join(", ")),
            DIM,
        ));
    }

    // Integrity.
    out.push(Line::raw(""));
    out.push(section("Integrity"));
    let damage = c.reader.damage();
    if damage.is_empty() && app.analysis.as_ref().is_none_or(|a| a.errors.is_empty()) {
        out.push(Line::styled(
            "  intact: the index and every block's framing hold (chunk checksums are checked as they are read)",
            GREEN,
        ));
    }
    if let Some(why) = &damage.index_unusable {
        out.push(Line::styled(
            format!(
                "  DAMAGED: the index could not be used ({}); the file was read by scanning forward",
                printable(why)
            ),
            RED,
        ));
    }
    for l in &damage.lost {
        let when = match (l.after_ts, l.before_ts) {
            (Some(a), Some(b)) => format!(
                "events between {} and {} may be missing",
                clock.rfc3339(a),
                clock.rfc3339(b)
            ),
            (Some(a), None) => format!("events after {} may be missing", clock.rfc3339(a)),
            (None, Some(b)) => format!("events before {} may be missing", clock.rfc3339(b)),
            (None, None) => "no event time is known around it".into(),
        };
        out.push(Line::styled(
            format!(
                "  LOST bytes {}..{} ({} bytes): {}; {when}",
                l.start,
                l.end,
                thousands(l.end - l.start),
                printable(&l.reason)
            ),
            RED,
        ));
    }
    if let Some(a) = &app.analysis {
        for e in &a.errors {
            out.push(Line::styled(
                format!("  unreadable chunk: {}", printable(e)),
                RED,
            ));
        }
    }
    out
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let lines = lines(app);
    let inner_h = usize::from(area.height.saturating_sub(2));
    let top = app.overview_top.min(lines.len().saturating_sub(inner_h));
    // Long lines (damage reports, command lines) wrap rather than vanish at the edge.
    let p = Paragraph::new(lines)
        .wrap(ratatui::widgets::Wrap { trim: false })
        .scroll((top.min(u16::MAX as usize) as u16, 0))
        .block(boxed(" Overview ".into()));
    frame.render_widget(p, area);
}
