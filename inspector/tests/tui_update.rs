//! The TUI's `update` without a terminal: navigation and history, drilling down, the
//! filter and time prompts (errors with their column), virtual scrolling over a multi-chunk
//! capture checked against a sequential decode, filters checked against the CLI's query,
//! search, the tree's collapsing, the Timeline's selection, a truncated capture, and the
//! key map by focus.

mod tui_support;

use aftertrace_filter::Filter;
use aftertrace_inspector::{
    meta::Lookups,
    query::{self, Query},
    tui::{map_key, Action, Effect, Follow, PromptKind, View},
};
use capture_format::CaptureReader;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_support::*;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// The pid of each visible Events row.
fn visible_pids(app: &aftertrace_inspector::tui::App) -> Vec<u32> {
    app.events
        .visible
        .iter()
        .filter_map(|(_, r)| r.as_ref().map(|r| r.pid))
        .collect()
}

#[test]
fn loads_counts_and_the_first_screen_needs_no_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_capture(dir.path(), "a.atcap");
    let (app, _rx) = loaded(&path, 120, 40);
    let c = app.capture.as_ref().unwrap();
    assert!(c.reader.chunks().len() > 5, "a multi-chunk capture");
    assert_eq!(c.total_events(), events().len() as u64);
    let a = app.analysis.as_ref().unwrap();
    assert_eq!(
        (
            a.counts.syscalls,
            a.counts.execs,
            a.counts.forks,
            a.counts.exits
        ),
        (3002, 2, 2, 2)
    );
    assert_eq!(a.counts.failed, 1);
    assert_eq!(a.commands.len(), 2);
    assert_eq!(app.view, View::Overview);
}

#[test]
fn views_switch_and_esc_goes_back_through_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::NextView);
    assert_eq!(app.view, View::Timeline);
    app.update(Action::Goto(View::Events));
    app.update(Action::PrevView);
    assert_eq!(app.view, View::Commands);
    app.update(Action::Back);
    assert_eq!(app.view, View::Events);
    app.update(Action::Back);
    assert_eq!(app.view, View::Timeline);
    app.update(Action::Back);
    assert_eq!(app.view, View::Overview);
    app.update(Action::Back);
    assert_eq!(app.view, View::Overview);
    assert!(app
        .message
        .as_deref()
        .unwrap()
        .contains("nothing to go back to"));
    app.update(Action::Quit);
    assert!(app.quit);
}

#[test]
fn a_process_drills_down_to_its_events_and_esc_restores() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::Goto(View::Processes));
    let tree = &app.analysis.as_ref().unwrap().tree;
    let row = app
        .procs
        .rows
        .iter()
        .position(|r| tree.get(r.id).unwrap().pid == 200)
        .expect("pid 200 in the tree");
    app.update(Action::Home);
    for _ in 0..row {
        app.update(Action::Down);
    }
    app.update(Action::Enter);
    settle_app(&mut app, &rx);
    assert_eq!(app.view, View::Events);
    assert_eq!(
        app.filter.as_ref().map(Filter::source),
        Some("proc.pid = 200")
    );
    // Its exec, its openat and its exit (the fork is its parent's record).
    assert_eq!(app.events.rows.len(), 3);
    assert_eq!(visible_pids(&app), vec![200, 200, 200]);
    assert!(app.events.detail.is_some());

    // Enter on an event: its process in the tree.
    app.update(Action::Enter);
    assert_eq!(app.view, View::Processes);
    let cur = &app.procs.rows[app.procs.list.cursor];
    assert_eq!(
        app.analysis.as_ref().unwrap().tree.get(cur.id).unwrap().pid,
        200
    );

    app.update(Action::Back);
    assert_eq!(app.view, View::Events);
    app.update(Action::Back);
    assert_eq!(app.view, View::Processes);
    assert!(
        app.filter.is_none() && app.range.is_all(),
        "Esc restores the selection"
    );
    assert_eq!(app.events.rows.len(), events().len() as u64);
}

