//! The real binary on a real terminal: `aftertrace-inspector FILE` under tmux (send-keys to
//! type, capture-pane to read the screen) on the host-shell sample: the Overview first,
//! then the Scripts view, the dropped script found with `/` and its content on screen, then
//! `q`, with the exit code 0 and the terminal back to the shell's normal screen.
//! Skipped, saying so, where tmux is not installed.

use std::process::Command;
use std::time::{Duration, Instant};

struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("running tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn screen(s: &Session) -> String {
    tmux(&["capture-pane", "-p", "-t", &s.0])
}

/// Waits until the screen shows `text`; panics with the screen if it never does.
fn wait_for(s: &Session, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let shown = screen(s);
        if shown.contains(text) {
            return shown;
        }
        if Instant::now() > deadline {
            panic!("the screen never showed {text:?}; it shows:\n{shown}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn keys(s: &Session, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", s.0.as_str()];
    args.extend_from_slice(keys);
    tmux(&args);
}

#[test]
fn the_binary_opens_the_tui_finds_the_dropped_script_and_quits_cleanly() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_aftertrace-inspector");
    let name = format!("aftertrace-tui-{}", std::process::id());
    let script = format!("{bin} ../samples/host-shell.atcap; echo EXIT=$?; sleep 60");
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "34"])
        .arg(&script)
        .status()
        .expect("starting tmux");
    assert!(status.success());
    let s = Session(name);

    let first = wait_for(&s, "Integrity");
    assert!(first.contains("1 Overview"), "{first}");
    assert!(first.contains("899 in 3 chunk(s)"), "{first}");

    keys(&s, &["7"]);
    wait_for(&s, "Scripts and files");
    keys(&s, &["/", "^f2 ", "Enter"]);
    let shown = wait_for(&s, "echo hello from a dropped script");
    assert!(shown.contains("drop.sh"), "{shown}");
    assert!(shown.contains("#!/bin/sh"), "{shown}");

    keys(&s, &["q"]);
    let after = wait_for(&s, "EXIT=0");
    assert!(
        !after.contains("1 Overview"),
        "the alternate screen was left: {after}"
    );
}
