//! Where things go on the screen, as pure functions of its size, so that `update` (which
//! pages and scrolls) and `render` (which draws) always agree. Every split degrades to
//! fewer panes as the terminal shrinks; nothing here can underflow.

use ratatui::layout::{Constraint, Layout, Rect};

use super::app::View;

pub struct Areas {
    pub tabs: Rect,
    pub status: Rect,
    pub main: Rect,
    pub footer: Rect,
}

/// The screen: the tab bar, a status line, the view, and the footer (`footer_lines` tall:
/// key hints, or the prompt and its error).
pub fn areas(screen: Rect, footer_lines: u16) -> Areas {
    let [tabs, status, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(footer_lines),
    ])
    .areas(screen);
    Areas {
        tabs,
        status,
        main,
        footer,
    }
}

/// A view's list and, when there is room, its detail pane.
pub struct Panes {
    pub list: Rect,
    pub detail: Option<Rect>,
}

pub fn panes(view: View, main: Rect) -> Panes {
    let below = |rows: u16, min_main: u16| {
        if main.height >= min_main {
            let [list, detail] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(rows)]).areas(main);
            Panes {
                list,
                detail: Some(detail),
            }
        } else {
            Panes {
                list: main,
                detail: None,
            }
        }
    };
    match view {
        View::Processes if main.width >= 110 => {
            let [list, detail] =
                Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                    .areas(main);
            Panes {
                list,
                detail: Some(detail),
            }
        }
        View::Processes => below(main.height / 2, 16),
        View::Events => below(main.height.min(30) * 2 / 5, 14),
        View::Commands => below(8, 16),
        View::Containers => below(9, 16),
        // The content (a script, a session's lines, a stream) gets most of the room.
        View::Scripts | View::Sessions | View::Network => {
            let list = (main.height / 3).clamp(5, 14);
            below(main.height.saturating_sub(list), 14)
        }
        _ => Panes {
            list: main,
            detail: None,
        },
    }
}

/// Rows a bordered list with a header line shows.
pub fn list_rows(list: Rect) -> usize {
    usize::from(list.height.saturating_sub(3))
}

/// Rows of the list of `view` on a screen of `size` with `footer_lines` of footer.
pub fn view_rows(view: View, width: u16, height: u16, footer_lines: u16) -> usize {
    let a = areas(Rect::new(0, 0, width, height), footer_lines);
    list_rows(panes(view, a.main).list).max(1)
}

/// Columns of the Timeline's chart on a screen of `size` (one bin per column).
pub fn timeline_bins(width: u16) -> usize {
    usize::from(width.saturating_sub(2)).max(1)
}