#[test]
fn a_bad_filter_is_shown_inline_with_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::Open(PromptKind::Filter));
    type_text(&mut app, "proc.name = ");
    app.update(Action::Submit);
    let p = app.prompt.as_ref().expect("the prompt stays open");
    let (col, msg) = p.error.clone().expect("an error");
    assert_eq!(col, 12, "the caret goes under the end of the expression");
    assert!(msg.contains("expected a value"), "{msg}");
    assert!(app.filter.is_none());
    assert_eq!(app.footer_lines(), 2);
    // Editing clears the error; fixing the filter applies it.
    type_text(&mut app, "cat");
    assert!(app.prompt.as_ref().unwrap().error.is_none());
    app.update(Action::Submit);
    assert!(app.prompt.is_none());
    assert_eq!(
        app.filter.as_ref().map(Filter::source),
        Some("proc.name = cat")
    );
    // A typo in a syscall name points at the value.
    app.update(Action::Open(PromptKind::Filter));
    app.update(Action::ClearInput);
    type_text(&mut app, "evt.type = opnat");
    app.update(Action::Submit);
    let (col, msg) = app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert_eq!(col, 11);
    assert!(msg.contains("openat"), "{msg}");
    app.update(Action::Cancel);
    assert!(app.prompt.is_none());
    assert_eq!(
        app.filter.as_ref().map(Filter::source),
        Some("proc.name = cat")
    );
}

#[test]
fn events_scroll_virtually_and_match_a_sequential_decode() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_capture(dir.path(), "a.atcap");
    let all = events();
    let (mut app, _rx) = loaded(&path, 120, 30);
    app.update(Action::Goto(View::Events));
    let n = app.events.rows.len();
    assert_eq!(n, all.len() as u64);
    let shown = app.events.visible.len();
    assert!(
        shown > 5 && shown < 30,
        "only a screenful is described: {shown}"
    );
    app.update(Action::PageDown);
    assert_eq!(app.events.cursor, shown as u64);
    app.update(Action::End);
    assert_eq!(app.events.cursor, n - 1);
    let (pos, last) = app.events.visible.last().unwrap();
    assert_eq!(*pos, n - 1);
    assert_eq!(last.as_ref().unwrap().pid, all.last().unwrap().pid);
    for target in [1234u64, 17, 2999] {
        app.update(Action::JumpTo(target));
        let (pos, row) = app
            .events
            .visible
            .iter()
            .find(|(p, _)| *p == target)
            .expect("the cursor's row is on screen");
        let e = &all[*pos as usize];
        let row = row.as_ref().unwrap();
        assert_eq!((row.pid, row.tid), (e.pid, e.tid));
    }
    // A smaller screen keeps the cursor visible.
    app.update(Action::Resize {
        width: 40,
        height: 12,
    });
    assert!(app.events.visible.iter().any(|(p, _)| *p == 2999));
    app.update(Action::Resize {
        width: 20,
        height: 6,
    });
    app.update(Action::Down);
    assert_eq!(app.events.cursor, 3000);
}

#[test]
fn a_time_range_narrows_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::Open(PromptKind::Time));
    type_text(&mut app, "+0.05s..+0.1x");
    app.update(Action::Submit);
    let (col, msg) = app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert_eq!(col, 8, "points at UNTIL");
    assert!(msg.contains("unknown unit"), "{msg}");
    app.update(Action::ClearInput);
    type_text(&mut app, "+0.05s..+0.1s");
    app.update(Action::Submit);
    assert!(app.prompt.is_none());
    let start = app.capture.as_ref().unwrap().window_start;
    let (lo, hi) = (start + 50_000_000, start + 100_000_000);
    assert_eq!(app.range.since, Some(lo));
    assert_eq!(app.range.until, Some(hi));
    let want = events().iter().filter(|e| e.ts >= lo && e.ts <= hi).count();
    assert_eq!(app.events.rows.len(), want as u64);
    // Commands: only `cat` ran in the range.
    assert_eq!(app.commands_rows.len(), 1);
    // Processes: those alive in the range (init, bash and cat).
    app.update(Action::Goto(View::Processes));
    assert_eq!(app.procs.rows.len(), 3);
    // Containers: the container's process started later.
    let web = app
        .containers_rows
        .iter()
        .find(|r| r.index.is_some())
        .unwrap();
    assert_eq!((web.processes, web.commands), (0, 0));
    assert_eq!(app.range_text(), "+0.05s..+0.1s");
    app.update(Action::ClearRange);
    assert!(app.range.is_all());
}

