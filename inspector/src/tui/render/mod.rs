//! Drawing: every function here takes the state by shared reference and only draws.

pub mod commands;
pub mod containers;
pub mod events;
pub mod overview;
pub mod procs;
pub mod recon;
pub mod timeline;

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::app::{App, View};
use super::keys::KEYS;
use super::layout::{self, areas};

pub const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
pub const DIM: Style = Style::new().fg(Color::DarkGray);
pub const CURSOR: Style = Style::new().add_modifier(Modifier::REVERSED);
pub const HEADER: Style = Style::new()
    .add_modifier(Modifier::BOLD)
    .add_modifier(Modifier::UNDERLINED);
pub const RED: Style = Style::new().fg(Color::Red);
pub const GREEN: Style = Style::new().fg(Color::Green);
pub const YELLOW: Style = Style::new().fg(Color::Yellow);
pub const CYAN: Style = Style::new().fg(Color::Cyan);

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let screen = frame.area();
    if screen.width < 20 || screen.height < 6 {
        frame.render_widget(
            Paragraph::new("terminal too small").wrap(Wrap { trim: true }),
            screen,
        );
        return;
    }
    let a = areas(screen, app.footer_lines());
    draw_tabs(frame, app, a.tabs);
    draw_status(frame, app, a.status);
    if let Some(err) = &app.failed {
        let p = Paragraph::new(vec![
            Line::styled(
                "The capture could not be opened:",
                RED.add_modifier(Modifier::BOLD),
            ),
            Line::raw(""),
            Line::raw(err.clone()),
            Line::raw(""),
            Line::raw("q quits."),
        ])
        .wrap(Wrap { trim: false })
        .block(Block::bordered().title(" aftertrace "));
        frame.render_widget(p, a.main);
    } else {
        match app.view {
            View::Overview => overview::draw(frame, app, a.main),
            View::Timeline => timeline::draw(frame, app, a.main),
            View::Processes => procs::draw(frame, app, a.main),
            View::Commands => commands::draw(frame, app, a.main),
            View::Events => events::draw(frame, app, a.main),
            View::Containers => containers::draw(frame, app, a.main),
            View::Scripts | View::Sessions | View::Network => recon::draw(frame, app, a.main),
        }
    }
    draw_footer(frame, app, a.footer);
    if app.help {
        draw_help(frame, app, a.main);
    }
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let titles: Vec<Line> = View::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| Line::from(format!("{} {}", i + 1, v.title())))
        .collect();
    let tabs = Tabs::new(titles)
        .select(app.view.index())
        .highlight_style(CURSOR.add_modifier(Modifier::BOLD))
        .divider("│")
        .padding(" ", " ");
    frame.render_widget(tabs, area);
}

/// Short file name, range, filter, progress; or the latest message.
fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let name = app
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| app.path.display().to_string());
    let mut spans = vec![Span::styled(
        crate::style::printable(&name).into_owned(),
        BOLD,
    )];
    if !app.range.is_all() {
        spans.push(Span::raw("  range "));
        spans.push(Span::styled(app.range_text(), YELLOW));
    }
    if let Some(f) = &app.filter {
        spans.push(Span::raw("  filter "));
        spans.push(Span::styled(
            crate::style::printable(f.source()).into_owned(),
            YELLOW,
        ));
    }
    if app.capture.is_none() && app.failed.is_none() {
        spans.push(Span::styled("  opening…", CYAN));
    } else if let Some((done, total)) = app.progress {
        spans.push(Span::styled(
            format!("  indexing {}% ", (done * 100 / total.max(1)).min(100)),
            CYAN,
        ));
        spans.push(Span::styled(bar(done, total, 10), CYAN));
    } else if app.analysis.is_none() && app.failed.is_none() {
        spans.push(Span::styled("  indexing…", CYAN));
    }
    if let Some(s) = &app.search {
        if let Some((_, scanned, of)) = s.pending {
            spans.push(Span::styled(
                format!("  searching /{}/ {}%", s.text, scanned * 100 / of.max(1)),
                CYAN,
            ));
        }
    }
    if let Some(m) = &app.message {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(m.clone(), GREEN));
    }
    if let Some(n) = app.narrowing() {
        spans.push(Span::styled(format!("  ({n})"), DIM));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A progress bar `width` cells wide.
pub fn bar(done: u64, total: u64, width: usize) -> String {
    let filled = (done.min(total) as u128 * width as u128 / u128::from(total.max(1))) as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(width - filled))
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let Some(p) = &app.prompt else {
        let hints = match app.view {
            View::Processes => "Enter events  ←/→ collapse/expand  / search  f filter  t time  Tab views  Esc back  ? help  q quit",
            View::Timeline => "←/→ move  Space mark  Enter narrow to range  +/- zoom  T clear  Tab views  Esc back  ? help  q quit",
            View::Events => "↑/↓ PgUp/PgDn g/G move  Enter process  / search  f filter  t time  Esc back  ? help  q quit",
            View::Commands => "Enter process  / search  f filter  t time  Tab views  Esc back  ? help  q quit",
            View::Containers => "Enter events  / search  f filter  t time  Tab views  Esc back  ? help  q quit",
            View::Overview => "Tab/1-9 views  Enter around alert  f filter  t time  / search  ? help  q quit",
            View::Scripts => "Enter process  x text/hex  w export  [/] scroll content  / search  f filter  t time  Esc back  ? help  q quit",
            View::Sessions => "Enter process  [/] scroll  {/} previous/next typed line  / search  f filter  t time  Esc back  ? help  q quit",
            View::Network => "Enter process  d both/client/server  x text/hex  [/] scroll  {/} runs  f filter  t time  ? help  q quit",
        };
        frame.render_widget(Paragraph::new(Line::styled(hints, DIM)), area);
        return;
    };
    let label = p.kind.label();
    let [line, err] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    // Scroll the input so the cursor stays visible on narrow screens.
    let room = usize::from(area.width)
        .saturating_sub(label.width() + 1)
        .max(1);
    let skip = p.cursor.saturating_sub(room);
    let shown: String = p.text.chars().skip(skip).collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(label, YELLOW.add_modifier(Modifier::BOLD)),
            Span::raw(shown),
        ])),
        line,
    );
    let before: usize = p
        .text
        .chars()
        .skip(skip)
        .take(p.cursor - skip)
        .map(|c| c.width().unwrap_or(0))
        .sum();
    let x = area.x + (label.width() + before).min(usize::from(area.width) - 1) as u16;
    frame.set_cursor_position(Position::new(x, line.y));
    if let Some((col, msg)) = &p.error {
        let at: usize = p
            .text
            .chars()
            .skip(skip)
            .take(col.saturating_sub(skip))
            .map(|c| c.width().unwrap_or(0))
            .sum();
        let pad = " ".repeat(label.width() + at);
        frame.render_widget(
            Paragraph::new(Line::styled(format!("{pad}^ {msg}"), RED)),
            err,
        );
    }
}

