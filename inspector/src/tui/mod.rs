//! The terminal UI: `aftertrace-inspector FILE` on a terminal.
//!
//! Built the way gitui and yazi are: the state ([`App`]) has no terminal I/O; key presses
//! are mapped to [`Action`]s (`keys`) that [`App::update`] applies; rendering (`render`)
//! takes `&App` and only draws; loading, filtering and searching run on background
//! threads that report as actions over a channel (`aftertrace_analysis::session`, `rows`). Only `term` touches the
//! terminal. So every screen can be drawn into ratatui's `TestBackend`, and `update` tested
//! with no terminal at all.
//!
//! Views: Overview, Timeline (zoomable), Processes, Commands, Events, Containers; Scripts,
//! Sessions (a transcript: typed lines and output) and Network (follow-stream, both
//! directions interleaved) wait for the reconstruction library.

mod app;
mod keys;
mod layout;
mod render;
mod rows;
mod term;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;

pub use aftertrace_analysis::session::{Analysis, Capture, Counts};
pub use app::{
    Action, App, ContainerRow, Effect, EventDetail, EventsState, Follow, ListState, Prompt,
    PromptKind, TreeRow, View,
};
pub use keys::{map_key, KEYS};
pub use render::draw;
pub use rows::{RowSet, RowText, Seg, SegRows};
pub use term::run;

/// Applies every report the background sends until it has nothing under way (or
/// `timeout` passes). For tests and benchmarks: the TUI itself never blocks on this.
pub fn settle(app: &mut App, rx: &Receiver<Action>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while app.busy() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match rx.recv_timeout(left) {
            Ok(a) => app.update(a),
            Err(_) => return,
        }
    }
    while let Ok(a) = rx.try_recv() {
        app.update(a);
    }
}

/// The Overview's text, one string per line (what it shows and what `/` searches there).
pub fn overview_lines(app: &App) -> Vec<String> {
    render::overview::lines(app)
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

/// Draws `app` into a `width` x `height` TestBackend, returning the terminal.
pub fn render_to_test_backend(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(width, height)).expect("a TestBackend");
    t.draw(|f| draw(f, app))
        .expect("drawing into a TestBackend");
    t
}

/// Screen size the benchmarks draw at: a common full-screen terminal.
const BENCH_SIZE: (u16, u16) = (160, 48);

/// Time from "open `path`" to the first drawn screen that shows the capture (the Overview
/// from the metadata and the index), through the library's update and render path into a
/// TestBackend. The full pass goes on in the background and is not waited for.
pub fn bench_first_screen(path: &Path) -> Duration {
    let start = Instant::now();
    let (mut app, rx) = App::open(path);
    app.update(Action::Resize {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
    });
    let mut terminal =
        Terminal::new(TestBackend::new(BENCH_SIZE.0, BENCH_SIZE.1)).expect("a TestBackend");
    while app.capture.is_none() && app.failed.is_none() {
        match rx.recv() {
            Ok(a) => app.update(a),
            Err(_) => break,
        }
    }
    let _ = terminal.draw(|f| draw(f, &app));
    start.elapsed()
}

/// The keys [`bench_keypresses`] cycles through in the Events view: paging and jumps that
/// reach groups not yet decoded, and single steps.
pub const BENCH_KEYS: &[&str] = &[
    "PageDown", "PageDown", "Down", "Down", "End", "Up", "PageUp", "Home", "PageDown", "Down",
];

/// Opens `path`, waits for the background pass (not timed), goes to the Events view, then
/// times `n` key presses, each as `update` plus a full render into a TestBackend. Besides
/// [`BENCH_KEYS`], every fifth press jumps to a different part of the capture (a
/// "go to the process's events" style seek), so the chunk cache is exercised cold.
pub fn bench_keypresses(path: &Path, n: usize) -> Vec<Duration> {
    let (mut app, rx) = App::open(path);
    app.update(Action::Resize {
        width: BENCH_SIZE.0,
        height: BENCH_SIZE.1,
    });
    settle(&mut app, &rx, Duration::from_secs(600));
    app.update(Action::Goto(View::Events));
    let mut terminal =
        Terminal::new(TestBackend::new(BENCH_SIZE.0, BENCH_SIZE.1)).expect("a TestBackend");
    let _ = terminal.draw(|f| draw(f, &app));
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let action = if i % 5 == 4 {
            // A seek: the cursor lands somewhere else in the capture.
            let len = app.events.rows.len();
            let k = (i as u64).wrapping_mul(7919) % 1000;
            Action::JumpTo(len.saturating_mul(k) / 1000)
        } else {
            match BENCH_KEYS[i % BENCH_KEYS.len()] {
                "PageDown" => Action::PageDown,
                "PageUp" => Action::PageUp,
                "Down" => Action::Down,
                "Up" => Action::Up,
                "End" => Action::End,
                _ => Action::Home,
            }
        };
        let t = Instant::now();
        app.update(action);
        let _ = terminal.draw(|f| draw(f, &app));
        times.push(t.elapsed());
    }
    times
}