#[test]
fn a_filter_selects_what_the_cli_selects() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_capture(dir.path(), "a.atcap");
    let (mut app, rx) = loaded(&path, 120, 40);
    for expr in [
        "evt.type = openat",
        "container.name = web",
        "proc.aname = bash and not evt.type = getpid",
        "evt.failed = true",
    ] {
        app.update(Action::Open(PromptKind::Filter));
        app.update(Action::ClearInput);
        type_text(&mut app, expr);
        app.update(Action::Submit);
        settle_app(&mut app, &rx);
        assert!(app.events.rows.complete);
        let reader = CaptureReader::open(&path).unwrap();
        let lookups = Lookups::new(reader.metadata());
        let q = Query {
            filter: Some(Filter::parse(expr).unwrap()),
            json: true,
            ..Query::default()
        };
        let mut out = Vec::new();
        query::events(&reader, &lookups, &q, &mut out, |_| {}).unwrap();
        let cli = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        assert_eq!(app.events.rows.len(), cli as u64, "{expr}");
    }
    // The Processes view shows the processes with a selected event, and their ancestors.
    app.update(Action::Goto(View::Processes));
    let tree = &app.analysis.as_ref().unwrap().tree;
    let matched: Vec<u32> = app
        .procs
        .rows
        .iter()
        .filter(|r| r.matched)
        .map(|r| tree.get(r.id).unwrap().pid)
        .collect();
    assert_eq!(matched, vec![300]);
    assert_eq!(app.procs.rows.len(), 3, "init and bash for context");
    app.update(Action::ClearFilter);
    assert!(app.filter.is_none());
}

#[test]
fn search_finds_rows_in_every_list() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::Goto(View::Events));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "SHADOW");
    app.update(Action::Submit);
    // Capitals make it case-sensitive: nothing.
    settle_app(&mut app, &rx);
    assert!(app.message.as_deref().unwrap().contains("no match"));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "shadow");
    app.update(Action::Submit);
    settle_app(&mut app, &rx);
    let at = |app: &aftertrace_inspector::tui::App| {
        let c = app.events.cursor;
        app.events
            .visible
            .iter()
            .find(|(p, _)| *p == c)
            .and_then(|(_, r)| r.clone())
            .unwrap()
    };
    let first = at(&app);
    assert_eq!(first.kind, "exec");
    app.update(Action::SearchNext);
    settle_app(&mut app, &rx);
    assert!(at(&app).call.starts_with("openat("), "{}", at(&app).call);
    app.update(Action::SearchPrev);
    settle_app(&mut app, &rx);
    assert_eq!(at(&app).kind, "exec");

    app.update(Action::Goto(View::Commands));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "sh -c");
    app.update(Action::Submit);
    assert_eq!(app.commands.cursor, 1);
    app.update(Action::Goto(View::Processes));
    app.update(Action::SearchNext);
    let tree = &app.analysis.as_ref().unwrap().tree;
    let row = &app.procs.rows[app.procs.list.cursor];
    assert_eq!(tree.get(row.id).unwrap().pid, 300);
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "(unclosed");
    app.update(Action::Submit);
    assert!(app.prompt.as_ref().unwrap().error.is_some());
}

#[test]
fn the_tree_collapses_and_expands() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    app.update(Action::Goto(View::Processes));
    assert_eq!(app.procs.rows.len(), 4);
    app.update(Action::Down); // bash
    app.update(Action::Left);
    assert_eq!(app.procs.rows.len(), 2);
    assert!(app.procs.rows[1].collapsed);
    app.update(Action::Right);
    assert_eq!(app.procs.rows.len(), 4);
    app.update(Action::Down); // cat
    app.update(Action::Left); // a leaf: to its parent
    assert_eq!(app.procs.list.cursor, 1);
    app.update(Action::CollapseAll);
    assert_eq!(app.procs.rows.len(), 1);
    app.update(Action::ExpandAll);
    assert_eq!(app.procs.rows.len(), 4);
    app.update(Action::Toggle);
    assert_eq!(app.procs.rows.len(), 1, "Space on init folds it");
}