fn draw_help(frame: &mut Frame, app: &App, main: Rect) {
    let w = main.width.saturating_sub(4).min(110);
    let h = main.height.saturating_sub(2);
    let area = Rect::new(
        main.x + (main.width - w) / 2,
        main.y + (main.height - h) / 2,
        w,
        h,
    );
    frame.render_widget(Clear, area);
    let keys_w = KEYS.iter().map(|k| k.0.width()).max().unwrap_or(0);
    let where_w = KEYS.iter().map(|k| k.1.width()).max().unwrap_or(0);
    let mut lines = vec![Line::styled(
        format!("{:keys_w$}  {:where_w$}  what", "key", "where"),
        HEADER,
    )];
    // The descriptions wrap in their own column.
    let room = usize::from(w.saturating_sub(2))
        .saturating_sub(keys_w + where_w + 4)
        .max(10);
    for (keys, place, what) in KEYS.iter().skip(app.help_top) {
        for (i, part) in wrap_words(what, room).into_iter().enumerate() {
            let (k, p) = if i == 0 { (*keys, *place) } else { ("", "") };
            lines.push(Line::from(vec![
                Span::styled(format!("{k:keys_w$}"), YELLOW),
                Span::raw("  "),
                Span::styled(format!("{p:where_w$}"), DIM),
                Span::raw("  "),
                Span::raw(part),
            ]));
        }
    }
    let p = Paragraph::new(lines).wrap(Wrap { trim: false }).block(
        Block::bordered()
            .title(" keys (↑/↓ scroll, any other key closes) ")
            .title_style(BOLD),
    );
    frame.render_widget(p, area);
}

/// `text` in lines of at most `width` columns, broken at spaces where possible.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let sep = usize::from(!line.is_empty());
        if !line.is_empty() && line.width() + sep + word.width() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push(line);
    out
}

/// A bordered box for a view, with a title.
pub fn boxed(title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, BOLD))
}

/// `s` cut to `width` columns (with `…` when cut) and padded to it.
pub fn fit(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    let total = s.width();
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if total > width && w + cw + 1 > width {
            out.push('…');
            w += 1;
            break;
        }
        if w + cw > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    out
}

/// A number with thousands separators.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A "loading" placeholder for views that need the full pass.
pub fn loading(frame: &mut Frame, app: &App, area: Rect, title: &str) {
    let text = match app.progress {
        Some((d, t)) => format!(
            "Reading every chunk to build the process tree… {}%  {}",
            d * 100 / t.max(1),
            bar(d, t, 20)
        ),
        None => "Reading the capture…".into(),
    };
    frame.render_widget(
        Paragraph::new(Line::styled(text, CYAN)).block(boxed(format!(" {title} "))),
        area,
    );
}

/// Rows a list shows; the same as `layout::list_rows`.
pub fn list_rows(area: Rect) -> usize {
    layout::list_rows(area)
}
