//! An interactive shell driven through a pty: every typed line and its output, long
//! output included, are in the capture.

use std::process::Command;

use aftertrace_tests::{
    pty::PtySession, recorder::BackgroundRecorder, require_root, target_bin, INSPECTOR_BIN,
};
use base64::Engine as _;
use serde_json::Value;

fn data(e: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(e["data_base64"].as_str().unwrap_or_default())
        .expect("base64")
}

#[test]
fn typed_lines_and_their_output_are_captured() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("session.atcap");
    let recorder = BackgroundRecorder::start(&capture, &[]).expect("recorder");

    let mut session = PtySession::spawn(
        "bash",
        &["--norc", "--noprofile", "-i"],
        &[("PS1", "session$ "), ("TERM", "dumb")],
    )
    .expect("pty");
    session.type_line("echo typed-$((6*7))\n").expect("type");
    session.type_line("seq 1 300\n").expect("type");
    session.type_line("exit\n").expect("type");
    let screen = session.finish().expect("session ends");
    assert!(screen.contains("typed-42"), "{screen}");
    recorder.stop().expect("recorder");

    let out = Command::new(target_bin(INSPECTOR_BIN))
        .arg(&capture)
        .args(["events", "--json"])
        .output()
        .expect("inspector");
    assert!(out.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let bash = events
        .iter()
        .find(|e| {
            e["kind"] == "exec"
                && e["args"]["argv"] == serde_json::json!(["bash", "--norc", "--noprofile", "-i"])
        })
        .expect("the interactive bash");
    let pid = &bash["pid"];

    // What was typed, as the shell read it from the terminal.
    let typed: Vec<u8> = events
        .iter()
        .filter(|e| &e["pid"] == pid && e["syscall"] == "read" && e["args"]["fd"] == 0)
        .flat_map(data)
        .collect();
    let typed = String::from_utf8_lossy(&typed);
    for line in ["echo typed-$((6*7))\n", "seq 1 300\n", "exit\n"] {
        assert!(
            typed.contains(line.trim_end()),
            "typed {line:?} not in {typed:?}"
        );
    }

    // What came back: the builtin's output from the shell, and seq's 1092 bytes whole,
    // though the snaplen is 256: a terminal session's output is kept in full.
    let echoed: Vec<u8> = events
        .iter()
        .filter(|e| &e["pid"] == pid && e["syscall"] == "write")
        .flat_map(data)
        .collect();
    assert!(String::from_utf8_lossy(&echoed).contains("typed-42"));
    let seq = events
        .iter()
        .find(|e| {
            e["kind"] == "exec" && e["args"]["argv"] == serde_json::json!(["seq", "1", "300"])
        })
        .expect("seq ran");
    let seq_out: Vec<u8> = events
        .iter()
        .filter(|e| e["pid"] == seq["pid"] && e["syscall"] == "write" && e["args"]["fd"] == 1)
        .flat_map(data)
        .collect();
    let expected: String = (1..=300).map(|i| format!("{i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&seq_out), expected);
}
