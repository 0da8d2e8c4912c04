//! Every TUI view drawn into ratatui's TestBackend and compared with its insta snapshot
//! (tests/snapshots/), on the real sample captures; plus the help, an inline filter error,
//! tiny terminals and a truncated capture's Overview. Review changes with `cargo insta
//! review` (or rerun with INSTA_UPDATE=always and read the diff).

mod tui_support;

use aftertrace_inspector::tui::{render_to_test_backend, Action, App, PromptKind, View};
use tui_support::*;

fn screen(app: &App, width: u16, height: u16) -> String {
    render_to_test_backend(app, width, height)
        .backend()
        .to_string()
}

fn at(app: &mut App, view: View) -> String {
    app.update(Action::Goto(view));
    screen(app, app.width, app.height)
}

#[test]
fn host_shell_views() {
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 110, 32);
    insta::assert_snapshot!("host_shell_overview", screen(&app, 110, 32));
    insta::assert_snapshot!("host_shell_timeline", at(&mut app, View::Timeline));
    insta::assert_snapshot!("host_shell_processes", at(&mut app, View::Processes));
    insta::assert_snapshot!("host_shell_commands", at(&mut app, View::Commands));
    insta::assert_snapshot!("host_shell_events", at(&mut app, View::Events));
    app.update(Action::JumpTo(400));
    insta::assert_snapshot!("host_shell_events_row_400", screen(&app, 110, 32));
    insta::assert_snapshot!("host_shell_containers", at(&mut app, View::Containers));
    insta::assert_snapshot!("host_shell_scripts", at(&mut app, View::Scripts));
    // The dropped script, as text and as hex.
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "^f2 ");
    app.update(Action::Submit);
    insta::assert_snapshot!("host_shell_dropped_script", screen(&app, 110, 32));
    app.update(Action::ToggleHex);
    insta::assert_snapshot!("host_shell_dropped_script_hex", screen(&app, 110, 32));
    app.update(Action::ToggleHex);
    insta::assert_snapshot!("host_shell_sessions", at(&mut app, View::Sessions));
    insta::assert_snapshot!("host_shell_network", at(&mut app, View::Network));
}

#[test]
fn container_views() {
    let (mut app, rx) = loaded(&sample("container.atcap"), 120, 30);
    insta::assert_snapshot!("container_overview", screen(&app, 120, 30));
    insta::assert_snapshot!("container_containers", at(&mut app, View::Containers));
    // The container's events, then its processes (with their ancestors for context).
    app.update(Action::Enter);
    settle_app(&mut app, &rx);
    insta::assert_snapshot!("container_events", screen(&app, 120, 30));
    insta::assert_snapshot!("container_processes", at(&mut app, View::Processes));
}

#[test]
fn a_drilled_down_process_and_its_events() {
    let (mut app, rx) = loaded(&sample("host-shell.atcap"), 110, 30);
    app.update(Action::Goto(View::Processes));
    app.update(Action::Open(PromptKind::Search));
    type_text(&mut app, "setpriv --reuid");
    app.update(Action::Submit);
    app.update(Action::SearchNext);
    insta::assert_snapshot!("setpriv_in_the_tree", screen(&app, 110, 30));
    app.update(Action::Enter);
    settle_app(&mut app, &rx);
    insta::assert_snapshot!("setpriv_events", screen(&app, 110, 30));
}

#[test]
fn help_prompt_errors_and_small_terminals() {
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 100, 30);
    app.update(Action::Help);
    insta::assert_snapshot!("help", screen(&app, 100, 30));
    app.update(Action::Help);
    app.update(Action::Goto(View::Events));
    app.update(Action::Open(PromptKind::Filter));
    type_text(&mut app, "proc.name = cat and fd.name startswith");
    app.update(Action::Submit);
    insta::assert_snapshot!("filter_error", screen(&app, 100, 30));
    app.update(Action::Cancel);
    for (w, h) in [(50, 14), (24, 7), (10, 3)] {
        app.update(Action::Resize {
            width: w,
            height: h,
        });
        for view in [
            View::Overview,
            View::Processes,
            View::Events,
            View::Timeline,
        ] {
            app.update(Action::Goto(view));
            let s = screen(&app, w, h);
            insta::assert_snapshot!(format!("small_{w}x{h}_{}", view.title()), s);
        }
    }
}

#[test]
fn a_truncated_capture_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = capture_bytes();
    let path = dir.path().join("cut.atcap");
    // Cut 18 bytes into the 13th chunk: 12 chunks survive, whatever the blocks around
    // them (format 1.1 added hash chain blocks, which moved every offset).
    let chunks = capture_format::CaptureReader::from_bytes(bytes.clone()).unwrap();
    let cut = chunks.chunks()[12].offset as usize + 18;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let (app, _rx) = loaded(&path, 130, 40);
    let dir_text = dir.path().display().to_string();
    insta::with_settings!({filters => vec![(dir_text.as_str(), "[TMP]")]}, {
        insta::assert_snapshot!("truncated_overview", screen(&app, 130, 40));
    });
}

#[test]
fn a_session_transcript_and_a_followed_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, rx) = loaded(&write_recon_capture(dir.path(), "recon.atcap"), 110, 34);
    settle_app(&mut app, &rx);
    // What was typed and what came back, in order, with times.
    insta::assert_snapshot!("recon_session_transcript", at(&mut app, View::Sessions));
    // curl's connection: both directions interleaved, then each alone, then hex.
    insta::assert_snapshot!("recon_follow_both", at(&mut app, View::Network));
    app.update(Action::FollowDirection);
    insta::assert_snapshot!("recon_follow_client", screen(&app, 110, 34));
    app.update(Action::FollowDirection);
    insta::assert_snapshot!("recon_follow_server", screen(&app, 110, 34));
    app.update(Action::FollowDirection);
    app.update(Action::ToggleHex);
    insta::assert_snapshot!("recon_follow_both_hex", screen(&app, 110, 34));
    app.update(Action::ToggleHex);
    // The filter narrows the view by the connection's processes; the status line says so.
    app.update(Action::Open(PromptKind::Filter));
    type_text(&mut app, "container.name = web");
    app.update(Action::Submit);
    settle_app(&mut app, &rx);
    insta::assert_snapshot!("recon_network_filtered", screen(&app, 110, 34));
}

#[test]
fn the_timeline_zoomed_into_a_marked_range() {
    let (mut app, _rx) = loaded(&sample("host-shell.atcap"), 110, 32);
    app.update(Action::Goto(View::Timeline));
    // The busy start: the first 25 bins, counted exactly once zoomed in.
    app.update(Action::Toggle);
    for _ in 0..24 {
        app.update(Action::Right);
    }
    app.update(Action::ZoomIn);
    insta::assert_snapshot!("host_shell_timeline_zoomed", screen(&app, 110, 32));
}