#[test]
fn the_timeline_selects_a_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 102, 40);
    app.update(Action::Goto(View::Timeline));
    let (first, width, bins) = app.timeline_bins().unwrap();
    assert_eq!(bins, 100);
    app.update(Action::Right);
    app.update(Action::Toggle);
    for _ in 0..3 {
        app.update(Action::Right);
    }
    app.update(Action::Enter);
    assert_eq!(app.range.since, Some(first + width));
    assert_eq!(app.range.until, Some(first + 5 * width - 1));
    assert!(app.timeline.mark.is_none());
    app.update(Action::Back);
    assert!(app.range.is_all());
    // On the Overview, Enter narrows to the alert.
    app.update(Action::Goto(View::Overview));
    app.update(Action::Enter);
    assert_eq!(
        app.range.since,
        Some(0),
        "5 s before the alert is before boot"
    );
    assert_eq!(app.range.until, Some(T0 + 150_000_000 + 5_000_000_000));
}

#[test]
fn a_truncated_capture_opens_and_the_overview_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = capture_bytes();
    let path = dir.path().join("cut.atcap");
    std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let (app, _rx) = loaded(&path, 120, 40);
    let c = app.capture.as_ref().unwrap();
    assert!(!c.reader.damage().is_empty());
    assert!(c.total_events() > 0 && c.total_events() < events().len() as u64);
    let text: Vec<String> = aftertrace_inspector::tui::overview_lines(&app);
    assert!(text.iter().any(|l| l.contains("DAMAGED")), "{text:#?}");
    assert!(text.iter().any(|l| l.contains("LOST bytes")), "{text:#?}");
}

#[test]
fn a_file_that_is_no_capture_reports_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.atcap");
    std::fs::write(&path, b"not a capture at all").unwrap();
    let (mut app, rx) = aftertrace_inspector::tui::App::open(&path);
    settle_app(&mut app, &rx);
    assert!(app.failed.is_some());
    assert!(!app.busy());
}

#[test]
fn keys_go_to_what_has_the_focus() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 120, 40);
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('q'))),
        Some(Action::Quit)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('5'))),
        Some(Action::Goto(View::Events))
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Tab)),
        Some(Action::NextView)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Esc)),
        Some(Action::Back)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('f'))),
        Some(Action::Open(PromptKind::Filter))
    ));
    app.update(Action::Open(PromptKind::Filter));
    // In a prompt, letters are text.
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('q'))),
        Some(Action::Input('q'))
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Esc)),
        Some(Action::Cancel)
    ));
    app.update(Action::Cancel);
    app.update(Action::Help);
    assert!(app.help);
    // In help, any other key closes it.
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('x'))),
        Some(Action::Help)
    ));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(map_key(&app, ctrl_c), Some(Action::Quit)));
}

#[test]
fn the_dropped_script_is_recovered_and_leads_to_its_process() {
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 120, 40);
    app.update(Action::Goto(View::Scripts));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "drop\\.sh");
    app.update(Action::Submit);
    // The first match is the bash -c argument that wrote it; the next, the file.
    app.update(Action::SearchNext);
    let a = app.artifact().expect("an artifact under the cursor");
    assert_eq!(a.id, "f2");
    assert_eq!(
        &a.bytes[..],
        b"#!/bin/sh\necho hello from a dropped script\n"
    );
    app.update(Action::Enter);
    assert_eq!(app.view, View::Processes);
    let tree = &app.analysis.as_ref().unwrap().tree;
    let row = &app.procs.rows[app.procs.list.cursor];
    assert_eq!(
        tree.get(row.id).unwrap().pid,
        32611,
        "the shell that wrote it"
    );
}

