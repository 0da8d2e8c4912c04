//! The `sessions` and `net` subcommands over a hand-built capture with a terminal session
//! and HTTP connections (tests/tui_support): the session's output with its times beside
//! the typed lines (text), the replay (JSON), and each connection's sends and receives in
//! time order (JSON `segments`).

mod tui_support;

use std::process::Command;

use tui_support::write_recon_capture;

const BIN: &str = env!("CARGO_BIN_EXE_aftertrace-inspector");

fn run(path: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg(path)
        .args(args)
        .output()
        .expect("running the inspector");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn sessions_text_shows_what_came_back_with_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_recon_capture(dir.path(), "r.atcap");
    let text = run(&path, &["sessions", "--color", "never"]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("t1  /dev/pts/3 in host"), "{text}");
    assert_eq!(
        &lines[1..],
        &[
            "  2026-01-01T00:00:00.020000000Z     400   root@node-t:~# ",
            "  2026-01-01T00:00:00.030000000Z     400 $ id",
            "  2026-01-01T00:00:00.072000000Z     401   uid=0(root) gid=0(root)",
            // Aligned under the first line's text.
            "                                           root@node-t:~# ",
            "  2026-01-01T00:00:00.100000000Z     400 $ curl -s http://10.0.0.5/x",
            "  2026-01-01T00:00:00.119000000Z     402   hello world",
            "  2026-01-01T00:00:01.320000000Z     400   root@node-t:~# ",
            "",
        ][..],
        "{text}"
    );
}

#[test]
fn sessions_json_adds_the_replay_and_keeps_the_old_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_recon_capture(dir.path(), "r.atcap");
    let text = run(&path, &["sessions", "--json"]);
    let s: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for field in [
        "id",
        "tty",
        "lines",
        "transcript",
        "input_bytes",
        "output_bytes",
    ] {
        assert!(s.get(field).is_some(), "{field} is still there");
    }
    let replay = s["replay"].as_array().expect("replay");
    let kinds: Vec<(&str, &str)> = replay
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["text"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds[1], ("typed", "id"));
    assert_eq!(
        kinds[2],
        ("output", "uid=0(root) gid=0(root)\nroot@node-t:~# ")
    );
    assert_eq!(replay[1]["line"], 0);
    assert_eq!(replay[3]["line"], 1);
    assert!(replay[2].get("line").is_none(), "output has no line index");
    assert_eq!(replay[2]["pid"], 401);
    assert_eq!(replay[2]["time"], "2026-01-01T00:00:00.072000000Z");
}

#[test]
fn net_json_lists_sends_and_receives_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_recon_capture(dir.path(), "r.atcap");
    let text = run(&path, &["net", "--json"]);
    let n1: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(n1["id"], "n1");
    let segs: Vec<(String, u64, u64)> = n1["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|g| {
            (
                g["direction"].as_str().unwrap().to_owned(),
                g["offset"].as_u64().unwrap(),
                g["len"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, u64)> = [
        ("out", 0, 35),
        ("in", 0, 39),
        ("in", 39, 12),
        ("out", 35, 19),
        ("in", 51, 26),
    ]
    .iter()
    .map(|&(d, o, l)| (d.to_owned(), o, l))
    .collect();
    assert_eq!(segs, expected);
    assert_eq!(n1["segments"][0]["time"], "2026-01-01T00:00:00.113000000Z");
    assert_eq!(n1["segments"][0]["pid"], 402);
    // The old fields are unchanged: each direction whole.
    assert_eq!(n1["out"]["bytes"], 54);
    assert_eq!(n1["in"]["bytes"], 77);
}

#[test]
fn report_replays_each_session_what_was_typed_and_what_came_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_recon_capture(dir.path(), "r.atcap");
    let report = run(&path, &["report"]);
    let section = report
        .split("## Interactive sessions")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a sessions section");
    assert!(
        section.contains(
            "```text\nroot@node-t:~# \n[2026-01-01T00:00:00.030000000Z] $ id\n\
             uid=0(root) gid=0(root)\nroot@node-t:~# \n\
             [2026-01-01T00:00:00.100000000Z] $ curl -s http://10.0.0.5/x\nhello world\n\
             root@node-t:~# \n```"
        ),
        "{section}"
    );
}
