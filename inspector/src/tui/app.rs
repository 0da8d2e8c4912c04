//! The TUI's state and its one entry point for change, [`App::update`]. No terminal I/O
//! here: key presses arrive already mapped to [`Action`]s (see `keys`), background work
//! reports as actions too, and rendering reads the state without changing it. What a
//! render needs that takes work (the Events rows on screen, the tree's visible rows) is
//! computed here, after each action, for the screen size the last `Resize` gave.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use aftertrace_filter::{Context as _, Filter};
use capture_format::BootNs;
use regex::Regex;

use crate::context::CaptureContext;
use crate::events::EventRow;
use crate::procs::{ProcId, ProcessTree};
use crate::select::{TimeRange, TimeSpec};
use crate::style::{printable, shell_words, Style};
use crate::views::tree_order;
use aftertrace_analysis::selection::Selection;

use super::layout;
use super::rows::{
    row_text, spawn_filter, spawn_search, FilterBatch, Generation, GroupCache, RowSet, RowText,
};
use crate::reconstruct::Reconstruction;
use aftertrace_analysis::session::{spawn_loader, Analysis, Capture, LoadEvent};

/// The views, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Overview,
    Timeline,
    Processes,
    Commands,
    Events,
    Containers,
    Scripts,
    Sessions,
    Network,
}

impl View {
    pub const ALL: [View; 9] = [
        View::Overview,
        View::Timeline,
        View::Processes,
        View::Commands,
        View::Events,
        View::Containers,
        View::Scripts,
        View::Sessions,
        View::Network,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Timeline => "Timeline",
            View::Processes => "Processes",
            View::Commands => "Commands",
            View::Events => "Events",
            View::Containers => "Containers",
            View::Scripts => "Scripts",
            View::Sessions => "Sessions",
            View::Network => "Network",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|&v| v == self).unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    Search,
    Filter,
    Time,
}

impl PromptKind {
    pub fn label(self) -> &'static str {
        match self {
            PromptKind::Search => "/",
            PromptKind::Filter => "filter: ",
            PromptKind::Time => "time: ",
        }
    }
}

/// A line being typed, and what was wrong with it when last submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// In characters.
    pub cursor: usize,
    /// The column (0-based, in characters) the error points at, and the message.
    pub error: Option<(usize, String)>,
}

/// Everything that changes the state: what keys ask for, and what background work reports.
pub enum Action {
    Quit,
    NextView,
    PrevView,
    Goto(View),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Left,
    Right,
    Toggle,
    CollapseAll,
    ExpandAll,
    /// Scripts, Network: text / hex.
    ToggleHex,
    /// Network: follow both directions, the client's, the server's.
    FollowDirection,
    /// Timeline: show only the marked bins (else the selected range, else half the span
    /// around the cursor).
    ZoomIn,
    /// Timeline: back to the span shown before the last zoom.
    ZoomOut,
    /// Scripts: write the artifact's exact bytes to a file in the current directory.
    Export,
    /// Scrolls the content pane of Scripts, Sessions and Network (lines; negative: up).
    ScrollContent(isize),
    /// Sessions, Network: scrolls the content pane to the next (or previous) typed line,
    /// or run of one direction of the stream.
    JumpContent {
        forward: bool,
    },
    /// Drill down.
    Enter,
    /// Close the prompt or help, else go back through the history.
    Back,
    Help,
    Open(PromptKind),
    Input(char),
    Backspace,
    Delete,
    CursorLeft,
    CursorRight,
    CursorHome,
    CursorEnd,
    ClearInput,
    Submit,
    Cancel,
    SearchNext,
    SearchPrev,
    ClearFilter,
    ClearRange,
    /// Puts the Events cursor on this row.
    JumpTo(u64),
    Resize {
        width: u16,
        height: u16,
    },
    // From the background.
    Opened(Arc<Capture>),
    OpenFailed(String),
    Progress {
        done: u64,
        total: u64,
    },
    Analyzed(Arc<Analysis>),
    Reconstructed(Arc<Reconstruction>),
    FilterRows(FilterBatch),
    SearchProgress {
        gen: u64,
        scanned: usize,
        of: usize,
    },
    SearchDone {
        gen: u64,
        pos: Option<u64>,
    },
    /// An [`Effect`] was carried out: what to tell the user.
    Done(String),
}

/// I/O that `update` asks for and the terminal loop carries out, so that `update` stays
/// pure (and testable with no file system effects).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Write `bytes` to a new file at `path` (never over an existing one).
    Export {
        path: PathBuf,
        bytes: Arc<Vec<u8>>,
        /// The start of the artifact's sha256, for the message.
        sha256: String,
        /// Whether gaps were zero-filled.
        gaps: bool,
    },
}

impl Effect {
    /// Carries the effect out; the action reports how it went.
    pub fn perform(self) -> Action {
        match self {
            Effect::Export {
                path,
                bytes,
                sha256,
                gaps,
            } => {
                let name = path.display();
                let result = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes));
                Action::Done(match result {
                    Ok(()) => format!(
                        "wrote {} bytes to {name} (sha256 {sha256}{})",
                        bytes.len(),
                        if gaps { "; gaps zero-filled" } else { "" }
                    ),
                    Err(e) => format!("cannot write {name}: {e}"),
                })
            }
        }
    }
}

/// The loader's stages arrive on the UI's own channel, as actions.
impl From<LoadEvent> for Action {
    fn from(e: LoadEvent) -> Action {
        match e {
            LoadEvent::Opened(c) => Action::Opened(c),
            LoadEvent::OpenFailed(e) => Action::OpenFailed(e),
            LoadEvent::Progress { done, total } => Action::Progress { done, total },
            LoadEvent::Analyzed(a) => Action::Analyzed(a),
            LoadEvent::Reconstructed(r) => Action::Reconstructed(r),
        }
    }
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Action::Opened(_) => "Opened",
            Action::Analyzed(_) => "Analyzed",
            Action::Reconstructed(_) => "Reconstructed",
            Action::FilterRows(b) => return write!(f, "FilterRows({}/{})", b.scanned, b.of),
            Action::OpenFailed(e) => return write!(f, "OpenFailed({e})"),
            _ => "Action",
        };
        f.write_str(name)
    }
}

/// A cursor and the first row shown, over a list of `len` rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub cursor: usize,
    pub top: usize,
}

impl ListState {
    fn step(&mut self, len: usize, delta: isize) {
        if len == 0 {
            self.cursor = 0;
            return;
        }
        let c = self.cursor as isize + delta;
        self.cursor = c.clamp(0, len as isize - 1) as usize;
    }

    /// Keeps the cursor inside the list and on screen (`rows` tall).
    pub fn fit(&mut self, len: usize, rows: usize) {
        let rows = rows.max(1);
        self.cursor = self.cursor.min(len.saturating_sub(1));
        if self.cursor < self.top {
            self.top = self.cursor;
        }
        if self.cursor >= self.top + rows {
            self.top = self.cursor + 1 - rows;
        }
        self.top = self.top.min(len.saturating_sub(rows));
    }
}

/// One visible line of the process tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeRow {
    pub id: ProcId,
    pub depth: usize,
    /// Per level, whether that ancestor (and last, this node) is the last of its siblings.
    pub last: Vec<bool>,
    /// Shown children.
    pub kids: usize,
    pub collapsed: bool,
    /// False for an ancestor shown only for context.
    pub matched: bool,
}

#[derive(Default)]
pub struct ProcsState {
    pub list: ListState,
    pub rows: Vec<TreeRow>,
    pub collapsed: HashSet<ProcId>,
    /// Processes with an event the filter selects (from the filter's scan).
    pub hits: Vec<bool>,
    dirty: bool,
}

/// What the Events view shows of the selected event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventDetail {
    pub fields: Vec<(String, String)>,
    pub data: Option<String>,
}