/// `w` on Scripts asks for the write as an effect (update touches no file); the terminal
/// loop's `perform` writes it once, never over an existing file, and reports back.
#[test]
fn export_is_an_effect_the_loop_carries_out() {
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 120, 40);
    app.update(Action::Goto(View::Scripts));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "drop\\.sh");
    app.update(Action::Submit);
    app.update(Action::SearchNext);
    app.update(Action::Export);
    let mut effects = app.take_effects();
    assert_eq!(effects.len(), 1);
    let Some(Effect::Export { path, bytes, .. }) = effects.first_mut() else {
        panic!("an export: {effects:?}");
    };
    assert_eq!(path.to_str(), Some("host-shell-f2.bin"));
    assert!(!path.exists(), "update wrote nothing itself");
    assert_eq!(&bytes[..], b"#!/bin/sh\necho hello from a dropped script\n");
    let dir = tempfile::tempdir().expect("tempdir");
    *path = dir.path().join("host-shell-f2.bin");
    let effect = effects.remove(0);
    app.update(effect.clone().perform());
    let message = app.message.clone().unwrap_or_default();
    assert!(message.starts_with("wrote 43 bytes to "), "{message}");
    assert_eq!(
        std::fs::read(dir.path().join("host-shell-f2.bin")).expect("written"),
        b"#!/bin/sh\necho hello from a dropped script\n"
    );
    app.update(effect.perform());
    let message = app.message.clone().unwrap_or_default();
    assert!(message.starts_with("cannot write "), "{message}");
    assert!(app.take_effects().is_empty());
}

/// The ids of the rows a reconstruction view shows.
fn recon_ids(app: &aftertrace_inspector::tui::App, view: View) -> Vec<String> {
    let r = app.recon.as_ref().expect("reconstructed");
    match view {
        View::Sessions => app
            .sessions_rows
            .iter()
            .map(|&i| r.sessions[i].id.clone())
            .collect(),
        View::Network => app
            .net_rows
            .iter()
            .map(|&i| r.connections[i].id.clone())
            .collect(),
        _ => app
            .scripts_rows
            .iter()
            .map(|&(s, i)| {
                if s {
                    r.scripts[i].id.clone()
                } else {
                    r.files[i].id.clone()
                }
            })
            .collect(),
    }
}

#[test]
fn a_session_replays_what_was_typed_and_what_came_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "r.atcap"), 120, 40);
    settle_app(&mut app, &rx);
    let r = app.recon.clone().unwrap();
    assert_eq!(r.sessions.len(), 1);
    let turns: Vec<(&str, u32, &str)> = r.sessions[0]
        .replay
        .iter()
        .map(|t| (t.kind, t.pid, t.text.as_str()))
        .collect();
    // The prompt's escape sequences and the key-by-key echo of `id` are left out; the
    // prompt printed 1.2 s later is a turn of its own.
    assert_eq!(
        turns,
        vec![
            ("output", 400, "root@node-t:~# "),
            ("typed", 400, "id"),
            ("output", 401, "uid=0(root) gid=0(root)\nroot@node-t:~# "),
            ("typed", 400, "curl -s http://10.0.0.5/x"),
            ("output", 402, "hello world"),
            ("output", 400, "root@node-t:~# "),
        ]
    );
    let times: Vec<u64> = r.sessions[0].replay.iter().map(|t| t.ts).collect();
    assert!(times.is_sorted(), "in time order: {times:?}");
    // `/` finds a session by its output too.
    app.update(Action::Goto(View::Sessions));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "uid=0");
    app.update(Action::Submit);
    assert!(app.message.as_deref().unwrap().contains("n next"));
    // The transcript scrolls ([ and ]) and a new row starts it at the top.
    app.update(Action::ScrollContent(10));
    assert_eq!(app.content_top, 10);
    app.update(Action::ScrollContent(-30));
    assert_eq!(app.content_top, 0);
}

