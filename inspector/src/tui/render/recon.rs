//! Scripts and files, Sessions, Network: the views over the reconstruction
//! (`crate::reconstruct`): each a list, and below it the selected artifact's content (text
//! or hex, gaps marked where they are), a session's transcript (typed lines and the output
//! between them, in order, with times), or a connection's follow-stream (both directions
//! interleaved in time order, client and server in their own colours, or one direction;
//! text or hex).

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::output::reconstruct::gaps_text;
use ratatui::style::{Color, Style};

use crate::reconstruct::{Artifact, Connection, Gap, Session};
use crate::style::printable;

use super::super::app::{App, Follow, View};
use super::super::layout::panes;
use super::{
    boxed, fit, list_rows, thousands, BOLD, CURSOR, CYAN, DIM, GREEN, HEADER, RED, YELLOW,
};

/// At most this much content is laid out: the rest is a note (the export has it all).
const SHOW_BYTES: usize = 64 << 10;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(r) = &app.recon else {
        let text = if app.analysis.is_some() {
            "Replaying the capture to recover scripts, files, sessions and connections…"
        } else {
            "Reading the capture… (then replaying it for scripts, sessions and connections)"
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, CYAN))
                .block(boxed(format!(" {} ", app.view.title()))),
            area,
        );
        return;
    };
    let p = panes(app.view, area);
    let rows = list_rows(p.list);
    let width = usize::from(p.list.width.saturating_sub(2));
    let (header, list, cursor, top, title, detail, detail_title): (
        String,
        Vec<Line>,
        usize,
        usize,
        String,
        Vec<Line>,
        String,
    ) = match app.view {
        View::Scripts => {
            // Only the rows on screen are laid out (a capture can hold many thousands).
            let items: Vec<Line> = app
                .scripts_rows
                .iter()
                .skip(app.scripts.top)
                .take(rows)
                .map(|&(script, i)| {
                    let a = if script { &r.scripts[i] } else { &r.files[i] };
                    artifact_line(a)
                })
                .collect();
            let detail = app
                .artifact()
                .map(|a| artifact_detail(a, app.hex))
                .unwrap_or_default();
            (
                format!(
                    "{:<5} {:<16} {:>9} {:<9} {:>7} {:<10} WHAT",
                    "ID", "SOURCE", "BYTES", "WHOLE", "PID", "RUNS WITH"
                ),
                items,
                app.scripts.cursor,
                app.scripts.top,
                format!(
                    " Scripts and files: {} scripts, {} other files written ",
                    r.scripts.len(),
                    r.files.iter().filter(|a| !a.is_script).count()
                ),
                detail,
                format!(
                    " Content ({}; x: text/hex, w: export) ",
                    if app.hex { "hex" } else { "text" }
                ),
            )
        }
        View::Sessions => {
            let items: Vec<Line> = app
                .sessions_rows
                .iter()
                .skip(app.sessions.top)
                .take(rows)
                .map(|&i| {
                    let s = &r.sessions[i];
                    Line::from(vec![
                        Span::styled(format!("{:<5} ", s.id), CYAN),
                        Span::raw(fit(&printable(&s.tty), 14) + " "),
                        Span::raw(fit(&printable(s.user.as_deref().unwrap_or("?")), 10) + " "),
                        Span::raw(
                            fit(
                                &printable(s.container_name.as_deref().unwrap_or("host")),
                                14,
                            ) + " ",
                        ),
                        Span::raw(format!("{:>6} ", s.lines.len())),
                        Span::raw(format!("{:>9} ", thousands(s.output_bytes))),
                        Span::styled(
                            s.shell
                                .as_ref()
                                .map(|p| printable(&p.command()).into_owned())
                                .unwrap_or_default(),
                            BOLD,
                        ),
                    ])
                })
                .collect();
            let detail = detail(app).map(|d| d.0).unwrap_or_default();
            (
                format!(
                    "{:<5} {:<14} {:<10} {:<14} {:>6} {:>9} SHELL",
                    "ID", "TTY", "USER", "CONTAINER", "LINES", "OUTPUT"
                ),
                items,
                app.sessions.cursor,
                app.sessions.top,
                format!(" Sessions: {} ", r.sessions.len()),
                detail,
                " Transcript: typed ($) and output, in order ([/] scroll) ".into(),
            )
        }
        _ => {
            let items: Vec<Line> = app
                .net_rows
                .iter()
                .skip(app.net.top)
                .take(rows)
                .map(|&i| {
                    let c = &r.connections[i];
                    let failed = c.error.is_some();
                    Line::from(vec![
                        Span::styled(format!("{:<5} ", c.id), CYAN),
                        Span::raw(format!(
                            "{:<6} {:<9} ",
                            fit(&c.protocol, 6),
                            fit(c.direction, 9)
                        )),
                        Span::raw(fit(&printable(c.local.as_deref().unwrap_or("?")), 22) + " "),
                        Span::styled(
                            fit(&printable(c.remote.as_deref().unwrap_or("?")), 22) + " ",
                            if failed { RED } else { BOLD },
                        ),
                        Span::raw(format!(
                            "{:>7} {:>10} {:>10} ",
                            c.pid.map_or("?".into(), |p| p.to_string()),
                            thousands(c.out.bytes),
                            thousands(c.inn.bytes)
                        )),
                        Span::styled(
                            c.error.map(|e| format!("failed ({e})")).unwrap_or_else(|| {
                                printable(c.container_name.as_deref().unwrap_or("host"))
                                    .into_owned()
                            }),
                            if failed { RED } else { DIM },
                        ),
                    ])
                })
                .collect();
            let detail = detail(app).map(|d| d.0).unwrap_or_default();
            (
                format!(
                    "{:<5} {:<6} {:<9} {:<22} {:<22} {:>7} {:>10} {:>10} CONTAINER",
                    "ID", "PROTO", "DIRECTION", "LOCAL", "REMOTE", "PID", "SENT", "RECEIVED"
                ),
                items,
                app.net.cursor,
                app.net.top,
                format!(" Network: {} connections and sockets ", r.connections.len()),
                detail,
                format!(
                    " Follow stream: {}, {} (d: both/client/server, x: text/hex) ",
                    app.follow.label(),
                    if app.hex { "hex" } else { "text" }
                ),
            )
        }
    };
    let mut lines = vec![Line::styled(fit(&header, width), HEADER)];
    let empty = list.is_empty();
    // `list` holds the rows from `top` on.
    for (i, l) in list.into_iter().enumerate().map(|(k, l)| (k + top, l)) {
        lines.push(if i == cursor {
            l.patch_style(CURSOR)
        } else {
            l
        });
    }
    if empty {
        lines.push(Line::styled(
            match app.view {
                View::Scripts => "no script or file was written, read by an interpreter or passed to one in the range",
                View::Sessions => "no interactive terminal session in the range",
                _ => "no connection in the range",
            },
            DIM,
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(boxed(title)), p.list);
    if let Some(d) = p.detail {
        frame.render_widget(
            Paragraph::new(detail)
                .wrap(Wrap { trim: false })
                .scroll((app.content_top.min(usize::from(u16::MAX)) as u16, 0))
                .block(boxed(detail_title)),
            d,
        );
    }
}

/// The content pane of Sessions (the selected session's transcript) or Network (the
/// selected connection's follow-stream), and the lines `{`/`}` jump between (typed lines;
/// runs of one direction).
pub fn detail(app: &App) -> Option<(Vec<Line<'static>>, Vec<usize>)> {
    let r = app.recon.as_ref()?;
    match app.view {
        View::Sessions => {
            let s = r
                .sessions
                .get(*app.sessions_rows.get(app.sessions.cursor)?)?;
            let mut out = vec![Line::from(vec![
                Span::styled("session ", BOLD),
                Span::raw(format!(
                    "{} on {}  {} .. {}  {} bytes typed, {} bytes shown{}",
                    s.id,
                    printable(&s.tty),
                    s.start.as_deref().unwrap_or("?"),
                    s.end.as_deref().unwrap_or("?"),
                    thousands(s.input_bytes),
                    thousands(s.output_bytes),
                    if s.cut_records > 0 {
                        format!(", {} records cut", s.cut_records)
                    } else {
                        String::new()
                    }
                )),
            ])];
            let (lines, anchors) = replay_lines(s);
            out.extend(lines);
            Some((out, anchors.into_iter().map(|a| a + 1).collect()))
        }
        View::Network => {
            let c = r.connections.get(*app.net_rows.get(app.net.cursor)?)?;
            let mut out = vec![Line::from(vec![
                Span::styled("connection ", BOLD),
                Span::raw(format!(
                    "{} {} {}  {} -> {}  {}",
                    c.id,
                    c.protocol,
                    c.direction,
                    printable(c.local.as_deref().unwrap_or("?")),
                    printable(c.remote.as_deref().unwrap_or("?")),
                    c.processes
                        .iter()
                        .map(|p| format!("{} {}", p.pid, printable(&p.command())))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ])];
            let (lines, anchors) = follow_lines(c, app.follow, app.hex);
            out.extend(lines);
            Some((out, anchors.into_iter().map(|a| a + 1).collect()))
        }
        _ => None,
    }
}

/// The time of day out of an RFC 3339 time.
fn short(rfc3339: &str) -> &str {
    rfc3339
        .split_once('T')
        .map_or(rfc3339, |(_, t)| t.get(..15).unwrap_or(t))
}

fn artifact_line(a: &Artifact) -> Line<'static> {
    let what = a
        .path
        .clone()
        .unwrap_or_else(|| a.processes.first().map(|p| p.command()).unwrap_or_default());
    let mut flags = Vec::new();
    if a.executable {
        flags.push("exec".to_owned());
    }
    if let Some(p) = a.persistence {
        flags.push(format!("persistence:{p}"));
    }
    if a.deleted.is_some() {
        flags.push("deleted".into());
    }
    Line::from(vec![
        Span::styled(format!("{:<5} ", a.id), CYAN),
        Span::raw(fit(a.source, 16) + " "),
        Span::raw(format!("{:>9} ", thousands(a.size))),
        Span::styled(
            format!("{:<9} ", if a.complete { "yes" } else { "GAPS" }),
            if a.complete { GREEN } else { RED },
        ),
        Span::raw(format!(
            "{:>7} ",
            a.pid.map_or("?".into(), |p| p.to_string())
        )),
        Span::raw(fit(&printable(a.interpreter.as_deref().unwrap_or("-")), 10) + " "),
        Span::styled(printable(&what).into_owned(), BOLD),
        Span::styled(
            if flags.is_empty() {
                String::new()
            } else {
                format!("  [{}]", flags.join(", "))
            },
            YELLOW,
        ),
    ])
}

fn artifact_detail(a: &Artifact, hex: bool) -> Vec<Line<'static>> {
    let kv =
        |k: &str, v: String| Line::from(vec![Span::styled(format!("{k:<9}"), BOLD), Span::raw(v)]);
    let mut out = vec![
        kv(
            "artifact",
            format!(
                "{}  {}  {} bytes  {}",
                a.id,
                printable(a.path.as_deref().unwrap_or(a.source)),
                thousands(a.size),
                a.first_time.as_deref().unwrap_or("")
            ),
        ),
        kv("sha256", a.sha256.clone()),
    ];
    if !a.gaps.is_empty() {
        out.push(Line::from(vec![
            Span::styled(format!("{:<9}", "gaps"), BOLD),
            Span::styled(gaps_text(&a.gaps), RED),
        ]));
    }
    // Identical copies are common (the same one-liner run a hundred times): one entry.
    let same: Vec<&str> = a
        .links
        .iter()
        .filter(|l| l.relation == "same-content")
        .filter_map(|l| l.id.as_deref())
        .collect();
    let mut links: Vec<String> = a
        .links
        .iter()
        .filter(|l| l.relation != "same-content")
        .map(|l| {
            let mut s = l.relation.to_owned();
            if let Some(id) = &l.id {
                s.push_str(&format!(" {id}"));
            }
            if let Some(pid) = l.pid {
                s.push_str(&format!(" pid {pid}"));
            }
            if let Some(argv) = &l.argv {
                s.push_str(&format!(" ({})", printable(&argv.join(" "))));
            }
            s
        })
        .collect();
    if !same.is_empty() {
        let more = same.len().saturating_sub(6);
        let mut s = format!("same content as {}", same[..same.len().min(6)].join(" "));
        if more > 0 {
            s.push_str(&format!(" and {more} more"));
        }
        links.push(s);
    }
    if !links.is_empty() {
        out.push(kv("links", links.join("; ")));
    }
    out.push(Line::raw(""));
    out.extend(content_lines(&a.bytes, &a.gaps, hex));
    out
}

/// A session's replay: each typed line (`$`) and the output after it, with its time and
/// process; output lines after the first are aligned under it.
fn replay_lines(s: &Session) -> (Vec<Line<'static>>, Vec<usize>) {
    let mut out = Vec::new();
    let mut typed = Vec::new();
    for t in &s.replay {
        let time = short(&t.time).to_owned();
        if let Some(l) = t.line.and_then(|i| s.lines.get(i)) {
            let mut spans = vec![
                Span::styled(format!("{time} "), DIM),
                Span::styled(format!("{:>7} ", t.pid), CYAN),
                Span::styled("$ ", GREEN),
                Span::styled(printable(&l.text).into_owned(), BOLD),
            ];
            let end = format!("{:?}", l.end).to_lowercase();
            if end != "enter" {
                spans.push(Span::styled(format!("  ({end})"), YELLOW));
            }
            if l.approximate {
                spans.push(Span::styled("  (edited: approximate)", YELLOW));
            }
            if l.incomplete {
                spans.push(Span::styled("  (keys missing)", YELLOW));
            }
            typed.push(out.len());
            out.push(Line::from(spans));
            continue;
        }
        for (i, text) in t.text.lines().enumerate() {
            let lead = if i == 0 {
                vec![
                    Span::styled(format!("{time} "), DIM),
                    Span::styled(format!("{:>7}   ", t.pid), DIM),
                ]
            } else {
                vec![Span::raw(" ".repeat(time.chars().count() + 11))]
            };
            let mut spans = lead;
            spans.push(Span::raw(printable(text).into_owned()));
            out.push(Line::from(spans));
        }
    }
    if out.is_empty() {
        out.push(Line::styled("nothing typed or shown", DIM));
    }
    (out, typed)
}

/// The client's and the server's colours, as Wireshark's "Follow TCP stream" has them.
pub const CLIENT: Style = Style::new().fg(Color::LightRed);
pub const SERVER: Style = Style::new().fg(Color::LightBlue);

/// Who sent each direction of `c`: labels and colours of (out, in). An outbound
/// connection is the client's end; an accepted one the server's; other sockets have a
/// sending and a receiving side only.
fn roles(c: &Connection) -> ((&'static str, Style), (&'static str, Style)) {
    match c.direction {
        "outbound" => (("client", CLIENT), ("server", SERVER)),
        "inbound" => (("server", SERVER), ("client", CLIENT)),
        _ => (("sent", CLIENT), ("received", SERVER)),
    }
}

/// A connection's follow-stream: a line per direction (bytes, sha256, gaps), then its
/// data: both directions interleaved in time order, each run of one direction under a
/// header with its time and process, in that direction's colour; or one direction whole.
fn follow_lines(c: &Connection, follow: Follow, hex: bool) -> (Vec<Line<'static>>, Vec<usize>) {
    let ((out_label, out_style), (in_label, in_style)) = roles(c);
    let mut lines = Vec::new();
    for (label, style, arrow, s) in [
        (out_label, out_style, "→", &c.out),
        (in_label, in_style, "←", &c.inn),
    ] {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{arrow} {label:<8} "),
                style.add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} bytes, sha256 {}",
                thousands(s.bytes),
                &s.sha256[..s.sha256.len().min(16)]
            )),
            Span::styled(
                if s.gaps.is_empty() {
                    String::new()
                } else {
                    format!("  gaps: {}", gaps_text(&s.gaps))
                },
                RED,
            ),
        ]));
    }
    lines.push(Line::raw(""));
    // Client-only and server-only name the direction by role; a socket with neither
    // takes "client" as what it sent.
    let client_is_out = c.direction != "inbound";
    let only = match follow {
        Follow::Both => None,
        Follow::Client => Some(client_is_out),
        Follow::Server => Some(!client_is_out),
    };
    if let Some(out) = only {
        let (s, style) = if out {
            (&c.out, out_style)
        } else {
            (&c.inn, in_style)
        };
        if s.raw.is_empty() {
            lines.push(Line::styled("no data this way", DIM));
        }
        lines.extend(content_lines_at(&s.raw, &s.gaps, hex, 0, style, true));
        return (lines, Vec::new());
    }
    if c.segments.is_empty() {
        if c.out.raw.is_empty() && c.inn.raw.is_empty() {
            lines.push(Line::styled("no data either way", DIM));
        }
        // No record of when (the data came only from a snapshot's peer): one after the
        // other.
        lines.extend(content_lines_at(
            &c.out.raw,
            &c.out.gaps,
            hex,
            0,
            out_style,
            true,
        ));
        lines.extend(content_lines_at(
            &c.inn.raw,
            &c.inn.gaps,
            hex,
            0,
            in_style,
            true,
        ));
        return (lines, Vec::new());
    }
    let mut shown = 0usize;
    let mut runs = Vec::new();
    let mut i = 0;
    while i < c.segments.len() {
        // A run: consecutive sends (or receives) that follow each other in the stream.
        let first = &c.segments[i];
        let out = first.is_out();
        let start = first.offset;
        let mut end = first.offset + first.len;
        let mut j = i + 1;
        while let Some(g) = c.segments.get(j) {
            if g.is_out() != out || g.offset != end {
                break;
            }
            end += g.len;
            j += 1;
        }
        let (s, label, style, arrow) = if out {
            (&c.out, out_label, out_style, "→")
        } else {
            (&c.inn, in_label, in_style, "←")
        };
        runs.push(lines.len());
        lines.push(Line::styled(
            format!(
                "{arrow} {label} {}  pid {}  {} bytes{}",
                short(&first.time),
                first.pid,
                thousands(end - start),
                if j - i > 1 {
                    format!(" in {} {}", j - i, if out { "sends" } else { "receives" })
                } else {
                    String::new()
                }
            ),
            style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ));
        let lo = (start as usize).min(s.raw.len());
        let hi = (end as usize).min(s.raw.len());
        let room = SHOW_BYTES.saturating_sub(shown);
        let hi_shown = hi.min(lo + room);
        let gaps: Vec<Gap> = gap_ranges(&s.gaps)
            .into_iter()
            .filter(|&(a, b)| b > lo as u64 && a < hi_shown as u64)
            .map(|(a, b)| Gap {
                offset: Some(a.max(lo as u64) - lo as u64),
                len: Some(b.min(hi_shown as u64) - a.max(lo as u64)),
                cause: crate::reconstruct::Cause::Missing,
            })
            .collect();
        lines.extend(content_lines_at(
            &s.raw[lo..hi_shown],
            &gaps,
            hex,
            lo,
            style,
            true,
        ));
        shown += hi_shown - lo;
        if shown >= SHOW_BYTES {
            lines.push(Line::styled(
                format!(
                    "… the rest is not shown here: cat {id}.out / {id}.in on the command line has it all",
                    id = c.id
                ),
                DIM,
            ));
            break;
        }
        i = j;
    }
    (lines, runs)
}