#[derive(Default)]
pub struct EventsState {
    pub rows: RowSet,
    pub cursor: u64,
    pub top: u64,
    /// The rows on screen: position, and the row (None: its chunk could not be read).
    pub visible: Vec<(u64, Option<RowText>)>,
    pub detail: Option<EventDetail>,
    /// Groups the filter has scanned, of how many.
    pub scanned: Option<(usize, usize)>,
    dirty: bool,
    /// The list height `visible` was computed for.
    rows_for: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineState {
    pub cursor: Option<BootNs>,
    pub mark: Option<BootNs>,
    /// The spans zoomed into, innermost last (first and last time shown); empty: the
    /// whole window.
    pub zoom: Vec<(BootNs, BootNs)>,
}

/// Which directions of a connection the Network view's follow-stream shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Follow {
    /// Both, interleaved in time order.
    #[default]
    Both,
    /// What the client sent (for a connection with no client or server: this end).
    Client,
    /// What the server sent (else: the other end).
    Server,
}

impl Follow {
    pub fn label(self) -> &'static str {
        match self {
            Follow::Both => "both directions",
            Follow::Client => "client only",
            Follow::Server => "server only",
        }
    }
}

/// A container (or the host) in the Containers view.
pub use aftertrace_analysis::selection::ContainerRow;

pub struct SearchState {
    pub text: String,
    pub regex: Regex,
    /// A background search of the Events rows: its generation and progress.
    pub pending: Option<(u64, usize, usize)>,
}

/// Where the responder was, for Esc.
#[derive(Clone)]
pub struct Location {
    pub view: View,
    pub filter: Option<Filter>,
    pub range: TimeRange,
    pub events_cursor: u64,
}

pub struct App {
    pub path: PathBuf,
    pub capture: Option<Arc<Capture>>,
    pub analysis: Option<Arc<Analysis>>,
    pub failed: Option<String>,
    /// Events of the full pass so far, of the index's total.
    pub progress: Option<(u64, u64)>,
    pub view: View,
    pub history: Vec<Location>,
    pub range: TimeRange,
    pub filter: Option<Filter>,
    pub prompt: Option<Prompt>,
    pub help: bool,
    pub help_top: usize,
    /// A one-line note for the status bar (what just happened).
    pub message: Option<String>,
    /// I/O asked for by `update`, not yet carried out ([`App::take_effects`]).
    effects: Vec<Effect>,
    pub width: u16,
    pub height: u16,
    pub quit: bool,
    pub search: Option<SearchState>,
    pub overview_top: usize,
    pub timeline: TimelineState,
    pub procs: ProcsState,
    /// Commands shown: indices into the analysis's commands.
    pub commands_rows: Vec<usize>,
    pub commands: ListState,
    pub events: EventsState,
    pub containers_rows: Vec<ContainerRow>,
    pub containers: ListState,
    /// Scripts and files, sessions, connections, once replayed.
    pub recon: Option<Arc<Reconstruction>>,
    /// Rows of the Scripts view: `(true, i)` a script, `(false, i)` a file that is not one;
    /// of the Sessions and Network views: indices. All within the time range.
    pub scripts_rows: Vec<(bool, usize)>,
    pub scripts: ListState,
    pub sessions_rows: Vec<usize>,
    pub sessions: ListState,
    pub net_rows: Vec<usize>,
    pub net: ListState,
    /// Content shown as a hex dump rather than text.
    pub hex: bool,
    /// The Network view's follow-stream directions.
    pub follow: Follow,
    /// Events per Timeline bin counted from the events themselves, for a zoomed span
    /// whose chunks are few enough to decode at once: (first, bin width, bins, counts).
    pub timeline_counts: Option<(BootNs, u64, usize, Vec<f64>)>,
    /// How far the Scripts, Sessions and Network content pane is scrolled.
    pub content_top: usize,
    cache: GroupCache,
    filter_gens: Generation,
    search_gens: Generation,
    tx: Sender<Action>,
    cancel: Arc<AtomicBool>,
}

impl Drop for App {
    fn drop(&mut self) {
        // Stops the loader's pass and any filter or search scan.
        self.cancel.store(true, Ordering::Relaxed);
        self.filter_gens.bump();
        self.search_gens.bump();
    }
}