#[test]
fn follow_stream_interleaves_both_directions_and_toggles() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "r.atcap"), 120, 40);
    settle_app(&mut app, &rx);
    let r = app.recon.clone().unwrap();
    let c = r.connections.iter().find(|c| c.id == "n1").unwrap();
    let segs: Vec<(&str, u64, u64)> = c
        .segments
        .iter()
        .map(|g| (g.direction, g.offset, g.len))
        .collect();
    assert_eq!(
        segs,
        vec![
            ("out", 0, 35),
            ("in", 0, 39),
            ("in", 39, 12),
            ("out", 35, 19),
            ("in", 51, 26),
        ]
    );
    // Each segment's bytes are where it says in its direction's stream.
    assert_eq!(&c.inn.raw[39..51], b"hello world\n");
    assert_eq!(&c.out.raw[35..40], b"GET /");

    app.update(Action::Goto(View::Network));
    assert_eq!(app.follow, Follow::Both);
    app.update(Action::ScrollContent(10));
    app.update(Action::FollowDirection);
    assert_eq!((app.follow, app.content_top), (Follow::Client, 0));
    app.update(Action::FollowDirection);
    assert_eq!(app.follow, Follow::Server);
    app.update(Action::FollowDirection);
    assert_eq!(app.follow, Follow::Both);
    app.update(Action::ToggleHex);
    assert!(app.hex);
    // The keys: d and x in Network; d means nothing elsewhere.
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('d'))),
        Some(Action::FollowDirection)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('x'))),
        Some(Action::ToggleHex)
    ));
    app.update(Action::Goto(View::Sessions));
    assert!(map_key(&app, key(KeyCode::Char('d'))).is_none());
}

#[test]
fn follow_stream_colours_the_client_and_the_server_apart() {
    use ratatui::style::Color;
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "r.atcap"), 120, 40);
    settle_app(&mut app, &rx);
    app.update(Action::Goto(View::Network));
    let term = aftertrace_inspector::tui::render_to_test_backend(&app, 120, 40);
    let buf = term.backend().buffer();
    let colour_of = |text: &str| {
        (0..buf.area.height)
            .find_map(|y| {
                let line: String = (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect();
                let at = line.find(text)?;
                let x = line[..at].chars().count() as u16;
                Some(buf[(x, y)].fg)
            })
            .unwrap_or_else(|| panic!("{text} is on screen"))
    };
    assert_eq!(colour_of("GET /x HTTP/1.1"), Color::LightRed, "the client");
    assert_eq!(colour_of("HTTP/1.1 200 OK"), Color::LightBlue, "the server");
    assert_eq!(colour_of("GET /y HTTP/1.1"), Color::LightRed);
}

#[test]
fn the_filter_narrows_scripts_sessions_and_network_by_their_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "r.atcap"), 120, 40);
    settle_app(&mut app, &rx);
    assert_eq!(recon_ids(&app, View::Network), vec!["n1", "n2"]);
    assert_eq!(recon_ids(&app, View::Sessions), vec!["t1"]);
    let filter = |app: &mut aftertrace_inspector::tui::App, text: &str| {
        app.update(Action::Open(PromptKind::Filter));
        app.update(Action::ClearInput);
        type_text(app, text);
        app.update(Action::Submit);
        settle_app(app, &rx);
    };
    // curl is one of the session's processes (it wrote to the terminal) and owns n1.
    filter(&mut app, "proc.name = curl");
    assert_eq!(recon_ids(&app, View::Network), vec!["n1"]);
    assert_eq!(recon_ids(&app, View::Sessions), vec!["t1"]);
    // The container's wget: its connection only, and no session.
    filter(&mut app, "container.name = web");
    assert_eq!(recon_ids(&app, View::Network), vec!["n2"]);
    assert!(recon_ids(&app, View::Sessions).is_empty());
    app.update(Action::Goto(View::Network));
    let note = app.narrowing().expect("the status line says what narrows");
    assert!(note.contains("1 of 2 connections"), "{note}");
    assert!(note.contains("filter"), "{note}");
    // User fields: www-data is the container's uid 33.
    filter(&mut app, "user.name = www-data");
    assert_eq!(recon_ids(&app, View::Network), vec!["n2"]);
    // The filter and the time range together; F clears the filter.
    app.update(Action::Open(PromptKind::Time));
    app.update(Action::ClearInput);
    type_text(&mut app, "+0.15s..");
    app.update(Action::Submit);
    assert_eq!(recon_ids(&app, View::Network), vec!["n2"]);
    let note = app.narrowing().unwrap();
    assert!(note.contains("range") && note.contains("filter"), "{note}");
    app.update(Action::ClearFilter);
    assert_eq!(
        recon_ids(&app, View::Network),
        vec!["n2"],
        "n1 began before"
    );
    app.update(Action::ClearRange);
    assert_eq!(recon_ids(&app, View::Network), vec!["n1", "n2"]);
    assert!(app.narrowing().is_none());
}

