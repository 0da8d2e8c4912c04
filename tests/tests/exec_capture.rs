//! The walking skeleton end to end: the real recorder loads its eBPF programs into the
//! running kernel, records real commands (on the host and in a podman container), and the
//! inspector lists them with the right users, parents and containers.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use aftertrace_tests::{inspector_json, podman, require_root, target_bin, RECORDER_BIN};
use serde_json::Value;

/// Recordings attach programs to every syscall on the node: one at a time keeps them from
/// slowing each other down and keeps their drop counts meaningful.
static RECORDING: Mutex<()> = Mutex::new(());

fn argv(c: &Value) -> Vec<&str> {
    c["argv"]
        .as_array()
        .expect("argv is an array")
        .iter()
        .map(|a| a.as_str().expect("argv strings"))
        .collect()
}

/// The single command with exactly this argv.
fn find<'a>(cmds: &'a [Value], want: &[&str]) -> &'a Value {
    let found: Vec<&Value> = cmds.iter().filter(|c| argv(c) == want).collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one exec of {want:?}, found {}; all commands:\n{}",
        found.len(),
        cmds.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    found[0]
}

fn record_command(capture: &Path, command: &[&str]) -> std::process::Output {
    Command::new(target_bin(RECORDER_BIN))
        .arg("record")
        .arg("-o")
        .arg(capture)
        .arg("--")
        .args(command)
        .output()
        .expect("run the recorder")
}

#[test]
fn records_users_parents_and_in_place_exec() {
    require_root();
    let _one = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("skeleton.atcap");
    let script = "echo hi > /tmp/x; setpriv --reuid 65534 cat /tmp/x; ls /";
    let out = record_command(&capture, &["bash", "-c", script]);
    assert!(
        out.status.success(),
        "recorder failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hi\n"));

    let cmds = inspector_json(&capture, "commands");
    let bash = find(&cmds, &["bash", "-c", script]);
    let setpriv = find(&cmds, &["setpriv", "--reuid", "65534", "cat", "/tmp/x"]);
    let cat = find(&cmds, &["cat", "/tmp/x"]);
    let ls = find(&cmds, &["ls", "/"]);

    // bash forks for setpriv, which drops to uid 65534 and execs cat in place.
    assert_eq!(setpriv["ppid"], bash["pid"]);
    assert_eq!(setpriv["uid"], 0);
    assert_eq!(cat["pid"], setpriv["pid"]);
    assert_eq!(cat["ppid"], bash["pid"]);
    assert_eq!(cat["uid"], 65534);
    assert_eq!(cat["euid"], 65534);
    // bash execs the last command of -c in its own place: same pid, same parent.
    assert_eq!(ls["pid"], bash["pid"]);
    assert_eq!(ls["ppid"], bash["ppid"]);
    assert_eq!(ls["uid"], 0);
    // The recorder started bash: bash's parent is the recorder's pid, not 0 or 1.
    assert_ne!(bash["ppid"], 0);
    assert_ne!(bash["ppid"], 1);

    for c in [bash, setpriv, cat, ls] {
        assert_eq!(c["container_id"], Value::Null, "host command: {c}");
        assert_eq!(
            c["cwd"].as_str(),
            std::env::current_dir()
                .ok()
                .as_deref()
                .and_then(Path::to_str),
            "{c}"
        );
        let time = c["time"].as_str().expect("time string");
        let parsed = chrono_free_rfc3339_check(time);
        assert!(parsed, "time {time:?} is not RFC 3339 UTC with nanoseconds");
    }
    assert!(cat["exe"].as_str().expect("exe").ends_with("/cat"), "{cat}");
    assert!(ls["exe"].as_str().expect("exe").ends_with("/ls"), "{ls}");
    // Execs are listed in time order.
    let times: Vec<&str> = [bash, setpriv, cat, ls]
        .iter()
        .map(|c| c["time"].as_str().expect("time"))
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
fn chrono_free_rfc3339_check(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[29] == b'Z'
        && b[20..29].iter().all(u8::is_ascii_digit)
}

#[test]
fn passes_on_the_command_exit_code_and_lists_its_commands() {
    require_root();
    let _one = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("a.atcap");
    let out = record_command(&capture, &["bash", "-c", "ls /; id"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cmds = inspector_json(&capture, "commands");
    find(&cmds, &["ls", "/"]);
    find(&cmds, &["id"]);

    let failing = dir.path().join("b.atcap");
    let out = record_command(&failing, &["bash", "-c", "exit 7"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "the command's exit code is passed on"
    );
    assert!(
        failing.exists(),
        "the capture is written even when the command fails"
    );
    let mode = std::fs::metadata(&failing).expect("capture").permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.mode() & 0o777,
        0o600,
        "captures hold secrets: owner-only"
    );
}

#[test]
fn attributes_container_commands_to_the_container() {
    require_root();
    podman::check_podman().expect("podman works");
    let image = podman::ensure_test_image().expect("test image");
    let _one = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("container.atcap");

    // Record the node in the background, as a responder would, and stop it with SIGINT.
    let mut recorder = Command::new(target_bin(RECORDER_BIN))
        .args(["record", "--duration", "60s", "-o"])
        .arg(&capture)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the recorder");
    let mut stderr = BufReader::new(recorder.stderr.take().expect("stderr"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read recorder stderr");
        assert!(n > 0, "recorder exited before recording");
        if line.contains("recording") {
            break;
        }
        assert!(Instant::now() < deadline, "recorder never became ready");
    }

    let run = podman::run_in_container(&image, &["bash", "-c", "cat /etc/hostname; uname -r"])
        .expect("run the container");
    assert!(run.status.success(), "{}", run.stderr_text());

    // SAFETY: signalling our own child.
    unsafe { libc::kill(recorder.id() as i32, libc::SIGINT) };
    let status = recorder.wait().expect("recorder exits");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).ok();
    assert!(status.success(), "recorder failed: {status}: {rest}");

    let cmds = inspector_json(&capture, "commands");
    let cat = find(&cmds, &["cat", "/etc/hostname"]);
    let uname = find(&cmds, &["uname", "-r"]);
    let bash = find(&cmds, &["bash", "-c", "cat /etc/hostname; uname -r"]);
    for c in [cat, uname, bash] {
        assert_eq!(c["container_id"].as_str(), Some(run.id.as_str()), "{c}");
    }
    // Commands podman itself ran on the host are not attributed to the container.
    let podman_cmd = cmds
        .iter()
        .find(|c| argv(c).first() == Some(&"podman"))
        .expect("the podman command itself was recorded");
    assert_eq!(podman_cmd["container_id"], Value::Null);
}