/// Known gap ranges, as `[start, end)` byte offsets.
fn gap_ranges(gaps: &[Gap]) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = gaps
        .iter()
        .filter_map(|g| Some((g.offset?, g.offset? + g.len?)))
        .collect();
    v.sort_unstable();
    v
}

/// The bytes as text lines (control characters escaped) or a hex dump; the known gaps
/// shown in place, in red, instead of the zeros that fill them.
fn content_lines(bytes: &[u8], gaps: &[Gap], hex: bool) -> Vec<Line<'static>> {
    content_lines_at(bytes, gaps, hex, 0, Style::new(), false)
}

/// As [`content_lines`], for bytes that start at offset `base` of their stream (the hex
/// dump's addresses), in `style`; with `crlf`, the text view ends lines at `\r\n` as at
/// `\n` (network protocols' line ends; the hex dump shows every byte).
fn content_lines_at(
    bytes: &[u8],
    gaps: &[Gap],
    hex: bool,
    base: usize,
    style: Style,
    crlf: bool,
) -> Vec<Line<'static>> {
    let shown = &bytes[..bytes.len().min(SHOW_BYTES)];
    let holes = gap_ranges(gaps);
    let in_gap = |o: usize| {
        holes
            .iter()
            .any(|&(a, b)| (o as u64) >= a && (o as u64) < b)
    };
    let mut out = Vec::new();
    if hex {
        for (n, row) in shown.chunks(16).enumerate() {
            let at = n * 16;
            let mut spans = vec![Span::styled(format!("{:08x}  ", base + at), DIM)];
            for (i, b) in row.iter().enumerate() {
                let style = if in_gap(at + i) { RED } else { style };
                spans.push(Span::styled(format!("{b:02x} "), style));
            }
            spans.push(Span::raw("   ".repeat(16 - row.len())));
            let ascii: String = row
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            spans.push(Span::styled(format!(" {ascii}"), DIM));
            out.push(Line::from(spans));
        }
    } else {
        // Split at gaps, then at newlines.
        let mut spans: Vec<Span<'static>> = Vec::new();
        let mut pos = 0usize;
        let flush_text =
            |text: &[u8], spans: &mut Vec<Span<'static>>, out: &mut Vec<Line<'static>>| {
                let s = String::from_utf8_lossy(text);
                let mut parts = s.split('\n').peekable();
                while let Some(part) = parts.next() {
                    let part = match part.strip_suffix('\r') {
                        Some(p) if crlf && parts.peek().is_some() => p,
                        _ => part,
                    };
                    spans.push(Span::styled(printable(part).into_owned(), style));
                    if parts.peek().is_some() {
                        out.push(Line::from(std::mem::take(spans)));
                    }
                }
            };
        for &(a, b) in &holes {
            let (a, b) = (a as usize, (b as usize).min(shown.len()));
            if a >= shown.len() || a < pos {
                continue;
            }
            flush_text(&shown[pos..a], &mut spans, &mut out);
            spans.push(Span::styled(
                format!("[{} bytes missing]", b - a),
                RED.add_modifier(Modifier::REVERSED),
            ));
            pos = b;
        }
        flush_text(&shown[pos..], &mut spans, &mut out);
        if !spans.is_empty() {
            out.push(Line::from(spans));
        }
    }
    if bytes.len() > shown.len() {
        out.push(Line::styled(
            format!(
                "… {} more bytes (w exports them all)",
                thousands((bytes.len() - shown.len()) as u64)
            ),
            DIM,
        ));
    }
    out
}