#[test]
fn the_timeline_zooms_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _rx) = loaded(&write_capture(dir.path(), "a.atcap"), 102, 40);
    app.update(Action::Goto(View::Timeline));
    let window = app.timeline_span().unwrap();
    let (first, width, bins) = app.timeline_bins().unwrap();
    assert_eq!(bins, 100);
    // Into the marked bins 10..=19.
    for _ in 0..10 {
        app.update(Action::Right);
    }
    app.update(Action::Toggle);
    for _ in 0..9 {
        app.update(Action::Right);
    }
    app.update(Action::ZoomIn);
    let marked = (first + 10 * width, first + 20 * width - 1);
    assert_eq!(app.timeline_span(), Some(marked));
    assert!(app.timeline.mark.is_none());
    let (first2, width2, _) = app.timeline_bins().unwrap();
    assert_eq!(first2, marked.0);
    assert!(
        width2 * 10 <= width + 10,
        "ten times finer: {width2} vs {width}"
    );
    // Zoomed in, every bin is counted exactly: the sum is the events in the span.
    let counts = app.timeline_counts.clone().expect("exact counts").3;
    let in_span = events()
        .iter()
        .filter(|e| e.ts >= first2 && e.ts < first2 + width2 * 100)
        .count();
    assert_eq!(counts.iter().sum::<f64>() as usize, in_span);
    // No mark: half the span around the cursor.
    app.update(Action::ZoomIn);
    let (lo, hi) = app.timeline_span().unwrap();
    let half = (marked.1 - marked.0) / 2;
    assert!((hi - lo).abs_diff(half) <= 2, "{} vs {half}", hi - lo);
    assert!(lo >= marked.0 && hi <= marked.1);
    // Out again, step by step, then nothing further.
    app.update(Action::ZoomOut);
    assert_eq!(app.timeline_span(), Some(marked));
    app.update(Action::ZoomOut);
    assert_eq!(app.timeline_span(), Some(window));
    assert!(app.timeline_counts.is_none());
    app.update(Action::ZoomOut);
    assert!(app.message.as_deref().unwrap().contains("whole capture"));
    // With a selected range (t) and no mark, + zooms into the range.
    app.update(Action::Open(PromptKind::Time));
    type_text(&mut app, "+0.1s..+0.2s");
    app.update(Action::Submit);
    app.update(Action::ZoomIn);
    assert_eq!(
        app.timeline_span(),
        Some((app.range.since.unwrap(), app.range.until.unwrap()))
    );
    // Enter, zoomed in, narrows every view to the bin under the cursor, as before.
    app.update(Action::Enter);
    let (f, w, _) = app.timeline_bins().unwrap();
    assert!(app.range.until.unwrap() - app.range.since.unwrap() < w + 1);
    assert!(app.range.since.unwrap() >= f);
    // The keys: + (or =) and - zoom in the Timeline, and still fold the tree.
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('+'))),
        Some(Action::ZoomIn)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('='))),
        Some(Action::ZoomIn)
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('-'))),
        Some(Action::ZoomOut)
    ));
    app.update(Action::Goto(View::Processes));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('-'))),
        Some(Action::CollapseAll)
    ));
}

#[test]
fn the_help_lists_every_new_key() {
    let keys: Vec<(&str, &str)> = aftertrace_inspector::tui::KEYS
        .iter()
        .map(|k| (k.0, k.1))
        .collect();
    for (k, place) in [
        ("+ (or =)", "Timeline"),
        ("-", "Timeline"),
        ("d", "Network"),
        ("x", "Scripts, Network"),
        ("[ / ]", "Scripts, Sessions, Network"),
        ("{ / }", "Sessions, Network"),
    ] {
        assert!(keys.contains(&(k, place)), "{k} in {place}: {keys:?}");
    }
}