impl App {
    /// A TUI state for `path` whose loading has not started; background work reports to
    /// `tx`.
    pub fn new(path: &Path, tx: Sender<Action>) -> App {
        App {
            path: path.to_path_buf(),
            capture: None,
            analysis: None,
            failed: None,
            progress: None,
            view: View::Overview,
            history: Vec::new(),
            range: TimeRange::default(),
            filter: None,
            prompt: None,
            help: false,
            help_top: 0,
            message: None,
            effects: Vec::new(),
            width: 80,
            height: 24,
            quit: false,
            search: None,
            overview_top: 0,
            timeline: TimelineState::default(),
            procs: ProcsState::default(),
            commands_rows: Vec::new(),
            commands: ListState::default(),
            events: EventsState::default(),
            containers_rows: Vec::new(),
            containers: ListState::default(),
            recon: None,
            scripts_rows: Vec::new(),
            scripts: ListState::default(),
            sessions_rows: Vec::new(),
            sessions: ListState::default(),
            net_rows: Vec::new(),
            net: ListState::default(),
            hex: false,
            follow: Follow::Both,
            timeline_counts: None,
            content_top: 0,
            cache: GroupCache::default(),
            filter_gens: Generation::default(),
            search_gens: Generation::default(),
            tx,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A TUI state for `path`, loading on a background thread; feed what arrives on the
    /// receiver to [`App::update`].
    pub fn open(path: &Path) -> (App, Receiver<Action>) {
        let (tx, rx) = channel();
        let app = App::new(path, tx.clone());
        spawn_loader(path.to_path_buf(), tx, Arc::clone(&app.cancel));
        (app, rx)
    }

    /// Whether background work is still under way (loading, a filter or a search scan).
    pub fn busy(&self) -> bool {
        (self.capture.is_none() && self.failed.is_none())
            || (self.analysis.is_none() && self.failed.is_none())
            || (self.recon.is_none() && self.failed.is_none())
            || !self.events.rows.complete && self.filter.is_some()
            || self.search.as_ref().is_some_and(|s| s.pending.is_some())
    }

    /// Lines the footer takes: 2 while a prompt shows an error.
    pub fn footer_lines(&self) -> u16 {
        match &self.prompt {
            Some(p) if p.error.is_some() => 2,
            _ => 1,
        }
    }

    fn rows_of(&self, view: View) -> usize {
        layout::view_rows(view, self.width, self.height, self.footer_lines())
    }

    /// The tree events are described with: the full one once built, else the snapshots'.
    pub fn tree(&self) -> Option<&ProcessTree> {
        match (&self.analysis, &self.capture) {
            (Some(a), _) => Some(&a.tree),
            (None, Some(c)) => Some(&c.snapshot_tree),
            _ => None,
        }
    }

    /// Applies one action, then brings what the screen shows up to date.
    pub fn update(&mut self, action: Action) {
        self.apply(action);
        self.refresh();
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Quit => self.quit = true,
            Action::Resize { width, height } => {
                self.width = width;
                self.height = height;
                self.events.dirty = true;
            }
            Action::Opened(c) => {
                let first = c.window.map(|w| w.0);
                self.timeline.cursor = first;
                self.capture = Some(c);
                self.reselect();
            }
            Action::OpenFailed(e) => self.failed = Some(e),
            Action::Progress { done, total } => self.progress = Some((done, total)),
            Action::Analyzed(a) => {
                self.progress = None;
                if !a.errors.is_empty() {
                    self.message = Some(format!(
                        "{} chunk(s) could not be read (see Overview)",
                        a.errors.len()
                    ));
                }
                self.analysis = Some(a);
                self.reselect();
            }
            Action::Reconstructed(r) => {
                self.recon = Some(r);
                self.select_recon();
            }
            Action::FilterRows(batch) => self.filter_rows(batch),
            Action::SearchProgress { gen, scanned, of } => {
                if let Some(s) = &mut self.search {
                    if s.pending.is_some_and(|p| p.0 == gen) {
                        s.pending = Some((gen, scanned, of));
                    }
                }
            }
            Action::SearchDone { gen, pos } => self.search_done(gen, pos),
            Action::Help => {
                self.help = !self.help;
                self.help_top = 0;
            }
            _ if self.help => self.help_key(action),
            Action::Open(kind) => self.open_prompt(kind),
            Action::Input(_)
            | Action::Backspace
            | Action::Delete
            | Action::CursorLeft
            | Action::CursorRight
            | Action::CursorHome
            | Action::CursorEnd
            | Action::ClearInput => self.edit(action),
            Action::Submit => self.submit(),
            Action::Cancel => self.prompt = None,
            Action::Back => self.back(),
            Action::NextView => {
                let i = (self.view.index() + 1) % View::ALL.len();
                self.go(View::ALL[i]);
            }
            Action::PrevView => {
                let i = (self.view.index() + View::ALL.len() - 1) % View::ALL.len();
                self.go(View::ALL[i]);
            }
            Action::Goto(v) => self.go(v),
            Action::ClearFilter => {
                self.push_history();
                self.set_selection(None, self.range);
            }
            Action::ClearRange => {
                self.push_history();
                self.timeline.mark = None;
                self.set_selection(self.filter.clone(), TimeRange::default());
            }
            Action::SearchNext => self.search_again(true),
            Action::SearchPrev => self.search_again(false),
            Action::Enter => self.enter(),
            Action::JumpTo(pos) => {
                self.events.cursor = pos;
                self.events.dirty = true;
            }
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.page(-1),
            Action::PageDown => self.page(1),
            Action::Home => self.step(isize::MIN / 2),
            Action::End => self.step(isize::MAX / 2),
            Action::ToggleHex => {
                self.hex = !self.hex;
                self.content_top = 0;
            }
            Action::FollowDirection => {
                self.follow = match self.follow {
                    Follow::Both => Follow::Client,
                    Follow::Client => Follow::Server,
                    Follow::Server => Follow::Both,
                };
                self.content_top = 0;
            }
            Action::ZoomIn => self.zoom_in(),
            Action::ZoomOut => self.zoom_out(),
            Action::ScrollContent(d) => {
                self.content_top = (self.content_top as isize).saturating_add(d).max(0) as usize;
            }
            Action::Export => self.export(),
            Action::Done(message) => self.message = Some(message),
            Action::JumpContent { forward } => self.jump_content(forward),
            Action::Left
            | Action::Right
            | Action::Toggle
            | Action::CollapseAll
            | Action::ExpandAll => self.view_key(action),
        }
    }

    fn help_key(&mut self, action: Action) {
        match action {
            Action::Up => self.help_top = self.help_top.saturating_sub(1),
            Action::Down => self.help_top += 1,
            Action::PageUp => self.help_top = self.help_top.saturating_sub(10),
            Action::PageDown => self.help_top += 10,
            Action::Back | Action::Cancel => self.help = false,
            _ => {}
        }
        self.help_top = self.help_top.min(super::keys::KEYS.len().saturating_sub(1));
    }

    // ------------------------------------------------------------------ navigation

    fn push_history(&mut self) {
        self.history.push(Location {
            view: self.view,
            filter: self.filter.clone(),
            range: self.range,
            events_cursor: self.events.cursor,
        });
        // A long session need not remember every step.
        if self.history.len() > 200 {
            self.history.remove(0);
        }
    }

    fn go(&mut self, view: View) {
        if view != self.view {
            self.push_history();
            self.view = view;
            self.message = None;
            // The content pane is another view's.
            self.content_top = 0;
        }
    }

    fn back(&mut self) {
        if self.prompt.take().is_some() {
            return;
        }
        let Some(loc) = self.history.pop() else {
            self.message = Some("nothing to go back to (q quits)".into());
            return;
        };
        let same_filter =
            self.filter.as_ref().map(Filter::source) == loc.filter.as_ref().map(Filter::source);
        if !same_filter || self.range != loc.range {
            self.set_selection(loc.filter, loc.range);
        }
        self.view = loc.view;
        self.events.cursor = loc.events_cursor;
        self.events.dirty = true;
        self.message = None;
    }

    /// A new filter and time range for every view.
    fn set_selection(&mut self, filter: Option<Filter>, range: TimeRange) {
        self.filter = filter;
        self.range = range;
        self.reselect();
    }

    /// Recomputes what every view selects after the capture, the analysis, the filter or
    /// the range changed.
    fn reselect(&mut self) {
        self.filter_gens.bump();
        self.search_gens.bump();
        if let Some(s) = &mut self.search {
            s.pending = None;
        }
        self.events.cursor = 0;
        self.events.top = 0;
        self.events.scanned = None;
        self.events.dirty = true;
        self.procs.hits.clear();
        self.procs.dirty = true;
        let Some(capture) = self.capture.clone() else {
            return;
        };
        match (&self.filter, &self.analysis) {
            (None, _) => self.events.rows = RowSet::span(&capture, self.range, &mut self.cache),
            (Some(f), Some(a)) => {
                self.events.rows = RowSet::default();
                self.events.scanned = Some((0, 0));
                let gen = self.filter_gens.bump();
                spawn_filter(
                    capture,
                    Arc::clone(a),
                    f.clone(),
                    self.range,
                    self.filter_gens.clone(),
                    gen,
                    self.tx.clone(),
                );
            }
            // Started when the analysis arrives: filters need the process tree.
            (Some(_), None) => self.events.rows = RowSet::default(),
        }
        self.commands_rows = self.select_commands();
        self.containers_rows = self.container_rows();
        self.select_recon();
    }

    /// The reconstruction's artifacts, sessions and connections whose first record is in
    /// the range and, with a filter, one of whose processes the filter selects (tested as
    /// the tree is, as a record of no syscall by that process, at the artifact's first
    /// and at its last record: so `proc.*`, `user.*` and `container.*` fields narrow
    /// these views; `evt.*` and `fd.*` fields select nothing here).
    fn select_recon(&mut self) {
        let Some(r) = self.recon.clone() else { return };
        let rows = self
            .selection()
            .recon(self.capture.as_ref().map(|c| &c.lookups), &r);
        self.scripts_rows = rows.scripts;
        self.sessions_rows = rows.sessions;
        self.net_rows = rows.connections;
        for (len, list) in [
            (self.scripts_rows.len(), &mut self.scripts),
            (self.sessions_rows.len(), &mut self.sessions),
            (self.net_rows.len(), &mut self.net),
        ] {
            list.cursor = list.cursor.min(len.saturating_sub(1));
            list.top = list.top.min(list.cursor);
        }
    }

    /// What narrows the Scripts, Sessions or Network view, for the status line (None:
    /// nothing does, or another view, whose rows are the records the filter selects).
    pub fn narrowing(&self) -> Option<String> {
        let filter = self.filter.is_some();
        let range = !self.range.is_all();
        if !filter && !range {
            return None;
        }
        let by = |range_what: &str, filter_what: &str| -> String {
            match (range, filter) {
                (true, true) => format!("{range_what}; {filter_what}"),
                (true, false) => range_what.to_owned(),
                _ => filter_what.to_owned(),
            }
        };
        let recon = |shown: usize, total: usize, things: &str, who: &str| {
            format!(
                "{shown} of {total} {things}: {}",
                by(
                    "first record in the range",
                    &format!("the filter on {who} (proc, user, container fields)")
                )
            )
        };
        Some(match self.view {
            View::Scripts => {
                let r = self.recon.as_ref()?;
                recon(
                    self.scripts_rows.len(),
                    r.scripts.len() + r.files.iter().filter(|a| !a.is_script).count(),
                    "artifacts",
                    "writers and readers",
                )
            }
            View::Sessions => {
                let r = self.recon.as_ref()?;
                recon(
                    self.sessions_rows.len(),
                    r.sessions.len(),
                    "sessions",
                    "the processes on the terminal",
                )
            }
            View::Network => {
                let r = self.recon.as_ref()?;
                recon(
                    self.net_rows.len(),
                    r.connections.len(),
                    "connections",
                    "their processes",
                )
            }
            _ => return None,
        })
    }

    /// The artifact under the Scripts view's cursor.
    pub fn artifact(&self) -> Option<&crate::reconstruct::Artifact> {
        let r = self.recon.as_ref()?;
        match *self.scripts_rows.get(self.scripts.cursor)? {
            (true, i) => r.scripts.get(i),
            (false, i) => r.files.get(i),
        }
    }

    fn filter_rows(&mut self, batch: FilterBatch) {
        if !self.filter_gens.is_current(batch.gen) {
            return;
        }
        for seg in batch.segs {
            self.events.rows.push(seg);
        }
        if let Some(a) = &self.analysis {
            self.procs.hits.resize(a.tree.processes().len(), false);
        }
        let mut new_hit = false;
        for id in batch.hits {
            if let Some(h) = self.procs.hits.get_mut(id) {
                new_hit |= !*h;
                *h = true;
            }
        }
        self.procs.dirty |= new_hit;
        self.events.rows.complete = batch.done;
        self.events.scanned = (!batch.done).then_some((batch.scanned, batch.of));
        self.events.dirty = true;
    }

    // ------------------------------------------------------------------ movement

    fn list_len(&self, view: View) -> usize {
        match view {
            View::Processes => self.procs.rows.len(),
            View::Commands => self.commands_rows.len(),
            View::Containers => self.containers_rows.len(),
            View::Scripts => self.scripts_rows.len(),
            View::Sessions => self.sessions_rows.len(),
            View::Network => self.net_rows.len(),
            _ => 0,
        }
    }

    fn list_mut(&mut self, view: View) -> Option<&mut ListState> {
        match view {
            View::Processes => Some(&mut self.procs.list),
            View::Commands => Some(&mut self.commands),
            View::Containers => Some(&mut self.containers),
            View::Scripts => Some(&mut self.scripts),
            View::Sessions => Some(&mut self.sessions),
            View::Network => Some(&mut self.net),
            _ => None,
        }
    }

    fn page(&mut self, dir: isize) {
        let rows = match self.view {
            View::Timeline => 10,
            View::Overview => usize::from(self.height.saturating_sub(6)).max(1),
            v => self.rows_of(v),
        };
        self.step(dir * rows as isize);
    }

    fn step(&mut self, delta: isize) {
        match self.view {
            View::Events => {
                let len = self.events.rows.len();
                if len == 0 {
                    return;
                }
                let c = (self.events.cursor as i128 + delta as i128).clamp(0, len as i128 - 1);
                self.events.cursor = c as u64;
                self.events.dirty = true;
            }
            View::Overview => {
                let t = (self.overview_top as isize).saturating_add(delta).max(0);
                let max = super::render::overview::lines(self).len().saturating_sub(1);
                self.overview_top = (t as usize).min(max);
            }
            View::Timeline => self.timeline_step(delta),
            view => {
                self.content_top = 0;
                let len = self.list_len(view);
                let rows = self.rows_of(view);
                if let Some(l) = self.list_mut(view) {
                    l.step(len, delta);
                    l.fit(len, rows);
                }
            }
        }
    }

    /// The span the Timeline shows: the innermost zoom, else the whole window.
    pub fn timeline_span(&self) -> Option<(BootNs, BootNs)> {
        let window = self.capture.as_ref()?.window?;
        Some(self.timeline.zoom.last().copied().unwrap_or(window))
    }

    /// The Timeline's bins: first time and width of one bin.
    pub fn timeline_bins(&self) -> Option<(BootNs, u64, usize)> {
        let (first, last) = self.timeline_span()?;
        let bins = layout::timeline_bins(self.width);
        let width = (last - first) / bins as u64 + 1;
        Some((first, width, bins))
    }

    fn timeline_step(&mut self, delta: isize) {
        let Some((first, width, bins)) = self.timeline_bins() else {
            return;
        };
        let cur = self.timeline.cursor.unwrap_or(first);
        let bin = ((cur.saturating_sub(first)) / width) as i128 + delta as i128;
        let bin = bin.clamp(0, bins as i128 - 1) as u64;
        self.timeline.cursor = Some(first + bin * width);
    }

    fn view_key(&mut self, action: Action) {
        match self.view {
            View::Processes => self.tree_key(action),
            View::Timeline => match action {
                Action::Left => self.timeline_step(-1),
                Action::Right => self.timeline_step(1),
                Action::Toggle => {
                    self.timeline.mark = match self.timeline.mark {
                        Some(_) => None,
                        None => self.timeline.cursor,
                    };
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn tree_key(&mut self, action: Action) {
        let Some(row) = self.procs.rows.get(self.procs.list.cursor).cloned() else {
            return;
        };
        match action {
            Action::Left if row.kids > 0 && !row.collapsed => {
                self.procs.collapsed.insert(row.id);
            }
            Action::Left => {
                // To the parent row.
                if let Some(i) = self.procs.rows[..self.procs.list.cursor]
                    .iter()
                    .rposition(|r| r.depth < row.depth)
                {
                    self.procs.list.cursor = i;
                }
                let rows = self.rows_of(View::Processes);
                self.procs.list.fit(self.procs.rows.len(), rows);
                return;
            }
            Action::Right => {
                self.procs.collapsed.remove(&row.id);
            }
            Action::Toggle if row.kids > 0 => {
                if !self.procs.collapsed.remove(&row.id) {
                    self.procs.collapsed.insert(row.id);
                }
            }
            Action::CollapseAll => {
                let with_kids: Vec<ProcId> = self
                    .analysis
                    .as_ref()
                    .map(|a| {
                        (0..a.tree.processes().len())
                            .filter(|&i| !a.tree.processes()[i].children.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                self.procs.collapsed.extend(with_kids);
                // The cursor goes to the root of the subtree it was in.
                let root = self.procs.rows[..=self.procs.list.cursor]
                    .iter()
                    .rposition(|r| r.depth == 0)
                    .unwrap_or(0);
                let id = self.procs.rows[root].id;
                self.rebuild_tree(Some(id));
                return;
            }
            Action::ExpandAll => self.procs.collapsed.clear(),
            _ => return,
        }
        self.rebuild_tree(Some(row.id));
    }

    // ------------------------------------------------------------------ drilling down

    fn enter(&mut self) {
        match self.view {
            View::Processes => {
                if let Some(row) = self.procs.rows.get(self.procs.list.cursor) {
                    self.process_events(row.id);
                }
            }
            View::Commands => {
                let Some(a) = self.analysis.clone() else {
                    return;
                };
                if let Some(e) = self
                    .commands_rows
                    .get(self.commands.cursor)
                    .and_then(|&i| a.execs.get(i))
                {
                    self.show_process(e.pid, e.ts);
                }
            }
            View::Events => {
                let loc = self.events.rows.locate(self.events.cursor);
                if let (Some(loc), Some(c)) = (loc, self.capture.clone()) {
                    let events = self.cache.get(&c, loc.group);
                    if let Some(e) = events.get(loc.offset as usize) {
                        self.show_process(e.pid, e.ts);
                    }
                }
            }
            View::Containers => self.container_events(),
            View::Scripts => {
                if let Some((pid, ts)) = self.artifact().and_then(|a| Some((a.pid?, a.first_ts))) {
                    self.show_process(pid, ts);
                }
            }
            View::Sessions => {
                let r = self.recon.clone();
                let s = r.as_ref().and_then(|r| {
                    r.sessions
                        .get(*self.sessions_rows.get(self.sessions.cursor)?)
                });
                if let Some((pid, ts)) = s.and_then(|s| Some((s.shell.as_ref()?.pid, s.first_ts))) {
                    self.show_process(pid, ts);
                }
            }
            View::Network => {
                let r = self.recon.clone();
                let c = r
                    .as_ref()
                    .and_then(|r| r.connections.get(*self.net_rows.get(self.net.cursor)?));
                if let Some((pid, ts)) = c.and_then(|c| Some((c.pid?, c.first_ts))) {
                    self.show_process(pid, ts);
                }
            }
            View::Timeline => self.timeline_select(),
            View::Overview => self.alert_range(),
        }
    }

    /// The events of one process: its pid, over its lifetime.
    fn process_events(&mut self, id: ProcId) {
        let Some(a) = self.analysis.clone() else {
            return;
        };
        let Some(p) = a.tree.get(id) else { return };
        let Ok(filter) = Filter::parse(&format!("proc.pid = {}", p.pid)) else {
            return;
        };
        let range = TimeRange {
            since: p.start,
            until: p.exit.and_then(|e| e.ts),
        };
        self.push_history();
        self.set_selection(Some(filter), range);
        self.view = View::Events;
        self.message = Some(format!(
            "events of pid {} over its lifetime (Esc: back)",
            p.pid
        ));
    }

    /// The process tree with the cursor on the process `pid` named at `ts`.
    fn show_process(&mut self, pid: u32, ts: BootNs) {
        let Some(a) = self.analysis.clone() else {
            self.message = Some("the process tree is still being built".into());
            return;
        };
        let Some(id) = a.tree.lookup(pid, ts) else {
            self.message = Some(format!("pid {pid} is not in the process tree"));
            return;
        };
        // Open the way to it.
        let mut cur = a.tree.get(id).and_then(|p| p.parent);
        while let Some(i) = cur {
            self.procs.collapsed.remove(&i);
            cur = a.tree.get(i).and_then(|p| p.parent);
        }
        self.push_history();
        self.view = View::Processes;
        self.procs.dirty = true;
        self.rebuild_tree(Some(id));
        if self.procs.rows.get(self.procs.list.cursor).map(|r| r.id) != Some(id) {
            self.message = Some(format!(
                "pid {pid} is not shown under the current filter and range (F, T clear them)"
            ));
        }
    }

    fn container_events(&mut self) {
        let Some(row) = self.containers_rows.get(self.containers.cursor).cloned() else {
            return;
        };
        let (text, label) = match row.index.and_then(|i| {
            self.capture
                .as_ref()
                .and_then(|c| c.reader.metadata().containers.get(i))
        }) {
            Some(c) => (
                format!("container.full_id = {}", c.id),
                c.name
                    .clone()
                    .unwrap_or_else(|| c.id.chars().take(12).collect()),
            ),
            None => ("container.id = host".into(), "the host".into()),
        };
        let Ok(filter) = Filter::parse(&text) else {
            return;
        };
        self.push_history();
        self.set_selection(Some(filter), self.range);
        self.view = View::Events;
        self.message = Some(format!("events of {} (Esc: back)", printable(&label)));
    }

    /// Scrolls the Sessions or Network content pane so that the next (or previous) typed
    /// line, or run of one direction, is its first line. Lines wrap as the pane draws them.
    fn jump_content(&mut self, forward: bool) {
        let Some((lines, anchors)) = super::render::recon::detail(self) else {
            return;
        };
        let screen = ratatui::layout::Rect::new(0, 0, self.width, self.height);
        let main = layout::areas(screen, self.footer_lines()).main;
        let Some(pane) = layout::panes(self.view, main).detail else {
            return;
        };
        let width = pane.width.saturating_sub(2);
        // Where each anchor starts once the lines before it are wrapped.
        let mut starts = Vec::with_capacity(anchors.len());
        let mut row = 0;
        let mut next = anchors.iter().peekable();
        for (i, line) in lines.into_iter().enumerate() {
            if next.peek() == Some(&&i) {
                starts.push(row);
                next.next();
            }
            if next.peek().is_none() {
                break;
            }
            row += ratatui::widgets::Paragraph::new(line)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .line_count(width);
        }
        let what = if self.view == View::Sessions {
            "typed line"
        } else {
            "run"
        };
        let target = if forward {
            starts.iter().position(|&r| r > self.content_top)
        } else {
            starts.iter().rposition(|&r| r < self.content_top)
        };
        match target {
            Some(k) => {
                self.content_top = starts[k];
                self.message = Some(format!("{what} {} of {}", k + 1, starts.len()));
            }
            None => {
                self.message = Some(format!(
                    "no {} {what}",
                    if forward { "later" } else { "earlier" }
                ))
            }
        }
    }

    /// Shows only the marked bins; without a mark, the selected range (when it is
    /// narrower than what is shown); else half the span, around the cursor.
    fn zoom_in(&mut self) {
        if self.view != View::Timeline {
            return;
        }
        let (Some((first, width, bins)), Some((lo0, hi0))) =
            (self.timeline_bins(), self.timeline_span())
        else {
            return;
        };
        let cur = self.timeline.cursor.unwrap_or(first).clamp(lo0, hi0);
        let bin_of = |t: BootNs| first + (t.saturating_sub(first)) / width * width;
        let span = hi0 - lo0;
        let range = (
            self.range.since.unwrap_or(lo0).max(lo0),
            self.range.until.unwrap_or(hi0).min(hi0),
        );
        let (lo, hi, what) = if let Some(m) = self.timeline.mark {
            (
                bin_of(m.min(cur)),
                (bin_of(m.max(cur)) + width - 1).min(hi0),
                "the marked bins",
            )
        } else if !self.range.is_all() && range.0 < range.1 && range.1 - range.0 < span / 10 * 9 {
            (range.0, range.1, "the selected range")
        } else {
            let quarter = span / 4;
            let centre = bin_of(cur) + width / 2;
            let lo = centre.saturating_sub(quarter).max(lo0);
            let hi = (lo + 2 * quarter).min(hi0);
            (hi.saturating_sub(2 * quarter).max(lo0), hi, "the cursor")
        };
        if hi.saturating_sub(lo) < bins as u64 {
            self.message = Some("cannot zoom in further: a bin would be under a nanosecond".into());
            return;
        }
        self.timeline.zoom.push((lo, hi));
        self.timeline.mark = None;
        if !(lo..=hi).contains(&cur) {
            self.timeline.cursor = Some(lo);
        }
        self.message = Some(format!(
            "zoomed into {what}: {} shown (- zooms out; Enter narrows every view)",
            duration_text(hi - lo)
        ));
    }

    fn zoom_out(&mut self) {
        if self.view != View::Timeline {
            return;
        }
        if self.timeline.zoom.pop().is_none() {
            self.message = Some("the Timeline shows the whole capture".into());
            return;
        }
        self.message = Some(match self.timeline_span() {
            Some((lo, hi)) if !self.timeline.zoom.is_empty() => {
                format!("zoomed out: {} shown", duration_text(hi - lo))
            }
            _ => "zoomed out: the whole capture".into(),
        });
    }

    fn timeline_select(&mut self) {
        let Some((first, width, _)) = self.timeline_bins() else {
            return;
        };
        let cur = self.timeline.cursor.unwrap_or(first);
        let a = self.timeline.mark.unwrap_or(cur);
        let bin_of = |t: BootNs| first + (t.saturating_sub(first)) / width * width;
        let (lo, hi) = (bin_of(a.min(cur)), bin_of(a.max(cur)) + width - 1);
        self.push_history();
        self.timeline.mark = None;
        self.set_selection(
            self.filter.clone(),
            TimeRange {
                since: Some(lo),
                until: Some(hi),
            },
        );
        self.message = Some("every view narrowed to the range (T clears, Esc goes back)".into());
    }

    fn alert_range(&mut self) {
        let Some(c) = self.capture.clone() else {
            return;
        };
        let Some(alert) = c.reader.metadata().alerts.first() else {
            self.message = Some("the capture holds no alert".into());
            return;
        };
        let t = alert.received_boot_ns;
        self.push_history();
        self.set_selection(
            self.filter.clone(),
            TimeRange {
                since: Some(t.saturating_sub(5_000_000_000)),
                until: Some(t.saturating_add(5_000_000_000)),
            },
        );
        self.message = Some("every view narrowed to 5 s around the alert (T clears)".into());
    }

    /// Asks the terminal loop to write the selected artifact's bytes (gaps zero-filled, as
    /// `cat` exports them) to `CAPTURE-ID.bin` in the current directory, never over an
    /// existing file: an [`Effect`], so `update` itself does no I/O.
    fn export(&mut self) {
        if self.view != View::Scripts {
            return;
        }
        let Some(a) = self.artifact() else { return };
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "capture".into());
        let effect = Effect::Export {
            path: PathBuf::from(format!("{stem}-{}.bin", a.id)),
            bytes: Arc::clone(&a.bytes),
            sha256: a.sha256[..a.sha256.len().min(16)].to_owned(),
            gaps: !a.gaps.is_empty(),
        };
        self.effects.push(effect);
    }

    /// The effects `update` asked for since the last call, for the terminal loop to carry
    /// out ([`Effect::perform`]) and report back as actions.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    // ------------------------------------------------------------------ prompts

    fn open_prompt(&mut self, kind: PromptKind) {
        let text = match kind {
            PromptKind::Filter => self
                .filter
                .as_ref()
                .map(|f| f.source().to_owned())
                .unwrap_or_default(),
            PromptKind::Time => self.range_text(),
            PromptKind::Search => String::new(),
        };
        self.prompt = Some(Prompt {
            kind,
            cursor: text.chars().count(),
            text,
            error: None,
        });
    }

    fn edit(&mut self, action: Action) {
        let Some(p) = &mut self.prompt else { return };
        let byte = |s: &str, c: usize| s.char_indices().nth(c).map_or(s.len(), |(i, _)| i);
        let n = p.text.chars().count();
        match action {
            Action::Input(c) => {
                let at = byte(&p.text, p.cursor);
                p.text.insert(at, c);
                p.cursor += 1;
            }
            Action::Backspace if p.cursor > 0 => {
                let at = byte(&p.text, p.cursor - 1);
                p.text.remove(at);
                p.cursor -= 1;
            }
            Action::Delete if p.cursor < n => {
                let at = byte(&p.text, p.cursor);
                p.text.remove(at);
            }
            Action::CursorLeft => p.cursor = p.cursor.saturating_sub(1),
            Action::CursorRight => p.cursor = (p.cursor + 1).min(n),
            Action::CursorHome => p.cursor = 0,
            Action::CursorEnd => p.cursor = n,
            Action::ClearInput => {
                p.text.clear();
                p.cursor = 0;
            }
            _ => {}
        }
        p.error = None;
    }

    fn submit(&mut self) {
        let Some(p) = self.prompt.clone() else { return };
        let text = p.text.trim();
        let result = match p.kind {
            PromptKind::Filter if text.is_empty() => {
                self.push_history();
                self.set_selection(None, self.range);
                Ok(())
            }
            PromptKind::Filter => match Filter::parse(&p.text) {
                Ok(f) => {
                    self.push_history();
                    self.set_selection(Some(f), self.range);
                    Ok(())
                }
                Err(e) => Err((e.column.saturating_sub(1), e.message)),
            },
            PromptKind::Time => match self.parse_range(&p.text) {
                Ok(range) => {
                    self.push_history();
                    self.set_selection(self.filter.clone(), range);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            PromptKind::Search if text.is_empty() => {
                self.search = None;
                Ok(())
            }
            PromptKind::Search => {
                let smart = if text.chars().any(char::is_uppercase) {
                    text.to_owned()
                } else {
                    format!("(?i){text}")
                };
                match Regex::new(&smart) {
                    Ok(regex) => {
                        self.search = Some(SearchState {
                            text: text.to_owned(),
                            regex,
                            pending: None,
                        });
                        self.prompt = None;
                        self.run_search(true, true);
                        return;
                    }
                    Err(e) => Err((p.text.chars().count(), regex_error(&e))),
                }
            }
        };
        match result {
            Ok(()) => self.prompt = None,
            Err(err) => {
                if let Some(p) = &mut self.prompt {
                    p.error = Some(err);
                }
            }
        }
    }

    /// The range as the time prompt takes it, relative to the start.
    pub fn range_text(&self) -> String {
        if self.range.is_all() {
            return String::new();
        }
        let start = self.capture.as_ref().map_or(0, |c| c.window_start);
        let rel = |t: Option<BootNs>| {
            t.map(|t| offset_text(t.saturating_sub(start)))
                .unwrap_or_default()
        };
        format!("{}..{}", rel(self.range.since), rel(self.range.until))
    }

    /// `SINCE..UNTIL` (either may be empty), each RFC 3339 or `+DURATION`; errors carry
    /// the column they point at.
    fn parse_range(&self, text: &str) -> Result<TimeRange, (usize, String)> {
        let Some(c) = &self.capture else {
            return Err((0, "the capture is not open yet".into()));
        };
        if text.trim().is_empty() {
            return Ok(TimeRange::default());
        }
        let Some(dots) = text.find("..") else {
            return Err((
                text.chars().count(),
                "expected SINCE..UNTIL, e.g. +1s..+2.5s or 2026-11-23T17:20:00Z..".into(),
            ));
        };
        let col = |byte: usize| text[..byte].chars().count();
        let side = |s: &str, at: usize| -> Result<Option<BootNs>, (usize, String)> {
            let lead = s.len() - s.trim_start().len();
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            TimeSpec::parse(s)
                .and_then(|t| t.resolve(c.window_start, c.lookups.clock()))
                .map(Some)
                .map_err(|e| (col(at + lead), e))
        };
        let since = side(&text[..dots], 0)?;
        let until = side(&text[dots + 2..], dots + 2)?;
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err((col(dots), "SINCE is after UNTIL: the range is empty".into()));
            }
        }
        Ok(TimeRange { since, until })
    }

    // ------------------------------------------------------------------ search

    fn search_again(&mut self, forward: bool) {
        if self.search.is_none() {
            self.message = Some("no search yet: / starts one".into());
            return;
        }
        self.run_search(forward, false);
    }

    /// Moves the cursor to the next (or previous) row matching the search, from the
    /// cursor (`inclusive`: the cursor's own row counts).
    fn run_search(&mut self, forward: bool, inclusive: bool) {
        let Some(s) = &self.search else { return };
        let regex = s.regex.clone();
        let text = s.text.clone();
        match self.view {
            View::Events => {
                let Some(capture) = self.capture.clone() else {
                    return;
                };
                let gen = self.search_gens.bump();
                let cur = self.events.cursor;
                let from = match (inclusive, forward) {
                    (false, _) => Some(cur),
                    (true, true) => cur.checked_sub(1),
                    (true, false) => Some(cur + 1),
                };
                if let Some(s) = &mut self.search {
                    s.pending = Some((gen, 0, 0));
                }
                spawn_search(
                    capture,
                    self.analysis.clone(),
                    self.events.rows.clone(),
                    regex,
                    from,
                    forward,
                    self.search_gens.clone(),
                    gen,
                    self.tx.clone(),
                );
            }
            View::Overview => {
                let lines = super::render::overview::lines(self);
                let n = lines.len();
                let start = self.overview_top;
                let found = (0..n)
                    .map(|k| {
                        let k = if inclusive { k } else { k + 1 };
                        if forward {
                            (start + k) % n.max(1)
                        } else {
                            (start + n * 2 - k) % n.max(1)
                        }
                    })
                    .find(|&i| {
                        let line: String =
                            lines[i].spans.iter().map(|s| s.content.as_ref()).collect();
                        regex.is_match(&line)
                    });
                if let Some(i) = found {
                    self.overview_top = i;
                }
                self.search_result(found.is_some(), &text);
            }
            View::Processes
            | View::Commands
            | View::Containers
            | View::Scripts
            | View::Sessions
            | View::Network => {
                let view = self.view;
                let len = self.list_len(view);
                let start = self.list_mut(view).map_or(0, |l| l.cursor);
                let found = (0..len)
                    .map(|k| {
                        let k = if inclusive { k } else { k + 1 };
                        if forward {
                            (start + k) % len
                        } else {
                            (start + len * 2 - k) % len
                        }
                    })
                    .find(|&i| regex.is_match(&self.haystack(view, i)));
                let rows = self.rows_of(view);
                if let (Some(i), Some(l)) = (found, self.list_mut(view)) {
                    l.cursor = i;
                    l.fit(len, rows);
                }
                self.search_result(found.is_some(), &text);
            }
            _ => self.message = Some("nothing to search in this view".into()),
        }
    }

    fn search_result(&mut self, found: bool, text: &str) {
        self.message = Some(if found {
            format!("/{text}: n next, N previous")
        } else {
            format!("/{text}: no match")
        });
    }

    fn search_done(&mut self, gen: u64, pos: Option<u64>) {
        let Some(s) = &mut self.search else { return };
        if s.pending.is_none_or(|p| p.0 != gen) {
            return;
        }
        s.pending = None;
        let text = s.text.clone();
        if let Some(pos) = pos {
            self.events.cursor = pos;
            self.events.dirty = true;
        }
        self.search_result(pos.is_some(), &text);
    }

    /// The text `/` searches in row `i` of a list view.
    fn haystack(&self, view: View, i: usize) -> String {
        let (Some(c), Some(a)) = (&self.capture, &self.analysis) else {
            return String::new();
        };
        match view {
            View::Processes => {
                let Some(p) = self.procs.rows.get(i).and_then(|r| a.tree.get(r.id)) else {
                    return String::new();
                };
                let image = p.current().map(|ph| &*ph.image);
                let user = image
                    .and_then(|im| c.lookups.user_in_cgroup(im.uid, im.cgroup_id))
                    .unwrap_or("");
                let container = image
                    .and_then(|im| c.lookups.container(im.cgroup_id))
                    .and_then(|c| c.name.clone())
                    .unwrap_or_default();
                format!(
                    "{} {} {user} {container}",
                    p.pid,
                    crate::views::tree_command(p)
                )
            }
            View::Commands => self
                .commands_rows
                .get(i)
                .and_then(|&k| a.commands.get(k))
                .map(|cmd| {
                    format!(
                        "{} {} {}",
                        cmd.text_line(Style::PLAIN),
                        cmd.user.as_deref().unwrap_or(""),
                        cmd.container_name.as_deref().unwrap_or("")
                    )
                })
                .unwrap_or_default(),
            View::Scripts | View::Sessions | View::Network => {
                let Some(r) = &self.recon else {
                    return String::new();
                };
                match view {
                    View::Scripts => {
                        let a = match self.scripts_rows.get(i) {
                            Some(&(true, k)) => r.scripts.get(k),
                            Some(&(false, k)) => r.files.get(k),
                            None => None,
                        };
                        a.map(|a| {
                            format!(
                                "{} {} {} {}",
                                a.id,
                                a.path.as_deref().unwrap_or(""),
                                a.source,
                                String::from_utf8_lossy(&a.bytes[..a.bytes.len().min(1 << 16)])
                            )
                        })
                        .unwrap_or_default()
                    }
                    View::Sessions => self
                        .sessions_rows
                        .get(i)
                        .and_then(|&k| r.sessions.get(k))
                        .map(|s| {
                            // What was typed and what came back.
                            let turns: Vec<&str> =
                                s.replay.iter().map(|t| t.text.as_str()).collect();
                            format!("{} {} {}", s.id, s.tty, turns.join("\n"))
                        })
                        .unwrap_or_default(),
                    _ => self
                        .net_rows
                        .get(i)
                        .and_then(|&k| r.connections.get(k))
                        .map(|c| {
                            format!(
                                "{} {} {} {} {}\n{}",
                                c.id,
                                c.protocol,
                                c.local.as_deref().unwrap_or(""),
                                c.remote.as_deref().unwrap_or(""),
                                String::from_utf8_lossy(&c.out.raw[..c.out.raw.len().min(1 << 16)]),
                                String::from_utf8_lossy(&c.inn.raw[..c.inn.raw.len().min(1 << 16)])
                            )
                        })
                        .unwrap_or_default(),
                }
            }
            View::Containers => match self.containers_rows.get(i).and_then(|r| r.index) {
                Some(k) => c
                    .reader
                    .metadata()
                    .containers
                    .get(k)
                    .map(|ct| {
                        format!(
                            "{} {} {} {}",
                            ct.id,
                            ct.name.as_deref().unwrap_or(""),
                            ct.image.as_deref().unwrap_or(""),
                            ct.runtime
                        )
                    })
                    .unwrap_or_default(),
                None => "host".into(),
            },
            _ => String::new(),
        }
    }

    // ------------------------------------------------------------------ view contents

    /// The TUI's filter and range, as every front end selects.
    pub fn selection(&self) -> Selection<'_> {
        Selection {
            filter: self.filter.as_ref(),
            range: self.range,
        }
    }

    fn select_commands(&self) -> Vec<usize> {
        let (Some(c), Some(a)) = (&self.capture, &self.analysis) else {
            return Vec::new();
        };
        self.selection().commands(c, a)
    }

    fn container_rows(&self) -> Vec<ContainerRow> {
        let (Some(c), Some(a)) = (&self.capture, &self.analysis) else {
            return Vec::new();
        };
        self.selection().containers(c, a, &self.commands_rows)
    }

    fn rebuild_tree(&mut self, keep: Option<ProcId>) {
        self.procs.dirty = false;
        let Some(a) = self.analysis.clone() else {
            self.procs.rows.clear();
            return;
        };
        let Some(c) = self.capture.clone() else {
            return;
        };
        let tree = &a.tree;
        let keep = keep.or_else(|| self.procs.rows.get(self.procs.list.cursor).map(|r| r.id));
        let n = tree.processes().len();
        let hits = &self.procs.hits;
        let selected = self.selection().processes(tree, &c.lookups, |id| {
            hits.get(id).copied().unwrap_or(false)
        });
        let shown = tree.with_ancestors((0..n).filter(|&i| selected[i]));
        let nodes = tree_order(tree, &shown);
        let mut rows = Vec::with_capacity(nodes.len());
        let mut hide_below: Option<usize> = None;
        for node in nodes {
            if let Some(d) = hide_below {
                if node.depth > d {
                    continue;
                }
                hide_below = None;
            }
            let kids = tree.processes()[node.id]
                .children
                .iter()
                .filter(|&&k| shown.get(k).copied().unwrap_or(false))
                .count();
            let collapsed = kids > 0 && self.procs.collapsed.contains(&node.id);
            if collapsed {
                hide_below = Some(node.depth);
            }
            rows.push(TreeRow {
                id: node.id,
                depth: node.depth,
                last: node.last,
                kids,
                collapsed,
                matched: selected[node.id],
            });
        }
        self.procs.rows = rows;
        if let Some(k) = keep {
            if let Some(i) = self.procs.rows.iter().position(|r| r.id == k) {
                self.procs.list.cursor = i;
            }
        }
        let rows = self.rows_of(View::Processes);
        let len = self.procs.rows.len();
        self.procs.list.fit(len, rows);
    }

    /// Brings what the current view shows up to date.
    fn refresh(&mut self) {
        match self.view {
            View::Processes if self.procs.dirty => self.rebuild_tree(None),
            View::Events
                if self.events.dirty || self.events.rows_for != self.rows_of(View::Events) =>
            {
                self.refresh_events()
            }
            View::Commands => {
                let rows = self.rows_of(View::Commands);
                self.commands.fit(self.commands_rows.len(), rows);
            }
            View::Containers => {
                let rows = self.rows_of(View::Containers);
                self.containers.fit(self.containers_rows.len(), rows);
            }
            View::Processes => {
                let rows = self.rows_of(View::Processes);
                self.procs.list.fit(self.procs.rows.len(), rows);
            }
            View::Scripts => {
                let rows = self.rows_of(View::Scripts);
                self.scripts.fit(self.scripts_rows.len(), rows);
            }
            View::Sessions => {
                let rows = self.rows_of(View::Sessions);
                self.sessions.fit(self.sessions_rows.len(), rows);
            }
            View::Network => {
                let rows = self.rows_of(View::Network);
                self.net.fit(self.net_rows.len(), rows);
            }
            View::Timeline => self.count_timeline(),
            _ => {}
        }
    }

    /// Zoomed in, counts the events of each bin exactly when the span's chunks hold at
    /// most [`EXACT_TIMELINE_EVENTS`] (the index's estimate spreads a chunk's events
    /// evenly over its time span, which a bin narrower than a chunk would show as flat).
    fn count_timeline(&mut self) {
        let Some((first, width, bins)) = self.timeline_bins() else {
            return;
        };
        if self.timeline.zoom.is_empty() {
            self.timeline_counts = None;
            return;
        }
        if self
            .timeline_counts
            .as_ref()
            .is_some_and(|t| (t.0, t.1, t.2) == (first, width, bins))
        {
            return;
        }
        self.timeline_counts = None;
        let Some(c) = self.capture.clone() else {
            return;
        };
        let end = first + width * bins as u64;
        let groups: Vec<usize> = (0..c.groups.len())
            .filter(|&g| c.groups[g].last_ts >= first && c.groups[g].first_ts < end)
            .collect();
        let total: u64 = groups.iter().map(|&g| c.groups[g].events).sum();
        if total > EXACT_TIMELINE_EVENTS {
            return;
        }
        let mut counts = vec![0.0; bins];
        for g in groups {
            for e in c.decode_group(g).0 {
                if e.ts >= first && e.ts < end {
                    counts[((e.ts - first) / width) as usize] += 1.0;
                }
            }
        }
        self.timeline_counts = Some((first, width, bins, counts));
    }

    /// Decodes (through the cache) the groups of the rows on screen and describes them.
    fn refresh_events(&mut self) {
        self.events.dirty = false;
        self.events.visible.clear();
        self.events.detail = None;
        let Some(capture) = self.capture.clone() else {
            return;
        };
        self.events.rows_for = self.rows_of(View::Events);
        let rows = self.events.rows_for as u64;
        let len = self.events.rows.len();
        let ev = &mut self.events;
        ev.cursor = ev.cursor.min(len.saturating_sub(1));
        if ev.cursor < ev.top {
            ev.top = ev.cursor;
        }
        if ev.cursor >= ev.top + rows {
            ev.top = ev.cursor + 1 - rows;
        }
        ev.top = ev.top.min(len.saturating_sub(rows));
        let (top, cursor) = (ev.top, ev.cursor);
        let analysis = self.analysis.clone();
        let tree = analysis
            .as_ref()
            .map_or(&capture.snapshot_tree, |a| &a.tree);
        let ctx = CaptureContext::new(tree, &capture.lookups);
        for pos in top..(top + rows).min(len) {
            let event = self.events.rows.locate(pos).and_then(|loc| {
                let events = self.cache.get(&capture, loc.group);
                events.get(loc.offset as usize).cloned()
            });
            if pos == cursor {
                self.events.detail = event.as_ref().map(|e| event_detail(e, &ctx));
            }
            self.events
                .visible
                .push((pos, event.as_ref().map(|e| row_text(e, &ctx))));
        }
    }
}

/// Zoomed in, the Timeline counts events exactly when its chunks hold at most this many
/// (a few tens of milliseconds to decode); beyond, it shows the index's estimate.
pub const EXACT_TIMELINE_EVENTS: u64 = 300_000;

/// A duration for the status line: `2.5 s`, `12.000 ms`, `850 µs`.
pub fn duration_text(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} µs", ns as f64 / 1e3)
    }
}

/// `+1.5s`: nanoseconds as seconds, without trailing zeros.
pub fn offset_text(ns: u64) -> String {
    let frac = format!("{:09}", ns % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("+{}s", ns / 1_000_000_000)
    } else {
        format!("+{}.{frac}s", ns / 1_000_000_000)
    }
}

fn regex_error(e: &regex::Error) -> String {
    // The regex crate's messages span lines; the first useful one is enough inline.
    let s = e.to_string();
    s.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("invalid regex")
        .to_owned()
}

/// Everything about one event, for the Events view's detail pane.
pub fn event_detail(e: &capture_format::Event, ctx: &CaptureContext<'_>) -> EventDetail {
    let row = EventRow::new(e, ctx);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut add = |k: &str, v: String| fields.push((k.to_owned(), v));
    add("time", row.time.clone());
    let what = row.syscall.clone().unwrap_or_else(|| row.kind.to_owned());
    add(
        "event",
        match row.abi {
            Some(abi) if abi != "x86_64" => format!("{what} ({abi})"),
            _ => what,
        },
    );
    let p = ctx.process(e.pid, e.ts);
    add(
        "process",
        format!(
            "pid {} tid {} {}",
            row.pid,
            row.tid,
            printable(row.proc_name.as_deref().unwrap_or("?"))
        ),
    );
    if let Some(p) = &p {
        if let aftertrace_filter::Argv::List(argv) = p.argv {
            let argv: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            add("command", shell_words(&argv));
        }
        let user = ctx
            .lookups
            .user_in_cgroup(p.euid, p.cgroup_id)
            .map(|u| format!(" ({})", printable(u)))
            .unwrap_or_default();
        add("user", format!("uid {}{user}", p.euid));
    }
    add(
        "container",
        match row
            .container_id
            .as_deref()
            .and_then(|_| ctx.lookups.container(crate::events::event_cgroup(e, ctx)?))
        {
            Some(c) => format!(
                "{} ({})",
                printable(c.name.as_deref().unwrap_or("?")),
                c.id.chars().take(12).collect::<String>()
            ),
            None => "host".into(),
        },
    );
    for (k, v) in &row.args {
        let v = match v {
            serde_json::Value::String(s) => printable(s).into_owned(),
            other => other.to_string(),
        };
        add(&format!("  {k}"), v);
    }
    if let Some(res) = row.res {
        add(
            "result",
            if res < 0 {
                format!("{res} (failed)")
            } else {
                res.to_string()
            },
        );
    }
    if let Some(d) = row.duration_ns {
        add("duration", format!("{:.3} µs", d as f64 / 1000.0));
    }
    if let Some(c) = row.completion {
        if c != "complete" {
            add("completion", c.to_owned());
        }
    }
    if let Some(len) = row.data_len {
        let cut = row
            .data_cut
            .map(|c| format!(", cut ({c})"))
            .unwrap_or_default();
        add("data", format!("{len} bytes{cut}"));
    }
    EventDetail {
        fields,
        data: row.data.as_deref().map(|d| printable(d).into_owned()),
    }
}
