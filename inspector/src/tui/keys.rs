//! The key map: one table ([`KEYS`]) that the help screen and the README list, and the
//! mapping from a key press to an [`Action`] given what has the focus (help, a prompt, the
//! current view). Only this module knows crossterm's key events.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{Action, App, PromptKind, View};

/// Every key: (keys, where, what). The help screen shows exactly this.
pub const KEYS: &[(&str, &str, &str)] = &[
    ("Tab / Shift-Tab", "anywhere", "next / previous view"),
    ("1 .. 9", "anywhere", "go to a view: 1 Overview, 2 Timeline, 3 Processes, 4 Commands, 5 Events, 6 Containers, 7 Scripts, 8 Sessions, 9 Network"),
    ("Enter", "Processes", "the process's events (its pid over its lifetime)"),
    ("Enter", "Commands, Events", "the process in the tree"),
    ("Enter", "Containers", "the container's events"),
    (
        "Enter",
        "Scripts, Sessions, Network",
        "the process that wrote, ran or opened it, in the tree",
    ),
    ("Enter", "Timeline", "narrow every view to the marked range (or the bin under the cursor)"),
    (
        "+ (or =)",
        "Timeline",
        "zoom in: show only the marked bins; without a mark, the selected range (t), else half the span around the cursor",
    ),
    ("-", "Timeline", "zoom out to the span shown before"),
    ("Enter", "Overview", "narrow every view to 5 s around the first alert"),
    ("Esc", "anywhere", "back: close the prompt or help, else return to the previous view, filter and range"),
    ("Up/Down, k/j", "lists", "move one row"),
    ("PgUp/PgDn, Ctrl-b/Ctrl-f", "lists", "move one page"),
    ("Home/End, g/G", "lists", "first / last row"),
    ("Left/Right, h/l", "Processes", "collapse / expand (Left on a leaf goes to the parent)"),
    ("Space", "Processes", "collapse or expand"),
    ("- / +", "Processes", "collapse all / expand all"),
    ("Left/Right, h/l", "Timeline", "move the cursor one bin (PgUp/PgDn: ten)"),
    ("Space", "Timeline", "mark where the range starts (again: unmark)"),
    ("x", "Scripts, Network", "content as text or as a hex dump"),
    (
        "d",
        "Network",
        "follow stream: both directions interleaved in time order (client red, server blue), the client's only, the server's only",
    ),
    ("[ / ]", "Scripts, Sessions, Network", "scroll the content pane up / down"),
    (
        "{ / }",
        "Sessions, Network",
        "scroll the content pane to the previous / next typed line (Sessions) or run of one direction (Network)",
    ),
    (
        "w",
        "Scripts",
        "export the exact bytes (gaps zero-filled) to CAPTURE-ID.bin in the current directory",
    ),
    ("/", "anywhere", "search this view with a regex (case-insensitive unless it has capitals)"),
    ("n / N", "anywhere", "next / previous match"),
    ("f", "anywhere", "filter in the filter language (filter/README.md); empty clears"),
    ("F", "anywhere", "clear the filter"),
    ("t", "anywhere", "time range: SINCE..UNTIL, each RFC 3339 or +DURATION from the start (+1.5s..+3s); empty clears"),
    ("T", "anywhere", "clear the time range"),
    ("?", "anywhere", "this help"),
    ("q, Ctrl-c", "anywhere", "quit"),
    ("Enter / Esc", "prompt", "apply / cancel; Left/Right, Home/End, Backspace, Delete edit"),
];

/// The action a key press asks for, if any.
pub fn map_key(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.prompt.is_some() {
        return Some(match key.code {
            KeyCode::Enter => Action::Submit,
            KeyCode::Esc => Action::Cancel,
            KeyCode::Backspace => Action::Backspace,
            KeyCode::Delete => Action::Delete,
            KeyCode::Left => Action::CursorLeft,
            KeyCode::Right => Action::CursorRight,
            KeyCode::Home => Action::CursorHome,
            KeyCode::End => Action::CursorEnd,
            KeyCode::Char('u') if ctrl => Action::ClearInput,
            KeyCode::Char(c) if !ctrl => Action::Input(c),
            _ => return None,
        });
    }
    if app.help {
        return Some(match key.code {
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
            KeyCode::Char('q') => Action::Quit,
            _ => Action::Help,
        });
    }
    let view = app.view;
    let recon = matches!(view, View::Scripts | View::Sessions | View::Network);
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='9') => Action::Goto(View::ALL[(c as u8 - b'1') as usize]),
        KeyCode::Enter => Action::Enter,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('/') => Action::Open(PromptKind::Search),
        KeyCode::Char('f') if ctrl => Action::PageDown,
        KeyCode::Char('b') if ctrl => Action::PageUp,
        KeyCode::Char('f') => Action::Open(PromptKind::Filter),
        KeyCode::Char('F') => Action::ClearFilter,
        KeyCode::Char('t') => Action::Open(PromptKind::Time),
        KeyCode::Char('T') => Action::ClearRange,
        KeyCode::Char('n') => Action::SearchNext,
        KeyCode::Char('N') => Action::SearchPrev,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Left | KeyCode::Char('h') => Action::Left,
        KeyCode::Right | KeyCode::Char('l') => Action::Right,
        KeyCode::Char(' ') => Action::Toggle,
        KeyCode::Char('-') if view == View::Processes => Action::CollapseAll,
        KeyCode::Char('+') if view == View::Processes => Action::ExpandAll,
        KeyCode::Char('+' | '=') if view == View::Timeline => Action::ZoomIn,
        KeyCode::Char('-') if view == View::Timeline => Action::ZoomOut,
        KeyCode::Char('x') if matches!(view, View::Scripts | View::Network) => Action::ToggleHex,
        KeyCode::Char('d') if view == View::Network => Action::FollowDirection,
        KeyCode::Char(']') if recon => Action::ScrollContent(10),
        KeyCode::Char('[') if recon => Action::ScrollContent(-10),
        KeyCode::Char('}') if matches!(view, View::Sessions | View::Network) => {
            Action::JumpContent { forward: true }
        }
        KeyCode::Char('{') if matches!(view, View::Sessions | View::Network) => {
            Action::JumpContent { forward: false }
        }
        KeyCode::Char('w') if view == View::Scripts => Action::Export,
        _ => return None,
    };
    Some(action)
}