#[test]
fn a_scrolled_reconstruction_list_draws_the_rows_from_its_top() {
    // Only the rows on screen are laid out: after End, the last row is drawn, under the
    // cursor, and the first is not.
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 110, 20);
    app.update(Action::Goto(View::Scripts));
    let r = app.recon.clone().unwrap();
    assert!(
        app.scripts_rows.len() > 3,
        "{} rows",
        app.scripts_rows.len()
    );
    let id_of = |&(s, i): &(bool, usize)| {
        if s {
            r.scripts[i].id.clone()
        } else {
            r.files[i].id.clone()
        }
    };
    let first = id_of(&app.scripts_rows[0]);
    let last = id_of(app.scripts_rows.last().unwrap());
    app.update(Action::End);
    assert!(app.scripts.top > 0, "the list scrolled");
    let term = aftertrace_inspector::tui::render_to_test_backend(&app, 110, 20);
    let buf = term.backend().buffer();
    let rows: Vec<(String, bool)> = (0..buf.area.height)
        .map(|y| {
            let line: String = (1..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_owned())
                .collect();
            let reversed = buf[(1, y)]
                .modifier
                .contains(ratatui::style::Modifier::REVERSED);
            (line, reversed)
        })
        .collect();
    let row_of = |id: &str| {
        rows.iter()
            .find(|(l, _)| l.starts_with(&format!("{id:<5} ")))
            .cloned()
    };
    let (_, under_cursor) = row_of(&last).expect("the last row is drawn");
    assert!(under_cursor, "and it is the cursor's");
    assert!(row_of(&first).is_none(), "the first row scrolled away");
}

#[test]
fn braces_jump_between_typed_lines_and_stream_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "r.atcap"), 110, 34);
    settle_app(&mut app, &rx);
    app.update(Action::Goto(View::Sessions));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('}'))),
        Some(Action::JumpContent { forward: true })
    ));
    assert!(matches!(
        map_key(&app, key(KeyCode::Char('{'))),
        Some(Action::JumpContent { forward: false })
    ));
    // The pane's first line is the typed line: the header takes two rows at this width,
    // the prompt's output one, `id`'s output two.
    let top_line = |app: &aftertrace_inspector::tui::App| {
        let term = aftertrace_inspector::tui::render_to_test_backend(app, 110, 34);
        let buf = term.backend().buffer();
        // The content pane's first row: under its top border, below the list.
        let y = (0..buf.area.height)
            .rev()
            .find(|&y| buf[(0, y)].symbol() == "┌")
            .unwrap()
            + 1;
        (1..buf.area.width - 1)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect::<String>()
            .trim_end()
            .to_owned()
    };
    app.update(Action::JumpContent { forward: true });
    assert_eq!(app.content_top, 3);
    assert!(top_line(&app).ends_with("400 $ id"), "{}", top_line(&app));
    app.update(Action::JumpContent { forward: true });
    assert_eq!(app.content_top, 6);
    assert!(top_line(&app).contains("$ curl -s http://10.0.0.5/x"));
    app.update(Action::JumpContent { forward: true });
    assert_eq!(app.content_top, 6);
    assert_eq!(app.message.as_deref(), Some("no later typed line"));
    app.update(Action::JumpContent { forward: false });
    assert_eq!(app.content_top, 3);
    assert_eq!(app.message.as_deref(), Some("typed line 1 of 2"));
    // Network: from one run of a direction to the next.
    app.update(Action::Goto(View::Network));
    app.update(Action::JumpContent { forward: true });
    assert!(
        top_line(&app).starts_with("→ client 00:00:00.113000"),
        "{}",
        top_line(&app)
    );
    app.update(Action::JumpContent { forward: true });
    assert!(
        top_line(&app).starts_with("← server 00:00:00.114000"),
        "{}",
        top_line(&app)
    );
    app.update(Action::JumpContent { forward: true });
    assert!(
        top_line(&app).starts_with("→ client 00:00:00.116000"),
        "{}",
        top_line(&app)
    );
    assert_eq!(app.message.as_deref(), Some("run 3 of 4"));
}
